/* repl.c: the replication link to one peer, on the main event loop.
 *
 * Startup is symmetric, as in repcached: with -x we first try to connect to
 * the peer; if nothing answers we listen on the replication port (-X), and
 * while unlinked keep retrying the connect once a second. Without -x we just
 * listen. At most one peer is linked at a time.
 *
 * A link is a non-blocking socket with our own read buffer and an outgoing
 * struct repl_buf; EV_WRITE is armed only while output is queued (or a full
 * copy still has items to encode). Both sides send HELLO; then each side
 * sends a full copy of its store ("marugoto copying") between COPY_BEGIN and
 * COPY_END, while the live stream of local mutations flows in the same byte
 * stream. The receiver applies everything with last-writer-wins by
 * (version, origin), so copying both ways converges and nothing written
 * during the copy is lost. Once our copy is sent and the peer's COPY_END has
 * arrived, the link is "start"ed (REPL_ONLINE).
 *
 * Offsets count the bytes of each direction of the stream since the link
 * was made (HELLO included): PING carries the sender's offset, ACK the
 * receiver's applied offset. The clean-shutdown drain waits for an ACK that
 * covers everything queued.
 *
 * A node started with -x comes up empty (or stale) while its peer holds
 * the data: until the peer's full copy has arrived it holds client
 * requests instead of answering gets as misses (repl_ready.c); this file
 * tells it when the copy is complete or the peer is absent.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#endif
#ifdef HAVE_LIBCRYPTO
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#endif

#include "conn.h"
#include "log.h"
#include "repl.h"
#include "repl_proto.h"
#include "repl_ready.h"
#include "settings.h"
#include "store.h"
#include "util.h"

/*
 * Limits, in one place.
 *
 * The queue bound (-q) counts live-stream records (mutations) queued to the
 * peer and not yet written to the socket. Full-copy records and heartbeats
 * are not counted: the copy is flow-controlled by REPL_COPY_LOW_WATER, so it
 * never holds more than about REPL_COPY_LOW_WATER + REPL_COPY_SLICE_BYTES.
 * -q 0 (or unset) means REPL_QSIZE_DEFAULT records. Because a record may
 * carry a value of up to -I bytes, the queue is also capped in bytes, at
 * the larger of REPL_QUEUE_MIN_BYTES and the cache size (-m). Exceeding
 * either bound never drops records silently: the link is closed with a
 * logged reason, and the reconnect does a full copy.
 */
#define REPL_QSIZE_DEFAULT 65536 /* as settings.c */
#define REPL_QUEUE_MIN_BYTES ((size_t)64 << 20)
/* Copy pacing: a slice of REPL_COPY_SLICE_ITEMS 100-B items takes about
 * 60 us to encode and a REPL_COPY_LOW_WATER send under 100 us (90% of them)
 * on loopback, so a client arriving during the copy waits little; sends of
 * 1 MB took 0.15-2.5 ms each (doc/performance.md). */
#define REPL_COPY_LOW_WATER ((size_t)128 << 10)  /* refill below, send from */
#define REPL_COPY_SLICE_ITEMS 256                /* items per slice, at most */
#define REPL_COPY_SLICE_BYTES ((size_t)64 << 10) /* bytes per slice, about */
#define REPL_COPY_STEP_ITEMS 256                 /* store_iter_next batch */
#define REPL_READ_CHUNK ((size_t)256 << 10)      /* recv size */
#define REPL_READS_PER_EVENT 4                   /* recv calls per callback */
#define REPL_TIMEOUT_DEFAULT 3                   /* seconds, without -o */
#define REPL_DRAIN_WAIT_SEC 10                   /* clean shutdown, at most */
#define REPL_ACK_BYTES ((uint64_t)64 << 10)      /* ACK after this much input */
#define REPL_LISTEN_BACKLOG 8
#define REPL_PEER_LEN 80     /* "[v6 address]:port" */
#define REPL_SECRET_MAX 4096 /* bytes of -o repl_secret, at most */
#define REPL_AUTH_LABEL "repcached-auth"

enum copy_state {
	COPY_IDLE = 0, /* not started */
	COPY_SENDING,  /* iterator open, slices being encoded */
	COPY_SENT,     /* COPY_END queued */
	COPY_ABORTED   /* stopped by a drain */
};

/* One peer connection (outgoing or accepted). */
struct repl_conn {
	struct repl_conn *next; /* in repl.links or repl.dead */
	int fd;
	enum repl_state state;
	bool outgoing;  /* we connected (vs accepted) */
	bool linked;    /* the one promoted link */
	bool dead;      /* closed; freed by the reaper */
	bool hello_rx;  /* the peer's HELLO has arrived */
	bool announced; /* "accept"/"connect" was logged at -v */
	bool auth_sent; /* our AUTH is queued */
	bool authed;    /* the peer's AUTH verified (or no secret in use) */
	uint8_t nonce[REPL_NONCE_LEN]; /* our challenge in our HELLO */
	struct event *rev;
	struct event *wev;
	bool wev_on;
	char peer[REPL_PEER_LEN];
	uint64_t since_ms; /* created (monotonic) */
	/* input */
	uint8_t *rbuf;
	size_t rsize;
	size_t rpos;
	size_t rlen;
	uint64_t in_off; /* bytes of the peer's stream applied */
	uint64_t last_rx_ms;
	struct repl_hello peer_hello;
	bool peer_copy_begun;
	bool peer_copy_done;
	uint64_t peer_copy_items; /* records received between its BEGIN/END */
	uint64_t peer_off;        /* the peer's offset from its last PING */
	/* The peer's live stream offset we have applied up to (valid once
	 * its copy is done and a PING told us where it stands, or from the
	 * start of a partial resync); remembered on link loss. */
	uint64_t rx_off;
	bool rx_valid;
	uint64_t ack_in_off; /* in_off when we last sent an ACK */
	bool rx_data;        /* data records applied since our last ACK */
	/* output */
	struct repl_buf out;
	uint64_t out_off;   /* bytes queued since the link was made */
	uint64_t sent_off;  /* bytes written to the socket */
	uint64_t acked_off; /* the peer's last ACK */
	uint64_t data_off;  /* out_off after the last data record */
	uint64_t *ring;     /* end offsets of queued live records */
	/* -o repl_sync: writes are held only once the peer has acknowledged
	 * sync_target (everything queued when the link went online, or when
	 * the sync last fell back), so a held write never waits behind a
	 * backlog the peer is still working through. */
	uint64_t sync_target;
	bool sync_ready;
	size_t ring_cap;
	size_t ring_head;
	size_t ring_cnt;
	/* full copy */
	enum copy_state copy;
	struct store_iter si;
	bool si_open;
	uint64_t copy_items;
	uint64_t copy_start_ms;
	uint64_t copy_ms;
};

/* Counters that outlive a link. */
struct repl_counters {
	uint64_t items_sent; /* ITEM/DELETE/TOUCH/FLUSH queued, copy included */
	uint64_t items_received; /* same, received and applied */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t full_copies; /* full copies we completed sending */
	uint64_t full_copies_received;
	uint64_t links; /* links promoted */
	uint64_t rejects;
	uint64_t connects; /* connect attempts */
	uint64_t queue_overflows;
	uint64_t timeouts;
	uint64_t malformed;
	uint64_t apply_failed; /* items we could not allocate */
	/* Changes from the peer applied here (they are not client commands:
	 * cmd_set, delete_hits and the like do not count them), and those
	 * skipped because what we hold is newer. */
	uint64_t applied_items, applied_deletes, applied_touches;
	uint64_t applied_flushes, applied_older;
	uint64_t partial_resyncs;   /* resyncs we served from the backlog */
	uint64_t backlog_overflows; /* times the backlog dropped old bytes */
	uint64_t sync_fallbacks;    /* -o repl_sync fell back to async */
};

static struct {
	struct event_base *base;
	bool enabled;
	int lfd; /* listening socket, -1 if none */
	struct event *lev;
	bool listen_mode;     /* "replication: listen" said, not linked since */
	bool listen_failed;   /* bind failed; retried by the timer */
	bool quiet;           /* links keep failing their handshake: log
	                         accept/connect only once one is linked */
	struct event *timer;  /* once a second */
	struct event *reaper; /* frees dead links outside callbacks */
	struct repl_conn *links;
	struct repl_conn *dead;
	uint64_t run_id;
	uint8_t *secret; /* -o repl_secret contents, NULL without */
	size_t secret_len;
	char peer_host[256]; /* -x host, "" without -x */
	char peer_port[16];
	uint64_t last_peer_run_id; /* whose live stream we last applied */
	uint64_t last_in_off;      /* its stream offset we applied up to */
	/* Backlog: the last live records we produced, bytes
	 * [bl_start, bl_end) of our stream (counted since this process
	 * started), kept for a partial resync in a ring of -o repl_backlog
	 * bytes (offset o sits at o % bl_cap). It is kept only once a peer
	 * has linked: before that, the peer's first sync is a full copy
	 * anyway, and a standalone node spends no memory on it. */
	uint8_t *bl_ring;
	size_t bl_cap;
	bool ever_linked;
	uint64_t bl_start;
	uint64_t bl_end;
	struct repl_buf rec;   /* scratch: the live record being encoded */
	const char *last_sync; /* "none", "partial", "full": what we sent */
	/* drain */
	bool draining;
	void (*drain_done)(void);
	struct event *drain_timer;
	uint64_t drain_target;
	struct repl_conn *drain_link;
	/* -o repl_sync: client connections in CONN_WAIT, oldest first (their
	 * offsets ascend), and the linked link's last ACK */
	struct conn *sync_head;
	struct conn *sync_tail;
	size_t sync_waiting;
	uint64_t sync_acked;
	bool sync_fallen;           /* fell back; "resumed" still to say */
	struct event *sync_release; /* resumes released connections */
	struct event *sync_timer;   /* the oldest waiter's deadline */
	/* stats */
	struct repl_counters st;
	char last_error[128];
	char last_reject[128];
} repl = {.lfd = -1};

