#include "protocol.h"

#include <string.h>

#include "crc32.h"

typedef char fb_float_is_ieee32[(sizeof(float) == 4) ? 1 : -1];

static const char *const reason_names[FB_STAT_COUNT] = {
    "frames", "cobs", "crc", "version", "type", "length", "oversize"};

const char *fb_reason_name(int reason)
{
    return (reason >= 0 && reason < FB_STAT_COUNT) ? reason_names[reason] : "?";
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16); }

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

size_t fb_encode_body(const fb_frame_t *frame, uint8_t *body)
{
    size_t plen, i, c;
    uint8_t *p = body + FB_HEADER_LEN;
    if (frame->type == FB_TYPE_HELLO) {
        const fb_hello_t *h = &frame->hello;
        plen = FB_HELLO_PAYLOAD_LEN;
        put32(p, h->rate_mhz);
        put32(p + 4, f2u(h->acc_scale));
        put32(p + 8, f2u(h->gyro_scale));
        put32(p + 12, (uint32_t)h->device_id);
        put32(p + 16, (uint32_t)(h->device_id >> 32));
        p[20] = h->channels;
        p[21] = h->flags;
        put16(p + 22, 0);
    } else if (frame->type == FB_TYPE_SAMPLES && frame->n >= 1 && frame->n <= FB_MAX_SAMPLES) {
        plen = (size_t)frame->n * FB_SAMPLE_BYTES;
        for (i = 0; i < frame->n; i++)
            for (c = 0; c < FB_CHANNELS; c++)
                put16(p + 2 * (i * FB_CHANNELS + c), (uint16_t)frame->counts[i][c]);
    } else {
        return 0;
    }
    body[0] = FB_VERSION;
    body[1] = frame->type;
    put16(body + 2, (uint16_t)plen);
    put32(body + 4, frame->seq);
    put32(body + 8, frame->t_us);
    put32(body + FB_HEADER_LEN + plen, crc32(body, FB_HEADER_LEN + plen));
    return FB_HEADER_LEN + plen + FB_CRC_LEN;
}

size_t fb_encode_frame(const fb_frame_t *frame, uint8_t *out)
{
    uint8_t body[FB_MAX_BODY];
    size_t len = fb_encode_body(frame, body), n;
    if (len == 0)
        return 0;
    n = cobs_encode(body, len, out);
    out[n] = 0;
    return n + 1;
}

int fb_decode_body(const uint8_t *body, size_t len, size_t max_body, fb_frame_t *frame)
{
    size_t plen, i, c;
    const uint8_t *p = body + FB_HEADER_LEN;
    if (len > max_body)
        return FB_ERR_OVERSIZE;
    if (len < FB_MIN_BODY)
        return FB_ERR_LENGTH;
    if (body[0] != FB_VERSION)
        return FB_ERR_VERSION;
    if (body[1] != FB_TYPE_HELLO && body[1] != FB_TYPE_SAMPLES)
        return FB_ERR_TYPE;
    plen = get16(body + 2);
    if (plen != len - FB_MIN_BODY)
        return FB_ERR_LENGTH;
    if (body[1] == FB_TYPE_HELLO && plen != FB_HELLO_PAYLOAD_LEN)
        return FB_ERR_LENGTH;
    if (body[1] == FB_TYPE_SAMPLES &&
        (plen % FB_SAMPLE_BYTES != 0 || plen == 0 || plen > FB_MAX_SAMPLES * FB_SAMPLE_BYTES))
        return FB_ERR_LENGTH;
    if (crc32(body, FB_HEADER_LEN + plen) != get32(body + FB_HEADER_LEN + plen))
        return FB_ERR_CRC;
    frame->type = body[1];
    frame->seq = get32(body + 4);
    frame->t_us = get32(body + 8);
    if (frame->type == FB_TYPE_HELLO) {
        frame->n = 0;
        frame->hello.rate_mhz = get32(p);
        frame->hello.acc_scale = u2f(get32(p + 4));
        frame->hello.gyro_scale = u2f(get32(p + 8));
        frame->hello.device_id = (uint64_t)get32(p + 12) | ((uint64_t)get32(p + 16) << 32);
        frame->hello.channels = p[20];
        frame->hello.flags = p[21];
    } else {
        frame->n = (uint16_t)(plen / FB_SAMPLE_BYTES);
        for (i = 0; i < frame->n; i++)
            for (c = 0; c < FB_CHANNELS; c++)
                frame->counts[i][c] = (int16_t)get16(p + 2 * (i * FB_CHANNELS + c));
    }
    return FB_OK;
}

