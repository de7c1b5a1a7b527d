/* Consistent Overhead Byte Stuffing, same variant as firmware_bridge/cobs.py and cobs-python. */
#ifndef FB_COBS_H
#define FB_COBS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Upper bound of the encoded length of n bytes (one code byte per 254 data bytes, 1 for n == 0). */
#define COBS_MAX_ENCODED_LENGTH(n) ((n) == 0 ? 1u : (size_t)(n) + ((size_t)(n) + 253u) / 254u)

/* Encode len bytes of src into dst (room for COBS_MAX_ENCODED_LENGTH(len)); returns the length.
 * The output holds no 0x00; the caller appends the delimiter. */
size_t cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);

/* Decode len bytes (no delimiter) into dst of capacity cap. Returns 0 and sets *out_len, or -1 on
 * a zero byte, a code byte pointing past the end, or an output longer than cap. */
int cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