static void link_close(struct repl_conn *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void link_established(struct repl_conn *l);
static void link_announce(struct repl_conn *l);
static void link_update_write(struct repl_conn *l);
static void link_write(struct repl_conn *l);
static void link_read(struct repl_conn *l);
static void link_read_some(struct repl_conn *l);
static void link_event_cb(evutil_socket_t fd, short what, void *arg);
static void link_connect_cb(evutil_socket_t fd, short what, void *arg);
static void accept_cb(evutil_socket_t fd, short what, void *arg);
static void copy_fill(struct repl_conn *l);
static void check_start(struct repl_conn *l);
static bool link_ready(struct repl_conn *l);
static void link_queued(struct repl_conn *l, size_t n, bool live);
static void repl_listen(void);
static void repl_connect_start(void);
static void drain_finish(const char *why);
static void sync_fallback(const char *why);
static void sync_acked(struct repl_conn *l);
static void sync_online(struct repl_conn *l);

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

/* Returns monotonic milliseconds. */
static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Returns the heartbeat timeout in milliseconds. */
static uint64_t
timeout_ms(void)
{
	int t = settings.repl_timeout > 0 ? settings.repl_timeout
	                                  : REPL_TIMEOUT_DEFAULT;

	return (uint64_t)t * 1000;
}

/* Returns the -q bound in live records. */
static size_t
queue_max_records(void)
{
	return settings.repl_qsize > 0 ? settings.repl_qsize
	                               : REPL_QSIZE_DEFAULT;
}

/* Returns the byte cap of the outgoing queue. */
static size_t
queue_max_bytes(void)
{
	return settings.maxbytes > REPL_QUEUE_MIN_BYTES ? settings.maxbytes
	                                                : REPL_QUEUE_MIN_BYTES;
}

/* Returns a random 64-bit run id (never 0). */
static uint64_t
random_u64(void)
{
	uint64_t v = 0;

#ifdef __linux__
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = 0;
#endif
	if (v == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)getpid() << 16);
		v ^= v >> 29;
		v *= 0xbf58476d1ce4e5b9ULL;
	}
	return v ? v : 1;
}

/* Fills p with n bytes from the kernel's random source (the AUTH
 * challenge); a node that cannot get them must not authenticate. */
static void
random_bytes(uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("replication: getrandom");
		}
		got += (size_t)r;
	}
}

/* Writes "ip:port" of a socket address into buf ("[ip6]:port" for IPv6;
 * an IPv4-mapped IPv6 address, as a dual-stack listener sees IPv4 peers,
 * is written as the plain IPv4 address). */
static void
format_addr(const struct sockaddr *sa, socklen_t salen, char *buf, size_t sz)
{
	char h[64], p[8]; /* numeric: fits REPL_PEER_LEN */
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in v4;

	if (sa->sa_family == AF_INET6 && salen >= sizeof(*s6) &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		v4.sin_port = s6->sin6_port;
		memcpy(&v4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		sa = (const struct sockaddr *)&v4;
		salen = sizeof(v4);
	}
	if (getnameinfo(sa, salen, h, sizeof(h), p, sizeof(p),
	                NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, sz, "?");
		return;
	}
	if (sa->sa_family == AF_INET6)
		snprintf(buf, sz, "[%s]:%s", h, p);
	else
		snprintf(buf, sz, "%s:%s", h, p);
}

/* Returns true for a data record (what the item counters count). */
static bool
is_data_type(enum repl_type t)
{
	return t == REPL_ITEM || t == REPL_DELETE || t == REPL_TOUCH ||
	       t == REPL_FLUSH;
}

/* ---------------------------------------------------------------------- */
/* States                                                                  */
/* ---------------------------------------------------------------------- */

/* Returns the state's name. */
const char *
repl_state_name(enum repl_state s)
{
	switch (s) {
	case REPL_OFF:
		return "off";
	case REPL_LISTENING:
		return "listening";
	case REPL_CONNECTING:
		return "connecting";
	case REPL_HANDSHAKE:
		return "handshake";
	case REPL_COPYING:
		return "copying";
	case REPL_ONLINE:
		return "online";
	case REPL_CLOSED:
		return "closed";
	}
	return "unknown";
}

/* Changes a link's state, logging the change at -vvv. */
static void
link_set_state(struct repl_conn *l, enum repl_state s)
{
	if (l->state == s)
		return;
	log_trace("replication: %s -> %s (peer=%s)", repl_state_name(l->state),
	          repl_state_name(s), l->peer);
	l->state = s;
}

/* Returns the promoted link, or NULL. */
static struct repl_conn *
linked(void)
{
	struct repl_conn *l;

	for (l = repl.links; l != NULL; l = l->next)
		if (l->linked)
			return l;
	return NULL;
}

/* Current state of replication as a whole: the linked link's state, else
 * a handshake in progress, else listening or connecting. */
enum repl_state
repl_state(void)
{
	struct repl_conn *l, *ln = linked();
	bool handshake = false, connecting = false;

	if (!repl.enabled)
		return REPL_OFF;
	if (ln != NULL)
		return ln->state;
	for (l = repl.links; l != NULL; l = l->next) {
		if (l->state == REPL_HANDSHAKE)
			handshake = true;
		else if (l->state == REPL_CONNECTING)
			connecting = true;
	}
	if (handshake)
		return REPL_HANDSHAKE;
	if (repl.lfd >= 0 && repl.listen_mode)
		return REPL_LISTENING;
	if (connecting)
		return REPL_CONNECTING;
	return repl.lfd >= 0 ? REPL_LISTENING : REPL_CLOSED;
}

/* ---------------------------------------------------------------------- */
/* Link lifecycle                                                          */
/* ---------------------------------------------------------------------- */

/* Creates a link on a connected (or connecting) socket. */
static struct repl_conn *
link_new(int fd, bool outgoing, const char *peer)
{
	struct repl_conn *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		log_warnx("replication: out of memory for a link");
		close(fd);
		return NULL;
	}
	l->fd = fd;
	l->outgoing = outgoing;
	l->state = REPL_CLOSED;
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	l->since_ms = l->last_rx_ms = mono_ms();
	l->rev =
	    event_new(repl.base, fd, EV_READ | EV_PERSIST, link_event_cb, l);
	l->wev =
	    event_new(repl.base, fd, EV_WRITE | EV_PERSIST, link_event_cb, l);
	if (l->rev == NULL || l->wev == NULL)
		fatalx("replication: event_new failed");
	l->next = repl.links;
	repl.links = l;
	return l;
}

/* Frees a dead link. */
static void
link_free(struct repl_conn *l)
{
	if (l->si_open) {
		store_iter_end(&l->si);
		l->si_open = false;
	}
	event_free(l->rev);
	event_free(l->wev);
	free(l->rbuf);
	free(l->ring);
	repl_buf_free(&l->out);
	free(l);
}

/* Frees every dead link; runs from its own event, outside the callback
 * stack that closed them. */
static void
reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	while (repl.dead != NULL) {
		struct repl_conn *l = repl.dead;

		repl.dead = l->next;
		link_free(l);
	}
}

/* The one teardown: logs "replication: close" (the reason at -vv) for an
 * established link, unhooks and closes the socket, frees the link later,
 * and goes back to listening if no other link is left. */
static void
link_close(struct repl_conn *l, const char *fmt, ...)
{
	struct repl_conn **pp;
	char reason[128];
	bool was_linked = l->linked;
	bool connecting = l->state == REPL_CONNECTING;
	va_list ap;

	if (l->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	if (l->state != REPL_CONNECTING) {
		if (l->announced)
			log_info("replication: close");
		log_debug("replication: close (peer=%s): %s", l->peer, reason);
		if (!was_linked && !repl.draining)
			repl.quiet = true;
	} else {
		log_debug("replication: connect to %s failed: %s", l->peer,
		          reason);
	}
	if (l->state != REPL_CONNECTING || was_linked)
		snprintf(repl.last_error, sizeof(repl.last_error), "%s",
		         reason);
	if (was_linked) {
		/* Only a consistent point of the peer's stream can be
		 * resumed from; a copy cut short needs a new full copy. */
		repl.last_peer_run_id = l->rx_valid ? l->peer_hello.run_id : 0;
		repl.last_in_off = l->rx_valid ? l->rx_off : 0;
	}
	link_set_state(l, REPL_CLOSED);
	l->dead = true;
	l->linked = false;
	event_del(l->rev);
	event_del(l->wev);
	l->wev_on = false;
	close(l->fd);
	l->fd = -1;
	for (pp = &repl.links; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	l->next = repl.dead;
	repl.dead = l;
	event_active(repl.reaper, EV_TIMEOUT, 0);
	if (was_linked) {
		/* Held writes can no longer be acknowledged: answer them. */
		repl.sync_acked = 0;
		sync_fallback(l->sync_ready && !repl.draining
		                  ? "replication: peer gone, sync falls back "
		                    "to async"
		                  : NULL);
	}

	/* Holding clients for the first copy and no link left: the peer is
	 * down, refused us, or went away during the copy; serving what this
	 * node has beats serving nothing. (Not while shutting down: the held
	 * clients are closed unanswered.) */
	if (!repl_ready() && repl.links == NULL && !repl.draining)
		repl_ready_end(was_linked   ? "peer lost"
		               : connecting ? "no peer"
		                            : "peer refused");
	if (repl.draining) {
		if (l == repl.drain_link)
			drain_finish(reason);
		return;
	}
	/* Back to listening once nothing else is in progress. A failed
	 * outgoing attempt says "listen" only the first time (startup). */
	if (repl.links == NULL && (was_linked || !repl.listen_mode))
		repl_listen();
}

/* Logs "replication: accept" or "connect (peer=...)" at -v, unless links
 * keep failing their handshake (then at -vv, and at -v once linked). */
static void
link_announce(struct repl_conn *l)
{
	if (repl.quiet && !l->linked) {
		log_debug("replication: %s (peer=%s)",
		          l->outgoing ? "connect" : "accept", l->peer);
		return;
	}
	l->announced = true;
	if (l->outgoing)
		log_info("replication: connect (peer=%s)", l->peer);
	else
		log_info("replication: accept");
	log_debug("replication: %s (peer=%s)",
	          l->outgoing ? "connected" : "accepted", l->peer);
}

/* Logs a refused connection or handshake at -v, without repeating the same
 * line every second for a retried connect (same address, any port). */
static void
log_reject(const char *peer, const char *why)
{
	char line[sizeof(repl.last_reject)];
	const char *colon = strrchr(peer, ':');
	int iplen = colon != NULL ? (int)(colon - peer) : (int)strlen(peer);

	repl.st.rejects++;
	snprintf(line, sizeof(line), "%.*s|%s", iplen, peer, why);
	if (strcmp(line, repl.last_reject) == 0) {
		log_debug("replication: reject (peer=%s, %s)", peer, why);
		return;
	}
	snprintf(repl.last_reject, sizeof(repl.last_reject), "%s", line);
	log_info("replication: reject (peer=%s, %s)", peer, why);
}

/* ---------------------------------------------------------------------- */
/* Listener                                                                */
/* ---------------------------------------------------------------------- */

/* Copies the first -l address (without its port) into host, "" for any
 * address. Returns false (logged) if it cannot be parsed. */
static bool
local_host(char *host, size_t sz)
{
	const char *s = settings.inter;
	char ignore[16];
	size_t n;

	host[0] = '\0';
	if (s == NULL || s[0] == '\0')
		return true;
	n = strcspn(s, ", ");
	if (!util_split_hostport(s, n, host, sz, ignore, sizeof(ignore))) {
		log_warnx("replication: bad -l address '%.*s'", (int)n, s);
		host[0] = '\0';
		return false;
	}
	if (strcmp(host, "*") == 0)
		host[0] = '\0';
	return true;
}

/* Binds an outgoing socket to the first -l address, so that the peer sees
 * (and logs) the address this node serves on. Best effort. */
static void
bind_local(int fd, int family)
{
	struct addrinfo hints, *res = NULL;
	char host[256];

	if (!local_host(host, sizeof(host)) || host[0] == '\0')
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return;
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0)
		log_debug("replication: cannot bind to %s: %s", host,
		          strerror(errno));
	freeaddrinfo(res);
}

/* Opens the replication listener on the first -l address, or without -l
 * on every address: one IPv6 socket that takes IPv4 too, or IPv4 only
 * where the host has no IPv6. Returns 0 or -1 (logged once; the timer
 * retries). */
static int
listener_open(void)
{
	char host[256] = "", port[16];
	int fd;

	snprintf(port, sizeof(port), "%d", settings.repl_port);
	if (!local_host(host, sizeof(host)))
		return -1;
	if (host[0] != '\0') {
		struct addrinfo hints, *res = NULL;
		int rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE;
		if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
			if (!repl.listen_failed)
				log_warnx("replication: cannot resolve %s: %s",
				          host, gai_strerror(rc));
			repl.listen_failed = true;
			return -1;
		}
		fd = util_listen_socket(res->ai_addr, res->ai_addrlen,
		                        REPL_LISTEN_BACKLOG, true);
		freeaddrinfo(res);
	} else {
		struct sockaddr_in6 any6;
		struct sockaddr_in any4;

		memset(&any6, 0, sizeof(any6));
		any6.sin6_family = AF_INET6;
		any6.sin6_addr = in6addr_any;
		any6.sin6_port = htons((uint16_t)settings.repl_port);
		fd = util_listen_socket((struct sockaddr *)&any6, sizeof(any6),
		                        REPL_LISTEN_BACKLOG, false);
		if (fd < 0 &&
		    (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT ||
		     errno == EADDRNOTAVAIL)) {
			log_debug("replication: no IPv6 (%s), listening on "
			          "IPv4 only",
			          strerror(errno));
			memset(&any4, 0, sizeof(any4));
			any4.sin_family = AF_INET;
			any4.sin_addr.s_addr = htonl(INADDR_ANY);
			any4.sin_port = htons((uint16_t)settings.repl_port);
			fd = util_listen_socket((struct sockaddr *)&any4,
			                        sizeof(any4),
			                        REPL_LISTEN_BACKLOG, true);
		}
	}
	if (fd < 0) {
		if (!repl.listen_failed)
			log_warn("replication: cannot listen on %s:%s",
			         host[0] != '\0' ? host : "*", port);
		repl.listen_failed = true;
		return -1;
	}
	repl.lfd = fd;
	repl.listen_failed = false;
	repl.lev =
	    event_new(repl.base, fd, EV_READ | EV_PERSIST, accept_cb, NULL);
	if (repl.lev == NULL || event_add(repl.lev, NULL) < 0)
		fatalx("replication: cannot watch the listener");
	return 0;
}

