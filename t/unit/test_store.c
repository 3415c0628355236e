/* test_store.c: unit tests for the item store (slabs, assoc, items,
 * store semantics, replication apply, tombstones, iteration). */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "assoc.h"
#include "hash.h"
#include "items.h"
#include "settings.h"
#include "slabs.h"
#include "store.h"
#include "util.h"

#define T0 1700000000u

static void
set_clock(uint32_t t)
{
	current_time = t;
	current_time_ms = (uint64_t)t * 1000;
}

/* Fills the settings the store reads with memcached's defaults. */
static void
default_settings(void)
{
	settings.maxbytes = 64 * 1024 * 1024;
	settings.factor = 1.25;
	settings.chunk_size = 48;
	settings.item_size_max = 1024 * 1024;
	settings.slab_page_size = 1024 * 1024;
	settings.evict_to_free = true;
	settings.use_cas = true;
	settings.hashpower_init = 16;
	settings.repl_port = 0;
	settings.tombstone_ttl = 60;
	settings.lru_segmented = true;
	settings.lru_maintainer = true;
	settings.slab_reassign = true;
	settings.slab_automove = 1;
	settings.slab_automove_window = 30;
	settings.hot_lru_pct = 20;
	settings.warm_lru_pct = 40;
	settings.hot_max_factor = 0.2;
	settings.warm_max_factor = 2.0;
	settings.temp_lru = false;
	settings.temporary_ttl = 61;
}

static void
setup(void)
{
	default_settings();
	set_clock(T0);
	store_mutation_hook = NULL;
	store_node_id = 7;
	store_init();
}

static void
teardown(void)
{
	store_mutation_hook = NULL;
	store_destroy();
}

/* Stores key=val with op; returns the result. */
static enum store_result
put_full(const char *k, const char *v, uint32_t flags, uint32_t exptime,
         enum store_op op, uint64_t cas, uint64_t *cas_out)
{
	item *it;
	enum store_result r;

	r = store_alloc(&it, k, strlen(k), flags, exptime, (uint32_t)strlen(v));
	if (r != STORE_OK)
		return r;
	memcpy(ITEM_value(it), v, strlen(v));
	r = store_commit(it, op, cas, cas_out);
	store_release(it);
	return r;
}

static enum store_result
put(const char *k, const char *v, enum store_op op)
{
	return put_full(k, v, 0, 0, op, 0, NULL);
}

/* Returns the value of k as a malloc'ed string, NULL on a miss. */
static char *
get(const char *k)
{
	item *it = store_get(k, strlen(k));
	char *s;

	if (it == NULL)
		return NULL;
	s = malloc(it->nbytes + 1);
	memcpy(s, ITEM_value(it), it->nbytes);
	s[it->nbytes] = '\0';
	store_release(it);
	return s;
}

/* Asserts that k holds exactly v (NULL = miss). */
#define ck_value(k, v)                                                         \
	do {                                                                   \
		char *got_ = get(k);                                           \
		if ((v) == NULL)                                               \
			ck_assert_ptr_null(got_);                              \
		else {                                                         \
			ck_assert_ptr_nonnull(got_);                           \
			ck_assert_str_eq(got_, (const char *)(v));             \
		}                                                              \
		free(got_);                                                    \
	} while (0)

START_TEST(test_slab_classes)
{
	ck_assert_uint_eq(sizeof(item), 64);
	/* memcached's table: 96, 120, 152, ... */
	ck_assert_uint_eq(slabs_chunk_size(1), 96);
	ck_assert_uint_eq(slabs_chunk_size(2), 120);
	ck_assert_uint_eq(slabs_chunk_size(3), 152);
	ck_assert_uint_eq(slabs_chunk_size(slabs_nclasses()), 1024 * 1024);
	ck_assert_uint_eq(slabs_clsid(1), 1);
	ck_assert_uint_eq(slabs_clsid(96), 1);
	ck_assert_uint_eq(slabs_clsid(97), 2);
	ck_assert_uint_eq(slabs_clsid(1024 * 1024), slabs_nclasses());
	ck_assert_uint_eq(slabs_clsid(1024 * 1024 + 1), 0);
	store_destroy();
	settings.factor = 2.0;
	settings.chunk_size = 100;
	store_init();
	ck_assert_uint_eq(slabs_chunk_size(1), 152);
	ck_assert_uint_eq(slabs_chunk_size(2), 304);
	ck_assert_uint_eq(slabs_chunk_size(3), 608);
	/* 152 * 2^11 = 311296 is the last one <= 1 MB / 2 */
	ck_assert_uint_eq(slabs_nclasses(), 13);
	ck_assert_uint_eq(slabs_chunk_size(12), 311296);
	ck_assert_uint_eq(slabs_chunk_size(13), 1024 * 1024);
}
END_TEST

