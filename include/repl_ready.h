/* repl_ready.h: a rejoining node (-x) holds its clients' requests until
 * its first copy from the peer is complete, the peer is found absent, or
 * -o repl_ready_timeout passes (doc/replication.md). repl.c says when;
 * conn.c asks before each request; the held connections wait here. */
#ifndef REPL_READY_H
#define REPL_READY_H

#include <stdbool.h>

#include <event2/event.h>

#include "store.h"

struct conn;

/* repl_ready.c */
/* At start: holds client requests from now on if the node has a peer
 * (-x) and -o repl_ready_timeout is above 0; logs it at -v. */
void repl_ready_begin(struct event_base *base, bool has_peer);
/* Ends the hold (why: "copy complete", "no peer", "peer lost",
 * "peer refused", "timeout"),
 * logs it at -v and resumes the held connections; once per process. */
void repl_ready_end(const char *why);
/* At a clean shutdown: the hold never ends now; the held connections are
 * closed unanswered with the others. */
void repl_ready_shutdown(void);
/* Returns false while client requests are to be held. */
bool repl_ready(void);
/* Holds c (CONN_WAIT_READY) until the node is ready; then conn_resume(c)
 * is called from the event loop, in the order the connections came. */
void repl_ready_wait(struct conn *c);
/* Removes c from the queue (c is closing). */
void repl_ready_forget(struct conn *c);
/* Emits repl_ready (detail=false) or the other repl_ready_* lines of
 * "stats replication" (detail=true). */
void repl_ready_stats(stat_emit_fn emit, void *ctx, bool detail);
/* Frees the events (tests, valgrind). */
void repl_ready_destroy(void);

#endif
