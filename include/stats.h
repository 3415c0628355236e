/* stats.h: server-wide counters and the "stats" command groups, shared by
 * the text and binary front ends. */
#ifndef STATS_H
#define STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct server_stats {
	uint32_t started; /* unix time the server started */
	uint64_t curr_conns;
	uint64_t total_conns;
	uint64_t rejected_conns;
	uint64_t conn_structs;
	uint64_t listen_disabled_num;
	uint64_t time_in_listen_disabled_us; /* summed over pauses */
	uint64_t cmd_get;
	uint64_t cmd_set;
	uint64_t cmd_meta;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t conn_yields;
	uint64_t auth_cmds, auth_errors;
	uint64_t idle_kicks;
	uint64_t response_obj_oom;
	uint64_t read_buf_oom;
	uint64_t response_obj_count;  /* output chunks held by connections */
	uint64_t response_obj_bytes;  /* their size */
	uint64_t read_buf_count;      /* connections' read buffers */
	uint64_t read_buf_bytes;      /* their size */
	uint64_t read_buf_bytes_free; /* of those, kept by free conn structs */
	uint64_t malloc_fails; /* failed allocations (answered, not fatal) */
};

extern struct server_stats server_stats;

/* stats.c */
/* Zeroes counters and records the start time. */
void stats_init(void);
/* "stats reset": zeroes the resettable counters. */
void stats_reset(void);
/* Emits the general "stats" lines (memcached's names and order, then the
 * replication lines). */
void stats_general(stat_emit_fn emit, void *ctx);
/* Emits "stats settings". */
void stats_settings(stat_emit_fn emit, void *ctx);
/* True when replication is configured (-X not 0): "stats" then also
 * shows the repl_* lines and curr_tombstones. */
bool stats_repl_shown(void);

/* Per-prefix stats ("stats detail on|off|dump"): the key's prefix is what
 * comes before the first -D delimiter (':' by default); keys without one
 * are not counted. Each function does nothing while detail is off. */
void stats_prefix_get(const char *key, size_t nkey, bool hit);
void stats_prefix_set(const char *key, size_t nkey);
void stats_prefix_delete(const char *key, size_t nkey);
/* Forgets every prefix (part of "stats reset"). */
void stats_prefix_clear(void);
/* "stats detail on|off". */
void stats_detail_enable(bool on);
/* "stats detail dump": the PREFIX lines and "END\r\n" in one malloc'ed
 * string (free it), its length in *len; NULL when out of memory. */
char *stats_detail_dump(size_t *len);

/* Emits one named group: "items", "slabs", "sizes", "settings", "conns",
 * "replication". Returns false for an unknown group. */
bool stats_group(const char *name, stat_emit_fn emit, void *ctx);

#endif