START_TEST(test_too_large)
{
	item *it = NULL;
	size_t max = 1024 * 1024 - sizeof(item) - 3;

	ck_assert_int_eq(store_alloc(&it, "big", 3, 0, 0, (uint32_t)max),
	                 STORE_OK);
	store_release(it);
	ck_assert_int_eq(store_alloc(&it, "big", 3, 0, 0, (uint32_t)max + 1),
	                 STORE_TOO_LARGE);
}
END_TEST

START_TEST(test_set_get_add_replace)
{
	uint64_t c1 = 0, c2 = 0;
	item *it;

	ck_value("a", NULL);
	ck_assert_int_eq(put_full("a", "hello", 42, 0, STORE_SET, 0, &c1),
	                 STORE_OK);
	ck_assert_uint_eq(c1, 1);
	it = store_get("a", 1);
	ck_assert_ptr_nonnull(it);
	ck_assert_uint_eq(it->flags, 42);
	ck_assert_uint_eq(it->cas, 1);
	ck_assert_uint_eq(it->origin, 7);
	ck_assert(it->iflags & ITEM_FETCHED);
	ck_assert_uint_eq(it->refcount, 1);
	store_release(it);
	ck_assert_int_eq(put("a", "x", STORE_ADD), STORE_NOT_STORED);
	ck_value("a", "hello");
	ck_assert_int_eq(put("b", "x", STORE_REPLACE), STORE_NOT_STORED);
	ck_assert_int_eq(put("b", "x", STORE_ADD), STORE_OK);
	ck_assert_int_eq(put("b", "y", STORE_REPLACE), STORE_OK);
	ck_value("b", "y");
	ck_assert_int_eq(put_full("a", "w", 0, 0, STORE_SET, 0, &c2), STORE_OK);
	ck_assert_uint_eq(c2, 4);
	ck_assert_uint_eq(store_stats.curr_items, 2);
	ck_assert_uint_eq(store_stats.total_items, 4);
	ck_assert_uint_eq(store_stats.bytes, 2 * (64 + 1 + 1));
	ck_assert_uint_eq(store_stats.get_hits, 3);
	ck_assert_uint_eq(store_stats.get_misses, 1);
}
END_TEST

START_TEST(test_append_prepend)
{
	uint64_t cas;
	item *it;

	ck_assert_int_eq(put("k", "x", STORE_APPEND), STORE_NOT_STORED);
	ck_assert_int_eq(put("k", "x", STORE_PREPEND), STORE_NOT_STORED);
	ck_assert_int_eq(put_full("k", "mid", 5, T0 + 100, STORE_SET, 0, NULL),
	                 STORE_OK);
	ck_assert_int_eq(put_full("k", "_end", 9, 0, STORE_APPEND, 0, &cas),
	                 STORE_OK);
	ck_assert_int_eq(put("k", "start_", STORE_PREPEND), STORE_OK);
	it = store_get("k", 1);
	ck_assert_ptr_nonnull(it);
	ck_assert_uint_eq(it->nbytes, 13);
	ck_assert(memcmp(ITEM_value(it), "start_mid_end", 13) == 0);
	ck_assert_uint_eq(it->flags, 5);          /* old flags kept */
	ck_assert_uint_eq(it->exptime, T0 + 100); /* old exptime kept */
	ck_assert_uint_eq(it->cas, cas + 1);
	store_release(it);
	/* append with a cas: must match */
	ck_assert_int_eq(put_full("k", "!", 0, 0, STORE_APPEND, 999, NULL),
	                 STORE_EXISTS);
	ck_assert_int_eq(put_full("k", "!", 0, 0, STORE_APPEND, cas + 1, NULL),
	                 STORE_OK);
	ck_value("k", "start_mid_end!");
	/* memcached: append with a cas on a missing key is NOT_STORED */
	ck_assert_int_eq(put_full("nokey", "!", 0, 0, STORE_APPEND, 5, NULL),
	                 STORE_NOT_STORED);
}
END_TEST

START_TEST(test_append_too_large)
{
	size_t n = 1024 * 1024 - 200;
	char *big = malloc(n + 1);

	memset(big, 'x', n);
	big[n] = '\0';
	ck_assert_int_eq(put("big", big, STORE_SET), STORE_OK);
	memset(big, 'y', 500);
	big[500] = '\0';
	/* memcached answers NOT_STORED when the result would be too big */
	ck_assert_int_eq(put("big", big, STORE_APPEND), STORE_NOT_STORED);
	free(big);
}
END_TEST

