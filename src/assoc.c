/* assoc.c: the chained hash table with incremental growth.
 *
 * While growing, old bucket i (i < migrated) has already moved to the new
 * table; the others still live in the old table. Every insert and lookup
 * moves a few old buckets, and store_maintain_step() (every 10 ms) moves
 * a few hundred, so growing never stalls a request. Growth is paused while
 * an iterator is open so that iteration sees a fixed bucket layout. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "assoc.h"
#include "hash.h"
#include "log.h"
#include "util.h"

#define HASHPOWER_MAX 32
#define MIGRATE_PER_INSERT 8
#define MIGRATE_PER_LOOKUP 1

static item **table;      /* current (newest) table */
static unsigned hpower;   /* log2 of its size */
static item **old_table;  /* the table being drained, NULL if not growing */
static uint64_t old_size; /* its size */
static uint64_t migrated; /* old buckets [0, migrated) have moved */
static uint64_t nitems;
static int paused;

/* Publishes the table's shape in store_stats. */
static void
assoc_update_stats(void)
{
	store_stats.hash_power_level = hpower;
	store_stats.hash_bytes = (sizeof(item *) << hpower) +
	                         (old_table ? old_size * sizeof(item *) : 0);
	store_stats.hash_is_expanding = old_table != NULL;
}

/* Returns a zeroed bucket array of n entries, NULL if out of memory. A
 * large one is faulted in with one call rather than a fault per page as
 * buckets are first used. */
static item **
table_alloc(uint64_t n)
{
	item **t = calloc((size_t)n, sizeof(item *));

	if (t != NULL && n * sizeof(item *) >= ((size_t)1 << 20))
		util_populate(t, (size_t)n * sizeof(item *));
	return t;
}

/* Allocates the table with 2^hashpower buckets. */
void
assoc_init(unsigned hashpower)
{
	if (hashpower < 4)
		hashpower = 4;
	if (hashpower > HASHPOWER_MAX)
		hashpower = HASHPOWER_MAX;
	hpower = hashpower;
	table = table_alloc((uint64_t)1 << hpower);
	if (table == NULL)
		fatal("assoc: cannot allocate the hash table");
	old_table = NULL;
	old_size = migrated = nitems = 0;
	paused = 0;
	assoc_update_stats();
}

/* Frees the bucket arrays. */
void
assoc_destroy(void)
{
	free(table);
	free(old_table);
	table = old_table = NULL;
	nitems = 0;
}

/* Returns the address of the chain head that holds hash hv. */
static inline item **
assoc_head(uint64_t hv)
{
	if (old_table != NULL) {
		uint64_t ob = hv & (old_size - 1);
		if (ob >= migrated)
			return &old_table[ob];
	}
	return &table[hv & (((uint64_t)1 << hpower) - 1)];
}

/* Starts growing to twice the size if loaded and allowed. */
static void
assoc_maybe_grow(void)
{
	item **nt;

	if (old_table != NULL || paused || hpower >= HASHPOWER_MAX)
		return;
	if (nitems <= ((uint64_t)3 << hpower) / 2)
		return;
	nt = table_alloc((uint64_t)2 << hpower);
	if (nt == NULL) {
		log_warnx("assoc: cannot grow the hash table to 2^%u",
		          hpower + 1);
		return;
	}
	old_table = table;
	old_size = (uint64_t)1 << hpower;
	migrated = 0;
	table = nt;
	hpower++;
	log_debug("assoc: growing the hash table to 2^%u buckets", hpower);
	assoc_update_stats();
}

/* Sizes the table for n items ahead of a bulk load (a full copy), while
 * that is cheap: only when it holds few items, which move at once. */
