/* Wire protocol v1 (see ../PROTOCOL.md): frame = COBS(header | payload | crc32) + 0x00.
 * Same codec, validation order and drop reasons as firmware_bridge/protocol.py. No malloc, C99. */
#ifndef FB_PROTOCOL_H
#define FB_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "cobs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FB_VERSION 1u
#define FB_TYPE_HELLO 1u
#define FB_TYPE_SAMPLES 2u
#define FB_HEADER_LEN 12u
#define FB_CRC_LEN 4u
#define FB_CHANNELS 6u
#define FB_SAMPLE_BYTES 12u
#define FB_MAX_SAMPLES 32u
#define FB_HELLO_PAYLOAD_LEN 24u
#define FB_MIN_BODY (FB_HEADER_LEN + FB_CRC_LEN)                                   /* 16 */
#define FB_MAX_BODY (FB_HEADER_LEN + FB_MAX_SAMPLES * FB_SAMPLE_BYTES + FB_CRC_LEN) /* 400 */
#define FB_MAX_ENCODED COBS_MAX_ENCODED_LENGTH(FB_MAX_BODY)                          /* 402 */
#define FB_MAX_FRAME (FB_MAX_ENCODED + 1u) /* 403 wire bytes, delimiter included */

/* Decoder outcomes; FB_OK doubles as the index of the "frames" counter in fb_decoder_t.stats. */
enum fb_reason {
    FB_OK = 0,
    FB_ERR_COBS,
    FB_ERR_CRC,
    FB_ERR_VERSION,
    FB_ERR_TYPE,
    FB_ERR_LENGTH,
    FB_ERR_OVERSIZE,
    FB_STAT_COUNT
};

typedef struct {
    uint32_t rate_mhz;  /* 50000 = 50.000 Hz */
    float acc_scale;    /* m/s^2 per LSB */
    float gyro_scale;   /* rad/s per LSB */
    uint64_t device_id;
    uint8_t channels;   /* 6 */
    uint8_t flags;      /* 0 in v1 */
} fb_hello_t;

typedef struct {
    uint8_t type;   /* FB_TYPE_HELLO or FB_TYPE_SAMPLES */
    uint32_t seq;   /* SAMPLES: index of the first sample; HELLO: index of the next sample */
    uint32_t t_us;  /* SAMPLES: device clock of the first sample; HELLO: device now */
    fb_hello_t hello;                                 /* valid when type == FB_TYPE_HELLO */
    uint16_t n;                                       /* SAMPLES: 1..32 */
    int16_t counts[FB_MAX_SAMPLES][FB_CHANNELS];      /* SAMPLES: ax ay az gx gy gz */
} fb_frame_t;

typedef struct {
    uint8_t buf[FB_MAX_ENCODED];
    uint16_t len;
    uint16_t max_body;
    uint8_t overflowed; /* this run outgrew buf: oversize counted once, only its last bytes kept */
    uint32_t stats[FB_STAT_COUNT];
} fb_decoder_t;

const char *fb_reason_name(int reason); /* "frames", "cobs", "crc", "version", "type", "length", "oversize" */

/* Body (header | payload | crc) of a frame into body[FB_MAX_BODY]; 0 if the frame is invalid. */
size_t fb_encode_body(const fb_frame_t *frame, uint8_t *body);
/* Wire bytes into out[FB_MAX_FRAME], delimiter included; 0 if the frame is invalid. */
size_t fb_encode_frame(const fb_frame_t *frame, uint8_t *out);
/* Validate one COBS-decoded body; FB_OK fills *frame, anything else is the drop reason. */
int fb_decode_body(const uint8_t *body, size_t len, size_t max_body, fb_frame_t *frame);

/* max_body 0 means FB_MAX_BODY; larger values are clamped to it. */
void fb_decoder_init(fb_decoder_t *dec, size_t max_body);
/* Push one byte; returns 1 and fills *frame when it completes a valid frame, else 0. */
int fb_decoder_push(fb_decoder_t *dec, uint8_t byte, fb_frame_t *frame);
/* End of stream: decode an unterminated tail (counted as a drop if invalid); 1 if a frame came out. */
int fb_decoder_flush(fb_decoder_t *dec, fb_frame_t *frame);

/* Helpers for hosts (ctypes): feed a buffer, write each accepted frame re-encoded as
 * [u16 LE body length][body] into out; returns bytes written, or (size_t)-1 if cap was too small. */
size_t fb_decoder_sizeof(void);
size_t fb_decoder_feed(fb_decoder_t *dec, const uint8_t *data, size_t len, uint8_t *out, size_t cap);
size_t fb_decoder_finish(fb_decoder_t *dec, uint8_t *out, size_t cap);
uint32_t fb_decoder_stat(const fb_decoder_t *dec, int index);
size_t fb_decoder_buffered(const fb_decoder_t *dec);

#ifdef __cplusplus
}
#endif
#endif