START_TEST(test_cas)
{
	uint64_t c, c2;

	ck_assert_int_eq(put_full("c", "1", 0, 0, STORE_CAS, 1, NULL),
	                 STORE_NOT_FOUND);
	ck_assert_uint_eq(store_stats.cas_misses, 1);
	ck_assert_int_eq(put_full("c", "1", 0, 0, STORE_SET, 0, &c), STORE_OK);
	ck_assert_int_eq(put_full("c", "2", 0, 0, STORE_CAS, c + 1, NULL),
	                 STORE_EXISTS);
	ck_assert_int_eq(put_full("c", "2", 0, 0, STORE_CAS, 0, NULL),
	                 STORE_EXISTS);
	ck_assert_uint_eq(store_stats.cas_badval, 2);
	ck_assert_int_eq(put_full("c", "2", 0, 0, STORE_CAS, c, &c2), STORE_OK);
	ck_assert_uint_eq(store_stats.cas_hits, 1);
	ck_assert_uint_gt(c2, c);
	ck_value("c", "2");
	/* set/add/replace with a cas behave as cas (binary/meta) */
	ck_assert_int_eq(put_full("d", "1", 0, 0, STORE_SET, 3, NULL),
	                 STORE_NOT_FOUND);
	ck_assert_int_eq(put_full("c", "3", 0, 0, STORE_ADD, c, NULL),
	                 STORE_EXISTS);
	ck_assert_int_eq(put_full("c", "3", 0, 0, STORE_ADD, c2, &c), STORE_OK);
	ck_assert_int_eq(put_full("c", "4", 0, 0, STORE_REPLACE, c, NULL),
	                 STORE_OK);
	ck_value("c", "4");
	/* observe_cas moves the counter past a peer's cas */
	store_observe_cas(1000);
	ck_assert_int_eq(put_full("c", "5", 0, 0, STORE_SET, 0, &c), STORE_OK);
	ck_assert_uint_eq(c, 1001);
	/* delete with cas */
	ck_assert_int_eq(store_delete("c", 1, 5), STORE_EXISTS);
	ck_assert_int_eq(store_delete("c", 1, 1001), STORE_OK);
	ck_assert_int_eq(store_delete("c", 1, 0), STORE_NOT_FOUND);
	ck_assert_uint_eq(store_stats.delete_hits, 1);
	ck_assert_uint_eq(store_stats.delete_misses, 1);
}
END_TEST

START_TEST(test_no_cas)
{
	uint64_t c = 99;

	store_destroy();
	settings.use_cas = false;
	store_init();
	ck_assert_int_eq(put_full("a", "1", 0, 0, STORE_SET, 0, &c), STORE_OK);
	ck_assert_uint_eq(c, 0);
	ck_assert_int_eq(put_full("a", "1", 0, 0, STORE_CAS, 0, NULL),
	                 STORE_EXISTS);
}
END_TEST

/* incr/decr on key k holding v by delta; returns the result code. */
static enum store_result
arith(const char *k, bool incr, uint64_t delta, uint64_t *out)
{
	return store_arith(k, strlen(k), incr, delta, false, 0, 0, 0, out, NULL,
	                   NULL);
}

START_TEST(test_arith)
{
	uint64_t v = 0, cas = 0;
	item *it = NULL;

	ck_assert_int_eq(arith("n", true, 1, &v), STORE_NOT_FOUND);
	ck_assert_uint_eq(store_stats.incr_misses, 1);
	put("n", "10", STORE_SET);
	ck_assert_int_eq(arith("n", false, 1, &v), STORE_OK);
	ck_assert_uint_eq(v, 9);
	ck_value("n", "9 "); /* memcached keeps the length, pads */
	ck_assert_int_eq(arith("n", true, 991, &v), STORE_OK);
	ck_assert_uint_eq(v, 1000);
	ck_value("n", "1000");
	ck_assert_int_eq(arith("n", false, 5000, &v), STORE_OK);
	ck_assert_uint_eq(v, 0);
	ck_value("n", "0   ");
	put("n", "18446744073709551615", STORE_SET);
	ck_assert_int_eq(arith("n", true, 2, &v), STORE_OK);
	ck_assert_uint_eq(v, 1);
	ck_value("n", "1                   ");
	put("n", "99999999999999999999", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_NON_NUMERIC);
	put("n", "abc", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_NON_NUMERIC);
	put("n", "", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_NON_NUMERIC);
	put("n", "-1", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_NON_NUMERIC);
	put("n", " 12 ", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_OK);
	ck_assert_uint_eq(v, 13);
	ck_value("n", "13  ");
	put("n", "5 abc", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_OK);
	ck_value("n", "6    ");
	put("n", "+5", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_OK);
	ck_assert_uint_eq(v, 6);
	put("n", "0000000000000000000000009", STORE_SET);
	ck_assert_int_eq(arith("n", true, 1, &v), STORE_OK);
	ck_assert_uint_eq(v, 10);
	put("n", "5", STORE_SET);
	ck_assert_int_eq(arith("n", true, 100, &v), STORE_OK);
	ck_value("n", "105"); /* grows: a new item of the exact length */
	/* a reader holding the item forces a new item, no padding */
	put("n", "10", STORE_SET);
	it = store_get("n", 1);
	ck_assert_int_eq(arith("n", false, 1, &v), STORE_OK);
	ck_assert(memcmp(ITEM_value(it), "10", 2) == 0);
	store_release(it);
	ck_value("n", "9");
	/* autoviv (binary/meta) and cas */
	ck_assert_int_eq(
	    store_arith("auto", 4, true, 5, true, 42, 0, 0, &v, &cas, &it),
	    STORE_OK);
	ck_assert_uint_eq(v, 42);
	ck_assert_uint_eq(it->cas, cas);
	store_release(it);
	ck_value("auto", "42");
	ck_assert_int_eq(store_arith("auto", 4, true, 5, true, 42, 0, cas + 9,
	                             &v, NULL, NULL),
	                 STORE_EXISTS);
	ck_assert_int_eq(
	    store_arith("auto", 4, true, 5, true, 42, 0, cas, &v, NULL, NULL),
	    STORE_OK);
	ck_assert_uint_eq(v, 47);
}
END_TEST

