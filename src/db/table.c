/* The Db's hash table: open addressing over cache-line groups, entries
 * allocated one by one, incremental resizing.
 *
 * DESIGN
 *
 * Who touches what. One owner thread per table; nothing here is shared, so
 * there are no locks and no atomics, except the process-wide fault-injection
 * counter (a relaxed atomic, test-only).
 *
 * Entries. Each key-value pair is one allocation that never moves:
 *
 *     h32 (4) | flags (1) | [expire (8)] | klen (1,2,4,8) | vlen (1,2,4,8) | key | value
 *
 * h32 is the low half of the caller's hash. Storing it lets a resize place the
 * entry without the hash function, and rejects most false tag matches before
 * the memcmp. flags holds the width codes of the two lengths and whether an
 * expiry stamp follows, so entries without one pay nothing for it. A 16-byte
 * key with a 16-byte value takes 39 bytes: glibc's 48-byte chunk.
 *
 * Groups. A slot array is a run of 64-byte groups, one cache line each: an
 * 8-byte control word and 7 entry pointers. Control bytes 0..6 are the slots'
 * tags (0 for empty, else 0x80 | the low 7 bits of h32), matched 7 at a time
 * with SWAR bit tricks; byte 7 counts the entries that overflowed past this
 * group (F14's scheme). A key's home group is fastrange(h32, n), i.e. the high
 * bits of h32, so home and tag stay independent up to 2^25 groups; its probe
 * sequence is the following groups, wrapping. That is 9.14 bytes per slot. A lookup stops at the
 * first group whose overflow count is 0, so deletion needs no tombstones: it clears the slot and
 * decrements the counts from the home group up to the entry's group. A count that reaches 255
 * sticks there (still a correct upper bound). Invariant: a count below 255 equals the number of
 * entries that probed past its group. The soft maximum load is 6/7; most lookups read one group
 * line and one entry.
 *
 * Resizing. Growth (by 1.5x, at load 6/7; 2x would waste more memory) and
 * shrinking (below load 1/8, to about 1/2) allocate a new array with calloc,
 * so for large arrays the kernel supplies zero pages lazily and the
 * allocation is no pause. The old array becomes `old` and is drained front
 * to back, two groups (at most 14 entries) per modifying call, Redis rehash
 * style, and freed as soon as it is empty; lookups probe both arrays
 * meanwhile, and inserts go to `cur`.
 * Draining removes entries exactly as deletion does, so `old` stays a valid
 * table throughout, and its groups below `mig` are empty. The new array is
 * sized so that it holds every entry plus one insert per remaining drain step
 * at no more than the soft maximum load, so a resize always finishes before
 * the next one is due. If the new array cannot be allocated the table keeps
 * filling the current one up to its last slot, and only then reports
 * SW_ENOMEM.
 *
 * Scanning. fastrange is monotone in h32, so a hash interval maps to one home
 * group per array. sw__table_scan walks h32 space in intervals that lie in a
 * single home group of both arrays and reports the entries of both whose h32
 * falls in the interval (an interval too crowded for the caller's buffer is
 * cut by binary search); its cursor is the next h32, which means the same
 * thing whatever the arrays' sizes. Hence every key present for the whole scan
 * is reported exactly once, across resizes.
 */
#include "db/table.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "base/sync.h"

#define SLOTS 7
#define GROUP_ALIGN 64
#define SOFT_FULL 6  /* entries per group at the soft maximum load */
#define DRAIN_STEP 2 /* old groups drained per modifying call */
#define SHRINK_DIV 8 /* shrink below 1/SHRINK_DIV of the slots */
#define OVF_SHIFT 56 /* control byte 7: the overflow count */
#define OVF_ONE ((uint64_t)1 << OVF_SHIFT)
#define OVF_SAT 255                  /* a saturated count never changes again */
#define TAG_HI 0x0080808080808080ULL /* the high bit of control bytes 0..6 */
#define LOW7 0x7f7f7f7f7f7f7f7fULL
#define ONES 0x0101010101010101ULL

