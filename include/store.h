/* store.h: the item store. Every front end (text, binary, meta) and the
 * replication receiver use only these operations, and every local mutation
 * passes store_mutation_hook, where replication observes it. */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* iflags */
#define ITEM_LINKED 0x01    /* in the hash table and an LRU */
#define ITEM_ACTIVE 0x02    /* read since it last reached the LRU tail */
#define ITEM_FETCHED 0x04   /* read at least once (meta 'h') */
#define ITEM_STALE 0x08     /* invalidated by meta 'I' */
#define ITEM_TOKEN 0x10     /* a meta win token was handed out */
#define ITEM_TOMBSTONE 0x20 /* a delete marker: never visible to clients */
#define ITEM_SLABBED 0x40   /* on a slab free list */

/* One stored item. The key follows the header, then the value (no "\r\n"
 * is stored). 64 bytes of header. */
typedef struct item {
	struct item *next;   /* LRU, towards the tail */
	struct item *prev;   /* LRU, towards the head */
	struct item *h_next; /* hash chain */
	uint64_t cas;        /* cas unique (0 with -C) */
	uint64_t version; /* replication version stamp (hybrid logical clock) */
	uint32_t exptime; /* absolute unix time, 0 = never */
	uint32_t atime;   /* last access, unix time */
	uint32_t nbytes;  /* value length */
	uint32_t flags;   /* client flags */
	uint16_t origin;  /* node id of the node that wrote this state */
	uint16_t refcount; /* references from connections' output queues */
	uint8_t nkey;      /* key length */
	uint8_t clsid;     /* slab class */
	uint8_t iflags;    /* ITEM_* */
	uint8_t lru;       /* LRU_HOT, LRU_WARM, LRU_COLD or LRU_TEMP */
	char data[];
} item;

#define ITEM_key(it) ((it)->data)
#define ITEM_value(it) ((it)->data + (it)->nkey)

enum store_result {
	STORE_OK = 0,      /* stored / deleted / touched / found */
	STORE_NOT_STORED,  /* add on existing, replace/append/prepend on missing
	                    */
	STORE_EXISTS,      /* cas mismatch */
	STORE_NOT_FOUND,   /* missing key (cas, delete, incr, touch) */
	STORE_TOO_LARGE,   /* SERVER_ERROR object too large for cache */
	STORE_NO_MEMORY,   /* SERVER_ERROR out of memory storing object */
	STORE_NON_NUMERIC, /* incr/decr on a value that is not a number */
	STORE_INVALID      /* invalid argument */
};

enum store_op {
	STORE_SET = 0,
	STORE_ADD,
	STORE_REPLACE,
	STORE_APPEND,
	STORE_PREPEND,
	STORE_CAS
};

/* What a mutation looks like to the replication module. For MUT_ITEM the
 * whole new state is in `it` (key, value, flags, exptime, cas, version,
 * origin). For MUT_DELETE and MUT_TOUCH only the key and the fields named
 * are meaningful. MUT_FLUSH carries `when` (absolute unix time, 0 = now). */
enum mutation_type { MUT_ITEM = 1, MUT_DELETE, MUT_TOUCH, MUT_FLUSH };

struct mutation {
	enum mutation_type type;
	const item *it;  /* MUT_ITEM */
	const char *key; /* MUT_DELETE, MUT_TOUCH */
	size_t nkey;
	uint32_t exptime; /* MUT_TOUCH */
	uint64_t cas;     /* MUT_DELETE, MUT_TOUCH: cas after the change */
	uint64_t version; /* version of the change */
	uint16_t origin;  /* node that made the change */
	uint32_t when;    /* MUT_FLUSH */
};

typedef void (*store_hook_fn)(const struct mutation *m);

/* Set by the replication module; called after every local mutation. */
extern store_hook_fn store_mutation_hook;
/* This node's id, used as the origin of local changes. */
extern uint16_t store_node_id;

/* store.c: lifecycle */
/* Sets up slabs, the hash table and the LRUs from settings. */
void store_init(void);
/* Frees everything (for tests and valgrind). */
void store_destroy(void);
/* Once a second: performs a delayed flush that is due and moves a slab
 * page to the class that evicts most (slab automove). */
void store_tick(void);
/* One small step of background work (about 100 us at most with a million
 * items): moves some hash buckets if the table is growing, and reclaims
 * expired items and tombstones from the next few buckets. The daemon runs
 * one every 10 ms, so no client waits long behind it. */
