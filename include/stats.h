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
/* Emits one named group: "items", "slabs", "sizes", "settings", "conns",
 * "replication". Returns false for an unknown group. */
bool stats_group(const char *name, stat_emit_fn emit, void *ctx);

#endif