struct sw__table_group {
    uint64_t ctrl;              /* tags in bytes 0..6, overflow count in byte 7 */
    unsigned char *slot[SLOTS]; /* the entries; meaningful where the tag is set */
};

/* ---- allocation, with fault injection ------------------------------------ */

static _Atomic long fail_after = -1;

void sw__table_fail_alloc_after(long n)
{
    atomic_store_explicit(&fail_after, n, memory_order_relaxed);
}

/* True when the fault injector says this allocation fails. */
static bool alloc_fails(void)
{
    return sw__fault_fires(&fail_after);
}

static void *mem_alloc(size_t size)
{
    return alloc_fails() ? NULL : malloc(size);
}

static void *mem_calloc(size_t size)
{
    return alloc_fails() ? NULL : calloc(1, size);
}

/* ---- entries -------------------------------------------------------------- */

enum { E_FLAGS = 4, E_FIXED = 5 }; /* offsets: flags, then the rest */
enum { F_KW = 0x03, F_VW_SHIFT = 2, F_EXPIRE = 0x10 };

struct view {
    const unsigned char *key, *val;
    size_t klen, vlen;
    int64_t expire;
};

static uint32_t e_h32(const unsigned char *e)
{
    uint32_t h;
    memcpy(&h, e, sizeof h);
    return h;
}

static bool e_has_expire(const unsigned char *e)
{
    return (e[E_FLAGS] & F_EXPIRE) != 0;
}

/* Width code of a length: its field takes 1 << code bytes. */
static unsigned width_code(size_t len)
{
    if (len <= 0xff)
        return 0;
    if (len <= 0xffff)
        return 1;
    return (uint64_t)len <= 0xffffffffu ? 2 : 3;
}

static size_t read_len(const unsigned char *p, unsigned code)
{
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;
    switch (code) {
    case 0:
        return p[0];
    case 1:
        memcpy(&v16, p, sizeof v16);
        return v16;
    case 2:
        memcpy(&v32, p, sizeof v32);
        return v32;
    default:
        memcpy(&v64, p, sizeof v64);
        return (size_t)v64;
    }
}

static void write_len(unsigned char *p, unsigned code, size_t len)
{
    uint16_t v16 = (uint16_t)len;
    uint32_t v32 = (uint32_t)len;
    uint64_t v64 = len;
    switch (code) {
    case 0:
        p[0] = (unsigned char)len;
        break;
    case 1:
        memcpy(p, &v16, sizeof v16);
        break;
    case 2:
        memcpy(p, &v32, sizeof v32);
        break;
    default:
        memcpy(p, &v64, sizeof v64);
        break;
    }
}

/* Decodes an entry's header; returns the entry's size in bytes. */
static size_t e_view(const unsigned char *e, struct view *v)
{
    unsigned flags = e[E_FLAGS];
    unsigned kc = flags & F_KW, vc = (flags >> F_VW_SHIFT) & F_KW;
    const unsigned char *p = e + E_FIXED;
    v->expire = 0;
    if (flags & F_EXPIRE) {
        memcpy(&v->expire, p, sizeof v->expire);
        p += sizeof v->expire;
    }
    v->klen = read_len(p, kc);
    p += (size_t)1 << kc;
    v->vlen = read_len(p, vc);
    p += (size_t)1 << vc;
    v->key = p;
    v->val = p + v->klen;
    return (size_t)(v->val - e) + v->vlen;
}

static bool e_matches(const unsigned char *e, uint32_t h, const void *key, size_t klen)
{
    struct view v;
    if (e_h32(e) != h)
        return false;
    e_view(e, &v);
    return v.klen == klen && (klen == 0 || memcmp(v.key, key, klen) == 0);
}

/* The bytes an entry really occupies, as the allocator sees it. */
static size_t e_footprint(const unsigned char *e)
{
#if defined(__GLIBC__)
    return malloc_usable_size((void *)e) + sizeof(size_t);
#else
    struct view v;
    return e_view(e, &v);
#endif
}

