/* The Ledger shard's id -> account map (see acctmap.h). */
#include "account/acctmap.h"

#include <stdlib.h>

struct sw__acct *sw__acctmap_find(struct sw__acctmap *m, uint64_t id)
{
    if (!m->slots)
        return NULL;
    for (size_t i = sw__mix64(id) & m->mask;; i = (i + 1) & m->mask) {
        struct sw__acct *a = &m->slots[i];
        if (!a->used)
            return NULL;
        if (a->id == id)
            return a;
    }
}

static struct sw__acct *place(struct sw__acct *slots, size_t mask, uint64_t id)
{
    size_t i = sw__mix64(id) & mask;
    while (slots[i].used)
        i = (i + 1) & mask;
    return &slots[i];
}

/* Doubles the array (load stays at or below 3/4). */
static int grow(struct sw__acctmap *m)
{
    size_t cap = m->slots ? (m->mask + 1) * 2 : 64;
    struct sw__acct *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    if (m->slots) {
        for (size_t i = 0; i <= m->mask; i++)
            if (m->slots[i].used)
                *place(slots, cap - 1, m->slots[i].id) = m->slots[i];
        free(m->slots);
    }
    m->slots = slots;
    m->mask = cap - 1;
    return 0;
}

struct sw__acct *sw__acctmap_insert(struct sw__acctmap *m, uint64_t id)
{
    if ((!m->slots || (m->count + 1) * 4 > (m->mask + 1) * 3) && grow(m) != 0)
        return NULL;
    struct sw__acct *a = place(m->slots, m->mask, id);
    *a = (struct sw__acct){.id = id, .used = 1};
    m->count++;
    return a;
}

void sw__acctmap_destroy(struct sw__acctmap *m)
{
    free(m->slots);
    *m = (struct sw__acctmap){0};
}
