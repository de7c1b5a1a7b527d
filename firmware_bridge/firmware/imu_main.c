/* Firmware main loop, portable C99 against hal.h. Sends HELLO at start and every hello_every_us
 * (only between SAMPLES frames, so HELLO.seq is the first sample of the next SAMPLES frame), and a
 * SAMPLES frame every samples_per_frame samples. If the loop falls behind by more than a few
 * periods it skips ahead and advances seq by the skipped count, so the gateway sees a gap
 * instead of stale repeated samples. */
#include "imu_main.h"

#include <string.h>

#include "hal.h"

#define IMU_MAX_LAG_PERIODS 5u

void imu_send(const uint8_t *data, size_t len)
{
    size_t chunk = (size_t)hal_ble_att_mtu() - 3u, off;
    hal_uart_write(data, len);
    if (chunk < 1u)
        chunk = 20u;
    for (off = 0; off < len; off += chunk)
        (void)hal_ble_notify(data + off, (len - off < chunk) ? len - off : chunk);
}

static void send_hello(imu_app_t *app, uint32_t now)
{
    fb_frame_t hello;
    size_t n;
    memset(&hello, 0, sizeof hello);
    hello.type = FB_TYPE_HELLO;
    hello.seq = app->next_seq;
    hello.t_us = now;
    hello.hello.rate_mhz = app->cfg.rate_mhz;
    hello.hello.acc_scale = app->cfg.acc_scale;
    hello.hello.gyro_scale = app->cfg.gyro_scale;
    hello.hello.device_id = app->cfg.device_id;
    hello.hello.channels = FB_CHANNELS;
    n = fb_encode_frame(&hello, app->wire);
    imu_send(app->wire, n);
    app->last_hello_us = now;
}

static void send_samples(imu_app_t *app, uint32_t now)
{
    size_t n;
    if (app->frame.n == 0)
        return;
    n = fb_encode_frame(&app->frame, app->wire);
    imu_send(app->wire, n);
    app->frame.n = 0;
    if ((uint32_t)(now - app->last_hello_us) >= app->cfg.hello_every_us)
        send_hello(app, now);
}

void imu_app_init(imu_app_t *app, const imu_config_t *cfg)
{
    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    if (app->cfg.samples_per_frame < 1u || app->cfg.samples_per_frame > FB_MAX_SAMPLES)
        app->cfg.samples_per_frame = 5u;
    if (app->cfg.rate_mhz == 0u)
        app->cfg.rate_mhz = 50000u;
    app->period_us = (uint32_t)(1000000000ull / app->cfg.rate_mhz);
    app->frame.type = FB_TYPE_SAMPLES;
}

void imu_app_poll(imu_app_t *app)
{
    uint32_t now = hal_micros();
    if (!app->started) {
        app->started = 1;
        app->next_sample_us = now;
        send_hello(app, now);
    }
    if ((uint32_t)(now - app->next_sample_us) < 0x80000000u &&
        now - app->next_sample_us > IMU_MAX_LAG_PERIODS * app->period_us) {
        uint32_t skip = (now - app->next_sample_us) / app->period_us;
        send_samples(app, now); /* a frame holds consecutive samples only */
        app->next_seq += skip;
        app->next_sample_us += skip * app->period_us;
        app->skipped += skip;
    }
    while ((uint32_t)(now - app->next_sample_us) < 0x80000000u) { /* next_sample_us <= now, wrap-safe */
        fb_frame_t *f = &app->frame;
        if (f->n == 0) {
            f->seq = app->next_seq;
            f->t_us = app->next_sample_us;
        }
        if (hal_imu_read(f->counts[f->n]) != 0)
            memset(f->counts[f->n], 0, sizeof f->counts[f->n]);
        f->n++;
        app->next_seq++;
        app->next_sample_us += app->period_us;
        if (f->n == app->cfg.samples_per_frame)
            send_samples(app, now);
    }
}