/* Allocates and fills an entry; NULL when out of memory or too large. */
static unsigned char *e_new(sw__table *t, uint32_t h, const void *key, size_t klen, const void *val,
                            size_t vlen, int64_t expire)
{
    unsigned kc = width_code(klen), vc = width_code(vlen);
    size_t hdr = E_FIXED + (expire ? sizeof expire : 0) + ((size_t)1 << kc) + ((size_t)1 << vc);
    if (klen > SIZE_MAX - hdr || vlen > SIZE_MAX - hdr - klen)
        return NULL;
    unsigned char *e = mem_alloc(hdr + klen + vlen);
    if (!e)
        return NULL;
    memcpy(e, &h, sizeof h);
    e[E_FLAGS] = (unsigned char)(kc | vc << F_VW_SHIFT | (expire ? F_EXPIRE : 0));
    unsigned char *p = e + E_FIXED;
    if (expire) {
        memcpy(p, &expire, sizeof expire);
        p += sizeof expire;
    }
    write_len(p, kc, klen);
    p += (size_t)1 << kc;
    write_len(p, vc, vlen);
    p += (size_t)1 << vc;
    if (klen)
        memcpy(p, key, klen);
    if (vlen)
        memcpy(p + klen, val, vlen);
    t->bytes += e_footprint(e);
    return e;
}

static void e_free(sw__table *t, unsigned char *e)
{
    t->bytes -= e_footprint(e);
    free(e);
}

/* ---- groups and slot arrays ---------------------------------------------- */

static size_t home(uint32_t h, size_t n)
{
    return (size_t)(((uint64_t)h * n) >> 32);
}

static size_t next_group(size_t g, size_t n)
{
    return g + 1 == n ? 0 : g + 1;
}

static uint64_t tag_of(uint32_t h)
{
    return 0x80 | (h & 0x7f);
}

static unsigned ovf(uint64_t ctrl)
{
    return (unsigned)(ctrl >> OVF_SHIFT);
}

/* The slot whose tag bit is the lowest bit set in m. */
static unsigned first_slot(uint64_t m)
{
    return (unsigned)__builtin_ctzll(m) >> 3;
}

/* The high bit of every tag byte equal to tag (exact: no false positives). */
static uint64_t match_tag(uint64_t ctrl, uint64_t tag)
{
    uint64_t x = ctrl ^ (ONES * tag);
    return ~(((x & LOW7) + LOW7) | x | LOW7) & TAG_HI;
}

/* Groups are counted so that slot indices and scan arithmetic never
 * overflow: n * SLOTS fits in size_t and h32 * n in 64 bits. */
static size_t max_groups(void)
{
    size_t cap = (size_t)1 << 30;
    size_t by_size = SIZE_MAX / (2 * sizeof(struct sw__table_group));
    return by_size < cap ? by_size : cap;
}

static size_t arr_bytes(size_t n)
{
    return n * sizeof(struct sw__table_group) + GROUP_ALIGN - 1;
}

static int arr_alloc(sw__table *t, sw__table_array *a, size_t n)
{
    if (n == 0 || n > max_groups())
        return SW_ENOMEM;
    unsigned char *mem = mem_calloc(arr_bytes(n));
    if (!mem)
        return SW_ENOMEM;
    size_t skew = (size_t)((uintptr_t)mem % GROUP_ALIGN);
    size_t pad = skew ? GROUP_ALIGN - skew : 0;
    *a = (sw__table_array){
        .groups = (struct sw__table_group *)(void *)(mem + pad), .mem = mem, .n = n};
    t->bytes += arr_bytes(n);
    return SW_OK;
}

static void arr_free(sw__table *t, sw__table_array *a)
{
    if (a->mem) {
        t->bytes -= arr_bytes(a->n);
        free(a->mem);
    }
    *a = (sw__table_array){0};
}

