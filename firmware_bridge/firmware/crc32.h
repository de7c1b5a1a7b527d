/* CRC-32/ISO-HDLC (zlib, Ethernet): reflected poly 0xEDB88320, init and final xor 0xFFFFFFFF. */
#ifndef FB_CRC32_H
#define FB_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continue a CRC: crc32_update(0, a, n) == crc32(a, n); pass the previous result to chain. */
uint32_t crc32_update(uint32_t crc, const uint8_t *data, size_t len);
uint32_t crc32(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
