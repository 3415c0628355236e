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
	REPL_OFF = 0,    /* -X 0 */
	REPL_LISTENING,  /* waiting for the peer to connect */
	REPL_CONNECTING, /* outgoing connect in progress */
	REPL_HANDSHAKE,  /* HELLO/AUTH exchange */
	REPL_COPYING,    /* full copy in progress (either direction) */
	REPL_ONLINE,     /* live stream */
	REPL_CLOSED
};

/* repl.c */
/* Starts replication per settings: connect to -x first, else listen. */
void repl_init(struct event_base *base);
/* Reads the replication secret file (-o repl_secret) before privileges
 * are dropped and before -d detaches; exits on a bad file. */
void repl_preinit(void);
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

/* Synchronous mode (-o repl_sync): a client batch that changed the store
 * is answered only once the peer has acknowledged applying it. */
struct conn;
/* Returns true when writes are to be held: -o repl_sync, the link online,
 * and no fallback to async in force. */
bool repl_sync_active(void);
/* Returns the link's queued-bytes count after the last data record (0
 * without a link); a batch that changed it produced records to wait for. */
uint64_t repl_sync_point(void);
/* Queues c (already in CONN_WAIT, c->sync_wait_offset set) until the peer
 * acknowledges that offset, or the sync falls back to async; then
 * conn_resume(c) is called from the event loop. */
void repl_sync_wait(struct conn *c);
/* Removes c from the waiting queue (c is closing). */
void repl_sync_forget(struct conn *c);

#endif