/* Finds a key in one array; true with *gi and *si set when present. */
static bool arr_find(const sw__table_array *a, uint32_t h, const void *key, size_t klen, size_t *gi,
                     unsigned *si)
{
    if (a->count == 0)
        return false;
    size_t g = home(h, a->n);
    uint64_t tag = tag_of(h);
    for (size_t probes = 0; probes < a->n; probes++) {
        const struct sw__table_group *grp = &a->groups[g];
        for (uint64_t m = match_tag(grp->ctrl, tag); m; m &= m - 1) {
            unsigned s = first_slot(m);
            if (e_matches(grp->slot[s], h, key, klen)) {
                *gi = g;
                *si = s;
                return true;
            }
        }
        if (ovf(grp->ctrl) == 0)
            return false;
        g = next_group(g, a->n);
    }
    return false;
}

/* Places an entry whose key is absent; the array must have a free slot. */
static void arr_insert(sw__table_array *a, uint32_t h, unsigned char *e)
{
    assert(a->count < a->n * SLOTS);
    size_t g = home(h, a->n);
    for (;;) {
        struct sw__table_group *grp = &a->groups[g];
        uint64_t empty = ~grp->ctrl & TAG_HI;
        if (empty) {
            unsigned s = first_slot(empty);
            grp->ctrl |= tag_of(h) << (8 * s);
            grp->slot[s] = e;
            a->count++;
            return;
        }
        if (ovf(grp->ctrl) < OVF_SAT)
            grp->ctrl += OVF_ONE;
        g = next_group(g, a->n);
    }
}

/* Empties slot s of group g, whose entry has hash h, and takes the entry's
 * probe off the overflow counts it raised. The entry itself is left alone. */
static void arr_remove(sw__table_array *a, size_t g, unsigned s, uint32_t h)
{
    struct sw__table_group *grp = &a->groups[g];
    grp->ctrl &= ~((uint64_t)0xff << (8 * s));
    grp->slot[s] = NULL;
    a->count--;
    for (size_t i = home(h, a->n); i != g; i = next_group(i, a->n)) {
        uint64_t ctrl = a->groups[i].ctrl;
        assert(ovf(ctrl) > 0);
        if (ovf(ctrl) < OVF_SAT)
            a->groups[i].ctrl = ctrl - OVF_ONE;
    }
}

/* ---- the table ------------------------------------------------------------ */

/* Where a key was found. */
struct hit {
    sw__table_array *arr;
    size_t g;
    unsigned s;
};

static bool find_in(const sw__table_array *a, uint32_t h, const void *key, size_t klen, size_t *g,
                    unsigned *s)
{
    return a->n && arr_find(a, h, key, klen, g, s);
}

/* Looks in both arrays; a key is in at most one of them. */
static const unsigned char *lookup(const sw__table *t, uint32_t h, const void *key, size_t klen)
{
    size_t g;
    unsigned s;
    if (find_in(&t->cur, h, key, klen, &g, &s))
        return t->cur.groups[g].slot[s];
    if (find_in(&t->old, h, key, klen, &g, &s))
        return t->old.groups[g].slot[s];
    return NULL;
}

void sw__table_prefetch(const sw__table *t, uint64_t hash, int step)
{
    const sw__table_array *a = &t->cur;
    uint32_t h = (uint32_t)hash;
    if (a->n == 0)
        return;
    const struct sw__table_group *grp = &a->groups[home(h, a->n)];
    if (step == 0) {
        __builtin_prefetch(grp);
        return;
    }
    uint64_t m = match_tag(grp->ctrl, tag_of(h));
    if (m)
        __builtin_prefetch(grp->slot[first_slot(m)]);
}

static bool find(sw__table *t, uint32_t h, const void *key, size_t klen, struct hit *hit)
{
    hit->arr = &t->cur;
    if (find_in(&t->cur, h, key, klen, &hit->g, &hit->s))
        return true;
    hit->arr = &t->old;
    return find_in(&t->old, h, key, klen, &hit->g, &hit->s);
}

/* The smallest array that holds `count` entries, plus one insert per call
 * it takes to drain an old array of `n_old` groups, within the soft maximum
 * load. */
static size_t groups_for(size_t count, size_t n_old)
{
    size_t calls = (n_old + DRAIN_STEP - 1) / DRAIN_STEP;
    return (count + calls + 1 + SOFT_FULL - 1) / SOFT_FULL;
}