void
assoc_reserve(uint64_t n)
{
	unsigned hp = hpower;
	uint64_t i, size = (uint64_t)1 << hpower, mask;
	item **nt;

	if (paused || old_table != NULL || nitems > 65536)
		return;
	while (hp < HASHPOWER_MAX && n > ((uint64_t)3 << hp) / 2)
		hp++;
	if (hp == hpower)
		return;
	nt = table_alloc((uint64_t)1 << hp);
	if (nt == NULL)
		return;
	mask = ((uint64_t)1 << hp) - 1;
	for (i = 0; i < size; i++) {
		item *it = table[i], *next;
		for (; it != NULL; it = next) {
			uint64_t b = hash_key(ITEM_key(it), it->nkey) & mask;
			next = it->h_next;
			it->h_next = nt[b];
			nt[b] = it;
		}
	}
	free(table);
	table = nt;
	hpower = hp;
	log_debug("assoc: hash table sized to 2^%u buckets for %llu items", hp,
	          (unsigned long long)n);
	assoc_update_stats();
}

/* Moves up to n old buckets to the new table if growing. */
void
assoc_migrate(unsigned n)
{
	uint64_t mask;

	if (old_table == NULL || paused)
		return;
	mask = ((uint64_t)1 << hpower) - 1;
	while (n-- > 0 && migrated < old_size) {
		item *it = old_table[migrated], *next;
		for (; it != NULL; it = next) {
			uint64_t b = hash_key(ITEM_key(it), it->nkey) & mask;
			next = it->h_next;
			it->h_next = table[b];
			table[b] = it;
		}
		old_table[migrated++] = NULL;
	}
	if (migrated == old_size) {
		free(old_table);
		old_table = NULL;
		old_size = migrated = 0;
		log_debug("assoc: hash table grown to 2^%u buckets", hpower);
		assoc_update_stats();
	}
}

/* Returns the linked item with this key (any state), or NULL. */
item *
assoc_find(const char *key, size_t nkey, uint64_t hv)
{
	item *it;

	if (old_table != NULL)
		assoc_migrate(MIGRATE_PER_LOOKUP);
	for (it = *assoc_head(hv); it != NULL; it = it->h_next) {
		if (it->nkey == nkey && memcmp(ITEM_key(it), key, nkey) == 0)
			return it;
	}
	return NULL;
}

/* Adds an item to the head of its chain; may start or advance growth. */
void
assoc_insert(item *it, uint64_t hv)
{
	item **head;

	if (old_table != NULL)
		assoc_migrate(MIGRATE_PER_INSERT);
	head = assoc_head(hv);
	it->h_next = *head;
	*head = it;
	nitems++;
	assoc_maybe_grow();
}

/* Removes a linked item from its chain. */
void
assoc_remove(item *it, uint64_t hv)
{
	item **pp = assoc_head(hv);

	for (; *pp != NULL; pp = &(*pp)->h_next) {
		if (*pp == it) {
			*pp = it->h_next;
			it->h_next = NULL;
			nitems--;
			return;
		}
	}
}

/* Pauses growth (nests). */
void
assoc_pause(void)
{
	paused++;
}

/* Resumes growth once every pause is undone. */
void
assoc_resume(void)
{
	if (paused > 0 && --paused == 0)
		assoc_maybe_grow();
}

/* Number of buckets of the current table. */
uint64_t
assoc_nbuckets(void)
{
	return (uint64_t)1 << hpower;
}

/* Returns the chains that make up bucket b of the current table. */
void
assoc_bucket(uint64_t b, item **chain, item **old_chain)
{
	*chain = table[b];
	*old_chain = NULL;
	if (old_table != NULL && b < old_size && b >= migrated)
		*old_chain = old_table[b];
}

/* Empties the table, handing every item to fn. */
void
assoc_clear(void (*fn)(item *it))
{
	uint64_t b, n = (uint64_t)1 << hpower;
	item *it, *next;

	for (b = 0; b < n; b++) {
		for (it = table[b]; it != NULL; it = next) {
			next = it->h_next;
			it->h_next = NULL;
			fn(it);
		}
		table[b] = NULL;
	}
	if (old_table != NULL) {
		for (b = migrated; b < old_size; b++) {
			for (it = old_table[b]; it != NULL; it = next) {
				next = it->h_next;
				it->h_next = NULL;
				fn(it);
			}
			old_table[b] = NULL;
		}
		/* nothing left to move: finish growing now */
		migrated = old_size;
		if (!paused)
			assoc_migrate(0);
	}
	nitems = 0;
}

/* Items in the table. */
uint64_t
assoc_count(void)
{
	return nitems;
}