START_TEST(test_expiry)
{
	ck_assert_int_eq(put_full("e", "v", 0, T0 + 10, STORE_SET, 0, NULL),
	                 STORE_OK);
	ck_value("e", "v");
	set_clock(T0 + 9);
	ck_value("e", "v");
	set_clock(T0 + 10);
	ck_value("e", NULL);
	ck_assert_uint_eq(store_stats.get_expired, 1);
	ck_assert_uint_eq(store_stats.curr_items, 0);
	/* a past exptime (negative from the protocol gives 1) */
	ck_assert_int_eq(put_full("p", "v", 0, 1, STORE_SET, 0, NULL),
	                 STORE_OK);
	ck_value("p", NULL);
	ck_assert_int_eq(put("p", "w", STORE_ADD), STORE_OK);
	/* touch and gat */
	ck_assert_ptr_null(store_touch("zz", 2, 0, false));
	{
		item *it = store_touch("p", 1, current_time + 5, false);
		ck_assert_ptr_nonnull(it);
		ck_assert(!(it->iflags & ITEM_FETCHED));
		store_release(it);
	}
	set_clock(current_time + 5);
	ck_value("p", NULL);
	ck_assert_uint_eq(store_stats.cmd_touch, 2);
	ck_assert_uint_eq(store_stats.touch_hits, 1);
	ck_assert_uint_eq(store_stats.touch_misses, 1);
	/* the crawler reclaims expired items nobody asks for */
	put_full("c1", "v", 0, current_time + 1, STORE_SET, 0, NULL);
	put_full("c2", "v", 0, current_time + 1, STORE_SET, 0, NULL);
	ck_assert_uint_eq(store_stats.curr_items, 2);
	set_clock(current_time + 2);
	store_maintain();
	store_maintain();
	store_maintain();
	store_maintain();
	ck_assert_uint_eq(store_stats.curr_items, 0);
	ck_assert_uint_eq(store_stats.reclaimed, 2);
}
END_TEST

START_TEST(test_flush)
{
	put("a", "1", STORE_SET);
	put("b", "2", STORE_SET);
	store_flush(0);
	ck_value("a", NULL);
	ck_value("b", NULL);
	ck_assert_uint_eq(store_stats.curr_items, 0);
	put("a", "1", STORE_SET);
	store_flush(10);
	set_clock(T0 + 9);
	ck_value("a", "1");
	store_flush(20); /* replaces the earlier one */
	set_clock(T0 + 10);
	ck_value("a", "1");
	set_clock(T0 + 29);
	ck_value("a", NULL);
	put("a", "new", STORE_SET);
	set_clock(T0 + 40);
	store_maintain();
	ck_value("a", "new"); /* stored after the flush moment: kept */
	ck_assert_uint_eq(store_stats.cmd_flush, 3);
}
END_TEST

/* Key i as text. */
static void
keyname(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "key:%u", i);
}

START_TEST(test_eviction_keeps_read_keys)
{
	char key[32], val[1000];
	unsigned i, present = 0;

	store_destroy();
	settings.maxbytes = 4 * 1024 * 1024;
	store_init();
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (i = 0; i < 6000; i++) {
		keyname(key, sizeof(key), i);
		ck_assert_int_eq(put(key, val, STORE_SET), STORE_OK);
		if (i < 100)
			ck_value(key, val);
		if (i >= 100 && i % 200 == 0) {
			unsigned j;
			for (j = 0; j < 100; j++) { /* keep reading them */
				keyname(key, sizeof(key), j);
				ck_value(key, val);
			}
		}
	}
	ck_assert_uint_gt(store_stats.evictions, 0);
	ck_assert_uint_eq(store_stats.evictions, store_stats.evicted_unfetched);
	ck_assert_uint_le(store_stats.malloced, 4 * 1024 * 1024);
	for (i = 0; i < 100; i++) {
		keyname(key, sizeof(key), i);
		present += store_peek(key, strlen(key)) != NULL;
	}
	ck_assert_uint_eq(present, 100);
	for (i = 0; i < 100; i++) {
		keyname(key, sizeof(key), i);
		store_release(store_peek(key, strlen(key)));
	}
	ck_assert_uint_eq(store_stats.curr_items + store_stats.evictions, 6000);
}
END_TEST