/* Moves cur aside as `old` and installs a new array of n groups. */
static int resize(sw__table *t, size_t n)
{
    sw__table_array fresh;
    assert(t->old.n == 0);
    int rc = arr_alloc(t, &fresh, n);
    if (rc != SW_OK)
        return rc;
    if (t->cur.count == 0) {
        arr_free(t, &t->cur);
    } else {
        t->old = t->cur;
        t->mig = 0;
    }
    t->cur = fresh;
    return SW_OK;
}

static void maybe_grow(sw__table *t)
{
    size_t n = t->cur.n, count = t->cur.count;
    if (t->old.n || count + 1 <= n * SOFT_FULL)
        return;
    size_t want = n + n / 2, need = groups_for(count, n);
    (void)resize(t, want > need ? want : need); /* on failure, keep filling cur */
}

static void maybe_shrink(sw__table *t)
{
    size_t n = t->cur.n, count = t->cur.count;
    if (t->old.n || n <= 1 || count * SHRINK_DIV >= n * SLOTS)
        return;
    /* An empty array is replaced without draining, so it needs no headroom. */
    size_t half = (2 * count + SLOTS - 1) / SLOTS, need = groups_for(count, count ? n : 0);
    size_t want = half > need ? half : need;
    if (want < n)
        (void)resize(t, want); /* on failure, stay as large as we are */
}

/* Drains one group of the old array into cur, and frees the old array once
 * it is empty. The entries are prefetched first so that their cache misses
 * overlap. */
static void drain_one(sw__table *t)
{
    sw__table_array *o = &t->old;
    struct sw__table_group *grp = &o->groups[t->mig];
    uint64_t full = grp->ctrl & TAG_HI;
    for (uint64_t m = full; m; m &= m - 1)
        __builtin_prefetch(grp->slot[first_slot(m)]);
    for (uint64_t m = full; m; m &= m - 1) {
        unsigned s = first_slot(m);
        unsigned char *e = grp->slot[s];
        uint32_t h = e_h32(e);
        arr_remove(o, t->mig, s, h);
        arr_insert(&t->cur, h, e);
    }
    if (++t->mig == o->n || o->count == 0) { /* the rest holds nothing */
        arr_free(t, o);
        t->mig = 0;
    }
}

/* The resize work of one modifying call. */
static void drain(sw__table *t)
{
    for (int i = 0; i < DRAIN_STEP && t->old.n; i++)
        drain_one(t);
}

bool sw__table_rehash(sw__table *t, size_t steps)
{
    if (!t)
        return false;
    while (steps-- > 0 && t->old.n)
        drain_one(t);
    return t->old.n != 0;
}

int sw__table_init(sw__table *t)
{
    if (!t)
        return SW_EINVAL;
    *t = (sw__table){0};
    return SW_OK;
}

static void arr_destroy(sw__table *t, sw__table_array *a)
{
    for (size_t g = 0; g < a->n && a->count; g++) {
        struct sw__table_group *grp = &a->groups[g];
        for (uint64_t m = grp->ctrl & TAG_HI; m; m &= m - 1) {
            e_free(t, grp->slot[first_slot(m)]);
            a->count--;
        }
    }
    arr_free(t, a);
}

void sw__table_destroy(sw__table *t)
{
    if (!t)
        return;
    arr_destroy(t, &t->old);
    arr_destroy(t, &t->cur);
    assert(t->bytes == 0);
    *t = (sw__table){0};
}

/* Replaces the entry at hit: in place when the new value fits the same
 * layout, else with a new entry (the old one is freed only on success). */
static int replace(sw__table *t, const struct hit *hit, uint32_t h, const void *key, size_t klen,
                   const void *val, size_t vlen, int64_t expire)
{
    unsigned char **slot = &hit->arr->groups[hit->g].slot[hit->s];
    struct view v;
    e_view(*slot, &v);
    if (v.vlen == vlen && e_has_expire(*slot) == (expire != 0)) {
        if (vlen) /* val may alias the old value */
            memmove(*slot + (v.val - *slot), val, vlen);
        if (expire)
            memcpy(*slot + E_FIXED, &expire, sizeof expire);
        return SW_OK;
    }
    unsigned char *e = e_new(t, h, key, klen, val, vlen, expire);
    if (!e)
        return SW_ENOMEM;
    e_free(t, *slot);
    *slot = e;
    return SW_OK;
}

