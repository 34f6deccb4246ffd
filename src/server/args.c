/* Parsing of command arguments, as redis-server reads them: strict
 * integers, long doubles for INCRBYFLOAT, glob patterns. No I/O. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"

bool arg_is(const sw__resp_arg *a, const char *lit)
{
    size_t n = strlen(lit);
    if (a->len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a->ptr[i]) != lit[i])
            return false;
    return true;
}

/* Digits only, no leading zero (but "0" itself), into *v without overflow
 * past limit. */
static bool digits(const char *p, size_t len, unsigned long long limit, unsigned long long *v)
{
    if (len == 0 || (p[0] == '0' && len > 1))
        return false;
    unsigned long long x = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (x > (limit - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

bool arg_ll(const char *p, size_t len, long long *out)
{
    unsigned long long v;
    if (len > 0 && p[0] == '-') {
        if (len == 1 || p[1] == '0' ||
            !digits(p + 1, len - 1, (unsigned long long)LLONG_MAX + 1, &v))
            return false;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
        return true;
    }
    if (!digits(p, len, LLONG_MAX, &v))
        return false;
    *out = (long long)v;
    return true;
}

bool arg_ull(const char *p, size_t len, unsigned long long *out)
{
    return digits(p, len, ULLONG_MAX, out);
}

bool arg_size(const char *p, size_t len, size_t *out)
{
    size_t i = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++;
    unsigned long long v, mul;
    if (!arg_ull(p, i, &v))
        return false;
    static const struct {
        const char *unit;
        unsigned long long mul;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1000},
                 {"kb", 1024},
                 {"m", 1000 * 1000},
                 {"mb", 1024 * 1024},
                 {"g", 1000ULL * 1000 * 1000},
                 {"gb", 1024ULL * 1024 * 1024}};
    sw__resp_arg unit = {p + i, len - i};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        mul = units[u].mul;
        if (arg_is(&unit, units[u].unit))
            goto found;
    }
    return false;
found:
    if (v > SIZE_MAX / mul)
        return false;
    *out = (size_t)(v * mul);
    return true;
}

#define LD_MAX_CHARS 5120

bool arg_ld(const char *p, size_t len, long double *out)
{
    char buf[LD_MAX_CHARS + 1];
    if (len == 0 || len > LD_MAX_CHARS)
        return false;
    memcpy(buf, p, len);
    buf[len] = 0;
    if (isspace((unsigned char)buf[0]))
        return false;
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len || isnan(v) ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL)))
        return false;
    *out = v;
    return true;
}

size_t fmt_ld(char *buf, size_t cap, long double v)
{
    int n = snprintf(buf, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t l = (size_t)n;
    if (memchr(buf, '.', l)) {
        while (l > 0 && buf[l - 1] == '0')
            l--;
        if (l > 0 && buf[l - 1] == '.')
            l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = 0;
    return l;
}

static int fold(int c, bool nocase)
{
    return nocase ? tolower(c) : c;
}

/* A bracket class at pat (after '['): whether c matches it; *used is how
 * many pattern bytes it took, up to and including ']' (or the end). */
static bool class_match(const char *pat, size_t plen, unsigned char c, bool nocase, size_t *used)
{
    size_t i = 0;
    bool neg = i < plen && pat[i] == '^';
    if (neg)
        i++;
    bool hit = false;
    for (; i < plen && pat[i] != ']'; i++) {
        if (pat[i] == '\\' && i + 1 < plen) {
            i++;
            hit |= fold(pat[i], nocase) == fold(c, nocase);
        } else if (i + 2 < plen && pat[i + 1] == '-') {
            int lo = fold((unsigned char)pat[i], nocase),
                hi = fold((unsigned char)pat[i + 2], nocase);
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            int x = fold(c, nocase);
            hit |= x >= lo && x <= hi;
            i += 2;
        } else {
            hit |= fold((unsigned char)pat[i], nocase) == fold(c, nocase);
        }
    }
    *used = i < plen ? i + 1 : i;
    return neg ? !hit : hit;
}

/* Iterative, backtracking only to the last '*' (a later star can match
 * anything an earlier one could), so no pattern takes more than
 * O(pattern x string) steps, however many stars it has. */
bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase)
{
    size_t p = 0, i = 0, star_p = SIZE_MAX, star_i = 0, stars = 0;
    while (i < slen) {
        if (p < plen) {
            size_t step = 1;
            bool ok;
            if (pat[p] == '*') {
                /* Redis gives up (no match) past 1000 nested stars, a run
                 * of stars counting once: so do we, for the same answers. */
                if ((p == 0 || pat[p - 1] != '*') && ++stars > 1000)
                    return false;
                star_p = ++p;
                star_i = i;
                continue;
            }
            if (pat[p] == '?') {
                ok = true;
            } else if (pat[p] == '[') {
                size_t used;
                ok = class_match(pat + p + 1, plen - p - 1, (unsigned char)s[i], nocase, &used);
                step = 1 + used;
            } else if (pat[p] == '\\' && p + 1 < plen) {
                ok = fold((unsigned char)pat[p + 1], nocase) == fold((unsigned char)s[i], nocase);
                step = 2;
            } else {
                ok = fold((unsigned char)pat[p], nocase) == fold((unsigned char)s[i], nocase);
            }
            if (ok) {
                p += step;
                i++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        p = star_p;
        i = ++star_i;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}
