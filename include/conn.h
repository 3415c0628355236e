/* conn.h: client connections on the one event loop: listeners, buffered
 * non-blocking reads, gathered writes, and the per-connection state machine.
 * The protocol modules parse from c->rbuf and answer through conn_out_*. */
#ifndef CONN_H
#define CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <event2/event.h>

#include "settings.h"
#include "store.h"

enum conn_state {
	CONN_LISTENING = 0, /* a listening socket */
	CONN_READ,          /* waiting for / parsing requests */
	CONN_NREAD,         /* reading a value into an item */
	CONN_SWALLOW,       /* discarding the value of a refused request */
	CONN_WAIT,          /* held: by a module that resumes it */
	CONN_CLOSING,       /* flushing the last output, then close */
	CONN_CLOSED
};

enum conn_proto { CONN_PROTO_UNKNOWN = 0, CONN_PROTO_ASCII, CONN_PROTO_BINARY };

/* What a protocol's process function tells the connection loop. */
enum proc_result {
	PROC_DONE = 0, /* consumed one request; call again */
	PROC_MORE,     /* the next request is incomplete: read more */
	PROC_NREAD,    /* switched to CONN_NREAD/CONN_SWALLOW */
	PROC_CLOSE     /* close after flushing output (c->close_reason set) */
};

/* Why a connection is in CONN_WAIT. */
enum conn_wait_kind {
	CONN_WAIT_SYNC = 0, /* sync replication: the peer's ACK (repl.c) */
	CONN_WAIT_DIGEST,   /* a "digest" being computed in slices */
	CONN_WAIT_READY,    /* a rejoining node's first copy (repl.c) */
	CONN_WAIT_JOB       /* a long answer written in slices (metadump) */
};

struct conn;
typedef void (*conn_nread_fn)(struct conn *c);
/* One slice of a long answer: appends output to c, returns true when the
 * answer is complete. */
typedef bool (*conn_job_fn)(struct conn *c, void *arg);
/* Tells a job its connection closed before it completed. */
typedef void (*conn_job_cancel_fn)(void *arg);
/* Receives a finished digest (to queue the reply). */
typedef void (*conn_digest_fn)(struct conn *c, uint64_t digest, uint64_t items);

/* A chunk of response bytes; chunks are never moved, so iovecs can point
 * into them. */
struct wchunk {
	struct wchunk *next;
	size_t used;
	size_t size;
	char data[];
};

/* Per-request state a protocol keeps while a value is being read. */
struct conn_pending {
	enum store_op op;
	uint64_t cas;
	bool noreply;
	uint8_t opcode;   /* binary opcode */
	uint32_t opaque;  /* binary/meta opaque */
	uint32_t mflags;  /* meta flags bitmask (proto_meta's own meaning) */
	char mopaque[40]; /* meta opaque token text ("O...") */
	uint8_t mopaque_len;
	char mkey_ret[344]; /* meta: key to echo back (k flag), base64 may
	                     * grow 250 bytes to 336 */
	uint16_t mkey_len;
	bool mkey_b64;
	int32_t minvalidate;
};

typedef struct conn {
	int fd;
	enum conn_state state;
	enum conn_proto proto;
	struct event *ev;
	short ev_flags; /* what ev currently waits for */
	bool is_unix;
	/* input: unprocessed bytes are rbuf[rpos, rlen) */
	char *rbuf;
	size_t rsize;
	size_t rpos;
	size_t rlen;
	/* value being read */
	item *nread_item;
	char *nread_dst;
	size_t nread_left;
	char trailer[2];     /* the "\r\n" after a text value */
	size_t trailer_need; /* 2 for text, 0 for binary */
	size_t trailer_got;
	conn_nread_fn nread_done;
	size_t swallow_left;
	struct conn_pending pend;
	/* output */
	struct iovec *iov;
	int iovcnt;
	int iovsize;
	item **ilist; /* items referenced by iov */
	int icnt;
	int isize;
	struct wchunk *whead;
	struct wchunk *wtail;
	size_t wbytes; /* bytes queued, not yet written */
	/* bookkeeping */
	uint32_t last_active;
	int reqs_left; /* -R budget for this event */
	const char *close_reason;
	bool write_and_close;
	bool yielded;   /* stopped by -R with input left */
	bool lingering; /* half-closed, discarding input */
	uint32_t linger_since;
	struct conn *next_free;
	struct conn *next_dead;
	uint64_t sync_wait_offset;       /* CONN_WAIT: repl offset awaited */
	uint64_t sync_wait_ms;           /* CONN_WAIT: since (monotonic ms) */
	enum conn_state sync_prev_state; /* CONN_WAIT: state to go back to */
	struct conn *sync_prev;          /* in repl's queue of waiting conns */
	struct conn *sync_next;
	enum conn_wait_kind wait_kind; /* CONN_WAIT: what it waits for */
	uint32_t digest_parts;         /* CONN_WAIT_DIGEST: the range */
	uint32_t digest_lo, digest_hi;
	conn_digest_fn digest_done;   /* CONN_WAIT_DIGEST: reply writer */
	uint64_t digest_sync_point;   /* sync offset of the writes before
	                               * the digest (0: none to wait for) */
	struct conn *digest_next;     /* in the queue of digests */
	TAILQ_ENTRY(conn) wait_entry; /* CONN_WAIT_READY: in repl's queue */
	char peername[64];
} conn;