static int insert(sw__table *t, uint32_t h, const void *key, size_t klen, const void *val,
                  size_t vlen, int64_t expire)
{
    unsigned char *e = e_new(t, h, key, klen, val, vlen, expire);
    if (!e)
        return SW_ENOMEM;
    maybe_grow(t);
    if (t->cur.count >= t->cur.n * SLOTS) { /* no array, or full and cannot grow */
        e_free(t, e);
        return SW_ENOMEM;
    }
    arr_insert(&t->cur, h, e);
    return SW_OK;
}

static bool bad_bytes(const void *p, size_t len)
{
    return p == NULL && len > 0;
}

int sw__table_put_ex(sw__table *t, uint64_t hash, const void *key, size_t klen, const void *val,
                     size_t vlen, int64_t expire_ms)
{
    if (!t || bad_bytes(key, klen) || bad_bytes(val, vlen) || expire_ms < 0)
        return SW_EINVAL;
    uint32_t h = (uint32_t)hash;
    struct hit hit;
    int rc;
    if (find(t, h, key, klen, &hit))
        rc = replace(t, &hit, h, key, klen, val, vlen, expire_ms);
    else
        rc = insert(t, h, key, klen, val, vlen, expire_ms);
    if (rc == SW_OK)
        drain(t);
    return rc;
}

int sw__table_put(sw__table *t, uint64_t hash, const void *key, size_t klen, const void *val,
                  size_t vlen)
{
    return sw__table_put_ex(t, hash, key, klen, val, vlen, 0);
}

int sw__table_get_ex(const sw__table *t, uint64_t hash, const void *key, size_t klen,
                     const void **val, size_t *vlen, int64_t *expire_ms)
{
    if (!t || bad_bytes(key, klen) || !val || !vlen)
        return SW_EINVAL;
    const unsigned char *e = lookup(t, (uint32_t)hash, key, klen);
    if (!e)
        return SW_ENOTFOUND;
    struct view v;
    e_view(e, &v);
    *val = v.val;
    *vlen = v.vlen;
    if (expire_ms)
        *expire_ms = v.expire;
    return SW_OK;
}

int sw__table_get(const sw__table *t, uint64_t hash, const void *key, size_t klen, const void **val,
                  size_t *vlen)
{
    return sw__table_get_ex(t, hash, key, klen, val, vlen, NULL);
}

int sw__table_set_expire(sw__table *t, uint64_t hash, const void *key, size_t klen,
                         int64_t expire_ms)
{
    if (!t || bad_bytes(key, klen) || expire_ms < 0)
        return SW_EINVAL;
    uint32_t h = (uint32_t)hash;
    struct hit hit;
    if (!find(t, h, key, klen, &hit))
        return SW_ENOTFOUND;
    struct view v;
    e_view(hit.arr->groups[hit.g].slot[hit.s], &v);
    int rc = replace(t, &hit, h, v.key, v.klen, v.val, v.vlen, expire_ms);
    if (rc == SW_OK)
        drain(t);
    return rc;
}

int sw__table_del(sw__table *t, uint64_t hash, const void *key, size_t klen)
{
    if (!t || bad_bytes(key, klen))
        return SW_EINVAL;
    uint32_t h = (uint32_t)hash;
    struct hit hit;
    if (!find(t, h, key, klen, &hit))
        return SW_ENOTFOUND;
    unsigned char *e = hit.arr->groups[hit.g].slot[hit.s];
    arr_remove(hit.arr, hit.g, hit.s, h);
    e_free(t, e);
    drain(t);
    maybe_shrink(t); /* also right after a drain that finished a shrink */
    return SW_OK;
}

