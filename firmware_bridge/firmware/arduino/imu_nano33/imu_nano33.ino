// Board port for the Arduino Nano 33 BLE Sense (nRF52840 + LSM9DS1): implements hal.h with
// Arduino_LSM9DS1 and ArduinoBLE and runs the portable firmware in imu_main.c.
// Not compiled in this repository's CI (no Arduino toolchain); build with
//   make -C firmware_bridge/firmware arduino
//   arduino-cli lib install Arduino_LSM9DS1 ArduinoBLE
//   arduino-cli compile -b arduino:mbed_nano:nano33ble firmware_bridge/firmware/build/arduino/imu_nano33
#include <ArduinoBLE.h>
#include <Arduino_LSM9DS1.h>

#include "src/hal.h"
#include "src/imu_main.h"

// Arduino_LSM9DS1 defaults: accelerometer +-4 g, gyroscope +-2000 dps; it returns g and dps.
static const float ACC_RANGE_G = 4.0f;
static const float GYRO_RANGE_DPS = 2000.0f;
static const float ACC_SCALE = 9.80665f * ACC_RANGE_G / 32768.0f;                  // m/s^2 per LSB
static const float GYRO_SCALE = GYRO_RANGE_DPS * 3.14159265f / 180.0f / 32768.0f;  // rad/s per LSB

BLEService imuService(IMU_BLE_SERVICE_UUID);
BLECharacteristic framesChar(IMU_BLE_FRAMES_UUID, BLERead | BLENotify, 244);
static imu_app_t app;
static int16_t last[6];

static int16_t toCounts(float value, float lsb)
{
    float c = value / lsb;
    if (c > 32767.0f) return 32767;
    if (c < -32768.0f) return -32768;
    return (int16_t)lroundf(c);
}

extern "C" int hal_imu_read(int16_t counts[6])
{
    float x, y, z;
    if (IMU.accelerationAvailable() && IMU.readAcceleration(x, y, z)) {
        last[0] = toCounts(x * 9.80665f, ACC_SCALE);
        last[1] = toCounts(y * 9.80665f, ACC_SCALE);
        last[2] = toCounts(z * 9.80665f, ACC_SCALE);
    }
    if (IMU.gyroscopeAvailable() && IMU.readGyroscope(x, y, z)) {
        const float rad = 3.14159265f / 180.0f;
        last[3] = toCounts(x * rad, GYRO_SCALE);
        last[4] = toCounts(y * rad, GYRO_SCALE);
        last[5] = toCounts(z * rad, GYRO_SCALE);
    }
    memcpy(counts, last, sizeof last);  // the sensor runs at 119 Hz; we take its latest value at 50 Hz
    return 0;
}

extern "C" uint32_t hal_micros(void) { return micros(); }

extern "C" void hal_uart_write(const uint8_t *data, size_t len)
{
    if (Serial) Serial.write(data, len);  // USB CDC; skip while no host has the port open
}

extern "C" int hal_ble_notify(const uint8_t *data, size_t len)
{
    if (!BLE.connected() || !framesChar.subscribed()) return 0;
    return framesChar.writeValue(data, (int)len) ? 0 : -1;
}

// ArduinoBLE has no public getter for the negotiated ATT MTU, so assume the default 23
// (20-byte notifications); 50 Hz x 12 B plus framing is ~35 notifications/s, well within budget.
extern "C" uint16_t hal_ble_att_mtu(void) { return 23; }

void setup()
{
    Serial.begin(115200);
    if (!IMU.begin() || !BLE.begin()) {
        pinMode(LED_BUILTIN, OUTPUT);
        for (;;) { digitalWrite(LED_BUILTIN, !digitalRead(LED_BUILTIN)); delay(100); }  // fast blink = no IMU/BLE
    }
    BLE.setLocalName("edge-imu");
    BLE.setAdvertisedService(imuService);
    imuService.addCharacteristic(framesChar);
    BLE.addService(imuService);
    BLE.advertise();
    imu_config_t cfg;
    cfg.rate_mhz = 50000u;
    cfg.samples_per_frame = 5u;
    cfg.hello_every_us = 5000000u;
    cfg.acc_scale = ACC_SCALE;
    cfg.gyro_scale = GYRO_SCALE;
    cfg.device_id = ((uint64_t)NRF_FICR->DEVICEID[1] << 32) | NRF_FICR->DEVICEID[0];
    imu_app_init(&app, &cfg);
}

void loop()
{
    BLE.poll();
    imu_app_poll(&app);
}
