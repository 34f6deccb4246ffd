/* libFuzzer target: the log record codec (src/log/record.h).
 *
 * The input is one flags byte, then the bytes of a log:
 *
 *   byte 0     flags: 1 fix the CRC of every record whose length fits, so
 *              that the fuzzer gets past the checksum into the body; 2 a
 *              byte follows that sets a small max_body (byte + 1)
 *   [1 byte]   with flag 2: max_body - 1
 *   the rest   records, decoded one after another as recovery does
 *
 * What must hold: sw__rec_decode never reads outside its buffer, and
 * leaves *r and *used alone where record.h says so. A record it accepts
 * re-encodes (sw__rec_size, sw__rec_encode) to exactly its bytes, lies
 * within them, and every proper prefix of it decodes as SW_EAGAIN (asking
 * for the right size) and reads as a torn tail (sw__rec_torn); so does the
 * rest of the log where decoding stops with SW_EAGAIN. The other way round,
 * a record built from the input's bytes (type, num, a, b) encodes and
 * decodes back to the same fields. At every offset, sw__rec_mark finds a
 * mark exactly where sw__rec_decode finds a SYNCED record with a and b
 * empty and num >= 0, with the same num.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/crc32c.h"
#include "log/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_record: invariant broken: %s\n", what);
        abort();
    }
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rewrites the CRC of each record in turn, as long as their lengths fit. */
static void fix_crcs(uint8_t *p, size_t n)
{
    size_t at = 0;
    while (n - at >= SW__REC_HEADER) {
        size_t body = get_le32(p + at);
        if (body == 0 || body > n - at - SW__REC_HEADER)
            return;
        uint32_t crc = sw__crc32c(0, p + at + SW__REC_HEADER, body);
        for (int i = 0; i < 4; i++)
            p[at + 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
        at += SW__REC_HEADER + body;
    }
}

static bool same_rec(const sw__rec *x, const sw__rec *y)
{
    return x->type == y->type && x->num == y->num && x->a == y->a && x->alen == y->alen &&
           x->b == y->b && x->blen == y->blen;
}

/* A record decoded from p[0 .. n) (n its full size) and what it must obey. */
static void check_record(const uint8_t *p, size_t n, const sw__rec *r, size_t max_body)
{
    check(sw__rec_type_name(r->type) != NULL, "a decoded record has a known type");
    const uint8_t *a = r->a, *b = r->b, *end = p + n;
    check(a != NULL && b != NULL, "a and b are never NULL after a decode");
    check(a > p + SW__REC_HEADER && a <= end && r->alen <= (size_t)(end - a), "a is in the body");
    check(b > a && b <= end && r->blen == (size_t)(end - b), "b ends the body");
    check(n - SW__REC_HEADER <= max_body, "the body fits max_body");

    check(sw__rec_size(r) == n, "sw__rec_size is the decoded size");
    uint8_t *out = malloc(n);
    check(out != NULL, "out of memory in the harness");
    check(sw__rec_encode(out, r) == n, "sw__rec_encode writes the size");
    check(memcmp(out, p, n) == 0, "a decoded record re-encodes to the same bytes");
    free(out);

    sw__rec again;
    size_t used = 0;
    check(sw__rec_decode(p, n, SW__REC_MAX_BODY, &again, &used) == SW_OK && used == n &&
              same_rec(&again, r),
          "a larger max_body decodes it the same");
    check(sw__rec_torn(p, n, max_body), "a whole record at the end reads as torn, not corrupt");
    for (size_t k = 0; k < n; k++) {
        used = 0;
        check(sw__rec_decode(p, k, max_body, &again, &used) == SW_EAGAIN,
              "a proper prefix of a record is SW_EAGAIN");
        check(used == (k < SW__REC_HEADER ? SW__REC_HEADER : n), "the prefix asks for the rest");
        check(sw__rec_torn(p, k, max_body), "a proper prefix of a record is a torn tail");
    }
}

/* sw__rec_mark at p[0 .. n) agrees with sw__rec_decode. */
static void check_mark(const uint8_t *p, size_t n)
{
    sw__rec r;
    size_t used;
    uint64_t num = 4242;
    bool mark = sw__rec_mark(p, n, &num);
    bool want = sw__rec_decode(p, n, SW__REC_MAX_BODY, &r, &used) == SW_OK &&
                r.type == SW__REC_SYNCED && r.alen == 0 && r.blen == 0 && r.num >= 0;
    check(mark == want, "sw__rec_mark finds exactly the log's SYNCED records");
    check(mark ? num == (uint64_t)r.num && used <= SW__REC_MARK_MAX : num == 4242,
          "sw__rec_mark gives the mark's num, and leaves *num alone otherwise");
}

/* Decodes p[0 .. n) record after record, as a log's recovery does. */
static void walk(const uint8_t *p, size_t n, size_t max_body)
{
    static const sw__rec poison = {.type = 0xee, .num = 12345, .alen = 77, .blen = 88};
    size_t at = 0;
    while (at < n) {
        sw__rec r = poison;
        size_t used = 999;
        int rc = sw__rec_decode(p + at, n - at, max_body, &r, &used);
        if (rc == SW_OK) {
            check(used > SW__REC_HEADER && used <= n - at, "a record lies in the buffer");
            check_record(p + at, used, &r, max_body);
            at += used;
            continue;
        }
        check(same_rec(&r, &poison), "*r is untouched unless SW_OK");
        if (rc == SW_EAGAIN) {
            check(used > n - at, "SW_EAGAIN asks for more than there is");
            check(n - at >= SW__REC_HEADER ? used - SW__REC_HEADER <= max_body
                                           : used == SW__REC_HEADER,
                  "SW_EAGAIN asks for the header, or the claimed record");
            check(sw__rec_torn(p + at, n - at, max_body), "what SW_EAGAIN stops at is torn");
            return;
        }
        check(rc == SW_EIO, "decode gives SW_OK, SW_EAGAIN or SW_EIO");
        check(used == 999, "*used is untouched on SW_EIO");
        return;
    }
}

/* A record made of the input's bytes: type, num, then a and b. */
static void build(const uint8_t *p, size_t n)
{
    if (n < 10)
        return;
    sw__rec r = {.type = (uint8_t)(p[0] % (SW__REC_TYPE_MAX + 2))};
    uint64_t num = 0;
    for (int i = 0; i < 8; i++)
        num |= (uint64_t)p[1 + i] << (8 * i);
    r.num = (int64_t)num;
    size_t rest = n - 10, split = p[9] % (rest + 1);
    r.a = split ? p + 10 : NULL;
    r.alen = split;
    r.b = rest - split ? p + 10 + split : NULL;
    r.blen = rest - split;
    size_t want = sw__rec_size(&r);
    if (sw__rec_type_name(r.type) == NULL) {
        uint8_t none[1];
        check(want == 0 && sw__rec_encode(none, &r) == 0, "an unknown type does not encode");
        return;
    }
    check(want > SW__REC_HEADER, "a known type encodes");
    uint8_t *out = malloc(want);
    check(out != NULL, "out of memory in the harness");
    check(sw__rec_encode(out, &r) == want, "sw__rec_encode writes sw__rec_size bytes");
    sw__rec back;
    size_t used = 0;
    check(sw__rec_decode(out, want, SW__REC_MAX_BODY, &back, &used) == SW_OK && used == want,
          "an encoded record decodes");
    check(back.type == r.type && back.num == r.num && back.alen == r.alen && back.blen == r.blen &&
              (r.alen == 0 || memcmp(back.a, r.a, r.alen) == 0) &&
              (r.blen == 0 || memcmp(back.b, r.b, r.blen) == 0),
          "an encoded record decodes to the same fields");
    check_record(out, want, &back, SW__REC_MAX_BODY);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return -1;
    size_t at = 1, max_body = SW__REC_MAX_BODY;
    if (data[0] & 2) {
        if (size < 2)
            return -1;
        max_body = data[1] + 1u;
        at = 2;
    }
    size_t n = size - at;
    /* An exact heap copy: AddressSanitizer sees any read past its end. */
    uint8_t *p = malloc(n ? n : 1);
    check(p != NULL, "out of memory in the harness");
    memcpy(p, data + at, n);
    if (data[0] & 1)
        fix_crcs(p, n);
    for (size_t k = 0; k <= n; k++) /* as the lost-pages search tries them */
        check_mark(p + k, n - k);
    walk(p, n, max_body);
    build(p, n);
    free(p);
    return 0;
}
