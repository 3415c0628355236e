/* store.c: the store operations with memcached's semantics, version
 * stamping for replication, last-writer-wins application of replicated
 * changes, tombstones, iteration and the stats emitters. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "assoc.h"
#include "hash.h"
#include "items.h"
#include "settings.h"
#include "slabs.h"
#include "store.h"
#include "util.h"

#define MAINTAIN_MIGRATE 65536 /* hash buckets a digest walk moves at once */
/* Background work runs in small steps (store_maintain_step, every 10 ms in
 * the daemon) so that no client waits behind it for long: a step moves
 * STEP_MIGRATE buckets of a growing hash table and checks STEP_CRAWL
 * buckets for expired items, each about 50-100 us with 1M items. */
#define STEP_MIGRATE 512
/* Slab automove: a class with free chunks worth 2.5 pages gives pages
 * back to the global pool (memcached's MIN_PAGES_FOR_RECLAIM), at most
 * AUTOMOVE_POOL_MOVES a second. */
#define AUTOMOVE_FREE_PAGES 5 /* in half pages */
#define AUTOMOVE_POOL_MOVES 8
#define STEP_CRAWL 256
#define STEP_CRAWL_EMPTY 8192
#define MAINTAIN_STEPS 64  /* steps store_maintain() runs (tests, fuzzing) */
#define ITER_SCAN_MIN 1024 /* empty buckets an iterator call may skip */
#define ITER_PREFETCH 16   /* buckets an iterator loads ahead */

store_hook_fn store_mutation_hook;
uint16_t store_node_id;
struct store_stats store_stats;

static uint64_t cas_counter;
static uint64_t last_version;
static uint32_t flush_at;
static uint64_t crawl_cursor;
static uint64_t last_evicted[SLAB_CLASS_MAX + 1];
static uint32_t free_ticks[SLAB_CLASS_MAX + 1]; /* see automove_to_pool */
static int iters_open;

/* ---- helpers ---- */

/* Performs a pending delayed flush once its moment has come. */
static inline void
check_flush(void)
{
	if (flush_at != 0 && current_time >= flush_at) {
		flush_at = 0;
		items_flushed_below = store_next_version();
	}
}

/* Flushes every item and tombstone whose version is older than v (they
 * die lazily: see items_flushed_below). */
static void
flush_older_than(uint64_t v)
{
	if (v > items_flushed_below)
		items_flushed_below = v;
	store_observe_version(v);
}

/* Returns the next cas unique (0 with -C). */
static inline uint64_t
next_cas(void)
{
	return settings.use_cas ? ++cas_counter : 0;
}

/* Stamps a local change on an item. */
static inline void
stamp(item *it)
{
	it->version = store_next_version();
	it->origin = store_node_id;
}

/* True if (v, o) is later than the item's (version, origin). */
static inline bool
newer(uint64_t v, uint16_t o, const item *it)
{
	return v > it->version || (v == it->version && o > it->origin);
}

