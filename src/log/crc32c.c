/* CRC32C: the SSE4.2 instruction where the CPU has it, slice-by-8 tables
 * otherwise.
 *
 * The tables are built, and the implementation picked, once by the first
 * call (pthread_once); the choice is then published through an atomic
 * function pointer, so the steady-state cost of the dispatch is one load and
 * an indirect call. The hardware function carries a target attribute, so the
 * file builds without -msse4.2 and runs on CPUs without the instruction.
 */
#include "log/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SW__CRC_X86 1
#include <nmmintrin.h>
#else
#define SW__CRC_X86 0
#endif

#define POLY 0x82F63B78u /* Castagnoli, bit-reversed */

/* table[0] is the classic byte-at-a-time table; table[k][b] is the CRC of
 * byte b followed by k zero bytes, which lets the loop fold 8 bytes with 8
 * independent lookups. Written once under `once`, read-only afterwards. */
static uint32_t table[8][256];
static bool have_hw; /* written once under `once` */
static pthread_once_t once = PTHREAD_ONCE_INIT;

typedef uint32_t (*crc_fn)(uint32_t crc, const uint8_t *p, size_t n);

static uint32_t crc_resolve(uint32_t crc, const uint8_t *p, size_t n);

/* The implementation in use, on the raw (uninverted) register. Starts as the
 * resolver; crc_init stores the real one with release, pairing with the
 * acquire load in sw__crc32c, so a caller that sees it also sees the tables. */
static _Atomic(crc_fn) impl = crc_resolve;

static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t w = load_le64(p) ^ crc;
        uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if SW__CRC_X86
/* One crc32 instruction per 8 bytes. Its latency (3 cycles) rather than its
 * throughput bounds this loop, at roughly 8 GB/s: far beyond what the log's
 * disk writes need, so the three-stream interleaving that would triple it is
 * not worth its code. The loads use memcpy, so any alignment is fine. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

static void crc_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int b = 0; b < 256; b++)
            table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
    crc_fn chosen = crc_sw;
#if SW__CRC_X86
    __builtin_cpu_init();
    have_hw = __builtin_cpu_supports("sse4.2");
    if (have_hw)
        chosen = crc_hw;
#endif
    atomic_store_explicit(&impl, chosen, memory_order_release);
}

static uint32_t crc_resolve(uint32_t crc, const uint8_t *p, size_t n)
{
    pthread_once(&once, crc_init);
    crc_fn f = atomic_load_explicit(&impl, memory_order_acquire);
    return f(crc, p, n);
}

uint32_t sw__crc32c(uint32_t crc, const void *buf, size_t len)
{
    /* Acquire: pairs with the release store in crc_init. */
    crc_fn f = atomic_load_explicit(&impl, memory_order_acquire);
    return ~f(~crc, buf, len);
}

uint32_t sw__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&once, crc_init);
    return ~crc_sw(~crc, buf, len);
}

bool sw__crc32c_hw_available(void)
{
    pthread_once(&once, crc_init);
    return have_hw;
}

uint32_t sw__crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&once, crc_init);
#if SW__CRC_X86
    if (have_hw)
        return ~crc_hw(~crc, buf, len);
#endif
    return ~crc_sw(~crc, buf, len);
}
