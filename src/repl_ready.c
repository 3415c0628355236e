/* repl_ready.c: a rejoining node holds its clients until it has the data.
 *
 * A node started with -x has just come up: if its peer is alive, the peer
 * holds the data and this node holds nothing (or stale values). Answering
 * a get as a miss then does harm beyond a cache miss: a PHP session read
 * as empty is written back empty, and that write wins on both nodes. So
 * conn.c asks repl_ready() before each client request; while it is false
 * the connection is held (conn_hold(), CONN_WAIT_READY) and queued here,
 * its request still buffered; "stats" and "version" alone still run.
 *
 * repl.c ends the hold, once and for all for this process, when the
 * peer's full copy has been applied (COPY_END, or a partial resync's first
 * PING), or when no link is left: the connect failed (nobody there), the
 * handshake ended without a link (the peer refused us, or we it: a secret
 * or version mismatch the next try would repeat), or the link broke
 * during the copy; this node then serves what it has, which beats serving
 * nothing. The timer ends it after -o repl_ready_timeout seconds. Then
 * every held connection is resumed in the order it was held, from its own
 * event (never inside the link's callback): its writes run after the
 * copy, in the order the client sent them, and win over the copied values
 * as any later write does.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "repl_ready.h"
#include "settings.h"
#include "util.h"

static void ready_timer_cb(evutil_socket_t fd, short what, void *arg);
static void ready_release_cb(evutil_socket_t fd, short what, void *arg);

static struct {
	bool holding;             /* requests are being held */
	const char *why;          /* why it serves, or "holding" */
	TAILQ_HEAD(, conn) queue; /* held connections, oldest first */
	size_t waiting;
	uint64_t held_total; /* connections ever held */
	uint64_t start_ms;
	uint64_t held_ms;      /* how long requests were held */
	struct event *timer;   /* -o repl_ready_timeout */
	struct event *release; /* resumes the held connections */
} ready = {.why = "not held", .queue = TAILQ_HEAD_INITIALIZER(ready.queue)};

/* Returns monotonic milliseconds. */
static uint64_t
ready_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Starts holding client requests (with -x and a non-zero timeout). */
void
repl_ready_begin(struct event_base *base, bool has_peer)
{
	struct timeval tv = {settings.repl_ready_timeout, 0};

	if (!has_peer || settings.repl_ready_timeout <= 0)
		return;
	ready.timer = evtimer_new(base, ready_timer_cb, NULL);
	ready.release = event_new(base, -1, 0, ready_release_cb, NULL);
	if (ready.timer == NULL || ready.release == NULL ||
	    evtimer_add(ready.timer, &tv) < 0)
		fatalx("replication: cannot set up the ready timer");
	ready.holding = true;
	ready.why = "holding";
	ready.start_ms = ready_mono_ms();
	log_info("replication: holding clients until the copy is complete");
}

/* Stops holding (why: "copy complete", "timeout", "no peer", "peer
 * refused", "peer lost"), logs it at -v and resumes the held
 * connections. */
void
repl_ready_end(const char *why)
{
	if (!ready.holding)
		return;
	ready.holding = false;
	ready.why = why;
	ready.held_ms = ready_mono_ms() - ready.start_ms;
	event_del(ready.timer);
	log_info("replication: serving (%s)", why);
	log_debug("replication: held %zu connections for %llu ms",
	          ready.waiting, (unsigned long long)ready.held_ms);
	if (!TAILQ_EMPTY(&ready.queue))
		event_active(ready.release, EV_TIMEOUT, 0);
}

/* Stops the timer: held connections stay held until conn_shutdown()
 * closes them (answering them now would serve misses). */
void
repl_ready_shutdown(void)
{
	if (ready.timer != NULL)
		event_del(ready.timer);
}

/* -o repl_ready_timeout passed before the copy completed. */
static void
ready_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	repl_ready_end("timeout");
}

/* Resumes the held connections, oldest first. */
static void
ready_release_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&ready.queue)) != NULL) {
		TAILQ_REMOVE(&ready.queue, c, wait_entry);
		ready.waiting--;
		conn_resume(c);
	}
}

/* Returns false while client requests are held for the first copy. */
bool
repl_ready(void)
{
	return !ready.holding;
}

/* Holds c until the node is ready. */
void
repl_ready_wait(struct conn *c)
{
	conn_hold(c, CONN_WAIT_READY);
	TAILQ_INSERT_TAIL(&ready.queue, c, wait_entry);
	ready.waiting++;
	ready.held_total++;
}

/* Removes a closing connection from the queue. */
void
repl_ready_forget(struct conn *c)
{
	TAILQ_REMOVE(&ready.queue, c, wait_entry);
	ready.waiting--;
}

/* Emits one unsigned number. */
static void
ready_emit_u64(stat_emit_fn emit, void *ctx, const char *name, uint64_t v)
{
	char buf[24];

	util_u64toa(v, buf);
	emit(ctx, name, buf);
}

/* Emits repl_ready, or (detail) the repl_ready_* lines. */
void
repl_ready_stats(stat_emit_fn emit, void *ctx, bool detail)
{
	if (!detail) {
		ready_emit_u64(emit, ctx, "repl_ready", !ready.holding);
		return;
	}
	emit(ctx, "repl_ready_reason", ready.why);
	ready_emit_u64(emit, ctx, "repl_ready_held", ready.waiting);
	ready_emit_u64(emit, ctx, "repl_ready_held_total", ready.held_total);
	ready_emit_u64(emit, ctx, "repl_ready_ms",
	               ready.holding ? ready_mono_ms() - ready.start_ms
	                             : ready.held_ms);
	ready_emit_u64(emit, ctx, "repl_ready_timeout",
	               (uint64_t)settings.repl_ready_timeout);
}

/* Frees the events (the held connections were closed by conn_shutdown). */
void
repl_ready_destroy(void)
{
	if (ready.timer != NULL)
		event_free(ready.timer);
	if (ready.release != NULL)
		event_free(ready.release);
	ready.timer = ready.release = NULL;
	ready.holding = false;
}