START_TEST(test_no_evict)
{
	char key[32], val[1000];
	unsigned i;
	enum store_result r = STORE_OK;

	store_destroy();
	settings.maxbytes = 2 * 1024 * 1024;
	settings.evict_to_free = false;
	store_init();
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (i = 0; i < 5000 && r == STORE_OK; i++) {
		keyname(key, sizeof(key), i);
		r = put(key, val, STORE_SET);
	}
	ck_assert_int_eq(r, STORE_NO_MEMORY);
	ck_assert_uint_eq(store_stats.evictions, 0);
	ck_assert_uint_le(store_stats.malloced, 2 * 1024 * 1024);
	/* expired items may still be reclaimed */
	store_flush(0);
	ck_assert_int_eq(put("again", val, STORE_SET), STORE_OK);
}
END_TEST

START_TEST(test_rebalance)
{
	char key[32], *big;
	unsigned i;
	size_t nbig = 200 * 1024;

	store_destroy();
	settings.maxbytes = 8 * 1024 * 1024;
	/* pages move as soon as a class lacks one */
	settings.slab_automove = 2;
	store_init();
	for (i = 0; i < 200000; i++) {
		keyname(key, sizeof(key), i);
		ck_assert_int_eq(put(key, "small", STORE_SET), STORE_OK);
	}
	ck_assert_uint_le(store_stats.malloced, 8 * 1024 * 1024);
	big = malloc(nbig + 1);
	memset(big, 'B', nbig);
	big[nbig] = '\0';
	for (i = 0; i < 200; i++) {
		keyname(key, sizeof(key), 1000000 + i);
		ck_assert_int_eq(put(key, big, STORE_SET), STORE_OK);
		ck_value(key, big);
		ck_assert_uint_le(store_stats.malloced, 8 * 1024 * 1024);
		if (i % 10 == 0) {
			set_clock(current_time + 1);
			store_maintain();
		}
	}
	/* automove gave the big class more than its first page */
	ck_assert_uint_gt(slabs_npages(slabs_clsid(64 + 12 + nbig)), 1);
	settings.slab_automove = 1;
	free(big);
}
END_TEST

/* A fresh page is carved in address order; freed chunks are reused
 * first; the stats count both kinds of free chunk; a page being carved
 * can move to another class. */
static void
evict_none(item *it)
{
	(void)it;
	ck_abort_msg("nothing to evict");
}

START_TEST(test_slab_carving)
{
	unsigned id = 1, per = (1024 * 1024) / 96, dst = 5;
	uint64_t total, nfree, nend;
	unsigned perslab;
	item *a, *b, *c, *d;

	a = slabs_alloc(id, false);
	b = slabs_alloc(id, false);
	c = slabs_alloc(id, false);
	ck_assert_ptr_eq((char *)b, (char *)a + 96);
	ck_assert_ptr_eq((char *)c, (char *)b + 96);
	ck_assert_uint_eq(a->clsid, id);
	ck_assert_uint_eq(a->iflags, 0);
	ck_assert_uint_eq(a->refcount, 0);
	slabs_stats_class(id, &total, &nfree, &nend, &perslab);
	ck_assert_uint_eq(perslab, per);
	ck_assert_uint_eq(total, per);
	ck_assert_uint_eq(nfree, 0);
	ck_assert_uint_eq(nend, per - 3);
	slabs_free(b);
	slabs_stats_class(id, &total, &nfree, &nend, &perslab);
	ck_assert_uint_eq(nfree, 1);
	d = slabs_alloc(id, false);
	ck_assert_ptr_eq(d, b); /* the free list before the page's tail */
	d = slabs_alloc(id, false);
	ck_assert_ptr_eq((char *)d, (char *)c + 96);
	/* With every handed-out chunk free, the carved page can move: its
	 * uncarved tail is neither evicted nor taken off a free list. */
	slabs_free(a);
	slabs_free(b);
	slabs_free(c);
	slabs_free(d);
	ck_assert(slabs_move_page(id, dst, evict_none, NULL));
	ck_assert_uint_eq(slabs_npages(id), 0);
	ck_assert_uint_eq(slabs_npages(dst), 1);
	slabs_stats_class(id, &total, &nfree, &nend, &perslab);
	ck_assert_uint_eq(nfree, 0);
	ck_assert_uint_eq(nend, 0);
	slabs_stats_class(dst, &total, &nfree, &nend, &perslab);
	ck_assert_uint_eq(nfree, 0);
	ck_assert_uint_eq(nend, perslab);
	a = slabs_alloc(dst, false);
	ck_assert_uint_eq(a->clsid, dst);
	/* the page being carved in id is a new one */
	b = slabs_alloc(id, false);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(slabs_npages(id), 1);
}
END_TEST