/* Closes the listener (drain, destroy). */
static void
listener_close(void)
{
	if (repl.lev != NULL) {
		event_free(repl.lev);
		repl.lev = NULL;
	}
	if (repl.lfd >= 0) {
		close(repl.lfd);
		repl.lfd = -1;
	}
}

/* Enters listening: opens the listener if needed and says so. */
static void
repl_listen(void)
{
	if (!repl.enabled || repl.draining)
		return;
	if (repl.lfd < 0)
		(void)listener_open();
	repl.listen_mode = true;
	/* Said only once the port is really open; a failed open is retried
	 * every second and says "listen" when it succeeds. */
	if (repl.lfd >= 0)
		log_info("replication: listen");
}

/* Returns true if a new incoming connection must be refused, with why. */
static bool
accept_refused(const char **why)
{
	struct repl_conn *l;

	if (repl.draining) {
		*why = "shutting down";
		return true;
	}
	for (l = repl.links; l != NULL; l = l->next) {
		if (l->linked) {
			*why = "already linked";
			return true;
		}
		if (!l->outgoing) {
			*why = "handshake in progress";
			return true;
		}
	}
	return false;
}

/* Returns true if two socket addresses name the same IP (ports ignored;
 * an IPv4-mapped IPv6 address equals its IPv4 address). */
static bool
same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	struct in_addr a4 = {0}, b4 = {0};
	bool a_is4 = false, b_is4 = false;

	if (a->sa_family == AF_INET6 && b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr,
		              sizeof(struct in6_addr)) == 0;
	if (a->sa_family == AF_INET) {
		a4 = ((const struct sockaddr_in *)a)->sin_addr;
		a_is4 = true;
	} else if (a->sa_family == AF_INET6 &&
	           IN6_IS_ADDR_V4MAPPED(
	               &((const struct sockaddr_in6 *)a)->sin6_addr)) {
		memcpy(&a4,
		       &((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr[12],
		       4);
		a_is4 = true;
	}
	if (b->sa_family == AF_INET) {
		b4 = ((const struct sockaddr_in *)b)->sin_addr;
		b_is4 = true;
	} else if (b->sa_family == AF_INET6 &&
	           IN6_IS_ADDR_V4MAPPED(
	               &((const struct sockaddr_in6 *)b)->sin6_addr)) {
		memcpy(&b4,
		       &((const struct sockaddr_in6 *)b)->sin6_addr.s6_addr[12],
		       4);
		b_is4 = true;
	}
	return a_is4 && b_is4 && a4.s_addr == b4.s_addr;
}

/* With -x, returns true only if sa is one of the addresses the -x host
 * resolves to now (resolved at each accept, so a changed name is
 * followed); without -x every address is allowed. *why says why not. */
static bool
peer_addr_allowed(const struct sockaddr *sa, const char **why)
{
	struct addrinfo hints, *res = NULL, *ai;
	bool ok = false;

	if (repl.peer_host[0] == '\0')
		return true;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(repl.peer_host, NULL, &hints, &res) != 0) {
		*why = "cannot resolve the configured peer";
		return false;
	}
	for (ai = res; ai != NULL && !ok; ai = ai->ai_next)
		ok = same_ip(sa, ai->ai_addr);
	freeaddrinfo(res);
	if (!ok)
		*why = "not the configured peer";
	return ok;
}

/* Accepts a peer, or refuses it (logged) if one is already linked. */
static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	char peer[REPL_PEER_LEN];
	const char *why;
	struct repl_conn *l;
	int fd, one = 1;

	fd = accept(lfd, (struct sockaddr *)&ss, &slen);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("replication: accept");
		return;
	}
	format_addr((struct sockaddr *)&ss, slen, peer, sizeof(peer));
	if (!peer_addr_allowed((struct sockaddr *)&ss, &why)) {
		log_reject(peer, why);
		close(fd);
		return;
	}
	if (accept_refused(&why)) {
		log_reject(peer, why);
		close(fd);
		return;
	}
	if (util_nonblock(fd) < 0) {
		log_warn("replication: fcntl");
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((l = link_new(fd, false, peer)) == NULL)
		return;
	link_announce(l);
	link_established(l);
}

/* ---------------------------------------------------------------------- */
/* Connector                                                               */
/* ---------------------------------------------------------------------- */

/* Starts a non-blocking connect to -x, resolving the name again. A failure
 * is quiet (-vv); the timer retries once a second while unlinked. */
static void
repl_connect_start(void)
{
	struct addrinfo hints, *res = NULL;
	char peer[REPL_PEER_LEN];
	struct repl_conn *l;
	int fd, rc, one = 1;

	repl.st.connects++;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(repl.peer_host, repl.peer_port, &hints, &res);
	if (rc != 0) {
		log_debug("replication: cannot resolve %s: %s", repl.peer_host,
		          gai_strerror(rc));
		snprintf(repl.last_error, sizeof(repl.last_error),
		         "resolve %.64s: %s", repl.peer_host, gai_strerror(rc));
		if (repl.links == NULL)
			repl_ready_end("no peer");
		if (!repl.listen_mode && linked() == NULL)
			repl_listen();
		return;
	}
	format_addr(res->ai_addr, res->ai_addrlen, peer, sizeof(peer));
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd < 0 || util_nonblock(fd) < 0) {
		log_warn("replication: socket");
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		if (repl.links == NULL)
			repl_ready_end("no peer");
		if (!repl.listen_mode && linked() == NULL)
			repl_listen();
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bind_local(fd, res->ai_family);
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if ((l = link_new(fd, true, peer)) == NULL)
		return;
	link_set_state(l, REPL_CONNECTING);
	if (rc == 0) {
		link_connect_cb(fd, EV_WRITE, l);
		return;
	}
	if (errno != EINPROGRESS) {
		link_close(l, "connect: %s", strerror(errno));
		return;
	}
	/* Wait for the connect with the write event; link_connect_cb then
	 * switches the link to the normal callbacks. */
	event_free(l->wev);
	l->wev = event_new(repl.base, fd, EV_WRITE, link_connect_cb, l);
	if (l->wev == NULL || event_add(l->wev, NULL) < 0)
		fatalx("replication: cannot watch a connect");
	l->wev_on = true;
}

/* Finishes an outgoing connect: on success logs "connect (peer=...)" and
 * starts the handshake. */
static void
link_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct repl_conn *l = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		link_close(l, "connect: %s", strerror(err));
		return;
	}
	event_free(l->wev);
	l->wev =
	    event_new(repl.base, fd, EV_WRITE | EV_PERSIST, link_event_cb, l);
	if (l->wev == NULL)
		fatalx("replication: event_new failed");
	l->wev_on = false;
	link_announce(l);
	link_established(l);
}

/* ---------------------------------------------------------------------- */
/* Sending side                                                            */
/* ---------------------------------------------------------------------- */

/* Accounts n bytes just appended to l->out; a live record also gets its
 * end offset remembered, for the -q bound. */