size_t sw__table_count(const sw__table *t)
{
    return t ? t->cur.count + t->old.count : 0;
}

size_t sw__table_memory(const sw__table *t)
{
    return t ? t->bytes : 0;
}

/* ---- iteration ------------------------------------------------------------ */

static void fill_item(sw__table_item *it, const unsigned char *e)
{
    struct view v;
    e_view(e, &v);
    *it = (sw__table_item){
        .key = v.key, .klen = v.klen, .val = v.val, .vlen = v.vlen, .expire_ms = v.expire};
}

size_t sw__table_slots(const sw__table *t)
{
    return t ? (t->old.n + t->cur.n) * SLOTS : 0;
}

int sw__table_next_item(const sw__table *t, size_t *cursor, sw__table_item *it)
{
    if (!t || !cursor || !it)
        return SW_EINVAL;
    size_t n_old = t->old.n * SLOTS, total = n_old + t->cur.n * SLOTS;
    for (size_t i = *cursor; i < total; i++) {
        const sw__table_array *a = i < n_old ? &t->old : &t->cur;
        size_t j = i < n_old ? i : i - n_old;
        const struct sw__table_group *grp = &a->groups[j / SLOTS];
        unsigned s = (unsigned)(j % SLOTS);
        if (!(grp->ctrl & ((uint64_t)0x80 << (8 * s))))
            continue;
        fill_item(it, grp->slot[s]);
        *cursor = i + 1;
        return SW_OK;
    }
    *cursor = total;
    return SW_ENOTFOUND;
}

int sw__table_next(const sw__table *t, size_t *cursor, const void **key, size_t *klen,
                   const void **val, size_t *vlen)
{
    sw__table_item it;
    int rc = sw__table_next_item(t, cursor, &it);
    if (rc != SW_OK)
        return rc;
    if (key)
        *key = it.key;
    if (klen)
        *klen = it.klen;
    if (val)
        *val = it.val;
    if (vlen)
        *vlen = it.vlen;
    return SW_OK;
}

#define HASH_END ((uint64_t)1 << 32)

/* The end of the hash interval that starts at pos and stays in pos's home
 * group of a: the least h32 whose home is the next group. */
static uint64_t range_end(const sw__table_array *a, uint64_t pos)
{
    if (a->n == 0)
        return HASH_END;
    uint64_t g = (pos * a->n) >> 32;
    return (((g + 1) << 32) + a->n - 1) / a->n;
}

/* Counts into *n the entries of a with h32 in [lo, hi), an interval within
 * one home group, storing those that still fit below cap. */
static void collect(const sw__table_array *a, uint64_t lo, uint64_t hi, sw__table_item *items,
                    size_t cap, size_t *n)
{
    if (a->count == 0)
        return;
    size_t g = home((uint32_t)lo, a->n);
    for (size_t probes = 0; probes < a->n; probes++) {
        const struct sw__table_group *grp = &a->groups[g];
        for (uint64_t m = grp->ctrl & TAG_HI; m; m &= m - 1) {
            const unsigned char *e = grp->slot[first_slot(m)];
            uint64_t h = e_h32(e);
            if (h >= lo && h < hi) {
                if (*n < cap)
                    fill_item(&items[*n], e);
                (*n)++;
            }
        }
        if (ovf(grp->ctrl) == 0)
            return;
        g = next_group(g, a->n);
    }
}

static size_t count_range(const sw__table *t, uint64_t lo, uint64_t hi)
{
    size_t n = 0;
    collect(&t->cur, lo, hi, NULL, 0, &n);
    collect(&t->old, lo, hi, NULL, 0, &n);
    return n;
}

/* The largest cut in [pos, end) such that [pos, cut) holds at most room
 * entries, given that [pos, end) holds more: a binary search in hash space,
 * for intervals crowded by colliding keys. */
