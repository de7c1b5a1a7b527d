#include "cobs.h"

size_t cobs_encode(const uint8_t *src, size_t len, uint8_t *dst)
{
    size_t out = 1, code_at = 0, i;
    uint8_t code = 1;
    for (i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
        } else {
            dst[out++] = src[i];
            code++;
            if (code == 0xFF) {
                dst[code_at] = code;
                code = 1;
                if (i + 1 == len) /* a full last block needs no trailing code byte */
                    return out;
                code_at = out++;
            }
        }
    }
    dst[code_at] = code;
    return out;
}

int cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    size_t idx = 0, out = 0;
    while (idx < len) {
        uint8_t code = src[idx];
        size_t end, j;
        if (code == 0)
            return -1;
        end = idx + code;
        if (end > len)
            return -1;
        for (j = idx + 1; j < end; j++) {
            if (src[j] == 0 || out >= cap)
                return -1;
            dst[out++] = src[j];
        }
        idx = end;
        if (idx < len && code < 0xFF) {
            if (out >= cap)
                return -1;
            dst[out++] = 0;
        }
    }
    *out_len = out;
    return 0;
}
