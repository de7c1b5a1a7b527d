/* The firmware main loop: sample at a fixed rate, frame N samples, send over UART and BLE. */
#ifndef FB_IMU_MAIN_H
#define FB_IMU_MAIN_H

#include <stdint.h>

#include "protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* BLE GATT layout (128-bit UUIDs, documented in README.md). The frames characteristic carries the
 * same byte stream as the UART, cut into notifications of at most ATT_MTU - 3 bytes. */
#define IMU_BLE_SERVICE_UUID "7d2a0001-5c4e-4b8a-9f61-3e0b1c2d4f50"
#define IMU_BLE_FRAMES_UUID "7d2a0002-5c4e-4b8a-9f61-3e0b1c2d4f50"

typedef struct {
    uint32_t rate_mhz;          /* 50000 = 50 Hz */
    uint16_t samples_per_frame; /* 1..32 */
    uint32_t hello_every_us;    /* 5000000 */
    float acc_scale;            /* m/s^2 per LSB */
    float gyro_scale;           /* rad/s per LSB */
    uint64_t device_id;
} imu_config_t;

typedef struct {
    imu_config_t cfg;
    uint32_t period_us;
    uint32_t next_seq;       /* index of the next sample to take */
    uint32_t next_sample_us; /* when to take it */
    uint32_t last_hello_us;
    uint32_t skipped;        /* samples skipped because the loop fell behind */
    uint8_t started;
    fb_frame_t frame;        /* SAMPLES frame being filled */
    uint8_t wire[FB_MAX_FRAME];
} imu_app_t;

void imu_app_init(imu_app_t *app, const imu_config_t *cfg);
/* Call from the main loop as often as possible; never blocks longer than one frame's send. */
void imu_app_poll(imu_app_t *app);
/* Send wire bytes on the UART and as BLE notifications of ATT_MTU - 3 bytes. */
void imu_send(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