START_TEST(test_hash_growth)
{
	char key[32];
	unsigned i, n = 1100000;
	bool seen_expanding = false;

	store_destroy();
	settings.maxbytes = 512 * 1024 * 1024;
	store_init();
	ck_assert_uint_eq(store_stats.hash_power_level, 16);
	for (i = 0; i < n; i++) {
		keyname(key, sizeof(key), i);
		ck_assert_int_eq(put(key, "v", STORE_SET), STORE_OK);
		seen_expanding |= store_stats.hash_is_expanding;
		if (i % 100000 == 0) { /* spot-check during growth */
			unsigned j = i / 2;
			keyname(key, sizeof(key), j);
			ck_value(key, "v");
		}
	}
	ck_assert(seen_expanding);
	ck_assert_uint_eq(store_stats.curr_items, n);
	ck_assert_uint_ge(store_stats.hash_power_level, 20);
	for (i = 0; i < n; i++) {
		item *it;
		keyname(key, sizeof(key), i);
		it = store_peek(key, strlen(key));
		ck_assert_ptr_nonnull(it);
		store_release(it);
	}
	for (i = 0; i < 20; i++)
		store_maintain();
	ck_assert(!store_stats.hash_is_expanding);
	ck_assert_uint_eq(store_stats.hash_bytes,
	                  sizeof(item *) << store_stats.hash_power_level);
}
END_TEST

static unsigned char *iter_seen;

/* Marks key:N as seen, failing on a second visit. */
static void
iter_cb(item *it, void *arg)
{
	unsigned *count = arg;
	char buf[32];
	unsigned idx;

	memcpy(buf, ITEM_key(it), it->nkey);
	buf[it->nkey] = '\0';
	ck_assert(sscanf(buf, "key:%u", &idx) == 1);
	ck_assert_uint_eq(iter_seen[idx], 0);
	iter_seen[idx] = 1;
	(*count)++;
}

START_TEST(test_iterator)
{
	char key[32];
	unsigned i, n = 150000, count = 0, calls = 0;
	struct store_iter si;

	iter_seen = calloc(n, 1);
	/* stop just before growth begins, then open an iterator */
	for (i = 0; i < n; i++) {
		keyname(key, sizeof(key), i);
		put(key, "v", STORE_SET);
		if (i == 100000)
			store_iter_begin(&si);
	}
	/* growth started before the iterator opened, and is paused now */
	ck_assert(store_stats.hash_is_expanding);
	put_full("key:149999", "v", 0, 1, STORE_SET, 0, NULL); /* expired */
	while (!si.done) {
		size_t got = store_iter_next(&si, 1000, iter_cb, &count);
		ck_assert_uint_le(got, 1000 + 16);
		calls++;
	}
	store_iter_end(&si);
	ck_assert_uint_eq(count, n - 1);
	ck_assert_uint_eq(iter_seen[n - 1], 0);
	ck_assert_uint_ge(calls, (n - 1) / 1016);
	free(iter_seen);
}
END_TEST

static struct mutation last_mut;
static item last_item;
static char last_key[256];
static unsigned nhook;

/* Records the last mutation the store reported. */
static void
hook(const struct mutation *m)
{
	nhook++;
	last_mut = *m;
	if (m->type == MUT_ITEM) {
		last_item = *m->it;
		memcpy(last_key, ITEM_key(m->it), m->it->nkey);
		last_key[m->it->nkey] = '\0';
	} else if (m->key != NULL) {
		memcpy(last_key, m->key, m->nkey);
		last_key[m->nkey] = '\0';
	}
}

