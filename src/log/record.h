/* The log record codec: bytes in, bytes out, no I/O (so it can be fuzzed).
 *
 * A record on disk is an 8-byte header and a body:
 *
 *     [u32 LE body length L][u32 LE CRC32C of the body][body: L bytes]
 *     body = [u8 type][varint zigzag(num)][varint alen][a][varint blen][b]
 *
 * Varints are LEB128 (7 bits a byte, low bits first, at most 10 bytes) and
 * must be minimal (no redundant 0x80 .. 0x00 continuation), so every record
 * has exactly one encoding. num is zigzag-encoded so that small negative
 * numbers stay short. 1 <= L <= the maximum body size (SW__REC_MAX_BODY by
 * default), and the body's own fields must add up to exactly L: the length in
 * the header is therefore checked twice, once by the CRC and once by the
 * body, which is what lets recovery tell a torn tail from a corrupted length
 * (see sw__rec_torn).
 *
 * The codec is generic: a type byte, one signed 64-bit number and two byte
 * strings. What each type means is up to the Db and the Ledger; the decoder
 * only insists that the type is one of those below.
 *
 * Thread safety: every function is pure and may be called from any thread.
 */
#ifndef STEWARD_LOG_RECORD_H
#define STEWARD_LOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/status.h"

/* The header: body length, then CRC32C of the body, both little-endian. */
#define SW__REC_HEADER 8

/* The default maximum body size; a header claiming more is corruption. */
#define SW__REC_MAX_BODY ((size_t)512 << 20)

/* Record types. The values are on disk: never renumber, only add (and teach
 * sw__rec_type_name the new name). 0 is never valid, so zero-filled bytes
 * never decode. The field layouts noted are the intended ones; the Db and
 * the Ledger own them, the codec checks none of them. */
enum sw__rec_type {
    SW__REC_PUT = 1,            /* a = key, b = value, num = expiry (ms) or 0 */
    SW__REC_DEL = 2,            /* a = key */
    SW__REC_EXPIRE = 3,         /* a = key, num = new expiry (ms) or 0 to clear */
    SW__REC_ACCT_SET = 4,       /* a = 8-byte account id, num = balance */
    SW__REC_XFER_DEBIT = 5,     /* a = 16-byte txid + 8-byte account id, num = amount */
    SW__REC_XFER_CREDIT = 6,    /* a = 16-byte txid + 8-byte account id, num = amount */
    SW__REC_XFER_DONE = 7,      /* a = 16-byte txid */
    SW__REC_SNAPSHOT_BEGIN = 8, /* compaction: a snapshot of live data follows */
    SW__REC_SNAPSHOT_END = 9,   /* compaction: the snapshot is complete */
    SW__REC_SYNCED = 10,        /* the log's own mark: num = an offset below which every
                                   byte of the file was durable when the mark was written
                                   (a, b empty); never replayed (logfile.c) */
    SW__REC_TX_PART = 11,       /* num = txid, a = u32 LE parts + u32 LE this part's
                                   index, b = its writes (PUT, DEL records), encoded */
    SW__REC_TX_DECIDED = 12,    /* num = txid (a, b empty): every part is logged */
    SW__REC_TYPE_MAX = 12       /* the highest valid type */
};

/* The size of a SYNCED record as the log writes it (a and b empty): the
 * header, the type, num (up to 10 bytes), and two empty lengths. */
#define SW__REC_MARK_MIN (SW__REC_HEADER + 4)
#define SW__REC_MARK_MAX (SW__REC_HEADER + 13)

/* One record. Encoding reads a and b; decoding points them into the buffer it
 * decoded (never NULL after a successful decode, even when empty). */
typedef struct sw__rec {
    uint8_t type;  /* an enum sw__rec_type */
    int64_t num;   /* any value */
    const void *a; /* alen bytes; may be NULL when alen is 0 */
    size_t alen;
    const void *b; /* blen bytes; may be NULL when blen is 0 */
    size_t blen;
} sw__rec;

/* The type's name ("PUT", "XFER_DEBIT", ...), or NULL for an unknown type.
 * Static storage. */
const char *sw__rec_type_name(int type);

/* The exact number of bytes sw__rec_encode writes for r, header included;
 * 0 when r cannot be encoded: r is NULL, its type is unknown, a or b is NULL
 * with a non-zero length, or the body would exceed SW__REC_MAX_BODY. */
size_t sw__rec_size(const sw__rec *r);

/* Encodes r into out, which must have room for sw__rec_size(r) bytes, and
 * returns the number written (that size); 0, writing nothing, when
 * sw__rec_size(r) is 0 or out is NULL. */
size_t sw__rec_encode(uint8_t *out, const sw__rec *r);

/* Decodes the record at the start of buf[0 .. len). max_body is the largest
 * body length accepted (pass SW__REC_MAX_BODY); a larger one is corruption.
 * Returns:
 *  - SW_OK: *r is the record, its a and b pointing into buf (valid as long as
 *    buf is), and *used is its encoded size; bytes after it are not looked at.
 *  - SW_EAGAIN: buf holds only a prefix of a record: fewer than 8 bytes, or a
 *    header whose body runs past len while every body byte present agrees
 *    with the claimed length so far (known type, well-formed varints, field
 *    lengths that fit). *used is the total size needed to go on: 8 while the
 *    header is incomplete, 8 + L after. *r is untouched.
 *  - SW_EIO: these bytes cannot start a valid record: a body length of 0 or
 *    above max_body, a CRC mismatch, an unknown type, a malformed or
 *    non-minimal varint, field lengths that do not add up to L exactly, or
 *    (when the record is incomplete) any of these in the bytes present.
 *    *r and *used are untouched.
 *  - SW_EINVAL: buf is NULL with len > 0, or r or used is NULL. */
int sw__rec_decode(const uint8_t *buf, size_t len, size_t max_body, sw__rec *r, size_t *used);

/* Whether buf[0 .. len), the bytes from a record that failed to decode to the
 * end of its file, are a torn tail, the remains of an interrupted append,
 * rather than corruption. The rule: ignoring any zero bytes at the very end
 * (a crash can leave a file extended with zeros), what remains is either
 *  - fewer than 8 bytes (no complete header), or
 *  - a header with a length L in [1, max_body] whose claimed extent covers
 *    every remaining byte, followed by body bytes that are well-formed as far
 *    as they go (exactly what sw__rec_decode accepts as a prefix; a complete
 *    body must parse and may only fail its CRC).
 * Anything else (a length out of range, a body that disagrees with its
 * length, or non-zero bytes after the record's claimed end) is corruption:
 * false. A record in the middle of a file whose length field is damaged
 * therefore reads as corruption, not as a torn tail, since its intact body
 * states its real length. buf may be NULL only when len is 0. */
bool sw__rec_torn(const uint8_t *buf, size_t len, size_t max_body);

/* Whether buf[0 .. len) starts with a complete, valid SYNCED record with a
 * and b empty (the only form the log writes, at most SW__REC_MARK_MAX
 * bytes) and a num >= 0; if so *num is its num. Bytes after the record are
 * not looked at. Cheap enough to try at every offset of a file: anything
 * that cannot be such a record is turned away by its length and type bytes
 * before any CRC is computed. buf may be NULL only when len is 0. */
bool sw__rec_mark(const uint8_t *buf, size_t len, uint64_t *num);

#endif
