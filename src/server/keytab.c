/* A shard's chained hash table of keys: the key locks (txn.c) and the
 * watched keys (multi.c) are kept in one. Each entry begins with a struct
 * keyent; the table links entries and never allocates or frees them. Its
 * shard's thread only (or the world holder's).
 */
#include <stdlib.h>
#include <string.h>

#include "server/loop_int.h"

struct keyent **keytab_slot(struct keytab *t, uint64_t hash, const void *key, size_t len)
{
    struct keyent **pp = &t->b[hash & (t->cap - 1)];
    while (*pp && ((*pp)->hash != hash || (*pp)->len != len || memcmp((*pp)->key, key, len) != 0))
        pp = &(*pp)->next;
    return pp;
}

struct keyent *keytab_find(struct keytab *t, uint64_t hash, const void *key, size_t len)
{
    return t->n ? *keytab_slot(t, hash, key, len) : NULL;
}

bool keytab_room(struct keytab *t)
{
    if (t->n < t->cap)
        return true;
    size_t cap = t->cap ? t->cap * 2 : 16;
    struct keyent **b = calloc(cap, sizeof *b);
    if (!b)
        return t->cap > 0; /* full: chains grow longer, but it still works */
    for (size_t i = 0; i < t->cap; i++)
        for (struct keyent *e = t->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (cap - 1)];
            b[e->hash & (cap - 1)] = e;
        }
    free(t->b);
    t->b = b;
    t->cap = cap;
    return true;
}

void keytab_link(struct keytab *t, struct keyent **slot, struct keyent *e)
{
    e->next = *slot;
    *slot = e;
    t->n++;
}

void keytab_unlink(struct keytab *t, struct keyent **slot)
{
    *slot = (*slot)->next;
    t->n--;
}

void keytab_free(struct keytab *t)
{
    free(t->b);
    *t = (struct keytab){0};
}