static void
link_queued(struct repl_conn *l, size_t n, bool live)
{
	l->out_off += n;
	if (!live)
		return;
	if (l->ring_cnt == l->ring_cap) {
		size_t ncap = l->ring_cap ? l->ring_cap * 2 : 1024, i;
		uint64_t *nr = malloc(ncap * sizeof(*nr));

		if (nr == NULL)
			fatalx("replication: out of memory (queue)");
		for (i = 0; i < l->ring_cnt; i++)
			nr[i] = l->ring[(l->ring_head + i) % l->ring_cap];
		free(l->ring);
		l->ring = nr;
		l->ring_cap = ncap;
		l->ring_head = 0;
	}
	l->ring[(l->ring_head + l->ring_cnt) % l->ring_cap] = l->out_off;
	l->ring_cnt++;
}

/* Drops the remembered live records the socket has fully taken. */
static void
link_sent(struct repl_conn *l, size_t n)
{
	l->sent_off += n;
	repl.st.bytes_sent += n;
	while (l->ring_cnt > 0 && l->ring[l->ring_head] <= l->sent_off) {
		l->ring_head = (l->ring_head + 1) % l->ring_cap;
		l->ring_cnt--;
	}
}

/* Returns true if the copy still has slices to encode. */
static bool
copy_pending(const struct repl_conn *l)
{
	return l->copy == COPY_SENDING && !repl.draining;
}

/* Arms EV_WRITE only while output is queued or the copy needs the write
 * callback to encode its next slice. */
static void
link_update_write(struct repl_conn *l)
{
	bool want;

	if (l->dead || l->state == REPL_CONNECTING)
		return;
	want = l->out.len > 0 || copy_pending(l);
	if (want && !l->wev_on) {
		if (event_add(l->wev, NULL) < 0)
			fatalx("replication: event_add");
		l->wev_on = true;
	} else if (!want && l->wev_on) {
		event_del(l->wev);
		l->wev_on = false;
	}
}

/* Encodes a live mutation into b. A touch goes out as the whole item
 * state (ITEM), not as TOUCH: a TOUCH applied by last-writer-wins on top
 * of a concurrent write of another value would leave the two nodes with
 * different values under the same version. Returns the bytes appended. */
static size_t
encode_live(struct repl_buf *b, const struct mutation *m)
{
	item *it;
	size_t n;

	if (m->type != MUT_TOUCH)
		return repl_encode_mutation(b, m);
	it = store_peek(m->key, m->nkey);
	if (it == NULL || it->version != m->version)
		n = repl_encode_mutation(b, m);
	else
		n = repl_encode_item(b, it);
	if (it != NULL)
		store_release(it);
	return n;
}

/* Appends n bytes at p to b. */
static void
buf_append(struct repl_buf *b, const uint8_t *p, size_t n)
{
	repl_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Appends a live record to the backlog (our stream offset moves on by its
 * size); the ring keeps the last bl_cap bytes, and counts an overflow
 * each time it drops bytes a peer might still have needed. */
static void
backlog_append(const uint8_t *p, size_t n)
{
	size_t pos, first;

	repl.bl_end += n;
	if (!repl.ever_linked || settings.repl_backlog == 0) {
		repl.bl_start = repl.bl_end;
		return;
	}
	if (repl.bl_ring == NULL) {
		/* Pages are touched as the ring fills, so RSS grows with use.
		 */
		repl.bl_ring = malloc(settings.repl_backlog);
		if (repl.bl_ring == NULL) {
			log_warnx("replication: cannot allocate the backlog");
			repl.bl_start = repl.bl_end;
			return;
		}
		repl.bl_cap = settings.repl_backlog;
		repl.bl_start = repl.bl_end - n;
	}
	if (n >= repl.bl_cap) {
		/* Only the record's tail would fit: keep nothing. */
		repl.bl_start = repl.bl_end;
		repl.st.backlog_overflows++;
		return;
	}
	pos = (size_t)((repl.bl_end - n) % repl.bl_cap);
	first = repl.bl_cap - pos < n ? repl.bl_cap - pos : n;
	memcpy(repl.bl_ring + pos, p, first);
	memcpy(repl.bl_ring, p + first, n - first);
	if (repl.bl_end - repl.bl_start > repl.bl_cap) {
		repl.bl_start = repl.bl_end - repl.bl_cap;
		repl.st.backlog_overflows++;
	}
}

/* The store's mutation hook: encodes the record once, appends it to the
 * backlog and to every link that is up (batched: the write happens from
 * the write callback). A queue over its bound closes the link; the
 * reconnect resumes from the backlog or does a full copy. */
static void
repl_hook(const struct mutation *m)
{
	struct repl_conn *l, *next;
	size_t n;

	repl_buf_consume(&repl.rec, repl.rec.len);
	n = encode_live(&repl.rec, m);
	backlog_append(repl.rec.data, n);
	for (l = repl.links; l != NULL; l = next) {
		next = l->next;
		/* Only a promoted link (HELLO checked, AUTH verified) gets
		 * data; what a handshake misses is in the full copy. */
		if (!l->linked || l->state < REPL_COPYING ||
		    l->state > REPL_ONLINE)
			continue;
		buf_append(&l->out, repl.rec.data, n);
		link_queued(l, n, true);
		l->data_off = l->out_off;
		repl.st.items_sent++;
		if (l->ring_cnt > queue_max_records() ||
		    l->out.len > queue_max_bytes()) {
			repl.st.queue_overflows++;
			log_warnx("replication: queue overflow (%zu records, "
			          "%zu bytes queued; -q %zu): closing the link",
			          l->ring_cnt, l->out.len, queue_max_records());
			link_close(l, "queue overflow");
			continue;
		}
		link_update_write(l);
	}
}

/* Queues a PING with our live stream offset: every live record before it
 * in the link's stream ends at or before that offset. */
static void
link_ping(struct repl_conn *l)
{
	size_t n = repl_encode_u64(&l->out, REPL_PING, repl.bl_end);

	link_queued(l, n, false);
	link_update_write(l);
}

/* Writes queued output once, encoding the next copy slice first when the
 * queue is low. During the copy, one small slice (about 60 us of work) is
 * encoded per event-loop turn, so clients are served between slices, and
 * the output goes out once REPL_COPY_LOW_WATER has gathered: writes of
 * that size keep the peer's wakeups few without holding the loop for long.
 * Closes the link on a write error. */
static void
link_write(struct repl_conn *l)
{
	size_t before = l->out.len;
	ssize_t n;

	if (copy_pending(l) && l->out.len < REPL_COPY_LOW_WATER) {
		copy_fill(l);
		if (l->dead)
			return;
	}
	if (l->out.len > 0 &&
	    (!copy_pending(l) || l->out.len >= REPL_COPY_LOW_WATER ||
	     l->out.len == before)) {
		n = send(l->fd, l->out.data, l->out.len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				link_close(l, "write: %s", strerror(errno));
				return;
			}
		} else {
			repl_buf_consume(&l->out, (size_t)n);
			link_sent(l, (size_t)n);
		}
	}
	link_update_write(l);
}

/* ---------------------------------------------------------------------- */
/* Full copy ("marugoto copying")                                          */
/* ---------------------------------------------------------------------- */

/* Encodes one item of the copy: a live item, or a tombstone as DELETE. */
static void
copy_one(item *it, void *arg)
{
	struct repl_conn *l = arg;
	size_t n;

	if (it->iflags & ITEM_TOMBSTONE)
		n = repl_encode_delete(&l->out, ITEM_key(it), it->nkey,
		                       it->version, it->origin, it->cas);
	else
		n = repl_encode_item(&l->out, it);
	link_queued(l, n, false);
	l->data_off = l->out_off;
	l->copy_items++;
	repl.st.items_sent++;
}

/* Starts the full copy: COPY_BEGIN now, items from the write callback. */
static void
copy_start(struct repl_conn *l)
{
	/* COPY_BEGIN carries how many entries follow (about), so the peer
	 * can size its hash table once instead of growing it on the way. */
	size_t n = repl_encode_u64(&l->out, REPL_COPY_BEGIN,
	                           store_stats.curr_items +
	                               store_stats.curr_tombstones);

	link_queued(l, n, false);
	l->copy = COPY_SENDING;
	l->copy_items = 0;
	l->copy_start_ms = mono_ms();
	/* The copy gathers up to REPL_COPY_LOW_WATER plus a slice: taking
	 * and faulting in that room now keeps page faults out of the slices,
	 * where they would delay the clients served between them. */
	repl_buf_reserve(&l->out,
	                 REPL_COPY_LOW_WATER + 2 * REPL_COPY_SLICE_BYTES);
	util_populate(l->out.data, l->out.cap);
	store_iter_begin(&l->si);
	l->si_open = true;
	link_update_write(l);
}

/* Encodes the next slice of the copy (up to REPL_COPY_SLICE_ITEMS items or
 * about REPL_COPY_SLICE_BYTES); at the end queues COPY_END. */
static void
copy_fill(struct repl_conn *l)
{
	size_t items = 0, start_len = l->out.len;

	while (!l->si.done && items < REPL_COPY_SLICE_ITEMS &&
	       l->out.len - start_len < REPL_COPY_SLICE_BYTES) {
		uint64_t before = l->copy_items;
		size_t got =
		    store_iter_next(&l->si, REPL_COPY_STEP_ITEMS, copy_one, l);

		if (before == 0 && l->copy_items > 0)
			log_info("replication: marugoto copying");
		items += got;
		if (got == 0 && !l->si.done)
			break;
	}
	if (!l->si.done)
		return;
	store_iter_end(&l->si);
	l->si_open = false;
	link_queued(l, repl_encode_u64(&l->out, REPL_COPY_END, l->copy_items),
	            false);
	l->copy = COPY_SENT;
	l->copy_ms = mono_ms() - l->copy_start_ms;
	/* Tells the peer the stream offset the copy brought it to. */
	link_ping(l);
	repl.st.full_copies++;
	log_debug("replication: copy sent (%llu items, %llu ms)",
	          (unsigned long long)l->copy_items,
	          (unsigned long long)l->copy_ms);
	check_start(l);
}

/* Goes online ("replication: start") once our copy is queued and the
 * peer's COPY_END has arrived. */
static void
check_start(struct repl_conn *l)
{
	if (l->state != REPL_COPYING || l->copy != COPY_SENT ||
	    !l->peer_copy_done)
		return;
	link_set_state(l, REPL_ONLINE);
	log_info("replication: start");
	sync_online(l);
}

/* ---------------------------------------------------------------------- */
/* Handshake                                                               */
/* ---------------------------------------------------------------------- */