START_TEST(test_hook)
{
	uint64_t ms_before, ms_after;
	uint64_t cas, v;
	item *it;

	store_mutation_hook = hook;
	set_clock(T0);
	ms_before = util_now_ms();
	ck_assert_int_eq(put_full("h", "1", 3, 0, STORE_SET, 0, &cas),
	                 STORE_OK);
	ms_after = util_now_ms();
	ck_assert_uint_eq(nhook, 1);
	ck_assert_int_eq(last_mut.type, MUT_ITEM);
	ck_assert_str_eq(last_key, "h");
	ck_assert_uint_eq(last_item.cas, cas);
	ck_assert_uint_eq(last_item.flags, 3);
	ck_assert_uint_eq(last_mut.origin, 7);
	/* versions read the wall clock itself (milliseconds), not the tick */
	ck_assert_uint_ge(last_mut.version, ms_before << 16);
	ck_assert_uint_le(last_mut.version, (ms_after + 1) << 16);
	v = last_mut.version;
	/* failures do not call the hook */
	put("h", "x", STORE_ADD);
	put("zz", "x", STORE_REPLACE);
	put_full("h", "x", 0, 0, STORE_CAS, cas + 1, NULL);
	store_delete("nope", 4, 0);
	arith("nope", true, 1, NULL);
	ck_assert_ptr_null(store_touch("nope", 4, 0, true));
	ck_assert_uint_eq(nhook, 1);
	put("h", "2", STORE_APPEND);
	ck_assert_uint_eq(nhook, 2);
	/* versions only grow: the next one is v + 1 within the same
	 * millisecond, or the clock's value after it */
	ck_assert_uint_ge(last_mut.version, v + 1);
	ck_assert_uint_le(last_mut.version, (util_now_ms() + 1) << 16);
	arith("h", true, 1, NULL);
	ck_assert_uint_eq(nhook, 3);
	ck_assert_int_eq(last_mut.type, MUT_ITEM);
	it = store_touch("h", 1, T0 + 50, true);
	store_release(it);
	ck_assert_uint_eq(nhook, 4);
	ck_assert_int_eq(last_mut.type, MUT_TOUCH);
	ck_assert_uint_eq(last_mut.exptime, T0 + 50);
	ck_assert_str_eq(last_key, "h");
	it = store_peek("h", 1);
	store_mark_stale(it, false);
	ck_assert_uint_eq(nhook, 5);
	ck_assert(last_item.iflags & ITEM_STALE);
	store_set_token(it, true);
	ck_assert_uint_eq(nhook, 6);
	ck_assert(last_item.iflags & ITEM_TOKEN);
	store_release(it);
	ck_assert_int_eq(store_delete("h", 1, 0), STORE_OK);
	ck_assert_uint_eq(nhook, 7);
	ck_assert_int_eq(last_mut.type, MUT_DELETE);
	ck_assert_str_eq(last_key, "h");
	store_flush(30);
	ck_assert_uint_eq(nhook, 8);
	ck_assert_int_eq(last_mut.type, MUT_FLUSH);
	ck_assert_uint_eq(last_mut.when, T0 + 30);
	store_flush(0);
	ck_assert_uint_eq(last_mut.when, 0);
	ck_assert_uint_eq(nhook, 9);
	/* the receiver never calls the hook */
	ck_assert_int_eq(store_alloc_raw(&it, "r", 1, 0, 0, 1), STORE_OK);
	ITEM_value(it)[0] = 'r';
	it->version = v + 100;
	it->origin = 9;
	ck_assert(store_apply_item(it));
	ck_assert(store_apply_touch("r", 1, 0, v + 101, 9));
	ck_assert(store_apply_delete("r", 1, v + 102, 9));
	store_apply_flush(0, v + 103);
	ck_assert_uint_eq(nhook, 9);
	/* the clock moved past what the peer sent */
	ck_assert_uint_gt(store_next_version(), v + 103);
}
END_TEST

/* Applies key=val with (version, origin); returns whether it applied. */
static bool
apply(const char *k, const char *val, uint64_t version, uint16_t origin,
      uint64_t cas)
{
	item *it;

	ck_assert_int_eq(
	    store_alloc_raw(&it, k, strlen(k), 0, 0, (uint32_t)strlen(val)),
	    STORE_OK);
	memcpy(ITEM_value(it), val, strlen(val));
	it->version = version;
	it->origin = origin;
	it->cas = cas;
	return store_apply_item(it);
}

/* A replicated flush removes what is older than the flush, not what was
 * written after it. */
START_TEST(test_apply_flush_versions)
{
	uint64_t base = (uint64_t)(T0 + 100) * 1000 << 16;
	item *it;

	ck_assert(apply("old1", "a", base + 10, 2, 1));
	ck_assert(apply("old2", "b", base + 20, 2, 2));
	ck_assert(apply("new", "c", base + 40, 2, 3));
	store_apply_flush(0, base + 30);
	it = store_peek("old1", 4);
	ck_assert_ptr_null(it);
	it = store_peek("old2", 4);
	ck_assert_ptr_null(it);
	ck_value("new", "c");
	store_apply_flush(0, base + 41);
	ck_assert_ptr_null(store_peek("new", 3));
}
END_TEST