/* conn.c */
/* Creates listeners from settings (-l/-p/-s), with `base` as the loop. */
void conn_init(struct event_base *base);
/* Stops accepting and closes every connection. */
void conn_shutdown(void);
/* Closes listening sockets only (for a clean shutdown). */
void conn_close_listeners(void);
/* True while new clients are being accepted (false while paused for lack
 * of descriptors or, with -o no_maxconns_fast, at the -c limit). */
bool conn_accepting(void);
/* Microseconds accepting has been off so far, 0 while it is on (the
 * current pause of "time_in_listen_disabled_us"). */
uint64_t conn_listen_disabled_us(void);
/* Changes a connection's state, logging the change at -vvv. */
void conn_set_state(conn *c, enum conn_state state);
/* Returns the state's name. */
const char *conn_state_name(enum conn_state state);
/* Marks a connection for closing (outside the callback stack). */
void conn_close(conn *c, const char *reason);
/* Holds c in CONN_WAIT (kind says why): it neither reads nor writes
 * until conn_resume(c). The module that holds it keeps it in its own
 * queue of waiters, and forgets it when conn_close() tells it to. */
void conn_hold(conn *c, enum conn_wait_kind kind);
/* Releases a connection held in CONN_WAIT and resumes it: sends what it
 * had queued, then runs its buffered requests (which may hold it again). */
void conn_resume(conn *c);
/* Holds c in CONN_WAIT (with its output) while the digest of parts
 * [lo, hi) of `parts` is computed, a slice per event-loop turn, other
 * clients being served in between; then done(c, digest, items) queues the
 * reply and c goes on with its buffered input. Digests run one at a time,
 * in the order asked. */
void conn_digest_wait(conn *c, uint32_t parts, uint32_t lo, uint32_t hi,
                      conn_digest_fn done);

/* Holds c in CONN_WAIT while step(c, arg) writes a long answer a slice
 * per event-loop turn (other clients are served in between, and c's
 * output is sent as it grows, a new slice only once most of it is out);
 * once step returns true, c goes on with its buffered input. One job at a
 * time: returns false (and does nothing) while another runs. If c closes
 * first, cancel(arg) is called. */
bool conn_job_start(conn *c, conn_job_fn step, conn_job_cancel_fn cancel,
                    void *arg);

/* Output. Bytes are copied; items are referenced (and released once
 * written). */
void conn_out(conn *c, const void *p, size_t n);
/* Appends a NUL-terminated string. */
void conn_out_str(conn *c, const char *s);
/* Reserves n writable bytes at the end of the output; returns a pointer.
 * Follow with conn_out_commit(c, used) where used <= n. */
char *conn_out_reserve(conn *c, size_t n);
void conn_out_commit(conn *c, size_t used);
/* Appends an item's value (referencing the item for large values). */
void conn_out_value(conn *c, item *it);

/* Input helpers for protocols. */
/* Starts reading nbytes of value into dst (inside it), followed by
 * `trailer` bytes that land in c->trailer; calls done when complete (maybe
 * before this returns). Bytes already buffered are used first. The caller's
 * reference to `it` passes to the connection; while done runs, the item is
 * c->nread_item and done owns that reference (it must store_release it).
 * If the connection closes first, the connection releases it. */
void conn_read_value(conn *c, item *it, char *dst, size_t nbytes,
                     size_t trailer, conn_nread_fn done);
/* Discards the next n bytes of input. */
void conn_swallow(conn *c, size_t n);

/* Set by main: starts a clean shutdown (the text "shutdown" command). */
extern void (*conn_shutdown_request)(void);
/* Closes clients idle past -o idle_timeout; called once a second. */
void conn_idle_check(void);
/* For stats conns. */
void conn_stats(stat_emit_fn emit, void *ctx);

/* Connections waiting in CONN_WAIT are resumed by repl through this. */
typedef bool (*conn_wait_fn)(conn *c);

#endif
