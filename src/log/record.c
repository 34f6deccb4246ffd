/* The log record codec (format in record.h). Pure functions on byte arrays:
 * the log file code and steward-check drive them; a fuzzer can too. */
#include "log/record.h"

#include <string.h>

#include "log/crc32c.h"

#define VARINT_MAX 10 /* bytes in the longest 64-bit LEB128 */

static const char *const type_names[SW__REC_TYPE_MAX + 1] = {
    [SW__REC_PUT] = "PUT",
    [SW__REC_DEL] = "DEL",
    [SW__REC_EXPIRE] = "EXPIRE",
    [SW__REC_ACCT_SET] = "ACCT_SET",
    [SW__REC_XFER_DEBIT] = "XFER_DEBIT",
    [SW__REC_XFER_CREDIT] = "XFER_CREDIT",
    [SW__REC_XFER_DONE] = "XFER_DONE",
    [SW__REC_SNAPSHOT_BEGIN] = "SNAPSHOT_BEGIN",
    [SW__REC_SNAPSHOT_END] = "SNAPSHOT_END",
    [SW__REC_SYNCED] = "SYNCED",
    [SW__REC_TX_PART] = "TX_PART",
    [SW__REC_TX_DECIDED] = "TX_DECIDED",
};

const char *sw__rec_type_name(int type)
{
    if (type < 0 || type > SW__REC_TYPE_MAX)
        return NULL;
    return type_names[type];
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t unzigzag(uint64_t v)
{
    return (v & 1) ? -(int64_t)(v >> 1) - 1 : (int64_t)(v >> 1);
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The body size of r, or 0 when it cannot be encoded. */
static size_t body_size(const sw__rec *r)
{
    if (r == NULL || sw__rec_type_name(r->type) == NULL)
        return 0;
    if ((r->a == NULL && r->alen > 0) || (r->b == NULL && r->blen > 0))
        return 0;
    if (r->alen > SW__REC_MAX_BODY || r->blen > SW__REC_MAX_BODY - r->alen)
        return 0;
    size_t n = 1 + varint_size(zigzag(r->num)) + varint_size(r->alen) + r->alen +
               varint_size(r->blen) + r->blen;
    return n > SW__REC_MAX_BODY ? 0 : n;
}

size_t sw__rec_size(const sw__rec *r)
{
    size_t n = body_size(r);
    return n == 0 ? 0 : SW__REC_HEADER + n;
}

size_t sw__rec_encode(uint8_t *out, const sw__rec *r)
{
    size_t n = body_size(r);
    if (n == 0 || out == NULL)
        return 0;
    uint8_t *body = out + SW__REC_HEADER, *p = body;
    *p++ = r->type;
    p += put_varint(p, zigzag(r->num));
    p += put_varint(p, r->alen);
    if (r->alen > 0)
        memcpy(p, r->a, r->alen);
    p += r->alen;
    p += put_varint(p, r->blen);
    if (r->blen > 0)
        memcpy(p, r->b, r->blen);
    put_le32(out, (uint32_t)n);
    put_le32(out + 4, sw__crc32c(0, body, n));
    return SW__REC_HEADER + n;
}

/* Reads the varint at body[*pos]. The body is `limit` bytes long, of which
 * the first `have` are present. SW_OK advances *pos; SW_EAGAIN: the varint
 * runs into the missing part; SW_EIO: it is too long, non-minimal, or runs
 * past the end of the body. */
static int get_varint(const uint8_t *body, size_t have, size_t limit, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0;; i++) {
        size_t at = *pos + i;
        if (i == VARINT_MAX || at >= limit)
            return SW_EIO;
        if (at >= have)
            return SW_EAGAIN;
        uint8_t byte = body[at];
        if (i == VARINT_MAX - 1 && byte > 1)
            return SW_EIO; /* more than 64 bits */
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) {
            if (i > 0 && byte == 0)
                return SW_EIO; /* non-minimal */
            *pos = at + 1;
            *out = v;
            return SW_OK;
        }
    }
}