/*
 * Peer authentication (-o repl_secret). Each HELLO carries a fresh random
 * nonce; each side proves the secret with
 *     AUTH = HMAC-SHA256(secret, peer_nonce || own_run_id || "repcached-auth")
 * (run id as 8 bytes, big endian). Putting the prover's own run id in the
 * MAC means a node never answers a challenge it could be asked to verify
 * itself: a peer claiming our run id is refused as "connected to itself",
 * so our AUTH cannot be reflected back to us. The connecting side proves
 * first; the accepting side answers only after it has verified that, so a
 * stranger connecting to us never gets an AUTH of ours to relay to the
 * other node. No data record (ITEM, DELETE, TOUCH, FLUSH, COPY_*) goes to
 * a link before the peer's AUTH is verified, and none is accepted from it.
 */

/* Computes the AUTH MAC over nonce || run_id || label into mac. */
static void
auth_mac(const uint8_t *nonce, uint64_t run_id, uint8_t mac[REPL_MAC_LEN])
{
#ifdef HAVE_LIBCRYPTO
	uint8_t msg[REPL_NONCE_LEN + 8 + sizeof(REPL_AUTH_LABEL) - 1];
	unsigned int mlen = REPL_MAC_LEN;
	int i;

	memcpy(msg, nonce, REPL_NONCE_LEN);
	for (i = 0; i < 8; i++)
		msg[REPL_NONCE_LEN + i] = (uint8_t)(run_id >> (56 - 8 * i));
	memcpy(msg + REPL_NONCE_LEN + 8, REPL_AUTH_LABEL,
	       sizeof(REPL_AUTH_LABEL) - 1);
	if (HMAC(EVP_sha256(), repl.secret, (int)repl.secret_len, msg,
	         sizeof(msg), mac, &mlen) == NULL ||
	    mlen != REPL_MAC_LEN)
		fatalx("replication: HMAC-SHA256 failed");
#else
	(void)nonce;
	(void)run_id;
	(void)mac;
	fatalx("replication: built without libcrypto: no secret support");
#endif
}

/* Returns true if mac is the peer's correct answer to our nonce. */
static bool
auth_verify(const struct repl_conn *l, const uint8_t mac[REPL_MAC_LEN])
{
	uint8_t want[REPL_MAC_LEN];

	auth_mac(l->nonce, l->peer_hello.run_id, want);
#ifdef HAVE_LIBCRYPTO
	return CRYPTO_memcmp(want, mac, REPL_MAC_LEN) == 0;
#else
	return false;
#endif
}

/* Queues our AUTH, the answer to the peer's nonce. */
static void
auth_send(struct repl_conn *l)
{
	uint8_t mac[REPL_MAC_LEN];

	auth_mac(l->peer_hello.nonce, repl.run_id, mac);
	link_queued(l, repl_encode_auth(&l->out, mac), false);
	l->auth_sent = true;
	link_update_write(l);
}

/* Refuses a peer that failed authentication: logs the reject line
 * ("authentication failed") at -v and the detail at -vv. */
static void
auth_reject(struct repl_conn *l, const char *detail)
{
	log_reject(l->peer, "authentication failed");
	link_close(l, "authentication failed: %s", detail);
}

/* Returns true when the link may proceed to promotion: no secret is in
 * use, or the peer's AUTH has been verified. */
static bool
auth_done(struct repl_conn *l)
{
	return repl.secret == NULL || l->authed;
}

/* Returns true if the peer can resume our stream from the offset in its
 * HELLO (it last applied our current run, and the offset is still in the
 * backlog); otherwise sets *why to the reason for a full copy. */
static bool
resume_possible(const struct repl_conn *l, const char **why)
{
	const struct repl_hello *h = &l->peer_hello;

	if (h->peer_run_id == 0)
		*why = "peer has no position in our stream";
	else if (h->peer_run_id != repl.run_id)
		*why = "peer's position is from another run";
	else if (h->resume_offset > repl.bl_end)
		*why = "peer's offset is ahead of our stream";
	else if (h->resume_offset < repl.bl_start)
		*why = "peer's offset fell out of the backlog";
	else
		return true;
	return false;
}

/* Starts a partial resync: a PING with the peer's resume offset, then the
 * backlog from there; live records follow as usual. */
static void
resume_start(struct repl_conn *l)
{
	uint64_t from = l->peer_hello.resume_offset;
	size_t n = (size_t)(repl.bl_end - from);

	log_info("replication: partial resync from offset %llu",
	         (unsigned long long)from);
	link_queued(l, repl_encode_u64(&l->out, REPL_PING, from), false);
	if (n > 0) {
		size_t pos = (size_t)(from % repl.bl_cap);
		size_t first = repl.bl_cap - pos < n ? repl.bl_cap - pos : n;

		buf_append(&l->out, repl.bl_ring + pos, first);
		buf_append(&l->out, repl.bl_ring, n - first);
		link_queued(l, n, false);
		l->data_off = l->out_off;
	}
	link_ping(l);
	l->copy = COPY_SENT;
	repl.st.partial_resyncs++;
	repl.last_sync = "partial";
	check_start(l);
}

/* Sends our HELLO on a fresh TCP link and waits for the peer's. */
static void
link_established(struct repl_conn *l)
{
	struct repl_hello h;
	size_t n;

	memset(&h, 0, sizeof(h));
	h.magic = REPL_MAGIC;
	h.version = REPL_PROTO_VERSION;
	h.node_id = store_node_id;
	h.run_id = repl.run_id;
	h.peer_run_id = repl.last_peer_run_id;
	h.resume_offset = repl.last_in_off;
	h.flags = settings.repl_sync ? REPL_HELLO_SYNC : 0;
	if (repl.secret != NULL)
		h.flags |= REPL_HELLO_AUTH;
	random_bytes(l->nonce, sizeof(l->nonce));
	memcpy(h.nonce, l->nonce, sizeof(h.nonce));
	l->last_rx_ms = mono_ms();
	link_set_state(l, REPL_HANDSHAKE);
	if (event_add(l->rev, NULL) < 0)
		fatalx("replication: event_add");
	n = repl_encode_hello(&l->out, &h);
	link_queued(l, n, false);
	link_update_write(l);
}

/* Makes l the one link and starts our direction of the sync: a partial
 * resync from the backlog if the peer can resume, else a full copy. */
static void
link_promote(struct repl_conn *l)
{
	const char *why = NULL;

	l->linked = true;
	repl.ever_linked = true;
	if (!l->announced)
		link_announce(l);
	repl.quiet = false;
	repl.last_reject[0] = '\0';
	repl.listen_mode = false;
	repl.st.links++;
	repl.sync_acked = 0;
	link_set_state(l, REPL_COPYING);
	log_debug("replication: linked (peer=%s, node=%u, run=%016llx)",
	          l->peer, l->peer_hello.node_id,
	          (unsigned long long)l->peer_hello.run_id);
	if (resume_possible(l, &why)) {
		resume_start(l);
		return;
	}
	log_info("replication: full copy (%s)", why);
	repl.last_sync = "full";
	copy_start(l);
}

/* Handles the peer's HELLO: checks it, resolves a simultaneous connect,
 * and promotes the link. Returns false if l was closed. */
static bool
handle_hello(struct repl_conn *l, const struct repl_hello *h)
{
	char why[96];

	if (l->hello_rx) {
		link_close(l, "protocol error: second HELLO");
		return false;
	}
	l->hello_rx = true;
	l->peer_hello = *h;
	if (h->magic != REPL_MAGIC || h->version != REPL_PROTO_VERSION) {
		snprintf(why, sizeof(why),
		         "protocol version mismatch: peer %u, ours %u",
		         (unsigned)h->version, (unsigned)REPL_PROTO_VERSION);
		log_reject(l->peer, why);
		link_close(l, "%s", why);
		return false;
	}
	if (h->run_id == repl.run_id) {
		log_reject(l->peer, "connected to itself");
		link_close(l, "connected to itself");
		return false;
	}
	if (h->node_id == store_node_id)
		log_warnx("replication: peer %s has our node id %u: "
		          "concurrent writes may not converge",
		          l->peer, (unsigned)store_node_id);
	if ((h->flags & REPL_HELLO_AUTH) && repl.secret == NULL) {
		log_reject(l->peer, "peer requires a secret");
		link_close(l, "peer requires a secret");
		return false;
	}
	if (repl.secret != NULL && !(h->flags & REPL_HELLO_AUTH)) {
		auth_reject(l, "the peer has no secret");
		return false;
	}
	if (!auth_done(l)) {
		/* The connecting side proves first (see above). */
		if (l->outgoing)
			auth_send(l);
		return true;
	}
	return link_ready(l);
}

/* Handles the peer's AUTH: verifies it, answers it on the accepting side,
 * and promotes the link. Returns false if l was closed. */
static bool
handle_auth(struct repl_conn *l, const uint8_t mac[REPL_MAC_LEN])
{
	if (repl.secret == NULL) {
		link_close(l, "protocol error: unexpected AUTH");
		return false;
	}
	if (l->authed) {
		link_close(l, "protocol error: second AUTH");
		return false;
	}
	if (!auth_verify(l, mac)) {
		auth_reject(l, "wrong AUTH (different secret?)");
		return false;
	}
	l->authed = true;
	log_debug("replication: peer %s authenticated", l->peer);
	if (!l->auth_sent)
		auth_send(l);
	return link_ready(l);
}

/* The handshake is complete (HELLO checked, AUTH verified if required):
 * keeps at most one link and promotes l. Returns false if l was closed. */
static bool
link_ready(struct repl_conn *l)
{
	const struct repl_hello *h = &l->peer_hello;
	struct repl_conn *other;

	/* At most one link. Two links to the same peer come from both sides
	 * connecting at once: both nodes keep the one opened by the node with
	 * the lower run id, so they agree whatever the order of events. */
	other = linked();
	if (other != NULL && other != l) {
		bool same =
		    other->hello_rx && other->peer_hello.run_id == h->run_id;
		uint64_t l_conn = l->outgoing ? repl.run_id : h->run_id;
		uint64_t o_conn = other->outgoing ? repl.run_id : h->run_id;

		if (!same || o_conn <= l_conn) {
			log_reject(l->peer, "already linked");
			link_close(l, "already linked");
			return false;
		}
		log_reject(other->peer, "simultaneous connect: keeping the "
		                        "other link");
		link_close(other, "simultaneous connect");
	}
	link_promote(l);
	return true;
}

/* ---------------------------------------------------------------------- */
/* Receiving side                                                          */
/* ---------------------------------------------------------------------- */

