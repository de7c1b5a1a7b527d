/* Plain random-loop fuzzer for the stream decoder (no libFuzzer needed; build with ASan/UBSan).
 * Inputs: random bytes, and valid frame streams with random mutations. Checks: no crash (sanitizers),
 * the buffer bound, and that every accepted frame re-encodes to a body that validates again.
 * Then measures false accepts: random bodies with a well-formed header, so only the CRC can reject.
 * Usage: fuzz_decoder [SECONDS=10] [SEED=1] [FALSE_ACCEPT_BODIES=4000000] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"

static uint64_t rng_state;
static uint32_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static size_t valid_stream(uint8_t *buf, size_t cap)
{
    static fb_frame_t f;
    size_t len = 0, i, c;
    int frames = 1 + (int)(rnd() % 4);
    while (frames-- > 0 && len + FB_MAX_FRAME <= cap) {
        memset(&f, 0, sizeof f);
        f.seq = rnd();
        f.t_us = rnd();
        if (rnd() % 5 == 0) {
            f.type = FB_TYPE_HELLO;
            f.hello.rate_mhz = 50000u;
            f.hello.channels = 6;
        } else {
            f.type = FB_TYPE_SAMPLES;
            f.n = (uint16_t)(1 + rnd() % FB_MAX_SAMPLES);
            for (i = 0; i < f.n; i++)
                for (c = 0; c < FB_CHANNELS; c++)
                    f.counts[i][c] = (int16_t)(rnd() % 4 == 0 ? 0 : rnd());
        }
        len += fb_encode_frame(&f, buf + len);
    }
    return len;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
    int k = 1 + (int)(rnd() % 8);
    while (k-- > 0 && len > 0) {
        size_t at = rnd() % len, n;
        switch (rnd() % 5) {
        case 0: buf[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
        case 1: buf[at] = (uint8_t)rnd(); break;
        case 2: len = at; break;                                   /* truncate */
        case 3: n = 1 + rnd() % 8;                                 /* delete */
            if (at + n <= len) { memmove(buf + at, buf + at + n, len - at - n); len -= n; }
            break;
        default: n = 1 + rnd() % 16;                               /* insert noise */
            if (len + n <= cap) {
                memmove(buf + at + n, buf + at, len - at);
                len += n;
                while (n-- > 0) buf[at + n] = (uint8_t)rnd();
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    static uint8_t input[4096], body[FB_MAX_BODY];
    static fb_decoder_t dec;
    static fb_frame_t frame, again;
    double seconds = argc > 1 ? atof(argv[1]) : 10.0;
    unsigned long long inputs = 0, frames = 0, drops = 0, bodies, accepts = 0, b;
    clock_t start = clock();
    int r;
    rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)(argc > 2 ? atoll(argv[2]) : 1);
    bodies = argc > 3 ? strtoull(argv[3], NULL, 10) : 4000000ull;
    fb_decoder_init(&dec, 0);
    while ((double)(clock() - start) / CLOCKS_PER_SEC < seconds) {
        size_t len, i;
        if (rnd() % 3 == 0) {
            len = rnd() % 1200;
            for (i = 0; i < len; i++)
                input[i] = (uint8_t)(rnd() % 16 == 0 ? 0 : rnd());
        } else {
            len = mutate(input, valid_stream(input, sizeof input - 64), sizeof input);
        }
        if (rnd() % 4 == 0) { /* sometimes a fresh decoder, mostly one long stream */
            for (r = 0; r < FB_STAT_COUNT; r++)
                *(r == FB_OK ? &frames : &drops) += dec.stats[r];
            fb_decoder_init(&dec, 0);
        }
        for (i = 0; i < len; i++) {
            if (fb_decoder_push(&dec, input[i], &frame)) {
                size_t n = fb_encode_body(&frame, body);
                if (n == 0 || fb_decode_body(body, n, FB_MAX_BODY, &again) != FB_OK) {
                    printf("FAIL accepted frame does not re-encode\n");
                    return 1;
                }
            }
            if (dec.len > FB_MAX_ENCODED) {
                printf("FAIL buffer bound exceeded\n");
                return 1;
            }
        }
        inputs++;
    }
    for (r = 0; r < FB_STAT_COUNT; r++)
        *(r == FB_OK ? &frames : &drops) += dec.stats[r];
    seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    printf("fuzz: %llu inputs in %.1f s (%.0f inputs/s), 0 crashes; %llu frames accepted, %llu drops\n",
           inputs, seconds, inputs / seconds, frames, drops);
    start = clock();
    for (b = 0; b < bodies; b++) {
        size_t n = 1 + rnd() % FB_MAX_SAMPLES, plen = n * FB_SAMPLE_BYTES, i;
        body[0] = FB_VERSION;
        body[1] = FB_TYPE_SAMPLES;
        body[2] = (uint8_t)plen;
        body[3] = (uint8_t)(plen >> 8);
        for (i = 4; i < FB_MIN_BODY + plen; i++)
            body[i] = (uint8_t)rnd();
        accepts += fb_decode_body(body, FB_MIN_BODY + plen, FB_MAX_BODY, &frame) == FB_OK;
    }
    printf("false accepts: %llu of %llu random well-formed candidate bodies (CRC-32; %.1f s)\n", accepts, bodies,
           (double)(clock() - start) / CLOCKS_PER_SEC);
    return accepts ? 1 : 0;
}