void store_maintain_step(void);
/* True while store_maintain_step() has work to do (the store holds items
 * or tombstones, or the hash table is growing). */
bool store_maintain_wanted(void);
/* store_tick() and 64 steps at once (tests, fuzzing). */
void store_maintain(void);

/* store.c: reads */
/* Finds a live item and takes a reference (release with store_release).
 * Expired or flushed items are unlinked on the way. Marks the item as
 * read (ACTIVE, FETCHED) and updates atime. Returns NULL on a miss. */
item *store_get(const char *key, size_t nkey);
/* Like store_get but does not mark the item as read. */
item *store_peek(const char *key, size_t nkey);
/* Takes another reference on an item. */
void store_ref(item *it);
/* Drops a reference; the memory is freed once it is unlinked and unused. */
void store_release(item *it);

/* store.c: writes (local: stamp a new version, bump cas, call the hook) */
/* Allocates an unlinked item with refcount 1 for the caller to fill the
 * value of. exptime is absolute (see util_realtime). Returns STORE_OK,
 * STORE_TOO_LARGE or STORE_NO_MEMORY. */
enum store_result store_alloc(item **out, const char *key, size_t nkey,
                              uint32_t flags, uint32_t exptime,
                              uint32_t nbytes);
/* Stores a filled item with set/add/replace/append/prepend/cas semantics.
 * cas is the client's cas for STORE_CAS (and for the others when non-zero,
 * as the binary and meta protocols allow). On success *cas_out (may be
 * NULL) receives the new cas. The caller still owns its reference. */
enum store_result store_commit(item *it, enum store_op op, uint64_t cas,
                               uint64_t *cas_out);
/* Deletes a key; cas 0 means any. STORE_OK, STORE_NOT_FOUND, STORE_EXISTS. */
enum store_result store_delete(const char *key, size_t nkey, uint64_t cas);
/* Removes a key like store_delete, but counts no delete: what a refused
 * set does to the old value, as memcached. */
void store_drop(const char *key, size_t nkey);
/* incr (incr=true) or decr. 64-bit unsigned: incr wraps, decr stops at 0.
 * If the key is missing and autoviv is true, creates it with `initial`
 * and exptime (binary and meta), and *value_out is `initial`. cas != 0
 * must match. Returns STORE_OK, STORE_NOT_FOUND, STORE_EXISTS,
 * STORE_NON_NUMERIC, STORE_NO_MEMORY. *it_out (may be NULL) gets a
 * reference to the resulting item. */
enum store_result store_arith(const char *key, size_t nkey, bool incr,
                              uint64_t delta, bool autoviv, uint64_t initial,
                              uint32_t exptime, uint64_t cas,
                              uint64_t *value_out, uint64_t *cas_out,
                              item **it_out);
/* Sets a new absolute exptime on a live key. Returns a referenced item,
 * or NULL on a miss. Marks it read like store_get when `fetch` is true
 * (gat), not for plain touch. */
item *store_touch(const char *key, size_t nkey, uint32_t exptime, bool fetch);
/* flush_all: delay 0 invalidates every item now; a positive delay
 * schedules it (a later call replaces an earlier one). Replicated. */
void store_flush(uint32_t delay);
/* Meta helpers: mark an item stale (invalidate) with a new version, or
 * record that a win token was sent. Both replicate as MUT_ITEM. */
void store_mark_stale(item *it, bool token);
void store_set_token(item *it, bool on);

/* store.c: the replication receiver (no hook, no echo). Last writer wins:
 * a change applies only if (version, origin) is greater than what the
 * store holds for the key (including a tombstone). */
/* Applies a whole item state; takes over the caller's reference. Returns
 * true if applied. */
bool store_apply_item(item *it);
/* Applies a delete: leaves a tombstone with that version. */
bool store_apply_delete(const char *key, size_t nkey, uint64_t version,
                        uint16_t origin);
/* Applies a touch. */
bool store_apply_touch(const char *key, size_t nkey, uint32_t exptime,
                       uint64_t version, uint16_t origin);
/* Applies a flush at absolute time `when` (0 = now): an immediate one
 * removes what is older than `version` (the flush's own version). */
void store_apply_flush(uint32_t when, uint64_t version);
/* Allocates an item for the receiver (no stamping). Same as store_alloc. */
enum store_result store_alloc_raw(item **out, const char *key, size_t nkey,
                                  uint32_t flags, uint32_t exptime,
                                  uint32_t nbytes);