/* Applies a whole item state from the peer. */
static void
apply_item(const struct repl_msg *m)
{
	item *it = NULL;
	enum store_result r;

	store_observe_version(m->version);
	store_observe_cas(m->cas);
	r = store_alloc_raw(&it, m->key, m->nkey, m->flags, m->exptime,
	                    m->nbytes);
	if (r != STORE_OK) {
		repl.st.apply_failed++;
		log_debug("replication: cannot store '%.*s' from the peer (%s)",
		          (int)m->nkey, m->key,
		          r == STORE_TOO_LARGE ? "too large" : "out of memory");
		return;
	}
	if (m->nbytes > 0)
		memcpy(ITEM_value(it), m->value, m->nbytes);
	it->cas = m->cas;
	it->iflags |= m->iflags; /* meta stale mark and win token */
	it->version = m->version;
	it->origin = m->origin;
	if (store_apply_item(it))
		repl.st.applied_items++;
	else
		repl.st.applied_older++;
}

/* Queues an ACK with the bytes of the peer's stream we have applied. */
static void
link_ack(struct repl_conn *l)
{
	l->ack_in_off = l->in_off;
	l->rx_data = false;
	link_queued(l, repl_encode_u64(&l->out, REPL_ACK, l->in_off), false);
	link_update_write(l);
}

/* Handles one decoded record. Returns false if l was closed. */
static bool
handle_msg(struct repl_conn *l, const struct repl_msg *m)
{
	if (!l->hello_rx && m->type != REPL_HELLO) {
		repl.st.malformed++;
		link_close(l, "protocol error: %s before HELLO",
		           repl_type_name(m->type));
		return false;
	}
	/* Until the handshake is done only HELLO and AUTH may come: nothing
	 * from an unauthenticated peer is applied or answered. */
	if (!l->linked && m->type != REPL_HELLO && m->type != REPL_AUTH) {
		repl.st.malformed++;
		if (repl.secret != NULL && !l->authed)
			log_reject(l->peer, "authentication failed");
		link_close(l, "protocol error: %s before the handshake ended",
		           repl_type_name(m->type));
		return false;
	}
	if (is_data_type(m->type)) {
		if (l->state < REPL_COPYING) {
			link_close(l, "protocol error: %s before the handshake",
			           repl_type_name(m->type));
			return false;
		}
		repl.st.items_received++;
		if (l->peer_copy_begun && !l->peer_copy_done)
			l->peer_copy_items++;
		if (l->rx_valid)
			l->rx_off += m->len;
		l->rx_data = true;
		if (l->in_off - l->ack_in_off >= REPL_ACK_BYTES)
			link_ack(l);
	}
	switch (m->type) {
	case REPL_HELLO:
		return handle_hello(l, &m->hello);
	case REPL_AUTH:
		return handle_auth(l, m->mac);
	case REPL_ITEM:
		apply_item(m);
		break;
	case REPL_DELETE:
		store_observe_version(m->version);
		store_observe_cas(m->cas);
		if (store_apply_delete(m->key, m->nkey, m->version, m->origin))
			repl.st.applied_deletes++;
		else
			repl.st.applied_older++;
		break;
	case REPL_TOUCH:
		store_observe_version(m->version);
		if (store_apply_touch(m->key, m->nkey, m->exptime, m->version,
		                      m->origin))
			repl.st.applied_touches++;
		else
			repl.st.applied_older++;
		break;
	case REPL_FLUSH:
		store_observe_version(m->version);
		store_apply_flush(m->when, m->version);
		repl.st.applied_flushes++;
		break;
	case REPL_COPY_BEGIN:
		store_reserve(m->count);
		l->rx_valid = false;
		l->peer_copy_begun = true;
		l->peer_copy_done = false;
		l->peer_copy_items = 0;
		break;
	case REPL_COPY_END:
		if (!l->peer_copy_begun || l->peer_copy_done) {
			link_close(l, "protocol error: COPY_END without "
			              "COPY_BEGIN");
			return false;
		}
		l->peer_copy_done = true;
		repl.st.full_copies_received++;
		log_debug("replication: copy received (%llu items)",
		          (unsigned long long)m->count);
		repl_ready_end("copy complete");
		check_start(l);
		break;
	case REPL_PING:
		l->peer_off = m->offset;
		if (!l->peer_copy_begun) {
			/* No COPY_BEGIN first: the peer resumes its stream
			 * from our offset. */
			l->peer_copy_begun = l->peer_copy_done = true;
			l->rx_off = m->offset;
			l->rx_valid = true;
			log_debug("replication: peer resumes from offset %llu",
			          (unsigned long long)m->offset);
			repl_ready_end("copy complete");
			check_start(l);
		} else if (l->peer_copy_done) {
			if (l->rx_valid && l->rx_off != m->offset)
				log_debug("replication: stream offset %llu, "
				          "peer says %llu",
				          (unsigned long long)l->rx_off,
				          (unsigned long long)m->offset);
			l->rx_off = m->offset;
			l->rx_valid = true;
		}
		link_ack(l);
		break;
	case REPL_ACK:
		l->acked_off = m->offset;
		if (l->linked)
			sync_acked(l);
		if (!repl.draining || l != repl.drain_link ||
		    l->acked_off < repl.drain_target)
			break;
		if (l->data_off > repl.drain_target) {
			/* Clients still connected wrote during the drain:
			 * wait for those too (the drain timer bounds it). */
			link_ping(l);
			repl.drain_target = l->out_off;
			break;
		}
		drain_finish(NULL);
		return false;
	default:
		/* Reconciliation records belong to a later issue. */
		log_debug("replication: ignoring %s", repl_type_name(m->type));
		break;
	}
	return true;
}

/* Returns the body length in a record header at p (5 bytes). */
static size_t
hdr_body_len(const uint8_t *p)
{
	return util_get_be32(p + 1);
}

/* Makes room for at least `need` unread bytes plus a read chunk. */
static void
rbuf_room(struct repl_conn *l, size_t need)
{
	size_t unread = l->rlen - l->rpos, want;

	if (l->rpos > 0 && (l->rsize - l->rlen < REPL_READ_CHUNK ||
	                    l->rsize - l->rpos < need)) {
		memmove(l->rbuf, l->rbuf + l->rpos, unread);
		l->rpos = 0;
		l->rlen = unread;
	}
	want = need > unread ? need : unread;
	want += REPL_READ_CHUNK;
	if (l->rsize >= want ||
	    (l->rsize - l->rlen >= REPL_READ_CHUNK && l->rsize >= need))
		return;
	l->rbuf = realloc(l->rbuf, want);
	if (l->rbuf == NULL)
		fatalx("replication: out of memory (read buffer)");
	l->rsize = want;
}

/* Decodes and applies every complete record in the read buffer. Returns
 * false if l was closed. */
static bool
link_process(struct repl_conn *l)
{
	size_t max_body = settings.item_size_max + 512;

	while (l->rpos < l->rlen) {
		struct repl_msg m;
		const char *err = NULL;
		long r;

		r = repl_decode(l->rbuf + l->rpos, l->rlen - l->rpos, max_body,
		                &m, &err);
		if (r < 0) {
			repl.st.malformed++;
			log_warnx("replication: malformed record from %s: %s",
			          l->peer, err ? err : "?");
			link_close(l, "malformed record: %s", err ? err : "?");
			return false;
		}
		if (r == 0) {
			if (l->rlen - l->rpos >= REPL_HDR_LEN) {
				size_t body = hdr_body_len(l->rbuf + l->rpos);

				if (body > max_body) {
					repl.st.malformed++;
					log_warnx("replication: record of %zu "
					          "bytes from %s",
					          body, l->peer);
					link_close(l, "record too large");
					return false;
				}
				rbuf_room(l, REPL_HDR_LEN + body);
			}
			break;
		}
		l->rpos += (size_t)r;
		l->in_off += (uint64_t)r;
		if (!handle_msg(l, &m))
			return false;
	}
	if (l->rpos == l->rlen)
		l->rpos = l->rlen = 0;
	return true;
}

/* Reads what the socket has (a few chunks at most, so clients keep being
 * served) and applies it. Closes the link on EOF or error. A peer in sync
 * mode gets an ACK as soon as records are applied (its clients wait for
 * it), sent at once rather than on the next write event. */
static void
link_read(struct repl_conn *l)
{
	link_read_some(l);
	if (l->dead || !l->rx_data || !l->linked ||
	    !(l->peer_hello.flags & REPL_HELLO_SYNC))
		return;
	link_ack(l);
	link_write(l);
}

/* Reads and applies up to REPL_READS_PER_EVENT chunks. */
static void
link_read_some(struct repl_conn *l)
{
	int i;

	for (i = 0; i < REPL_READS_PER_EVENT && !l->dead; i++) {
		size_t room;
		ssize_t n;

		rbuf_room(l, 0);
		room = l->rsize - l->rlen;
		n = recv(l->fd, l->rbuf + l->rlen, room, 0);
		if (n == 0) {
			link_close(l, "connection closed by the peer");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			link_close(l, "read: %s", strerror(errno));
			return;
		}
		l->rlen += (size_t)n;
		l->last_rx_ms = mono_ms();
		repl.st.bytes_received += (uint64_t)n;
		if (!link_process(l))
			return;
		if ((size_t)n < room)
			return;
	}
}

/* Read and write readiness of an established link. */
static void
link_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct repl_conn *l = arg;

	if (l->dead)
		return;
	if (what & EV_READ)
		link_read(l);
	if ((what & EV_WRITE) && !l->dead)
		link_write(l);
}

/* ---------------------------------------------------------------------- */
/* Timers: heartbeats, timeouts, reconnects                                */
/* ---------------------------------------------------------------------- */

/* Once a second: pings, the heartbeat timeout, connect timeouts, the
 * listener retry and the reconnect to -x while unlinked. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct repl_conn *l, *next;
	uint64_t now = mono_ms();

	for (l = repl.links; l != NULL; l = next) {
		next = l->next;
		if (l->state == REPL_CONNECTING) {
			if (now - l->since_ms > timeout_ms())
				link_close(l, "connect timed out");
			continue;
		}
		if (!repl.draining && now - l->last_rx_ms > timeout_ms()) {
			/* A stopped peer that resumed may have its data
			 * waiting in our socket: read it before judging. */
			link_read(l);
			if (l->dead)
				continue;
			if (mono_ms() - l->last_rx_ms > timeout_ms()) {
				repl.st.timeouts++;
				log_info("replication: peer timed out (nothing "
				         "received for %d s)",
				         (int)(timeout_ms() / 1000));
				link_close(l,
				           "timeout: nothing received for "
				           "%d s",
				           (int)(timeout_ms() / 1000));
				continue;
			}
		}
		if (l->linked)
			link_ping(l);
	}
	if (repl.draining)
		return;
	if (repl.lfd < 0 && repl.listen_mode && listener_open() == 0)
		log_info("replication: listen");
	if (repl.peer_host[0] != '\0' && repl.links == NULL)
		repl_connect_start();
}

/* ---------------------------------------------------------------------- */
/* Clean shutdown                                                          */
/* ---------------------------------------------------------------------- */

