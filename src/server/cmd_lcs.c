/* LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest
 * common subsequence of two values, by the classic dynamic program, with
 * redis-server 7's replies (the IDX ranges are reported from the end, as
 * Redis walks the table back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"

struct lcs_opts {
    bool len, idx, withlen;
    long long minlen;
};

static bool lcs_options(struct exec *x, struct lcs_opts *o)
{
    for (size_t i = 3; i < x->argc; i++) {
        const sw__resp_arg *a = &x->argv[i];
        if (arg_is(a, "idx")) {
            o->idx = true;
        } else if (arg_is(a, "len")) {
            o->len = true;
        } else if (arg_is(a, "withmatchlen")) {
            o->withlen = true;
        } else if (arg_is(a, "minmatchlen") && i + 1 < x->argc) {
            if (!arg_ll(x->argv[i + 1].ptr, x->argv[i + 1].len, &o->minlen)) {
                reply_notint(x);
                return false;
            }
            if (o->minlen < 0)
                o->minlen = 0;
            i++;
        } else {
            reply_syntax(x);
            return false;
        }
    }
    if (o->len && o->idx) {
        reply_err(x, "ERR If you want both the length and indexes, please just use IDX.");
        return false;
    }
    return true;
}

/* The value of argument i copied into *out (empty when absent). */
static int value_copy(struct exec *x, size_t i, char **out, size_t *len)
{
    struct kkey k;
    int rc = kkey_init(x, &k, i);
    if (rc != SW_OK)
        return rc;
    const void *v = "";
    size_t n = 0;
    int64_t e;
    if (kv_get(&k, &v, &n, &e) != SW_OK)
        n = 0;
    kkey_free(&k);
    *out = malloc(n + 1);
    if (!*out)
        return SW_ENOMEM;
    memcpy(*out, v, n);
    *len = n;
    return SW_OK;
}

#define AT(i, j) dp[(size_t)(j) * (alen + 1) + (size_t)(i)]

/* Walks the table back from the end, writing the common bytes into res
 * and, with IDX, the matching ranges into m (counted in *nm). */
static void lcs_walk(const char *a, size_t alen, const char *b, size_t blen, const uint32_t *dp,
                     char *res, const struct lcs_opts *o, sw__resp_buf *m, size_t *nm)
{
    size_t i = alen, j = blen, idx = AT(alen, blen);
    size_t as = alen, ae = 0, bs = 0, be = 0; /* as == alen: no range open */
    while (i > 0 && j > 0) {
        bool emit = false;
        if (a[i - 1] == b[j - 1]) {
            res[idx - 1] = a[i - 1];
            if (as == alen) {
                as = ae = i - 1;
                bs = be = j - 1;
            } else if (as == i && bs == j) {
                as--;
                bs--;
            } else {
                emit = true;
            }
            if (as == 0 || bs == 0)
                emit = true;
            idx--;
            i--;
            j--;
        } else {
            if (AT(i - 1, j) > AT(i, j - 1))
                i--;
            else
                j--;
            emit = as != alen;
        }
        size_t mlen = ae - as + 1;
        if (emit) {
            if (o->idx && (o->minlen == 0 || mlen >= (size_t)o->minlen)) {
                sw__resp_add_array(m, 2 + o->withlen);
                sw__resp_add_array(m, 2);
                sw__resp_add_int(m, (int64_t)as);
                sw__resp_add_int(m, (int64_t)ae);
                sw__resp_add_array(m, 2);
                sw__resp_add_int(m, (int64_t)bs);
                sw__resp_add_int(m, (int64_t)be);
                if (o->withlen)
                    sw__resp_add_int(m, (int64_t)mlen);
                (*nm)++;
            }
            as = alen;
        }
    }
}

/* Replies the LCS of a and b as the options o ask. */
static void lcs_reply(struct exec *x, const struct lcs_opts *o, const char *a, size_t alen,
                      const char *b, size_t blen)
{
    uint32_t *dp = NULL;
    if ((unsigned long long)(alen + 1) * (blen + 1) >= UINT32_MAX / sizeof *dp) {
        reply_err(x, "ERR String too long for LCS");
        return;
    }
    if (!(dp = malloc((alen + 1) * (blen + 1) * sizeof *dp))) {
        reply_status(x, SW_ENOMEM);
        return;
    }
    for (size_t j = 0; j <= blen; j++)
        for (size_t i = 0; i <= alen; i++)
            AT(i, j) = i == 0 || j == 0              ? 0
                       : a[i - 1] == b[j - 1]        ? AT(i - 1, j - 1) + 1
                       : AT(i - 1, j) > AT(i, j - 1) ? AT(i - 1, j)
                                                     : AT(i, j - 1);
    uint32_t len = AT(alen, blen);
    if (o->len) {
        sw__resp_add_int(x->out, len);
        free(dp);
        return;
    }
    char *res = malloc(len + 1);
    if (!res) {
        reply_status(x, SW_ENOMEM);
        free(dp);
        return;
    }
    sw__resp_buf m;
    size_t nm = 0;
    sw__resp_buf_init(&m, x->out->proto);
    lcs_walk(a, alen, b, blen, dp, res, o, &m, &nm);
    if (!o->idx) {
        sw__resp_add_bulk(x->out, res, len);
    } else {
        sw__resp_add_map(x->out, 2);
        sw__resp_add_bulk_cstr(x->out, "matches");
        sw__resp_add_array(x->out, nm);
        sw__resp_add_raw(x->out, sw__resp_buf_data(&m), sw__resp_buf_len(&m));
        sw__resp_add_bulk_cstr(x->out, "len");
        sw__resp_add_int(x->out, len);
    }
    sw__resp_buf_free(&m);
    free(res);
    free(dp);
}

void cmd_lcs(struct exec *x)
{
    struct lcs_opts o = {0};
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    if (!lcs_options(x, &o))
        return;
    int rc = value_copy(x, 1, &a, &alen);
    if (rc == SW_OK)
        rc = value_copy(x, 2, &b, &blen);
    if (rc != SW_OK)
        reply_status(x, rc);
    else
        lcs_reply(x, &o, a, alen, b, blen);
    free(a);
    free(b);
}

void lcs_of(struct exec *x, const char *a, size_t alen, const char *b, size_t blen)
{
    struct lcs_opts o = {0};
    if (lcs_options(x, &o))
        lcs_reply(x, &o, a, alen, b, blen);
}