/* Reports a whole-item change to the replication hook. */
static void
hook_item(const item *it)
{
	struct mutation m;

	if (store_mutation_hook == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.type = MUT_ITEM;
	m.it = it;
	m.key = ITEM_key(it);
	m.nkey = it->nkey;
	m.exptime = it->exptime;
	m.cas = it->cas;
	m.version = it->version;
	m.origin = it->origin;
	store_mutation_hook(&m);
}

/* Reports a delete or touch of key to the replication hook. */
static void
hook_key(enum mutation_type type, const char *key, size_t nkey,
         uint32_t exptime, uint64_t cas, uint64_t version)
{
	struct mutation m;

	if (store_mutation_hook == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.key = key;
	m.nkey = nkey;
	m.exptime = exptime;
	m.cas = cas;
	m.version = version;
	m.origin = store_node_id;
	store_mutation_hook(&m);
}

/* Why lookup() found nothing where an item was linked. */
enum gone { GONE_NO = 0, GONE_EXPIRED, GONE_FLUSHED };

/* Returns the linked item for key in any state, after unlinking it if it
 * is flushed (item or tombstone) or an expired non-tombstone (then NULL,
 * counted in get_flushed or get_expired). Sets *gone (may be NULL) to why
 * it went. */
static item *
lookup(const char *key, size_t nkey, uint64_t hv, enum gone *gone)
{
	item *it = assoc_find(key, nkey, hv);
	enum gone why = GONE_NO;

	/* Every lookup counts the dead item it reclaims, whatever the command
	 * (a set, delete or incr too), as memcached's do_item_get does. */
	if (it != NULL && item_flushed(it)) {
		if (!(it->iflags & ITEM_TOMBSTONE)) {
			why = GONE_FLUSHED;
			store_stats.get_flushed++;
		}
		items_unlink(it, hv);
		it = NULL;
	} else if (it != NULL && !(it->iflags & ITEM_TOMBSTONE) &&
	           item_expired(it, current_time)) {
		why = GONE_EXPIRED;
		store_stats.get_expired++;
		items_unlink(it, hv);
		it = NULL;
	}
	if (gone != NULL)
		*gone = why;
	return it;
}

/* The live item among a lookup result (tombstones are invisible). */
static inline item *
live(item *it)
{
	return it != NULL && !(it->iflags & ITEM_TOMBSTONE) ? it : NULL;
}

/* Takes a reference unless the counter is full. */
static inline bool
take_ref(item *it)
{
	if (it->refcount == UINT16_MAX)
		return false;
	it->refcount++;
	return true;
}

/* Marks an item as read (see items_mark_read). */
static void
mark_read(item *it)
{
	items_mark_read(it);
}

/* Replaces cur (may be NULL) by a tombstone with the given version, or
 * just unlinks cur if no tombstone can be made. */
static void
make_tombstone(item *cur, const char *key, size_t nkey, uint64_t hv,
               uint64_t version, uint16_t origin)
{
	enum store_result err;
	item *t;

	if (settings.repl_port == 0 || settings.tombstone_ttl <= 0) {
		if (cur != NULL)
			items_unlink(cur, hv);
		return;
	}
	/* hold cur so the allocation cannot evict it under us */
	if (cur != NULL)
		cur->refcount++;
	t = items_alloc(key, nkey, 0,
	                current_time + (uint32_t)settings.tombstone_ttl, 0,
	                &err);
	if (cur != NULL)
		cur->refcount--;
	if (t == NULL) {
		if (cur != NULL)
			items_unlink(cur, hv);
		return;
	}
	t->iflags = ITEM_TOMBSTONE;
	t->version = version;
	t->origin = origin;
	if (cur != NULL)
		items_replace(cur, t, hv);
	else
		items_link(t, hv);
	items_release(t);
}

/* ---- lifecycle ---- */

/* Picks a random non-zero node id. */
static uint16_t
random_node_id(void)
{
	uint16_t id = 0;

	while (id == 0) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = (uint16_t)(time(NULL) ^ getpid());
		if (id == 0)
			id = 1;
	}
	return id;
}

/* Sets up slabs, the hash table and the LRUs from settings. */
void
store_init(void)
{
	memset(&store_stats, 0, sizeof(store_stats));
	memset(last_evicted, 0, sizeof(last_evicted));
	memset(free_ticks, 0, sizeof(free_ticks));
	if (store_node_id == 0)
		store_node_id = random_node_id();
	cas_counter = 0;
	last_version = 0;
	items_flushed_below = 0;
	flush_at = 0;
	crawl_cursor = 0;
	iters_open = 0;
	slabs_init();
	items_init();
	assoc_init(settings.hashpower_init > 0
	               ? (unsigned)settings.hashpower_init
	               : 16);
}

/* Frees everything. */
void
store_destroy(void)
{
	while (iters_open > 0) {
		iters_open--;
		assoc_resume();
	}
	items_destroy();
	assoc_destroy();
	slabs_destroy();
}

/* Moves a page towards the class that evicts the most, from the class
 * whose LRU tail is much older (slab automove), at most one per tick. */
static void
automove(void)
{
	uint64_t delta[SLAB_CLASS_MAX + 1];
	unsigned i, n = slabs_nclasses(), recv = 0, donor = 0;
	uint64_t most = 0;
	uint32_t recv_age, oldest = 0;

	for (i = 1; i <= n; i++) {
		/* "stats reset" may have zeroed the counter meanwhile */
		delta[i] = item_stats[i].evicted >= last_evicted[i]
		               ? item_stats[i].evicted - last_evicted[i]
		               : item_stats[i].evicted;
		last_evicted[i] = item_stats[i].evicted;
		if (delta[i] > most) {
			most = delta[i];
			recv = i;
		}
	}
	if (recv == 0 || !settings.evict_to_free || settings.slab_automove == 0)
		return;
	recv_age = items_tail_age(recv);
	for (i = 1; i <= n; i++) {
		uint32_t age;
		if (i == recv || delta[i] != 0 || slabs_npages(i) < 2)
			continue;
		age = item_stats[i].number + item_stats[i].tombstones == 0
		          ? UINT32_MAX
		          : items_tail_age(i);
		if (age > oldest) {
			oldest = age;
			donor = i;
		}
	}
	if (donor != 0 && oldest > 2 * (uint64_t)recv_age + 2)
		slabs_move_page(donor, recv, items_evict_for_move,
		                items_rescue);
}

/* Gives pages of classes with more than AUTOMOVE_FREE_PAGES pages' worth
 * of free chunks, for slab_automove_window seconds in a row, back to the
 * global page pool (their items are rescued into the class's other free
 * chunks), up to AUTOMOVE_POOL_MOVES pages a tick: memory freed by
 * deletes, expiry or a flush becomes usable by any class. */
static void
automove_to_pool(void)
{
	unsigned i, n = slabs_nclasses(), moved = 0;

	for (i = 1; i <= n; i++) {
		uint64_t spare =
		    (uint64_t)slabs_perslab(i) * AUTOMOVE_FREE_PAGES;
		if (slabs_npages(i) < 2 || slabs_free_chunks(i) * 2 < spare) {
			free_ticks[i] = 0;
			continue;
		}
		if (++free_ticks[i] < settings.slab_automove_window)
			continue;
		while (
		    moved < AUTOMOVE_POOL_MOVES && slabs_npages(i) > 1 &&
		    slabs_free_chunks(i) * 2 >= spare &&
		    slabs_move_page(i, 0, items_evict_for_move, items_rescue))
			moved++;
	}
}

/* Once a second: a pending delayed flush and slab automove. */
void
store_tick(void)
{
	check_flush();
	if (settings.slab_reassign && settings.slab_automove > 0) {
		automove_to_pool();
		automove();
	}
}

/* True while the store holds items or tombstones (the crawl has work). */
static bool
has_entries(void)
{
	return store_stats.curr_items + store_stats.curr_tombstones > 0;
}

/* One step of background work: moves STEP_MIGRATE buckets of a growing
 * hash table and checks STEP_CRAWL buckets for expired items. */
void
store_maintain_step(void)
{
	uint64_t nb, n, empty;

	assoc_migrate(STEP_MIGRATE);
	if (!has_entries())
		return;
	if (settings.lru_maintainer)
		items_maintain();
	nb = assoc_nbuckets();
	/* STEP_CRAWL buckets holding items, and up to STEP_CRAWL_EMPTY
	 * empty ones (a pointer read each), so that a sparse table is
	 * crawled in a fraction of a second. */
	for (n = 0, empty = 0;
	     n < STEP_CRAWL && n + empty < nb && empty < STEP_CRAWL_EMPTY;) {
		item *chains[2], *it, *next;
		int c;
		if (crawl_cursor >= nb)
			crawl_cursor = 0;
		assoc_bucket(crawl_cursor++, &chains[0], &chains[1]);
		if (chains[0] == NULL && chains[1] == NULL) {
			empty++;
			continue;
		}
		n++;
		for (c = 0; c < 2; c++) {
			for (it = chains[c]; it != NULL; it = next) {
				next = it->h_next;
				item_stats[it->clsid].crawler_items_checked++;
				if (item_expired(it, current_time))
					items_crawler_reclaim(it);
			}
		}
	}
}

/* True while steps have work: items or tombstones to crawl, or a hash
 * table to grow. */
bool
store_maintain_wanted(void)
{
	return has_entries() || store_stats.hash_is_expanding;
}

/* A tick and MAINTAIN_STEPS steps at once (unit tests, fuzzing). */
void
store_maintain(void)
{
	int i;

	store_tick();
	for (i = 0; i < MAINTAIN_STEPS; i++)
		store_maintain_step();
}

/* ---- reads ---- */

/* Finds a live item, marks it read and takes a reference. */
item *
store_get(const char *key, size_t nkey)
{
	uint64_t hv = hash_key(key, nkey);
	item *it;

	check_flush();
	it = live(lookup(key, nkey, hv, NULL));
	if (it == NULL || !take_ref(it)) {
		store_stats.get_misses++;
		return NULL;
	}
	store_stats.get_hits++;
	item_stats[it->clsid].get_hits++;
	mark_read(it);
	return it;
}

/* Finds a live item and takes a reference, without marking it read. */
item *
store_peek(const char *key, size_t nkey)
{
	item *it;

	check_flush();
	it = live(lookup(key, nkey, hash_key(key, nkey), NULL));
	if (it == NULL || !take_ref(it))
		return NULL;
	return it;
}

/* Takes another reference on an item. */
void
store_ref(item *it)
{
	it->refcount++;
}

/* Drops a reference. */
void
store_release(item *it)
{
	items_release(it);
}

/* ---- writes ---- */

/* Allocates an unlinked item with refcount 1 for a client's store
 * command, counting it (per-prefix stats, store_too_large and
 * store_no_memory). */
enum store_result
store_alloc(item **out, const char *key, size_t nkey, uint32_t flags,
            uint32_t exptime, uint32_t nbytes)
{
	enum store_result err;

	err = store_alloc_raw(out, key, nkey, flags, exptime, nbytes);
	if (err == STORE_TOO_LARGE)
		store_stats.store_too_large++;
	else if (err == STORE_NO_MEMORY)
		store_stats.store_no_memory++;
	return err;
}

/* Allocates an item without counting it (the replication receiver). */
enum store_result
store_alloc_raw(item **out, const char *key, size_t nkey, uint32_t flags,
                uint32_t exptime, uint32_t nbytes)
{
	enum store_result err;

	check_flush();
	*out = items_alloc(key, nkey, flags, exptime, nbytes, &err);
	return err;
}

/* Builds old+data (append) or data+old (prepend) in a new item; NULL if
 * it does not fit. */
static item *
concat(item *old, const item *it, bool append)
{
	enum store_result err;
	item *n;

	if ((uint64_t)old->nbytes + it->nbytes > UINT32_MAX)
		return NULL;
	old->refcount++;
	n = items_alloc(ITEM_key(old), old->nkey, old->flags, old->exptime,
	                old->nbytes + it->nbytes, &err);
	old->refcount--;
	if (n == NULL)
		return NULL;
	if (append) {
		memcpy(ITEM_value(n), ITEM_value(old), old->nbytes);
		memcpy(ITEM_value(n) + old->nbytes, ITEM_value(it), it->nbytes);
	} else {
		memcpy(ITEM_value(n), ITEM_value(it), it->nbytes);
		memcpy(ITEM_value(n) + it->nbytes, ITEM_value(old),
		       old->nbytes);
	}
	return n;
}

/* Stores a filled item with set/add/replace/append/prepend/cas rules. */
enum store_result
store_commit(item *it, enum store_op op, uint64_t cas, uint64_t *cas_out)
{
	const char *key = ITEM_key(it);
	uint64_t hv;
	item *cur, *old, *n = it;

	if (it->iflags & (ITEM_LINKED | ITEM_SLABBED | ITEM_TOMBSTONE))
		return STORE_INVALID;
	check_flush();
	hv = hash_key(key, it->nkey);
	cur = lookup(key, it->nkey, hv, NULL);
	old = live(cur);
	item_stats[it->clsid].cmd_set++;

	if (op == STORE_APPEND || op == STORE_PREPEND) {
		if (old == NULL)
			return STORE_NOT_STORED;
		if (cas != 0 && cas != old->cas)
			return STORE_EXISTS;
		n = concat(old, it, op == STORE_APPEND);
		if (n == NULL)
			return STORE_NOT_STORED;
	} else if (op == STORE_CAS || cas != 0) {
		if (old == NULL) {
			store_stats.cas_misses++;
			return STORE_NOT_FOUND;
		}
		if (cas == 0 || cas != old->cas) {
			store_stats.cas_badval++;
			item_stats[old->clsid].cas_badval++;
			return STORE_EXISTS;
		}
		store_stats.cas_hits++;
		item_stats[old->clsid].cas_hits++;
	} else if (op == STORE_ADD && old != NULL) {
		if (old->atime + ITEM_UPDATE_INTERVAL <= current_time) {
			items_bump(old);
			old->atime = current_time;
		}
		return STORE_NOT_STORED;
	} else if (op == STORE_REPLACE && old == NULL) {
		return STORE_NOT_STORED;
	}

	n->cas = next_cas();
	stamp(n);
	n->iflags = 0;
	if (cur != NULL)
		items_replace(cur, n, hv);
	else
		items_link(n, hv);
	if (cas_out != NULL)
		*cas_out = n->cas;
	hook_item(n);
	if (n != it)
		items_release(n);
	return STORE_OK;
}

/* Deletes a key (cas 0 = any), counting it in the delete stats when
 * count is set. */
static enum store_result
do_delete(const char *key, size_t nkey, uint64_t cas, bool count)
{
	uint64_t hv = hash_key(key, nkey), v;
	item *cur;

	check_flush();
	cur = live(lookup(key, nkey, hv, NULL));
	if (cur == NULL) {
		if (count)
			store_stats.delete_misses++;
		return STORE_NOT_FOUND;
	}
	if (cas != 0 && cas != cur->cas)
		return STORE_EXISTS;
	if (count) {
		store_stats.delete_hits++;
		item_stats[cur->clsid].delete_hits++;
	}
	v = store_next_version();
	make_tombstone(cur, key, nkey, hv, v, store_node_id);
	hook_key(MUT_DELETE, key, nkey, 0, 0, v);
	return STORE_OK;
}

/* Deletes a key (cas 0 = any). */
enum store_result
store_delete(const char *key, size_t nkey, uint64_t cas)
{
	return do_delete(key, nkey, cas, true);
}

/* Removes a key without counting a delete (a refused set's old value). */
void
store_drop(const char *key, size_t nkey)
{
	(void)do_delete(key, nkey, 0, false);
}

/* Parses a stored value as memcached's incr/decr does (strtoull rules:
 * leading whitespace, an optional sign, digits, then the end or a
 * whitespace character; a '-' is refused when the result is negative). */
static bool
parse_counter(const char *p, size_t n, uint64_t *out)
{
	size_t i = 0, start;
	uint64_t v = 0;
	bool neg = false;

	while (i < n && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')))
		i++;
	if (i < n && (p[i] == '+' || p[i] == '-'))
		neg = p[i++] == '-';
	for (start = i; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (i == start)
		return false;
	if (i < n && !(p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')))
		return false;
	if (neg) {
		v = 0 - v;
		if ((int64_t)v < 0)
			return false;
	}
	*out = v;
	return true;
}

/* Creates a counter item holding `value` in place of cur (may be NULL). */
static enum store_result
arith_create(const char *key, size_t nkey, uint64_t hv, item *cur,
             uint64_t value, uint32_t exptime, item **out)
{
	char buf[24];
	size_t len = util_u64toa(value, buf);
	enum store_result err;
	item *n;

	if (cur != NULL)
		cur->refcount++;
	n = items_alloc(key, nkey, 0, exptime, (uint32_t)len, &err);
	if (cur != NULL)
		cur->refcount--;
	if (n == NULL)
		return err;
	memcpy(ITEM_value(n), buf, len);
	n->cas = next_cas();
	stamp(n);
	if (cur != NULL && (cur->iflags & ITEM_LINKED))
		items_replace(cur, n, hv);
	else
		items_link(n, hv);
	*out = n;
	return STORE_OK;
}

/* incr/decr with memcached's rules (see store.h). */
enum store_result
store_arith(const char *key, size_t nkey, bool incr, uint64_t delta,
            bool autoviv, uint64_t initial, uint32_t exptime, uint64_t cas,
            uint64_t *value_out, uint64_t *cas_out, item **it_out)
{
	uint64_t hv = hash_key(key, nkey), value;
	enum store_result r;
	item *cur, *it, *res = NULL;
	char buf[24];
	size_t len;

	check_flush();
	cur = lookup(key, nkey, hv, NULL);
	it = live(cur);
	if (it == NULL) {
		/* memcached counts no miss when the key is created. */
		if (!autoviv) {
			if (incr)
				store_stats.incr_misses++;
			else
				store_stats.decr_misses++;
			return STORE_NOT_FOUND;
		}
		r = arith_create(key, nkey, hv, cur, initial, exptime, &res);
		if (r != STORE_OK)
			return r == STORE_TOO_LARGE ? STORE_NO_MEMORY : r;
		value = initial;
		goto done;
	}
	if (cas != 0 && cas != it->cas)
		return STORE_EXISTS;
	if (it->nbytes == 0 ||
	    !parse_counter(ITEM_value(it), it->nbytes, &value))
		return STORE_NON_NUMERIC;
	if (incr) {
		value += delta;
		store_stats.incr_hits++;
		item_stats[it->clsid].incr_hits++;
	} else {
		value = delta > value ? 0 : value - delta;
		store_stats.decr_hits++;
		item_stats[it->clsid].decr_hits++;
	}
	len = util_u64toa(value, buf);
	if (len <= it->nbytes && it->refcount == 0) {
		/* memcached rewrites in place and pads with spaces, keeping
		 * the old length ("10" decr 1 gives "9 ") */
		memcpy(ITEM_value(it), buf, len);
		memset(ITEM_value(it) + len, ' ', it->nbytes - len);
		it->cas = next_cas();
		stamp(it);
		it->refcount++;
		res = it;
	} else {
		it->refcount++;
		res = items_alloc(key, nkey, it->flags, it->exptime,
		                  (uint32_t)len, &r);
		it->refcount--;
		if (res == NULL)
			return STORE_NO_MEMORY;
		memcpy(ITEM_value(res), buf, len);
		res->cas = next_cas();
		stamp(res);
		items_replace(it, res, hv);
	}
done:
	if (value_out != NULL)
		*value_out = value;
	if (cas_out != NULL)
		*cas_out = res->cas;
	hook_item(res);
	if (it_out != NULL)
		*it_out = res;
	else
		items_release(res);
	return STORE_OK;
}

/* Sets a new exptime on a live key; returns it referenced or NULL. */
item *
store_touch(const char *key, size_t nkey, uint32_t exptime, bool fetch)
{
	uint64_t hv = hash_key(key, nkey);
	item *it;

	check_flush();
	store_stats.cmd_touch++;
	it = live(lookup(key, nkey, hv, NULL));
	if (it == NULL || !take_ref(it)) {
		store_stats.touch_misses++;
		return NULL;
	}
	store_stats.touch_hits++;
	item_stats[it->clsid].touch_hits++;
	it->exptime = exptime;
	stamp(it);
	if (fetch)
		mark_read(it);
	hook_key(MUT_TOUCH, key, nkey, exptime, it->cas, it->version);
	return it;
}

/* flush_all now (delay 0) or at current_time + delay. */
void
store_flush(uint32_t delay)
{
	struct mutation m;
	uint64_t v;

	check_flush();
	store_stats.cmd_flush++;
	/* As with exptime, a delay over 30 days is an absolute time. */
	if (delay > REALTIME_MAXDELTA)
		delay = delay > current_time ? delay - current_time : 0;
	v = store_next_version();
	if (delay == 0) {
		flush_at = 0;
		items_flushed_below = v;
	} else {
		flush_at = current_time + delay;
	}
	store_stats.oldest_live = delay == 0 ? current_time : flush_at;
	if (store_mutation_hook != NULL) {
		memset(&m, 0, sizeof(m));
		m.type = MUT_FLUSH;
		m.when = flush_at;
		m.version = v;
		m.origin = store_node_id;
		store_mutation_hook(&m);
	}
}

/* Marks a linked item stale with a new cas and version (meta 'I'); token
 * says whether a win token counts as already sent. */
void
store_mark_stale(item *it, bool token)
{
	if (!(it->iflags & ITEM_LINKED) || (it->iflags & ITEM_TOMBSTONE))
		return;
	it->iflags |= ITEM_STALE;
	if (token)
		it->iflags |= ITEM_TOKEN;
	else
		it->iflags &= (uint8_t)~ITEM_TOKEN;
	it->cas = next_cas();
	stamp(it);
	hook_item(it);
}

/* Records (or clears) that a win token was handed out for an item. */
void
store_set_token(item *it, bool on)
{
	if (!(it->iflags & ITEM_LINKED) || (it->iflags & ITEM_TOMBSTONE))
		return;
	if (on)
		it->iflags |= ITEM_TOKEN;
	else
		it->iflags &= (uint8_t)~ITEM_TOKEN;
	stamp(it);
	hook_item(it);
}

/* ---- replication receiver ---- */

/* Applies a whole item state if it is newer; consumes the reference. */
bool
store_apply_item(item *it)
{
	const char *key = ITEM_key(it);
	uint64_t hv;
	item *cur;

	check_flush();
	store_observe_version(it->version);
	store_observe_cas(it->cas);
	if (it->iflags & (ITEM_LINKED | ITEM_SLABBED)) {
		items_release(it);
		return false;
	}
	hv = hash_key(key, it->nkey);
	cur = assoc_find(key, it->nkey, hv);
	if (cur != NULL && !newer(it->version, it->origin, cur)) {
		items_release(it);
		return false;
	}
	it->iflags &= ITEM_TOMBSTONE | ITEM_STALE | ITEM_TOKEN | ITEM_FETCHED;
	if (cur != NULL)
		items_replace(cur, it, hv);
	else
		items_link(it, hv);
	items_release(it);
	return true;
}

/* Applies a replicated delete if newer, leaving a tombstone. */
bool
store_apply_delete(const char *key, size_t nkey, uint64_t version,
                   uint16_t origin)
{
	uint64_t hv = hash_key(key, nkey);
	item *cur;

	check_flush();
	store_observe_version(version);
	cur = assoc_find(key, nkey, hv);
	if (cur != NULL && !newer(version, origin, cur))
		return false;
	make_tombstone(cur, key, nkey, hv, version, origin);
	return true;
}

/* Applies a replicated touch if newer. */
bool
store_apply_touch(const char *key, size_t nkey, uint32_t exptime,
                  uint64_t version, uint16_t origin)
{
	item *cur;

	check_flush();
	store_observe_version(version);
	cur = assoc_find(key, nkey, hash_key(key, nkey));
	if (cur == NULL || (cur->iflags & ITEM_TOMBSTONE) ||
	    !newer(version, origin, cur))
		return false;
	cur->exptime = exptime;
	cur->version = version;
	cur->origin = origin;
	return true;
}

/* Applies a replicated flush (0 or a past time = now). */
void
store_apply_flush(uint32_t when, uint64_t version)
{
	check_flush();
	if (when == 0 || when <= current_time) {
		/* Only what is older than the peer's flush goes: a write made
		 * here after it (not yet seen by the peer when it flushed)
		 * stays, as it will on the peer when it arrives there. */
		flush_at = 0;
		flush_older_than(version);
	} else {
		flush_at = when;
	}
}

/* ---- versions ---- */

/* Returns a fresh version: max(last + 1, ms << 16). */
uint64_t
store_next_version(void)
{
	uint64_t v = util_now_ms() << 16;

	if (v <= last_version)
		v = last_version + 1;
	last_version = v;
	return v;
}

/* Sizes the hash table for about n incoming items. */
void
store_reserve(uint64_t n)
{
	if (n > 0)
		assoc_reserve(n);
}

/* Advances the clock past a version seen from the peer. */
void
store_observe_version(uint64_t v)
{
	if (v > last_version)
		last_version = v;
}

/* Advances the cas counter so the next cas is greater than cas. */
void
store_observe_cas(uint64_t cas)
{
	if (cas > cas_counter)
		cas_counter = cas;
}

/* ---- iteration ---- */

/* Opens an iterator; the table stops growing until store_iter_end. */
void
store_iter_begin(struct store_iter *si)
{
	si->bucket = 0;
	si->done = false;
	iters_open++;
	assoc_pause();
}

/* True if the iterator shows this item (live or tombstone, not expired). */
static inline bool
iter_visible(const item *it)
{
	return !item_expired(it, current_time);
}

/* Asks the CPU to start loading the first item of each chain of bucket b
 * (its first three cache lines: header, key and a short value). */
static inline void
iter_prefetch(uint64_t b)
{
	item *chains[2];
	int c;

	assoc_bucket(b, &chains[0], &chains[1]);
	for (c = 0; c < 2; c++) {
		if (chains[c] != NULL) {
			__builtin_prefetch(chains[c]);
			__builtin_prefetch((char *)chains[c] + 64);
			__builtin_prefetch((char *)chains[c] + 128);
		}
	}
}

/* Visits whole buckets while they fit in max_items (a first bucket is
 * always visited whole), skipping at most a bounded run of empty ones.
 * Items sit at random addresses, so each is a cache miss: the items
 * ITER_PREFETCH buckets ahead are requested while these are visited. */
size_t
store_iter_next(struct store_iter *si, size_t max_items,
                void (*fn)(item *it, void *arg), void *arg)
{
	uint64_t nb, scanned = 0, scan_max, b;
	size_t visited = 0;

	if (si->done)
		return 0;
	check_flush();
	nb = assoc_nbuckets();
	scan_max = (uint64_t)max_items * 16 + ITER_SCAN_MIN;
	for (b = si->bucket; b < nb && b < si->bucket + ITER_PREFETCH; b++)
		iter_prefetch(b);
	while (si->bucket < nb && scanned < scan_max) {
		item *chains[2], *it;
		size_t count = 0;
		int c;
		if (si->bucket + ITER_PREFETCH < nb)
			iter_prefetch(si->bucket + ITER_PREFETCH);
		assoc_bucket(si->bucket, &chains[0], &chains[1]);
		for (c = 0; c < 2; c++)
			for (it = chains[c]; it != NULL; it = it->h_next)
				count += iter_visible(it);
		if (visited > 0 && visited + count > max_items)
			break;
		for (c = 0; c < 2; c++)
			for (it = chains[c]; it != NULL; it = it->h_next)
				if (iter_visible(it))
					fn(it, arg);
		visited += count;
		si->bucket++;
		scanned++;
		if (visited >= max_items)
			break;
	}
	if (si->bucket >= nb)
		si->done = true;
	return visited;
}

/* Closes an iterator. */
void
store_iter_end(struct store_iter *si)
{
	si->done = true;
	if (iters_open > 0) {
		iters_open--;
		assoc_resume();
	}
}

/* ---- stats ---- */

/* Emits one "prefix:id:name value" line. */
static void
emit_u64(stat_emit_fn emit, void *ctx, const char *prefix, unsigned id,
         const char *name, uint64_t v)
{
	char key[64], val[24];

	snprintf(key, sizeof(key), "%s%u:%s", prefix, id, name);
	util_u64toa(v, val);
	emit(ctx, key, val);
}

/* Emits "stats items" lines for every class holding items. */
void
store_stats_items(stat_emit_fn emit, void *ctx)
{
	unsigned i;

	for (i = 1; i <= slabs_nclasses(); i++) {
		const struct item_class_stats *s = &item_stats[i];
		uint64_t n_hot, n_warm, n_cold, n_temp;
		uint32_t age_hot, age_warm, age_cold, age_temp;
		if (s->number == 0)
			continue;
#define E(name, v) emit_u64(emit, ctx, "items:", i, name, v)
		E("number", s->number);
		items_lru_info(i, LRU_HOT, &n_hot, &age_hot);
		items_lru_info(i, LRU_WARM, &n_warm, &age_warm);
		items_lru_info(i, LRU_COLD, &n_cold, &age_cold);
		items_lru_info(i, LRU_TEMP, &n_temp, &age_temp);
		E("number_hot", n_hot);
		E("number_warm", n_warm);
		E("number_cold", n_cold);
		if (settings.temp_lru)
			E("number_temp", n_temp);
		E("age_hot", age_hot);
		E("age_warm", age_warm);
		E("age", age_cold);
		E("mem_requested", s->mem_requested);
		E("evicted", s->evicted);
		E("evicted_nonzero", s->evicted_nonzero);
		E("evicted_time", s->evicted_time);
		E("outofmemory", s->outofmemory);
		E("tailrepairs", 0);
		E("reclaimed", s->reclaimed);
		E("expired_unfetched", s->expired_unfetched);
		E("evicted_unfetched", s->evicted_unfetched);
		E("evicted_active", s->evicted_active);
		E("crawler_reclaimed", s->crawler_reclaimed);
		E("crawler_items_checked", s->crawler_items_checked);
		E("lrutail_reflocked", s->lrutail_reflocked);
		E("moves_to_cold", s->moves_to_cold);
		E("moves_to_warm", s->moves_to_warm);
		E("moves_within_lru", s->moves_within_lru);
		E("direct_reclaims", s->direct_reclaims);
		E("hits_to_hot", s->hits_to_hot);
		E("hits_to_warm", s->hits_to_warm);
		E("hits_to_cold", s->hits_to_cold);
		E("hits_to_temp", s->hits_to_temp);
#undef E
	}
}

/* Emits "stats slabs" lines for every class owning pages. */
void
store_stats_slabs(stat_emit_fn emit, void *ctx)
{
	unsigned i, active = 0, perslab;
	uint64_t total, nfree, nend;
	char val[24];

	for (i = 1; i <= slabs_nclasses(); i++) {
		const struct item_class_stats *s = &item_stats[i];
		if (slabs_npages(i) == 0)
			continue;
		active++;
		slabs_stats_class(i, &total, &nfree, &nend, &perslab);
#define E(name, v) emit_u64(emit, ctx, "", i, name, v)
		E("chunk_size", slabs_chunk_size(i));
		E("chunks_per_page", perslab);
		E("total_pages", slabs_npages(i));
		E("total_chunks", total);
		E("used_chunks", total - nfree - nend);
		E("free_chunks", nfree);
		E("free_chunks_end", nend);
		E("get_hits", s->get_hits);
		E("cmd_set", s->cmd_set);
		E("delete_hits", s->delete_hits);
		E("incr_hits", s->incr_hits);
		E("decr_hits", s->decr_hits);
		E("cas_hits", s->cas_hits);
		E("cas_badval", s->cas_badval);
		E("touch_hits", s->touch_hits);
#undef E
	}
	util_u64toa(active, val);
	emit(ctx, "active_slabs", val);
	util_u64toa(store_stats.malloced, val);
	emit(ctx, "total_malloced", val);
}

/* Emits "stats sizes" (disabled, as in memcached by default). */
void
store_stats_sizes(stat_emit_fn emit, void *ctx)
{
	emit(ctx, "sizes_status", "disabled");
}

/* Changes the memory limit (cache_memlimit). */
void
store_set_memlimit(size_t bytes)
{
	settings.maxbytes = bytes;
	slabs_set_limit(bytes);
}

/* ---- digests ---- */

/* Mixes w into h (a multiply-xorshift finalizer over h ^ w). */
static inline uint64_t
digest_mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Returns the part (0..parts-1) a key hash falls in. */
static inline uint32_t
digest_part(uint64_t hv, uint32_t parts)
{
	return (uint32_t)(((hv >> 32) * parts) >> 32);
}

/* Adds one live item in range to the digest (iterator callback). */
static void
digest_one(item *it, void *arg)
{
	struct store_digest_walk *d = arg;
	uint64_t hk, h;
	uint32_t part;

	if (it->iflags & ITEM_TOMBSTONE)
		return;
	hk = hash_key(ITEM_key(it), it->nkey);
	part = digest_part(hk, d->parts);
	if (part < d->lo || part >= d->hi)
		return;
	h = digest_mix(hk, hash_key(ITEM_value(it), it->nbytes));
	h = digest_mix(h, (uint64_t)it->flags << 32 | it->exptime);
	h = digest_mix(h, it->cas);
	h = digest_mix(h, it->version);
	h = digest_mix(h, (uint64_t)it->origin << 32 | it->nbytes);
	d->sum += h;
	d->items++;
}

/* Prepares a walk of parts [lo, hi) of `parts`; nothing is opened yet. An
 * invalid range gives an empty result at the first step. */
void
store_digest_begin(struct store_digest_walk *w, uint32_t parts, uint32_t lo,
                   uint32_t hi)
{
	memset(w, 0, sizeof(*w));
	w->parts = parts;
	w->lo = lo;
	w->hi = hi;
}

/* Advances a walk by about max_items items; returns true once it is
 * complete (w->sum and w->items hold the result, the iterator is closed).
 *
 * An open iterator pauses the growth of the hash table, so while the table
 * is still moving buckets from a growth that began earlier (possibly when
 * the previous walk ended), a walk not yet begun first moves a share of
 * them (growth would otherwise stall behind back-to-back digests, with
 * chains getting longer); it opens its iterator once growth is done. */
bool
store_digest_step(struct store_digest_walk *w, size_t max_items)
{
	if (w->done)
		return true;
	if (w->parts == 0 || w->lo >= w->hi || w->hi > w->parts) {
		w->done = true;
		return true;
	}
	if (!w->open) {
		if (store_stats.hash_is_expanding && iters_open == 0) {
			assoc_migrate(MAINTAIN_MIGRATE);
			if (store_stats.hash_is_expanding)
				return false;
		}
		store_iter_begin(&w->si);
		w->open = true;
	}
	(void)store_iter_next(&w->si, max_items, digest_one, w);
	if (!w->si.done)
		return false;
	store_digest_end(w);
	w->done = true;
	return true;
}

/* Closes a walk, complete or not (its iterator, if open); idempotent. */
void
store_digest_end(struct store_digest_walk *w)
{
	if (w->open) {
		store_iter_end(&w->si);
		w->open = false;
	}
}

/* Returns the digest of the live items in parts [lo, hi) of `parts`
 * (0 for an empty or invalid range); *items gets their number. */
uint64_t
store_digest(uint32_t parts, uint32_t lo, uint32_t hi, uint64_t *items)
{
	struct store_digest_walk w;

	store_digest_begin(&w, parts, lo, hi);
	while (!store_digest_step(&w, 65536))
		;
	store_digest_end(&w);
	if (items != NULL)
		*items = w.items;
	return w.sum;
}