/* Ends the drain (once): closes what is left and calls done(). */
static void
drain_finish(const char *why)
{
	void (*done)(void) = repl.drain_done;
	struct repl_conn *l = repl.drain_link;

	if (done == NULL)
		return;
	repl.drain_done = NULL;
	repl.drain_link = NULL;
	if (repl.drain_timer != NULL)
		event_del(repl.drain_timer);
	/* Only unacknowledged data records are worth a warning; a peer that
	 * closed after applying all of them just missed our last PING. */
	if (why != NULL && l != NULL && l->data_off > l->acked_off)
		log_warnx("replication: drain ended early (%s): up to %llu "
		          "bytes of changes not acknowledged by %s",
		          why, (unsigned long long)(l->data_off - l->acked_off),
		          l->peer);
	else if (l != NULL)
		log_debug("replication: drained (%llu bytes acknowledged)",
		          (unsigned long long)l->acked_off);
	if (l != NULL && !l->dead)
		link_close(l, "shutdown");
	done();
}

/* The drain's bounded wait ran out. */
static void
drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	drain_finish("timed out");
}

/* Calls done from the loop (never from inside repl_drain). */
static void
drain_now_cb(evutil_socket_t fd, short what, void *arg)
{
	drain_finish(NULL);
}

/* Clean shutdown: stops accepting and connecting, stops a copy in
 * progress, sends the queued live stream, and waits (at most
 * REPL_DRAIN_WAIT_SEC) for the peer to acknowledge all of it; then calls
 * done(). */
void
repl_drain(void (*done)(void))
{
	struct timeval tv = {REPL_DRAIN_WAIT_SEC, 0};
	struct timeval zero = {0, 0};
	struct repl_conn *l, *next, *ln;

	if (repl.draining || repl.base == NULL) {
		if (repl.base == NULL && done != NULL)
			done();
		return;
	}
	repl.draining = true;
	repl.drain_done = done;
	repl_ready_shutdown();
	listener_close();
	ln = linked();
	for (l = repl.links; l != NULL; l = next) {
		next = l->next;
		if (l != ln)
			link_close(l, "shutdown");
	}
	if (ln == NULL) {
		repl.drain_timer = evtimer_new(repl.base, drain_now_cb, NULL);
		if (repl.drain_timer == NULL ||
		    evtimer_add(repl.drain_timer, &zero) < 0)
			fatalx("replication: cannot set up the drain");
		return;
	}
	repl.drain_timer = evtimer_new(repl.base, drain_timeout_cb, NULL);
	if (repl.drain_timer == NULL)
		fatalx("replication: cannot set up the drain");
	if (ln->copy == COPY_SENDING) {
		store_iter_end(&ln->si);
		ln->si_open = false;
		ln->copy = COPY_ABORTED;
	}
	repl.drain_link = ln;
	link_ping(ln);
	repl.drain_target = ln->out_off;
	log_debug("replication: draining %zu bytes to %s", ln->out.len,
	          ln->peer);
	evtimer_add(repl.drain_timer, &tv);
}

/* ---------------------------------------------------------------------- */
/* Synchronous mode (-o repl_sync)                                         */
/* ---------------------------------------------------------------------- */

/*
 * conn.c notes the link's data offset before and after each client batch;
 * a batch that queued records while the sync is active is held in
 * CONN_WAIT and queued here, oldest first. Offsets only grow on a link, so
 * the queue is ordered by offset and an ACK releases a prefix of it. The
 * resumes run from their own event, never from inside the link callback
 * that read the ACK: a resumed client may write again (queueing records on
 * that link) or close.
 *
 * If the oldest waiter sees no covering ACK within -o repl_sync_timeout,
 * or the link goes down, every waiter is answered (its write is applied
 * here, the peer may lack it) and writes are not held until a link is
 * online again and the peer has acknowledged everything queued up to then.
 */

/* Returns the sync timeout in milliseconds. */
static uint64_t
sync_timeout_ms(void)
{
	return settings.repl_sync_timeout_ms > 0
	           ? (uint64_t)settings.repl_sync_timeout_ms
	           : 1000;
}

/* Returns true when writes are to be held for the peer's ACK. */
bool
repl_sync_active(void)
{
	struct repl_conn *l;

	if (!settings.repl_sync || !repl.enabled)
		return false;
	l = linked();
	return l != NULL && l->state == REPL_ONLINE && l->sync_ready;
}

/* Returns the linked link's offset after its last data record (0 without
 * a link, or without -o repl_sync). */
uint64_t
repl_sync_point(void)
{
	struct repl_conn *l;

	if (!settings.repl_sync)
		return 0;
	l = linked();
	return l != NULL ? l->data_off : 0;
}

/* Arms the timer for the oldest waiter's deadline (or stops it). */
static void
sync_timer_arm(void)
{
	uint64_t now, due;
	struct timeval tv;

	if (repl.sync_timer == NULL)
		return;
	if (repl.sync_head == NULL) {
		event_del(repl.sync_timer);
		return;
	}
	now = mono_ms();
	due = repl.sync_head->sync_wait_ms + sync_timeout_ms();
	due = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(due / 1000);
	tv.tv_usec = (suseconds_t)(due % 1000) * 1000;
	evtimer_add(repl.sync_timer, &tv);
}

/* Takes c out of the waiting queue. */
static void
sync_unlink(struct conn *c)
{
	if (c->sync_prev != NULL)
		c->sync_prev->sync_next = c->sync_next;
	else
		repl.sync_head = c->sync_next;
	if (c->sync_next != NULL)
		c->sync_next->sync_prev = c->sync_prev;
	else
		repl.sync_tail = c->sync_prev;
	c->sync_prev = c->sync_next = NULL;
	repl.sync_waiting--;
}

/* Queues c until its offset is acknowledged or the sync falls back. */
void
repl_sync_wait(struct conn *c)
{
	c->sync_wait_ms = mono_ms();
	c->sync_next = NULL;
	c->sync_prev = repl.sync_tail;
	if (repl.sync_tail != NULL)
		repl.sync_tail->sync_next = c;
	else
		repl.sync_head = c;
	repl.sync_tail = c;
	repl.sync_waiting++;
	if (repl.sync_head == c)
		sync_timer_arm();
	if (c->sync_wait_offset <= repl.sync_acked)
		event_active(repl.sync_release, EV_TIMEOUT, 0);
}

/* Removes a closing connection from the waiting queue. */
void
repl_sync_forget(struct conn *c)
{
	bool was_head = repl.sync_head == c;

	if (!was_head && c->sync_prev == NULL)
		return; /* not queued */
	sync_unlink(c);
	if (was_head)
		sync_timer_arm();
}

/* Resumes every waiter whose offset the peer has acknowledged (offset 0:
 * released by a fallback). */
static void
sync_release_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;

	while ((c = repl.sync_head) != NULL &&
	       c->sync_wait_offset <= repl.sync_acked) {
		sync_unlink(c);
		conn_resume(c); /* may queue c again, at a higher offset */
	}
	sync_timer_arm();
}

/* The oldest waiter's deadline: falls back to async if it is still
 * waiting. */
static void
sync_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = repl.sync_head;

	if (c == NULL)
		return;
	if (mono_ms() - c->sync_wait_ms < sync_timeout_ms()) {
		sync_timer_arm();
		return;
	}
	sync_fallback("replication: sync timeout, falling back to async");
}

/* Stops holding writes: releases every waiter, and (with why, once until
 * the sync resumes) logs why at -v and counts a fallback. The linked link,
 * if any, must then catch up with everything queued so far. */
static void
sync_fallback(const char *why)
{
	struct repl_conn *l = linked();
	struct conn *c;

	if (why != NULL && !repl.sync_fallen) {
		log_info("%s", why);
		repl.st.sync_fallbacks++;
		repl.sync_fallen = true;
	}
	if (l != NULL) {
		l->sync_ready = false;
		l->sync_target = l->data_off;
	}
	for (c = repl.sync_head; c != NULL; c = c->sync_next)
		c->sync_wait_offset = 0;
	if (repl.sync_head != NULL && repl.sync_release != NULL)
		event_active(repl.sync_release, EV_TIMEOUT, 0);
}

/* An ACK arrived on the linked link: releases the waiters it covers, and
 * turns the sync on once the peer has caught up. */
static void
sync_acked(struct repl_conn *l)
{
	if (!settings.repl_sync)
		return;
	repl.sync_acked = l->acked_off;
	if (repl.sync_head != NULL &&
	    repl.sync_head->sync_wait_offset <= repl.sync_acked)
		event_active(repl.sync_release, EV_TIMEOUT, 0);
	if (l->sync_ready || l->state != REPL_ONLINE ||
	    l->acked_off < l->sync_target)
		return;
	l->sync_ready = true;
	if (repl.sync_fallen) {
		repl.sync_fallen = false;
		log_info("replication: sync mode resumed");
	} else {
		log_debug("replication: sync mode on (peer=%s)", l->peer);
	}
}

/* The link went online: the sync starts once the peer acknowledges
 * everything queued so far (a PING makes it answer at once). */
static void
sync_online(struct repl_conn *l)
{
	if (!settings.repl_sync)
		return;
	if (l->acked_off < l->out_off)
		link_ping(l);
	l->sync_target = l->out_off;
	sync_acked(l);
}

/* ---------------------------------------------------------------------- */
/* Stats                                                                   */
/* ---------------------------------------------------------------------- */

/* Emits one unsigned number. */
static void
emit_u64(stat_emit_fn emit, void *ctx, const char *name, uint64_t v)
{
	char buf[24];

	util_u64toa(v, buf);
	emit(ctx, name, buf);
}

/* Returns what this node is doing towards its peer. */
static const char *
repl_role(void)
{
	struct repl_conn *l = linked();

	if (!repl.enabled)
		return "off";
	if (l != NULL)
		return l->outgoing ? "connected" : "accepted";
	switch (repl_state()) {
	case REPL_HANDSHAKE:
		return "handshake";
	case REPL_CONNECTING:
		return "connecting";
	case REPL_LISTENING:
		return "listening";
	default:
		return "closed";
	}
}