/* Prepares for about n incoming items (a full copy): sizes the hash table
 * once if the store is nearly empty. */
void store_reserve(uint64_t n);

/* store.c: versions (hybrid logical clock: ms << 16 | counter) */
/* Returns a fresh version greater than any seen. */
uint64_t store_next_version(void);
/* Advances the clock past a version seen from the peer. */
void store_observe_version(uint64_t v);
/* Advances the cas counter past a cas seen from the peer. */
void store_observe_cas(uint64_t cas);

/* store.c: iteration for the full copy and digests. The hash table does
 * not grow while an iterator is open. */
struct store_iter {
	uint64_t bucket; /* next bucket to visit */
	bool done;
};
/* Opens an iterator over every live item and tombstone. */
void store_iter_begin(struct store_iter *si);
/* Calls fn for up to max_items items, in bucket order; returns the number
 * visited. Sets si->done at the end. fn may not mutate the store. */
size_t store_iter_next(struct store_iter *si, size_t max_items,
                       void (*fn)(item *it, void *arg), void *arg);
/* Closes the iterator (the table may grow again). */
void store_iter_end(struct store_iter *si);

/* store.c: content digests, to compare two nodes (text command "digest",
 * scripts/repl-compare). The key hash space is cut in `parts` equal parts
 * (part = (hash_key >> 32) * parts >> 32); the digest of parts [lo, hi) is
 * the sum (mod 2^64) of a 64-bit hash of (key, value, flags, exptime, cas,
 * version, origin) over the live, unexpired items whose key is there, so
 * it does not depend on the order of the items. Tombstones and the
 * node-local bits (atime, iflags, LRU place) are left out. *items (may be
 * NULL) gets the number of items summed. Walks the range synchronously. */
uint64_t store_digest(uint32_t parts, uint32_t lo, uint32_t hi,
                      uint64_t *items);
/* The same digest computed in slices, so that the event loop can serve
 * other clients between them (the text command "digest"). The result is
 * store_digest()'s on a store that does not change during the walk. */
struct store_digest_walk {
	struct store_iter si;
	uint32_t parts, lo, hi;
	uint64_t sum;   /* the digest, once done */
	uint64_t items; /* items summed, once done */
	bool open;      /* si is open (the table's growth is paused) */
	bool done;
};
/* Prepares a walk of parts [lo, hi) of `parts` (opens nothing yet). */
void store_digest_begin(struct store_digest_walk *w, uint32_t parts,
                        uint32_t lo, uint32_t hi);
/* Visits about max_items more items; returns true once the walk is
 * complete (its iterator is then closed). */
bool store_digest_step(struct store_digest_walk *w, size_t max_items);
/* Closes a walk early or late (idempotent). */
void store_digest_end(struct store_digest_walk *w);

/* store.c: numbers for stats */
struct store_stats {
	uint64_t curr_items;
	uint64_t total_items;
	uint64_t bytes; /* bytes used by live items */
	uint64_t evictions;
	uint64_t reclaimed;
	uint64_t expired_unfetched;
	uint64_t evicted_unfetched;
	uint64_t tombstones;
	uint64_t curr_tombstones;
	uint64_t hash_power_level;
	uint64_t hash_bytes;
	bool hash_is_expanding;
	uint64_t malloced; /* slab pages allocated, bytes */
	uint64_t limit_maxbytes;
	uint64_t get_hits, get_misses, get_expired, get_flushed;
	uint64_t cmd_touch, touch_hits, touch_misses;
	uint64_t delete_hits, delete_misses;
	uint64_t incr_hits, incr_misses, decr_hits, decr_misses;
	uint64_t cas_hits, cas_misses, cas_badval;
	uint64_t cmd_flush;
	uint64_t store_too_large, store_no_memory; /* refused client stores */
	uint32_t oldest_live; /* when the last flush_all took or takes effect
	                       * (unix time, 0 = none) */
};
extern struct store_stats store_stats;
/* Emits "stats items", "stats slabs" and "stats sizes" lines through
 * emit(ctx, name, value). */
typedef void (*stat_emit_fn)(void *ctx, const char *name, const char *value);
void store_stats_items(stat_emit_fn emit, void *ctx);
void store_stats_slabs(stat_emit_fn emit, void *ctx);
void store_stats_sizes(stat_emit_fn emit, void *ctx);
/* Changes the memory limit at run time (cache_memlimit, in bytes). */
void store_set_memlimit(size_t bytes);

#endif
