/* The hardware the firmware needs, five functions. Ports: hal_host.c (a simulated board for tests),
 * arduino/imu_nano33/imu_nano33.ino (Arduino Nano 33 BLE Sense). */
#ifndef FB_HAL_H
#define FB_HAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Latest IMU sample as int16 counts ax ay az gx gy gz in the scales announced in HELLO; 0 = ok. */
int hal_imu_read(int16_t counts[6]);
/* Free-running microsecond clock; wraps at 2^32 (~71.6 min) and the protocol's t_us wraps with it. */
uint32_t hal_micros(void);
/* Blocking write of wire bytes to the UART (USB CDC on the Nano 33). */
void hal_uart_write(const uint8_t *data, size_t len);
/* One GATT notification of len <= ATT_MTU - 3 bytes; 0 if sent or nobody subscribed. */
int hal_ble_notify(const uint8_t *data, size_t len);
/* The negotiated ATT MTU (23 until the central asks for more). */
uint16_t hal_ble_att_mtu(void);

#ifdef __cplusplus
}
#endif
#endif
