/* Golden-vector test for the C codec: reads ../vectors/frames.json (the file the Python tests read)
 * and checks encode and decode. The JSON holds one vector per line (see vectors/__init__.py), so a
 * small line-oriented reader is enough. Runs on the host and under qemu-system-arm (semihosting). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cobs.h"
#include "crc32.h"
#include "protocol.h"

#define LINE_MAX_LEN 8192
#define BYTES_MAX (LINE_MAX_LEN / 2)

static char line[LINE_MAX_LEN];
static uint8_t wire[BYTES_MAX], body[BYTES_MAX], out[BYTES_MAX];
static int failures, checked;

static void fail(const char *name, const char *what)
{
    printf("FAIL %s: %s\n", name, what);
    failures++;
}

/* Value of "key": "..." as a NUL-terminated copy in dst; 0 if absent. */
static int get_str(const char *key, char *dst, size_t cap)
{
    char pat[64];
    const char *p, *end;
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= cap)
        return 0;
    memcpy(dst, p, (size_t)(end - p));
    dst[end - p] = 0;
    return 1;
}

static int get_num(const char *key, unsigned long long *v)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(line, pat);
    if (!p)
        return 0;
    *v = strtoull(p + strlen(pat), NULL, 10);
    return 1;
}

static double get_double(const char *key)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1.0;
}

static size_t get_hex(const char *key, uint8_t *dst)
{
    static char hex[LINE_MAX_LEN];
    size_t i, n;
    if (!get_str(key, hex, sizeof hex))
        return 0;
    n = strlen(hex) / 2;
    for (i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        dst[i] = (uint8_t)v;
    }
    return n;
}

static int decode_stream(fb_decoder_t *dec, const uint8_t *data, size_t len, fb_frame_t *last)
{
    size_t i;
    int frames = 0;
    fb_decoder_init(dec, 0);
    for (i = 0; i < len; i++)
        frames += fb_decoder_push(dec, data[i], last);
    return frames + fb_decoder_flush(dec, last);
}

static void check_valid(const char *name)
{
    static fb_decoder_t dec;
    static fb_frame_t frame;
    char type[16] = "";
    unsigned long long seq = 0, t_us = 0, v = 0;
    size_t wlen = get_hex("wire", wire), blen = get_hex("body", body), n;
    get_str("type", type, sizeof type);
    get_num("seq", &seq);
    get_num("t_us", &t_us);
    if (decode_stream(&dec, wire, wlen, &frame) != 1 || dec.stats[FB_OK] != 1) {
        fail(name, "wire does not decode to exactly one frame");
        return;
    }
    if (frame.seq != seq || frame.t_us != t_us)
        fail(name, "seq/t_us differ");
    if (strcmp(type, "hello") == 0) {
        if (frame.type != FB_TYPE_HELLO)
            fail(name, "type is not HELLO");
        get_num("rate_mhz", &v);
        if (frame.hello.rate_mhz != v)
            fail(name, "rate_mhz differs");
        get_num("device_id", &v);
        if (frame.hello.device_id != v)
            fail(name, "device_id differs");
        get_num("channels", &v);
        if (frame.hello.channels != v)
            fail(name, "channels differ");
        if (frame.hello.acc_scale != (float)get_double("acc_scale") ||
            frame.hello.gyro_scale != (float)get_double("gyro_scale"))
            fail(name, "scales differ");
    } else {
        get_num("n", &v);
        if (frame.type != FB_TYPE_SAMPLES || frame.n != v)
            fail(name, "not SAMPLES of n samples");
    }
    n = fb_encode_body(&frame, out);
    if (n != blen || memcmp(out, body, n) != 0)
        fail(name, "re-encoded body differs");
    n = fb_encode_frame(&frame, out);
    if (n != wlen || memcmp(out, wire, n) != 0)
        fail(name, "re-encoded wire differs");
    if (fb_decode_body(body, blen, FB_MAX_BODY, &frame) != FB_OK)
        fail(name, "body rejected by fb_decode_body");
    checked++;
}

static void check_invalid(const char *name)
{
    static fb_decoder_t dec;
    static fb_frame_t frame;
    char reason[16] = "";
    unsigned long long frames = 0, drops = 0;
    size_t wlen = get_hex("wire", wire);
    int r, got;
    get_str("reason", reason, sizeof reason);
    get_num("frames", &frames);
    get_num("drops", &drops);
    got = decode_stream(&dec, wire, wlen, &frame);
    if ((unsigned long long)got != frames || dec.stats[FB_OK] != frames)
        fail(name, "unexpected number of frames");
    for (r = 1; r < FB_STAT_COUNT; r++) {
        unsigned long long want = strcmp(fb_reason_name(r), reason) == 0 ? drops : 0;
        if (dec.stats[r] != want) {
            printf("  %s: %s = %lu, expected %llu\n", name, fb_reason_name(r), (unsigned long)dec.stats[r], want);
            fail(name, "drop counters differ");
        }
    }
    if (dec.len > FB_MAX_ENCODED)
        fail(name, "buffer bound exceeded");
    checked++;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "../vectors/frames.json";
    FILE *f = fopen(path, "r");
    int section = 0; /* 1 valid, 2 invalid */
    static const uint8_t check[] = "123456789";
    if (!f) {
        printf("FAIL cannot open %s\n", path);
        return 2;
    }
    if (crc32(check, 9) != 0xCBF43926u)
        fail("crc32", "check value of \"123456789\" is not 0xCBF43926");
    while (fgets(line, sizeof line, f)) {
        char name[128];
        if (strncmp(line, "\"valid\"", 7) == 0)
            section = 1;
        else if (strncmp(line, "\"invalid\"", 9) == 0)
            section = 2;
        else if (strncmp(line, "{\"name\"", 7) == 0 && get_str("name", name, sizeof name))
            section == 1 ? check_valid(name) : check_invalid(name);
    }
    fclose(f);
    if (checked < 20)
        fail("frames.json", "fewer than 20 vectors found");
    printf("%s: %d vectors checked, %d failures\n", failures ? "FAIL" : "OK", checked, failures);
    return failures ? 1 : 0;
}
