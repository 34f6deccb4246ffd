/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
 * log record.
 *
 * Written here because Debian 12 packages no CRC32C library. On x86-64 CPUs
 * with SSE4.2 the `crc32` instruction computes it; elsewhere a slice-by-8
 * table does. The choice is made once, on first use, and both paths give the
 * same result for the same bytes.
 *
 * Thread safety: every function here may be called from any thread.
 */
#ifndef STEWARD_LOG_CRC32C_H
#define STEWARD_LOG_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The CRC32C of buf[0 .. len), continuing from crc: pass 0 to start, and the
 * previous result to continue, so that sw__crc32c(sw__crc32c(0, a, n), b, m)
 * equals the CRC of a and b concatenated. The initial and final inversions
 * are done inside: sw__crc32c(0, "123456789", 9) == 0xE3069283. buf may be
 * NULL only when len is 0. */
uint32_t sw__crc32c(uint32_t crc, const void *buf, size_t len);

/* The table-driven path, whatever the CPU has. Same contract as sw__crc32c;
 * for tests and benchmarks. */
uint32_t sw__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Whether this CPU has the CRC32C instruction that sw__crc32c_hw uses. */
bool sw__crc32c_hw_available(void);

/* The hardware path; same contract as sw__crc32c. Where
 * sw__crc32c_hw_available() is false it falls back to the table, so it is
 * always safe to call; for tests and benchmarks. */
uint32_t sw__crc32c_hw(uint32_t crc, const void *buf, size_t len);

#endif