static uint64_t fit_cut(const sw__table *t, uint64_t pos, uint64_t end, size_t room)
{
    uint64_t lo = pos, hi = end; /* count(pos, lo) <= room < count(pos, hi) */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (count_range(t, pos, mid) <= room)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int sw__table_scan(const sw__table *t, uint64_t *cursor, sw__table_item *items, size_t cap,
                   size_t *count)
{
    if (!t || !cursor || !items || !count || cap == 0 || *cursor >= HASH_END)
        return SW_EINVAL;
    uint64_t pos = *cursor;
    size_t n = 0, budget = cap < SIZE_MAX / 4 - 16 ? 4 * cap + 16 : SIZE_MAX;
    while (pos < HASH_END && n < cap && budget-- > 0) {
        uint64_t end_cur = range_end(&t->cur, pos), end_old = range_end(&t->old, pos);
        uint64_t end = end_cur < end_old ? end_cur : end_old;
        size_t got = n;
        collect(&t->cur, pos, end, items, cap, &got);
        collect(&t->old, pos, end, items, cap, &got);
        if (got > cap) {
            end = fit_cut(t, pos, end, cap - n);
            if (end == pos && n == 0) { /* one hash value holds more than cap keys */
                *cursor = pos;
                *count = count_range(t, pos, pos + 1);
                return SW_EOVERFLOW;
            }
            got = n;
            collect(&t->cur, pos, end, items, cap, &got);
            collect(&t->old, pos, end, items, cap, &got);
            budget = 0;
        }
        n = got;
        pos = end;
    }
    *cursor = pos < HASH_END ? pos : 0;
    *count = n;
    return SW_OK;
}

/* ---- invariant check ------------------------------------------------------ */

/* Checks one array: tags, counts, and every overflow count against the
 * probes that really pass its group. Adds the entries' bytes to *bytes. */
static bool arr_check(const sw__table_array *a, size_t first, size_t *bytes)
{
    if (a->n == 0)
        return a->count == 0 && a->groups == NULL;
    size_t *pass = calloc(a->n, sizeof *pass); /* not mem_calloc: immune to injection */
    if (!pass)
        return false;
    size_t count = 0;
    bool ok = true;
    for (size_t g = 0; g < a->n; g++) {
        const struct sw__table_group *grp = &a->groups[g];
        for (uint64_t m = grp->ctrl & TAG_HI; m; m &= m - 1) {
            unsigned s = first_slot(m);
            const unsigned char *e = grp->slot[s];
            uint32_t h = e_h32(e);
            ok = ok && g >= first && ((grp->ctrl >> (8 * s)) & 0xff) == tag_of(h);
            for (size_t i = home(h, a->n); i != g; i = next_group(i, a->n))
                pass[i]++;
            *bytes += e_footprint(e);
            count++;
        }
    }
    for (size_t g = 0; g < a->n; g++) {
        unsigned c = ovf(a->groups[g].ctrl);
        ok = ok && (c == OVF_SAT || c == pass[g]);
    }
    free(pass);
    return ok && count == a->count && count <= a->n * SLOTS;
}

/* Every entry is found by a lookup of its own key, at its own place. */
static bool arr_reachable(const sw__table *t, const sw__table_array *a)
{
    for (size_t g = 0; g < a->n; g++) {
        const struct sw__table_group *grp = &a->groups[g];
        for (uint64_t m = grp->ctrl & TAG_HI; m; m &= m - 1) {
            const unsigned char *e = grp->slot[first_slot(m)];
            struct view v;
            e_view(e, &v);
            if (lookup(t, e_h32(e), v.key, v.klen) != e)
                return false;
        }
    }
    return true;
}

bool sw__table_check(const sw__table *t)
{
    if (!t)
        return false;
    size_t bytes = arr_bytes(t->cur.n) * (t->cur.n != 0) + arr_bytes(t->old.n) * (t->old.n != 0);
    if (t->old.n && (t->cur.n == 0 || t->mig >= t->old.n))
        return false;
    if (!t->old.n && t->mig != 0)
        return false;
    if (!arr_check(&t->cur, 0, &bytes) || !arr_check(&t->old, t->mig, &bytes))
        return false;
    return bytes == t->bytes && arr_reachable(t, &t->cur) && arr_reachable(t, &t->old);
}