/* Emits the replication lines of "stats" or "stats replication". */
void
repl_stats(stat_emit_fn emit, void *ctx, bool detail)
{
	struct repl_conn *l = linked();
	char buf[160];

	emit(ctx, "repl_role", repl_role());
	emit(ctx, "repl_state", repl_state_name(repl_state()));
	emit(ctx, "repl_peer", l != NULL ? l->peer : "none");
	emit_u64(emit, ctx, "repl_queue_bytes", l != NULL ? l->out.len : 0);
	emit_u64(emit, ctx, "repl_queue_records", l != NULL ? l->ring_cnt : 0);
	emit_u64(emit, ctx, "repl_items_sent", repl.st.items_sent);
	emit_u64(emit, ctx, "repl_items_received", repl.st.items_received);
	emit_u64(emit, ctx, "repl_applied_items", repl.st.applied_items);
	emit_u64(emit, ctx, "repl_applied_deletes", repl.st.applied_deletes);
	emit_u64(emit, ctx, "repl_applied_touches", repl.st.applied_touches);
	emit_u64(emit, ctx, "repl_applied_flushes", repl.st.applied_flushes);
	emit_u64(emit, ctx, "repl_applied_older", repl.st.applied_older);
	emit_u64(emit, ctx, "repl_bytes_sent", repl.st.bytes_sent);
	emit_u64(emit, ctx, "repl_bytes_received", repl.st.bytes_received);
	emit_u64(emit, ctx, "repl_full_copies", repl.st.full_copies);
	emit_u64(emit, ctx, "repl_partial_resyncs", repl.st.partial_resyncs);
	emit_u64(emit, ctx, "repl_backlog_bytes", repl.bl_end - repl.bl_start);
	emit_u64(emit, ctx, "repl_backlog_overflows",
	         repl.st.backlog_overflows);
	emit(ctx, "repl_last_sync",
	     repl.last_sync != NULL ? repl.last_sync : "none");
	emit(ctx, "repl_last_error",
	     repl.last_error[0] != '\0' ? repl.last_error : "none");
	emit(ctx, "repl_sync", repl_sync_active() ? "on" : "off");
	emit_u64(emit, ctx, "repl_sync_waiting", repl.sync_waiting);
	emit_u64(emit, ctx, "repl_sync_fallbacks", repl.st.sync_fallbacks);
	repl_ready_stats(emit, ctx, false);
	if (!detail)
		return;
	repl_ready_stats(emit, ctx, true);
	emit_u64(emit, ctx, "repl_node_id", store_node_id);
	snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)repl.run_id);
	emit(ctx, "repl_run_id", buf);
	emit(ctx, "repl_peer_config",
	     repl.peer_host[0] != '\0' ? settings.repl_peer : "none");
	emit_u64(emit, ctx, "repl_port", (uint64_t)settings.repl_port);
	emit_u64(emit, ctx, "repl_listening", repl.lfd >= 0);
	emit_u64(emit, ctx, "repl_queue_max_records", queue_max_records());
	emit_u64(emit, ctx, "repl_queue_max_bytes", queue_max_bytes());
	emit_u64(emit, ctx, "repl_timeout", timeout_ms() / 1000);
	emit_u64(emit, ctx, "repl_links", repl.st.links);
	emit_u64(emit, ctx, "repl_connect_attempts", repl.st.connects);
	emit_u64(emit, ctx, "repl_rejected", repl.st.rejects);
	emit_u64(emit, ctx, "repl_timeouts", repl.st.timeouts);
	emit_u64(emit, ctx, "repl_queue_overflows", repl.st.queue_overflows);
	emit_u64(emit, ctx, "repl_malformed", repl.st.malformed);
	emit_u64(emit, ctx, "repl_apply_failed", repl.st.apply_failed);
	emit_u64(emit, ctx, "repl_full_copies_received",
	         repl.st.full_copies_received);
	if (l == NULL)
		return;
	emit_u64(emit, ctx, "repl_peer_node_id", l->peer_hello.node_id);
	snprintf(buf, sizeof(buf), "%016llx",
	         (unsigned long long)l->peer_hello.run_id);
	emit(ctx, "repl_peer_run_id", buf);
	emit_u64(emit, ctx, "repl_link_age", (mono_ms() - l->since_ms) / 1000);
	emit_u64(emit, ctx, "repl_last_rx_ms", mono_ms() - l->last_rx_ms);
	emit_u64(emit, ctx, "repl_out_offset", l->out_off);
	emit_u64(emit, ctx, "repl_sent_offset", l->sent_off);
	emit_u64(emit, ctx, "repl_acked_offset", l->acked_off);
	emit_u64(emit, ctx, "repl_in_offset", l->in_off);
	emit_u64(emit, ctx, "repl_peer_offset", l->peer_off);
	emit(ctx, "repl_copy",
	     l->copy == COPY_SENDING   ? "sending"
	     : l->copy == COPY_SENT    ? "sent"
	     : l->copy == COPY_ABORTED ? "aborted"
	                               : "idle");
	emit_u64(emit, ctx, "repl_copy_items_sent", l->copy_items);
	emit_u64(emit, ctx, "repl_copy_ms",
	         l->copy == COPY_SENT   ? l->copy_ms
	         : l->copy == COPY_IDLE ? 0
	                                : mono_ms() - l->copy_start_ms);
	emit(ctx, "repl_peer_copy",
	     l->peer_copy_done    ? "received"
	     : l->peer_copy_begun ? "receiving"
	                          : "idle");
	emit_u64(emit, ctx, "repl_peer_copy_items", l->peer_copy_items);
}

/* ---------------------------------------------------------------------- */
/* Public entry points                                                     */
/* ---------------------------------------------------------------------- */

/* Reads the -o repl_secret file into repl.secret, without one trailing
 * newline ("\n" or "\r\n"). A file that cannot be read, is not a regular
 * file, is open to group or others, or is empty or longer than
 * REPL_SECRET_MAX, stops the daemon: running without the protection the
 * operator asked for would be worse. The mode is checked on the open
 * descriptor (no race with a rename), and O_NONBLOCK keeps a FIFO from
 * blocking the open. */
static void
secret_load(const char *path)
{
	uint8_t buf[REPL_SECRET_MAX + 1];
	size_t len = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		fatal("replication: cannot read the secret file %s", path);
	if (fstat(fd, &st) < 0)
		fatal("replication: cannot stat the secret file %s", path);
	if (!S_ISREG(st.st_mode))
		fatalx("replication: the secret file %s is not a regular file",
		       path);
	if ((st.st_mode & 077) != 0)
		fatalx("replication: the secret file %s must not be accessible "
		       "by group or others (chmod 600)",
		       path);
	while (len < sizeof(buf)) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fatal("replication: cannot read the secret file %s",
			      path);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > REPL_SECRET_MAX)
		fatalx("replication: the secret file %s is longer than %d "
		       "bytes",
		       path, REPL_SECRET_MAX);
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		fatalx("replication: the secret file %s is empty", path);
#ifndef HAVE_LIBCRYPTO
	fatalx("replication: built without libcrypto: -o repl_secret is not "
	       "supported");
#endif
	repl.secret = malloc(len);
	if (repl.secret == NULL)
		fatalx("replication: out of memory (secret)");
	memcpy(repl.secret, buf, len);
	repl.secret_len = len;
	memset(buf, 0, sizeof(buf));
}

/* Reads the -o repl_secret file while the process may still read what
 * only root can (a root-owned 0600 file), and while its error still goes
 * to the terminal (before -d detaches). */
void
repl_preinit(void)
{
	if (settings.repl_port > 0 && settings.repl_secret_file != NULL &&
	    repl.secret == NULL)
		secret_load(settings.repl_secret_file);
}

/* Starts replication per settings: connect to -x first, else listen. */
void
repl_init(struct event_base *base)
{
	struct timeval sec = {1, 0};

	repl.base = base;
	repl.lfd = -1;
	repl.run_id = random_u64();
	if (settings.repl_port <= 0) {
		repl.enabled = false;
		return;
	}
	repl.enabled = true;
	if (settings.repl_secret_file != NULL && repl.secret == NULL)
		secret_load(settings.repl_secret_file);
	repl.reaper = event_new(base, -1, 0, reaper_cb, NULL);
	repl.timer = event_new(base, -1, EV_PERSIST, timer_cb, NULL);
	repl.sync_release = event_new(base, -1, 0, sync_release_cb, NULL);
	repl.sync_timer = evtimer_new(base, sync_timer_cb, NULL);
	if (repl.reaper == NULL || repl.timer == NULL ||
	    repl.sync_release == NULL || repl.sync_timer == NULL ||
	    event_add(repl.timer, &sec) < 0)
		fatalx("replication: cannot set up timers");
	store_mutation_hook = repl_hook;
	snprintf(repl.peer_port, sizeof(repl.peer_port), "%d",
	         settings.repl_port);
	if (settings.repl_peer != NULL && settings.repl_peer[0] != '\0') {
		char port[sizeof(repl.peer_port)];

		if (!util_split_hostport(settings.repl_peer,
		                         strlen(settings.repl_peer),
		                         repl.peer_host, sizeof(repl.peer_host),
		                         port, sizeof(port)) ||
		    repl.peer_host[0] == '\0') {
			/* Running on without the peer would also accept
			 * replication from anyone: refuse to start. */
			log_warnx("replication: bad peer address '%s'",
			          settings.repl_peer);
			exit(EX_USAGE_CODE);
		}
		if (port[0] != '\0')
			memcpy(repl.peer_port, port, sizeof(port));
	}
	if (repl.peer_host[0] == '\0' && repl.secret == NULL)
		log_warnx("replication: no -x peer and no -o repl_secret: any "
		          "host that reaches port %d can replicate to and from "
		          "this node; set -x <peer> or -o repl_secret=<file>",
		          settings.repl_port);
	repl_ready_begin(base, repl.peer_host[0] != '\0');
	if (repl.peer_host[0] != '\0')
		repl_connect_start();
	else
		repl_listen();
}

/* Frees everything (tests, valgrind). */
void
repl_destroy(void)
{
	while (repl.links != NULL) {
		struct repl_conn *l = repl.links;

		repl.draining = true; /* no listen, no drain callback */
		repl.drain_done = NULL;
		link_close(l, "destroy");
	}
	reaper_cb(-1, 0, NULL);
	listener_close();
	if (repl.timer != NULL)
		event_free(repl.timer);
	if (repl.reaper != NULL)
		event_free(repl.reaper);
	if (repl.drain_timer != NULL)
		event_free(repl.drain_timer);
	if (repl.sync_release != NULL)
		event_free(repl.sync_release);
	if (repl.sync_timer != NULL)
		event_free(repl.sync_timer);
	repl_ready_destroy();
	if (store_mutation_hook == repl_hook)
		store_mutation_hook = NULL;
	if (repl.secret != NULL) {
		memset(repl.secret, 0, repl.secret_len);
		free(repl.secret);
	}
	free(repl.bl_ring);
	repl.bl_ring = NULL;
	repl_buf_free(&repl.rec);
	memset(&repl, 0, sizeof(repl));
	repl.lfd = -1;
}
