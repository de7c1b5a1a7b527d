/* A simulated board for tests: synthetic IMU, simulated clock, UART -> stdout, BLE notifications ->
 * a file of [u8 length][bytes] records. Usage: imu_host SECONDS [ATT_MTU] [BLE_FILE] [STALL_MS]
 * STALL_MS makes one loop iteration at t = 2 s take that long, to exercise the skip-ahead path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hal.h"
#include "imu_main.h"

static uint32_t now_us;
static uint16_t att_mtu = 23;
static FILE *ble_file;

int hal_imu_read(int16_t counts[6])
{
    double t = now_us / 1e6;
    int c;
    for (c = 0; c < 6; c++)
        counts[c] = (int16_t)(2000.0 * sin(6.283185307 * (0.5 + 0.3 * c) * t) + (c == 2 ? 2048 : 0));
    return 0;
}

uint32_t hal_micros(void) { return now_us; }

void hal_uart_write(const uint8_t *data, size_t len) { fwrite(data, 1, len, stdout); }

int hal_ble_notify(const uint8_t *data, size_t len)
{
    unsigned char n = (unsigned char)len;
    if (ble_file && (len > (size_t)att_mtu - 3u || fwrite(&n, 1, 1, ble_file) != 1 ||
                     fwrite(data, 1, len, ble_file) != len))
        return -1;
    return 0;
}

uint16_t hal_ble_att_mtu(void) { return att_mtu; }

int main(int argc, char **argv)
{
    imu_app_t app;
    imu_config_t cfg = {50000u, 5u, 5000000u, 9.80665f * 16.0f / 32768.0f, 0.00106526445f, 0x0123456789ABCDEFull};
    double seconds = argc > 1 ? atof(argv[1]) : 10.0;
    uint32_t stall_us = argc > 4 ? (uint32_t)atol(argv[4]) * 1000u : 0u, end;
    int stalled = 0;
    if (argc > 2)
        att_mtu = (uint16_t)atoi(argv[2]);
    if (argc > 3 && !(ble_file = fopen(argv[3], "wb")))
        return 2;
    now_us = 0xFFFFFFFFu - 3000000u; /* start 3 s before the clock wraps */
    end = now_us + (uint32_t)(seconds * 1e6);
    imu_app_init(&app, &cfg);
    while ((uint32_t)(end - now_us) < 0x80000000u && now_us != end) {
        imu_app_poll(&app);
        now_us += 1000u + (uint32_t)(rand() % 700); /* a loop iteration with some jitter */
        if (stall_us && !stalled && (uint32_t)(now_us - (end - (uint32_t)(seconds * 1e6))) > 2000000u) {
            now_us += stall_us;
            stalled = 1;
        }
    }
    if (ble_file)
        fclose(ble_file);
    fprintf(stderr, "skipped %lu samples\n", (unsigned long)app.skipped);
    return 0;
}
