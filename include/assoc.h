/* assoc.h: the hash table from keys to items. Chained through
 * item->h_next, power-of-two buckets, grown incrementally: while it grows,
 * the old table's buckets move to the new one a few at a time. */
#ifndef ASSOC_H
#define ASSOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* assoc.c */
/* Allocates the table with 2^hashpower buckets. */
void assoc_init(unsigned hashpower);
/* Frees the bucket arrays (not the items). */
void assoc_destroy(void);
/* Returns the linked item with this key (any state), or NULL. */
item *assoc_find(const char *key, size_t nkey, uint64_t hv);
/* Adds an item (its key must not be present); may start growing. */
void assoc_insert(item *it, uint64_t hv);
/* Removes a linked item from its chain. */
void assoc_remove(item *it, uint64_t hv);
/* Moves up to n old buckets to the new table if growing. */
void assoc_migrate(unsigned n);
/* Sizes the table for n items ahead of a bulk load, if it is nearly empty. */
void assoc_reserve(uint64_t n);
/* Pauses (or resumes) growth, for iterators; calls nest. */
void assoc_pause(void);
void assoc_resume(void);
/* Number of buckets of the current (newest) table. */
uint64_t assoc_nbuckets(void);
/* The chains that make up bucket b of the current table: the new table's
 * chain, and while growing the old table's chain that still maps there
 * (NULL otherwise). */
void assoc_bucket(uint64_t b, item **chain, item **old_chain);
/* Unlinks every item from the table, calling fn on each (fn must not
 * touch the table). */
void assoc_clear(void (*fn)(item *it));
/* Items in the table. */
uint64_t assoc_count(void);

#endif