START_TEST(test_lww_tombstones)
{
	uint64_t base = (uint64_t)(T0 + 100) * 1000 << 16;
	item *it;

	store_destroy();
	settings.repl_port = 11212;
	store_init();
	ck_assert(apply("k", "v1", base + 10, 2, 500));
	ck_value("k", "v1");
	it = store_peek("k", 1);
	ck_assert_uint_eq(it->cas, 500); /* incoming cas kept */
	store_release(it);
	ck_assert(!apply("k", "old", base + 5, 9, 501));
	ck_value("k", "v1");
	ck_assert(!apply("k", "tie-low", base + 10, 1, 502));
	ck_assert(apply("k", "tie-high", base + 10, 3, 503));
	ck_value("k", "tie-high");
	ck_assert(apply("k", "newer", base + 11, 1, 504));
	ck_value("k", "newer");
	/* a local write now is newer than anything seen */
	ck_assert_int_eq(put("k", "local", STORE_SET), STORE_OK);
	it = store_peek("k", 1);
	ck_assert_uint_gt(it->version, base + 11);
	ck_assert_uint_eq(it->cas, 505);
	store_release(it);
	/* touch: older ignored */
	ck_assert(!store_apply_touch("k", 1, T0 + 5, base, 9));
	/* delete leaves a tombstone that blocks late writes */
	ck_assert_int_eq(store_delete("k", 1, 0), STORE_OK);
	ck_assert_uint_eq(store_stats.curr_items, 0);
	ck_assert_uint_eq(store_stats.curr_tombstones, 1);
	ck_value("k", NULL);
	ck_assert(!apply("k", "late", base + 12, 9, 0));
	ck_value("k", NULL);
	ck_assert_int_eq(store_delete("k", 1, 0), STORE_NOT_FOUND);
	ck_assert_int_eq(put("k", "x", STORE_REPLACE), STORE_NOT_STORED);
	ck_assert_int_eq(put("k", "x", STORE_APPEND), STORE_NOT_STORED);
	ck_assert_ptr_null(store_touch("k", 1, 0, false));
	/* add after delete works and replaces the tombstone */
	ck_assert_int_eq(put("k", "again", STORE_ADD), STORE_OK);
	ck_assert_uint_eq(store_stats.curr_tombstones, 0);
	ck_value("k", "again");
	/* a replicated delete of a missing key leaves a tombstone */
	ck_assert(store_apply_delete("gone", 4, base + 50, 2));
	ck_assert_uint_eq(store_stats.curr_tombstones, 1);
	ck_assert(!apply("gone", "late", base + 49, 9, 0));
	ck_assert(!store_apply_delete("gone", 4, base + 40, 2));
	ck_assert(apply("gone", "later", base + 51, 1, 0));
	ck_value("gone", "later");
	/* tombstones expire after tombstone_ttl and get reclaimed */
	ck_assert_int_eq(store_delete("gone", 4, 0), STORE_OK);
	ck_assert_uint_eq(store_stats.curr_tombstones, 1);
	set_clock(current_time + 61);
	store_maintain();
	store_maintain();
	store_maintain();
	store_maintain();
	ck_assert_uint_eq(store_stats.curr_tombstones, 0);
}
END_TEST

static struct {
	unsigned n;
	bool number, chunk, active, sizes;
} seen;

/* Records the stat names the test looks for. */
static void
emit(void *ctx, const char *name, const char *value)
{
	(void)ctx;
	seen.n++;
	if (strcmp(name, "items:1:number") == 0)
		seen.number = strcmp(value, "1") == 0;
	if (strcmp(name, "1:chunk_size") == 0)
		seen.chunk = strcmp(value, "96") == 0;
	if (strcmp(name, "active_slabs") == 0)
		seen.active = strcmp(value, "1") == 0;
	if (strcmp(name, "sizes_status") == 0)
		seen.sizes = true;
}

START_TEST(test_stats_emit)
{
	memset(&seen, 0, sizeof(seen));
	put("a", "1", STORE_SET);
	ck_value("a", "1");
	store_stats_items(emit, NULL);
	store_stats_slabs(emit, NULL);
	store_stats_sizes(emit, NULL);
	ck_assert(seen.number && seen.chunk && seen.active && seen.sizes);
	ck_assert_uint_eq(seen.n, 28 + 15 + 2 + 1);
	store_set_memlimit(1024);
	ck_assert_uint_eq(store_stats.limit_maxbytes, 1024);
}
END_TEST

START_TEST(test_hash_spread)
{
	/* different short keys hash differently in the low bits */
	unsigned buckets[256] = {0}, i, max = 0;
	char key[32];

	for (i = 0; i < 25600; i++) {
		keyname(key, sizeof(key), i);
		buckets[hash_key(key, strlen(key)) & 255]++;
	}
	for (i = 0; i < 256; i++)
		if (buckets[i] > max)
			max = buckets[i];
	ck_assert_uint_lt(max, 160);
	ck_assert_uint_ne(hash_key("a", 1), hash_key("b", 1));
	ck_assert_uint_ne(hash_key("abcdefgh", 8), hash_key("abcdefgh\0", 9));
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_slab_classes);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_set_get_add_replace);
	tcase_add_test(tc, test_append_prepend);
	tcase_add_test(tc, test_append_too_large);
	tcase_add_test(tc, test_cas);
	tcase_add_test(tc, test_no_cas);
	tcase_add_test(tc, test_arith);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_eviction_keeps_read_keys);
	tcase_add_test(tc, test_no_evict);
	tcase_add_test(tc, test_rebalance);
	tcase_add_test(tc, test_slab_carving);
	tcase_add_test(tc, test_hash_growth);
	tcase_add_test(tc, test_iterator);
	tcase_add_test(tc, test_hook);
	tcase_add_test(tc, test_apply_flush_versions);
	tcase_add_test(tc, test_lww_tombstones);
	tcase_add_test(tc, test_stats_emit);
	tcase_add_test(tc, test_hash_spread);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