void fb_decoder_init(fb_decoder_t *dec, size_t max_body)
{
    memset(dec, 0, sizeof *dec);
    dec->max_body = (uint16_t)((max_body == 0 || max_body > FB_MAX_BODY) ? FB_MAX_BODY : max_body);
}

static size_t max_encoded(const fb_decoder_t *dec) { return COBS_MAX_ENCODED_LENGTH(dec->max_body); }

static int try_decode(const uint8_t *enc, size_t n, size_t max_body, fb_frame_t *frame)
{
    uint8_t body[FB_MAX_BODY + 1];
    size_t len;
    if (cobs_decode(enc, n, body, sizeof body, &len) != 0)
        return FB_ERR_COBS;
    return fb_decode_body(body, len, max_body, frame);
}

/* A frame whose delimiter was lost runs into the next one, which is then a suffix of the candidate
 * whose code-byte chain ends exactly at its end: mark those offsets in one backward pass and decode
 * them in increasing order (the Python decoder's _suffix_starts does the same). */
static int recover(fb_decoder_t *dec, size_t first, fb_frame_t *frame)
{
    uint8_t ok[FB_MAX_ENCODED + 1];
    size_t n = dec->len, i, k;
    ok[n] = 1;
    for (i = n; i-- > 0;) {
        size_t j = i + dec->buf[i];
        ok[i] = (uint8_t)(j <= n && ok[j]);
    }
    for (k = first; k < n; k++)
        if (ok[k] && try_decode(dec->buf + k, n - k, dec->max_body, frame) == FB_OK)
            return 1;
    return 0;
}

static int candidate(fb_decoder_t *dec, fb_frame_t *frame)
{
    int got = 0;
    if (!dec->overflowed) {
        int reason = try_decode(dec->buf, dec->len, dec->max_body, frame);
        if (reason != FB_OK)
            dec->stats[reason]++;
        got = reason == FB_OK;
    }
    if (!got && recover(dec, dec->overflowed ? 0 : 1, frame)) /* the frame this one ran into, if any */
        got = 1;
    if (got)
        dec->stats[FB_OK]++;
    dec->len = 0;
    dec->overflowed = 0;
    return got;
}

int fb_decoder_push(fb_decoder_t *dec, uint8_t byte, fb_frame_t *frame)
{
    if (byte == 0)
        return dec->len ? candidate(dec, frame) : 0; /* empty candidates are ignored */
    if (dec->len >= max_encoded(dec)) { /* keep the run's last bytes for recover() */
        if (!dec->overflowed)
            dec->stats[FB_ERR_OVERSIZE]++;
        dec->overflowed = 1;
        memmove(dec->buf, dec->buf + 1, (size_t)dec->len - 1u);
        dec->len--;
    }
    dec->buf[dec->len++] = byte;
    return 0;
}

int fb_decoder_flush(fb_decoder_t *dec, fb_frame_t *frame)
{
    int got = dec->len ? candidate(dec, frame) : 0;
    dec->len = 0;
    dec->overflowed = 0;
    return got;
}

size_t fb_decoder_sizeof(void) { return sizeof(fb_decoder_t); }
uint32_t fb_decoder_stat(const fb_decoder_t *dec, int i) { return (i >= 0 && i < FB_STAT_COUNT) ? dec->stats[i] : 0; }
size_t fb_decoder_buffered(const fb_decoder_t *dec) { return dec->len; }

static int emit(const fb_frame_t *frame, uint8_t *out, size_t cap, size_t *pos)
{
    uint8_t body[FB_MAX_BODY];
    size_t len = fb_encode_body(frame, body);
    if (*pos + 2 + len > cap)
        return -1;
    put16(out + *pos, (uint16_t)len);
    memcpy(out + *pos + 2, body, len);
    *pos += 2 + len;
    return 0;
}

size_t fb_decoder_feed(fb_decoder_t *dec, const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
    fb_frame_t frame;
    size_t i, pos = 0;
    int full = 0;
    for (i = 0; i < len; i++)
        if (fb_decoder_push(dec, data[i], &frame) && emit(&frame, out, cap, &pos) != 0)
            full = 1;
    return full ? (size_t)-1 : pos;
}

size_t fb_decoder_finish(fb_decoder_t *dec, uint8_t *out, size_t cap)
{
    fb_frame_t frame;
    size_t pos = 0;
    if (fb_decoder_flush(dec, &frame) && emit(&frame, out, cap, &pos) != 0)
        return (size_t)-1;
    return pos;
}