/* Parses a body of claimed length len of which the first `have` bytes
 * (have <= len) are present. SW_OK (have == len, body well-formed, *r
 * filled); SW_EAGAIN (have < len, well-formed as far as it goes); SW_EIO. */
static int parse_body(const uint8_t *body, size_t have, size_t len, sw__rec *r)
{
    if (have == 0)
        return SW_EAGAIN;
    if (sw__rec_type_name(body[0]) == NULL)
        return SW_EIO;
    size_t pos = 1;
    uint64_t num, alen, blen;
    int rc = get_varint(body, have, len, &pos, &num);
    if (rc == SW_OK)
        rc = get_varint(body, have, len, &pos, &alen);
    if (rc != SW_OK)
        return rc;
    if (alen >= len - pos) /* a, then at least one byte for blen */
        return SW_EIO;
    size_t a_at = pos;
    pos += (size_t)alen;
    rc = get_varint(body, have, len, &pos, &blen);
    if (rc != SW_OK)
        return rc;
    if (blen != len - pos)
        return SW_EIO;
    if (have < len)
        return SW_EAGAIN;
    *r = (sw__rec){.type = body[0],
                   .num = unzigzag(num),
                   .a = body + a_at,
                   .alen = (size_t)alen,
                   .b = body + pos,
                   .blen = (size_t)blen};
    return SW_OK;
}

int sw__rec_decode(const uint8_t *buf, size_t len, size_t max_body, sw__rec *r, size_t *used)
{
    if ((buf == NULL && len > 0) || r == NULL || used == NULL)
        return SW_EINVAL;
    if (len < SW__REC_HEADER) {
        *used = SW__REC_HEADER;
        return SW_EAGAIN;
    }
    size_t body_len = get_le32(buf);
    if (body_len == 0 || body_len > max_body)
        return SW_EIO;
    const uint8_t *body = buf + SW__REC_HEADER;
    size_t have = len - SW__REC_HEADER;
    sw__rec out;
    if (have < body_len) {
        int rc = parse_body(body, have, body_len, &out);
        if (rc == SW_EAGAIN)
            *used = SW__REC_HEADER + body_len;
        return rc;
    }
    if (sw__crc32c(0, body, body_len) != get_le32(buf + 4))
        return SW_EIO;
    if (parse_body(body, body_len, body_len, &out) != SW_OK)
        return SW_EIO;
    *r = out;
    *used = SW__REC_HEADER + body_len;
    return SW_OK;
}

bool sw__rec_torn(const uint8_t *buf, size_t len, size_t max_body)
{
    while (len > 0 && buf[len - 1] == 0)
        len--;
    if (len < SW__REC_HEADER)
        return true;
    size_t body_len = get_le32(buf);
    if (body_len == 0 || body_len > max_body || len - SW__REC_HEADER > body_len)
        return false;
    sw__rec ignored;
    return parse_body(buf + SW__REC_HEADER, len - SW__REC_HEADER, body_len, &ignored) != SW_EIO;
}

bool sw__rec_mark(const uint8_t *buf, size_t len, uint64_t *num)
{
    if (len < SW__REC_MARK_MIN || num == NULL)
        return false;
    size_t body_len = get_le32(buf);
    if (body_len < SW__REC_MARK_MIN - SW__REC_HEADER ||
        body_len > SW__REC_MARK_MAX - SW__REC_HEADER || buf[SW__REC_HEADER] != SW__REC_SYNCED)
        return false;
    sw__rec r;
    size_t used;
    if (sw__rec_decode(buf, len, SW__REC_MAX_BODY, &r, &used) != SW_OK || r.alen != 0 ||
        r.blen != 0 || r.num < 0)
        return false;
    *num = (uint64_t)r.num;
    return true;
}
