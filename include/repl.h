/* repl.h: the replication link to one peer, on the main event loop:
 * listen/accept/connect, full copy ("marugoto copying"), the live stream
 * in both directions, heartbeats, timers and stats. */
#ifndef REPL_H
#define REPL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "store.h"

enum repl_state {
	REPL_OFF = 0,        /* -X 0 */
	REPL_LISTENING,      /* waiting for the peer to connect */
	REPL_CONNECTING,     /* outgoing connect in progress */
	REPL_HANDSHAKE,      /* HELLO/AUTH exchange */
	REPL_COPYING,        /* full copy in progress (either direction) */
	REPL_ONLINE,         /* live stream */
	REPL_CLOSED
};

/* repl.c */
/* Starts replication per settings: connect to -x first, else listen. */
void repl_init(struct event_base *base);
/* Returns the state's name. */
const char *repl_state_name(enum repl_state s);
/* Current state. */
enum repl_state repl_state(void);
/* Clean shutdown: stop taking new work, send what is queued to the peer
 * with a bounded wait, then call done(). */
void repl_drain(void (*done)(void));
/* Emits the replication lines of "stats" (detail=false) or
 * "stats replication" (detail=true). */
void repl_stats(stat_emit_fn emit, void *ctx, bool detail);
/* Frees everything (tests, valgrind). */
void repl_destroy(void);

#endif
