/* conn.c: listeners and client connections on the one event loop.
 *
 * Each connection reads into its own buffer, hands complete requests to its
 * protocol, and gathers the answers into one writev per batch. Output bytes
 * live in chunks that never move, so iovecs can point into them; large
 * values are sent straight from item memory, with the item referenced until
 * it is written. A connection that stops reading its answers is paused once
 * its queued output passes settings.max_conn_output.
 *
 * With -o repl_sync, a batch of requests that changed the store is not
 * answered until the peer has applied it: the connection goes to CONN_WAIT
 * with its output held, waits neither to read nor to write, and is queued
 * in repl.c, which calls conn_resume() once the peer's ACK covers it (or
 * the sync falls back to async). Batches that only read are never held.
 *
 * The text command "digest" walks the whole store, which takes about 0.6 s
 * per million items: rather than stall every client for that long, the
 * asking connection also goes to CONN_WAIT (kind CONN_WAIT_DIGEST) and the
 * store is walked DIGEST_SLICE_ITEMS items per event-loop turn, from a
 * zero-timeout timer, so that the loop polls the sockets between slices.
 * Digests are serialised: one walk (one store iterator, which pauses the
 * hash table's growth) at a time, the others queued in order.
 *
 * A node started with -x holds its clients' requests until its first copy
 * from the peer is complete (repl_ready()): the request about to run is
 * left in the buffer, the connection goes to CONN_WAIT (kind
 * CONN_WAIT_READY) and waits in repl.c's queue; "stats" and "version"
 * still run, so that health checks and operators see the state. Each held
 * connection later runs its requests in the order they came. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "proto_bin.h"
#include "proto_text.h"
#include "repl.h"
#include "repl_ready.h"
#include "stats.h"
#include "util.h"

#define RBUF_INITIAL 16384
#define WCHUNK_SIZE 16384
#define VALUE_COPY_MAX 1024 /* values up to this size are copied */
#define ACCEPT_BURST 64
#define DIRECT_READ_MIN 8192     /* read big values straight into the item */
#define DIGEST_SLICE_ITEMS 16384 /* items a digest visits per loop turn */

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

struct listener {
	int fd;
	struct event *ev;
	bool is_unix;
	struct listener *next;
};

void (*conn_shutdown_request)(void);
static struct event_base *conn_base;
static struct listener *listeners;
static struct event *accept_retry_ev;
static bool accept_paused; /* out of descriptors: retried by a timer */
static bool accept_full;   /* -o no_maxconns_fast: at -c, until one closes */
static conn **conn_table;  /* indexed by fd */
static size_t conn_table_size;
static conn *conn_freelist;
static uint64_t proc_sync_before; /* sync point before this processing */
static conn *conn_parsing;        /* the one whose request is being run */
static uint64_t listen_off_since; /* mono_us() when accepting stopped */
static struct event *digest_ev;   /* runs a digest slice per loop turn */
static conn *digest_head;         /* queued digests; the head's is walked */
static conn *digest_tail;
static struct store_digest_walk digest_walk; /* digest_head's, if begun */
static bool digest_walking;
static struct event *job_ev; /* runs a slice of job_conn's answer */
static conn *job_conn;       /* the connection a job writes to */
static conn_job_fn job_step;
static conn_job_cancel_fn job_cancel;
static void *job_arg;

static void conn_event_cb(evutil_socket_t fd, short what, void *arg);
static void conn_accept_cb(evutil_socket_t fd, short what, void *arg);
static void conn_process(conn *c);
static bool conn_flush(conn *c);
static void conn_update_events(conn *c);
static void conn_free(conn *c);
static void conn_out_reset(conn *c, bool keep_chunk);
static void conn_digest_cb(evutil_socket_t fd, short what, void *arg);
static void conn_digest_forget(conn *c);
static void conn_job_cb(evutil_socket_t fd, short what, void *arg);
static void conn_job_arm(void);
static void conn_listen_all(void);
static uint64_t mono_us(void);
static bool conn_admin_request(const conn *c);

static const char *conn_state_names[] = {
    "conn_listening", "conn_read",    "conn_nread", "conn_swallow",
    "conn_wait",      "conn_closing", "conn_closed"};

/* Returns the state's name. */
const char *
conn_state_name(enum conn_state state)
{
	if ((size_t)state >= sizeof conn_state_names / sizeof *conn_state_names)
		return "conn_unknown";
	return conn_state_names[state];
}

/* Monotonic microseconds. */
static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Changes state, logging the transition at -vvv. */
void
conn_set_state(conn *c, enum conn_state state)
{
	if (c->state == state)
		return;
	if (log_enabled(LOG_LVL_TRACE))
		log_trace("%d: going from %s to %s", c->fd,
		          conn_state_name(c->state), conn_state_name(state));
	c->state = state;
}

/* Adds a listening event for fd. */
static void
conn_add_listener(int fd, bool is_unix)
{
	struct listener *l = calloc(1, sizeof *l);

	if (l == NULL)
		fatal("calloc");
	l->fd = fd;
	l->is_unix = is_unix;
	l->ev =
	    event_new(conn_base, fd, EV_READ | EV_PERSIST, conn_accept_cb, l);
	if (l->ev == NULL || event_add(l->ev, NULL) < 0)
		fatalx("cannot add listener event");
	l->next = listeners;
	listeners = l;
}

/* Binds TCP listeners for one host (NULL = any) and port; returns count. */
static int
conn_listen_tcp(const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int n = 0, err;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	err = getaddrinfo(host, port, &hints, &res);
	if (err != 0)
		fatalx("getaddrinfo(%s): %s", host ? host : "*",
		       gai_strerror(err));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = util_listen_socket(ai->ai_addr, ai->ai_addrlen,
		                            settings.backlog, true);

		if (fd < 0) {
			if (errno == EADDRINUSE)
				fatal("failed to listen on TCP port %s", port);
			continue;
		}
		conn_add_listener(fd, false);
		n++;
	}
	freeaddrinfo(res);
	return n;
}

/* Creates the unix socket listener from settings.socketpath. */
static void
conn_listen_unix(void)
{
	struct sockaddr_un sun;
	int fd;
	mode_t old;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(settings.socketpath) >= sizeof sun.sun_path)
		fatalx("unix socket path too long");
	strcpy(sun.sun_path, settings.socketpath);
	unlink(settings.socketpath);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || util_nonblock(fd) < 0)
		fatal("socket");
	old = umask(~settings.access & 0777);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		fatal("bind(%s)", settings.socketpath);
	umask(old);
	if (listen(fd, settings.backlog) < 0)
		fatal("listen");
	conn_add_listener(fd, true);
}

/* Starts (on) or stops watching the listeners for new clients. */
static void
conn_accept_watch(bool on)
{
	struct listener *l;

	if (!on && listen_off_since == 0) {
		listen_off_since = mono_us();
	} else if (on && listen_off_since != 0) {
		server_stats.time_in_listen_disabled_us +=
		    mono_us() - listen_off_since;
		listen_off_since = 0;
	}
	for (l = listeners; l != NULL; l = l->next) {
		if (on)
			event_add(l->ev, NULL);
		else
			event_del(l->ev);
	}
}

/* Microseconds accepting has been off so far (0 while it is on). */
uint64_t
conn_listen_disabled_us(void)
{
	return listen_off_since != 0 ? mono_us() - listen_off_since : 0;
}

bool
conn_accepting(void)
{
	return !accept_paused && !accept_full;
}

/* Re-enables accepting after an EMFILE pause (unless at -c). */
static void
conn_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	accept_paused = false;
	if (accept_full)
		return;
	conn_accept_watch(true);
	log_debug("accepting again");
}

#ifndef NDEBUG
/* For memcached's test suite (debug builds only): writes "TCP INET: <port>"
 * (or INET6) for each TCP listener to $MEMCACHED_PORT_FILENAME, through a
 * ".lck" file renamed when complete, as memcached does. */
static void
conn_write_port_file(void)
{
	const char *name = getenv("MEMCACHED_PORT_FILENAME");
	struct listener *l;
	char tmp[PATH_MAX];
	FILE *f;

	if (name == NULL)
		return;
	snprintf(tmp, sizeof tmp, "%s.lck", name);
	f = fopen(tmp, "a");
	if (f == NULL) {
		log_warn("cannot open %s", tmp);
		return;
	}
	for (l = listeners; l != NULL; l = l->next) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;

		if (l->is_unix ||
		    getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if (ss.ss_family == AF_INET)
			fprintf(f, "TCP INET: %u\n",
			        ntohs(((struct sockaddr_in *)&ss)->sin_port));
		else if (ss.ss_family == AF_INET6)
			fprintf(f, "TCP INET6: %u\n",
			        ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	}
	fclose(f);
	rename(tmp, name);
}
#endif

/* Creates the listeners from settings. */
void
conn_init(struct event_base *base)
{
	conn_base = base;
	conn_table_size = (size_t)settings.maxconns + 64;
	conn_table = calloc(conn_table_size, sizeof *conn_table);
	if (conn_table == NULL)
		fatal("calloc");
	accept_retry_ev = evtimer_new(base, conn_accept_retry_cb, NULL);
	digest_ev = evtimer_new(base, conn_digest_cb, NULL);
	job_ev = evtimer_new(base, conn_job_cb, NULL);
	if (accept_retry_ev == NULL || digest_ev == NULL || job_ev == NULL)
		fatalx("cannot create the connection timers");
	conn_listen_all();
#ifndef NDEBUG
	conn_write_port_file();
#endif
}

/* Binds every listener settings ask for (-s, or -p on each -l entry). */
static void
conn_listen_all(void)
{
	char portbuf[16];

	/* -p -1: a port the kernel picks, as memcached. */
	snprintf(portbuf, sizeof portbuf, "%d",
	         settings.port == -1 ? 0 : settings.port);
	if (settings.socketpath != NULL) {
		conn_listen_unix();
		return;
	}
	if (settings.port == 0)
		return;
	if (settings.inter == NULL || settings.inter[0] == '\0') {
		if (conn_listen_tcp(NULL, portbuf) == 0)
			fatalx("failed to listen on TCP port %d",
			       settings.port);
		return;
	}
	{
		char *list = strdup(settings.inter), *save = NULL, *tok;

		if (list == NULL)
			fatal("strdup");
		for (tok = strtok_r(list, ", ", &save); tok != NULL;
		     tok = strtok_r(NULL, ", ", &save)) {
			char host[256], port[16];

			if (!util_split_hostport(tok, strlen(tok), host,
			                         sizeof host, port,
			                         sizeof port) ||
			    conn_listen_tcp(host, port[0] ? port : portbuf) ==
			        0)
				fatalx("failed to listen on %s", tok);
		}
		free(list);
	}
}

/* Closes the listening sockets. */
void
conn_close_listeners(void)
{
	struct listener *l, *next;

	for (l = listeners; l != NULL; l = next) {
		next = l->next;
		event_free(l->ev);
		close(l->fd);
		if (l->is_unix && settings.socketpath != NULL)
			unlink(settings.socketpath);
		free(l);
	}
	listeners = NULL;
}

/* Closes everything (at exit). */
void
conn_shutdown(void)
{
	size_t i;

	conn_close_listeners();
	if (accept_retry_ev != NULL) {
		event_free(accept_retry_ev);
		accept_retry_ev = NULL;
	}
	for (i = 0; i < conn_table_size; i++) {
		conn *c = conn_table[i];
		if (c != NULL) {
			conn_close(c, "shutdown");
			conn_free(c);
		}
	}
	if (digest_ev != NULL) {
		event_free(digest_ev);
		digest_ev = NULL;
	}
	if (job_ev != NULL) {
		event_free(job_ev);
		job_ev = NULL;
	}
	while (conn_freelist != NULL) {
		conn *c = conn_freelist;
		conn_freelist = c->next_free;
		server_stats.read_buf_count--;
		server_stats.read_buf_bytes -= c->rsize;
		server_stats.read_buf_bytes_free -= c->rsize;
		free(c->rbuf);
		free(c->iov);
		free(c->ilist);
		free(c);
	}
	free(conn_table);
	conn_table = NULL;
	conn_table_size = 0;
}

/* Returns a fresh connection struct for fd. */
static conn *
conn_new(int fd, bool is_unix)
{
	conn *c = conn_freelist;

	if (c != NULL) {
		conn_freelist = c->next_free;
		server_stats.read_buf_bytes_free -= c->rsize;
	} else {
		c = calloc(1, sizeof *c);
		if (c == NULL)
			return NULL;
		c->rsize = RBUF_INITIAL;
		c->rbuf = malloc(c->rsize);
		c->iovsize = 64;
		c->iov = malloc(sizeof *c->iov * (size_t)c->iovsize);
		c->isize = 16;
		c->ilist = malloc(sizeof *c->ilist * (size_t)c->isize);
		if (c->rbuf == NULL || c->iov == NULL || c->ilist == NULL) {
			free(c->rbuf);
			free(c->iov);
			free(c->ilist);
			free(c);
			server_stats.malloc_fails++;
			return NULL;
		}
		server_stats.conn_structs++;
		server_stats.read_buf_count++;
		server_stats.read_buf_bytes += c->rsize;
	}
	c->fd = fd;
	c->state = CONN_READ;
	c->proto = CONN_PROTO_UNKNOWN;
	c->is_unix = is_unix;
	c->rpos = c->rlen = 0;
	c->nread_item = NULL;
	c->nread_left = c->swallow_left = 0;
	c->iovcnt = c->icnt = 0;
	c->whead = c->wtail = NULL;
	c->wbytes = 0;
	c->last_active = current_time;
	c->close_reason = NULL;
	c->write_and_close = false;
	c->yielded = false;
	c->lingering = false;
	c->sync_prev = c->sync_next = NULL;
	c->wait_kind = CONN_WAIT_SYNC;
	c->digest_next = NULL;
	c->peername[0] = '\0';
	c->ev =
	    event_new(conn_base, fd, EV_READ | EV_PERSIST, conn_event_cb, c);
	if (c->ev == NULL || event_add(c->ev, NULL) < 0) {
		if (c->ev != NULL)
			event_free(c->ev);
		c->next_free = conn_freelist;
		conn_freelist = c;
		server_stats.read_buf_bytes_free += c->rsize;
		return NULL;
	}
	c->ev_flags = EV_READ;
	if ((size_t)fd >= conn_table_size) {
		size_t nsize = (size_t)fd * 2;
		conn **nt = realloc(conn_table, nsize * sizeof *nt);
		if (nt == NULL) {
			event_free(c->ev);
			c->next_free = conn_freelist;
			conn_freelist = c;
			server_stats.read_buf_bytes_free += c->rsize;
			return NULL;
		}
		memset(nt + conn_table_size, 0,
		       (nsize - conn_table_size) * sizeof *nt);
		conn_table = nt;
		conn_table_size = nsize;
	}
	conn_table[fd] = c;
	server_stats.curr_conns++;
	server_stats.total_conns++;
	return c;
}

/* Accepts new clients (a burst at a time); pauses on fd exhaustion. At
 * the -c limit, a new client gets "ERROR Too many open connections" and
 * is closed (maxconns_fast, the default); with -o no_maxconns_fast
 * accepting stops instead, new clients wait in the kernel's backlog, and
 * conn_close() starts accepting again. */
static void
conn_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;
	int i;

	for (i = 0; i < ACCEPT_BURST; i++) {
		int fd;
		conn *c;

		if (!settings.maxconns_fast &&
		    server_stats.curr_conns >= (uint64_t)settings.maxconns) {
			if (!accept_full) {
				log_debug("-c %d connections: not accepting "
				          "until one closes",
				          settings.maxconns);
				server_stats.listen_disabled_num++;
				accept_full = true;
				conn_accept_watch(false);
			}
			return;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = {1, 0};

				log_warn("accept");
				server_stats.listen_disabled_num++;
				accept_paused = true;
				conn_accept_watch(false);
				evtimer_add(accept_retry_ev, &tv);
			}
			return;
		}
		if (server_stats.curr_conns >= (uint64_t)settings.maxconns) {
			static const char msg[] =
			    "ERROR Too many open connections\r\n";
			ssize_t unused = write(fd, msg, sizeof msg - 1);

			(void)unused;
			close(fd);
			server_stats.rejected_conns++;
			continue;
		}
		if (!l->is_unix) {
			int on = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
			           sizeof on);
		}
		c = conn_new(fd, l->is_unix);
		if (c == NULL) {
			log_warnx("cannot allocate a connection");
			close(fd);
			continue;
		}
		log_debug("<%d new client connection", fd);
	}
}

/* Marks c closed: its socket is closed now, its memory at the end of the
 * callback that owns it. */
void
conn_close(conn *c, const char *reason)
{
	if (c->state == CONN_CLOSED)
		return;
	log_debug("<%d connection closed (%s)", c->fd,
	          reason ? reason : "unknown");
	c->close_reason = reason;
	if (c->state == CONN_WAIT) {
		if (c->wait_kind == CONN_WAIT_DIGEST) {
			conn_digest_forget(c);
		} else if (c->wait_kind == CONN_WAIT_JOB) {
			if (job_conn == c) {
				job_conn = NULL;
				if (job_cancel != NULL)
					job_cancel(job_arg);
			}
		} else if (c->wait_kind == CONN_WAIT_READY) {
			repl_ready_forget(c);
		} else {
			repl_sync_forget(c);
		}
		c->state = c->sync_prev_state;
	}
	if ((c->state == CONN_NREAD) && c->nread_item != NULL)
		store_release(c->nread_item);
	c->nread_item = NULL;
	conn_set_state(c, CONN_CLOSED);
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	conn_out_reset(c, false);
	if (conn_table != NULL && (size_t)c->fd < conn_table_size &&
	    conn_table[c->fd] == c)
		conn_table[c->fd] = NULL;
	close(c->fd);
	server_stats.curr_conns--;
	if (accept_full &&
	    server_stats.curr_conns < (uint64_t)settings.maxconns) {
		accept_full = false;
		if (!accept_paused) {
			conn_accept_watch(true);
			log_debug("accepting again");
		}
	}
}

/* Returns a closed connection's struct to the free list. */
static void
conn_free(conn *c)
{
	if (c->rsize > RBUF_INITIAL * 4) {
		char *nb = realloc(c->rbuf, RBUF_INITIAL);
		if (nb != NULL) {
			server_stats.read_buf_bytes -= c->rsize - RBUF_INITIAL;
			c->rbuf = nb;
			c->rsize = RBUF_INITIAL;
		}
	}
	c->next_free = conn_freelist;
	conn_freelist = c;
	server_stats.read_buf_bytes_free += c->rsize;
}

/* ---- output ---- */

/* Drops everything queued: items are released and chunks freed, except
 * the first one when keep_chunk is set (reused for the next batch). */
static void
conn_out_reset(conn *c, bool keep_chunk)
{
	struct wchunk *w = c->whead, *next;
	int i;

	for (i = 0; i < c->icnt; i++)
		store_release(c->ilist[i]);
	c->icnt = 0;
	c->iovcnt = 0;
	c->wbytes = 0;
	if (keep_chunk && w != NULL) {
		for (next = w->next; next != NULL; next = w->next) {
			w->next = next->next;
			server_stats.response_obj_count--;
			server_stats.response_obj_bytes -= next->size;
			free(next);
		}
		w->used = 0;
		c->wtail = w;
		return;
	}
	for (; w != NULL; w = next) {
		next = w->next;
		server_stats.response_obj_count--;
		server_stats.response_obj_bytes -= w->size;
		free(w);
	}
	c->whead = c->wtail = NULL;
}

/* Makes room for one more iovec. */
static bool
conn_iov_grow(conn *c)
{
	if (c->iovcnt == c->iovsize) {
		int n = c->iovsize * 2;
		struct iovec *v = realloc(c->iov, sizeof *v * (size_t)n);
		if (v == NULL)
			return false;
		c->iov = v;
		c->iovsize = n;
	}
	return true;
}

/* Ensures the tail chunk has n free bytes; returns it. */
static struct wchunk *
conn_chunk_room(conn *c, size_t n)
{
	struct wchunk *w = c->wtail;

	if (w != NULL && w->size - w->used >= n)
		return w;
	{
		size_t sz = n > WCHUNK_SIZE ? n : WCHUNK_SIZE;
		w = malloc(sizeof *w + sz);
		if (w == NULL) {
			server_stats.malloc_fails++;
			return NULL;
		}
		server_stats.response_obj_count++;
		server_stats.response_obj_bytes += sz;
		w->next = NULL;
		w->used = 0;
		w->size = sz;
		if (c->wtail != NULL)
			c->wtail->next = w;
		else
			c->whead = w;
		c->wtail = w;
	}
	return w;
}

/* Reserves n bytes of output; returns where to write them. */
char *
conn_out_reserve(conn *c, size_t n)
{
	struct wchunk *w = conn_chunk_room(c, n);

	if (w == NULL) {
		server_stats.response_obj_oom++;
		return NULL;
	}
	return w->data + w->used;
}

/* Commits used bytes written after conn_out_reserve. */
void
conn_out_commit(conn *c, size_t used)
{
	struct wchunk *w = c->wtail;
	char *p;
	struct iovec *last;

	if (used == 0 || w == NULL)
		return;
	p = w->data + w->used;
	w->used += used;
	c->wbytes += used;
	last = c->iovcnt > 0 ? &c->iov[c->iovcnt - 1] : NULL;
	if (last != NULL && (char *)last->iov_base + last->iov_len == p) {
		last->iov_len += used;
		return;
	}
	if (!conn_iov_grow(c)) {
		conn_close(c, "out of memory");
		return;
	}
	c->iov[c->iovcnt].iov_base = p;
	c->iov[c->iovcnt].iov_len = used;
	c->iovcnt++;
}

/* Appends n bytes (copied) to the output. */
void
conn_out(conn *c, const void *p, size_t n)
{
	char *dst;

	if (c->state == CONN_CLOSED)
		return;
	dst = conn_out_reserve(c, n);
	if (dst == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(dst, p, n);
	conn_out_commit(c, n);
}

/* Appends a string. */
void
conn_out_str(conn *c, const char *s)
{
	conn_out(c, s, strlen(s));
}

/* Appends an item's value: small values are copied, large ones are sent
 * from the item's memory. */
void
conn_out_value(conn *c, item *it)
{
	/* Past the output cap (one huge multiget to a client that does not
	 * read), stop copying: referencing keeps memory near the cache's. */
	if (it->nbytes <= VALUE_COPY_MAX &&
	    c->wbytes <= settings.max_conn_output) {
		conn_out(c, ITEM_value(it), it->nbytes);
		return;
	}
	if (c->state == CONN_CLOSED)
		return;
	if (c->icnt == c->isize) {
		int n = c->isize * 2;
		item **l = realloc(c->ilist, sizeof *l * (size_t)n);
		if (l == NULL) {
			conn_close(c, "out of memory");
			return;
		}
		c->ilist = l;
		c->isize = n;
	}
	if (!conn_iov_grow(c)) {
		conn_close(c, "out of memory");
		return;
	}
	store_ref(it);
	c->ilist[c->icnt++] = it;
	c->iov[c->iovcnt].iov_base = ITEM_value(it);
	c->iov[c->iovcnt].iov_len = it->nbytes;
	c->iovcnt++;
	c->wbytes += it->nbytes;
}

/* Writes queued output; returns true when everything was written. */
static bool
conn_flush(conn *c)
{
	int first = 0;

	while (first < c->iovcnt) {
		int cnt = c->iovcnt - first;
		ssize_t n;

		if (cnt > IOV_MAX)
			cnt = IOV_MAX;
		n = writev(c->fd, c->iov + first, cnt);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				break;
			conn_close(c, "write error");
			return false;
		}
		server_stats.bytes_written += (uint64_t)n;
		c->wbytes -= (size_t)n;
		while (n > 0) {
			struct iovec *v = &c->iov[first];
			if ((size_t)n >= v->iov_len) {
				n -= (ssize_t)v->iov_len;
				first++;
			} else {
				v->iov_base = (char *)v->iov_base + n;
				v->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	if (first == c->iovcnt) {
		conn_out_reset(c, true);
		return true;
	}
	if (first > 0) {
		memmove(c->iov, c->iov + first,
		        sizeof *c->iov * (size_t)(c->iovcnt - first));
		c->iovcnt -= first;
	}
	return false;
}

/* ---- input ---- */

/* The value is in: back to reading requests, and let the protocol finish
 * the request. The item stays in c->nread_item while done runs; done owns
 * the reference. */
static void
conn_nread_finish(conn *c)
{
	conn_set_state(c, CONN_READ);
	c->nread_done(c);
	c->nread_item = NULL;
}

/* Starts reading a value into an item (see conn.h). */
void
conn_read_value(conn *c, item *it, char *dst, size_t nbytes, size_t trailer,
                conn_nread_fn done)
{
	size_t avail = c->rlen - c->rpos, n;

	c->nread_item = it;
	c->nread_dst = dst;
	c->nread_left = nbytes;
	c->trailer_need = trailer;
	c->trailer_got = 0;
	c->nread_done = done;
	conn_set_state(c, CONN_NREAD);
	n = avail < nbytes ? avail : nbytes;
	memcpy(dst, c->rbuf + c->rpos, n);
	c->rpos += n;
	c->nread_dst += n;
	c->nread_left -= n;
	if (c->nread_left == 0) {
		while (c->trailer_got < trailer && c->rpos < c->rlen)
			c->trailer[c->trailer_got++] = c->rbuf[c->rpos++];
		if (c->trailer_got == trailer)
			conn_nread_finish(c);
	}
}

/* Discards the next n bytes of input. */
void
conn_swallow(conn *c, size_t n)
{
	size_t avail = c->rlen - c->rpos;

	if (avail >= n) {
		c->rpos += n;
		return;
	}
	c->rpos = c->rlen;
	c->swallow_left = n - avail;
	conn_set_state(c, CONN_SWALLOW);
}

/* Consumes buffered input for CONN_NREAD/CONN_SWALLOW; true if the state
 * went back to CONN_READ. */
static bool
conn_feed_pending(conn *c)
{
	if (c->state == CONN_SWALLOW) {
		size_t avail = c->rlen - c->rpos;
		size_t n = avail < c->swallow_left ? avail : c->swallow_left;

		c->rpos += n;
		c->swallow_left -= n;
		if (c->swallow_left == 0)
			conn_set_state(c, CONN_READ);
	} else if (c->state == CONN_NREAD) {
		size_t avail = c->rlen - c->rpos;
		size_t n = avail < c->nread_left ? avail : c->nread_left;

		memcpy(c->nread_dst, c->rbuf + c->rpos, n);
		c->rpos += n;
		c->nread_dst += n;
		c->nread_left -= n;
		if (c->nread_left == 0) {
			while (c->trailer_got < c->trailer_need &&
			       c->rpos < c->rlen)
				c->trailer[c->trailer_got++] =
				    c->rbuf[c->rpos++];
			if (c->trailer_got == c->trailer_need)
				conn_nread_finish(c);
		}
	}
	return c->state == CONN_READ;
}

/* Reads once from the socket; returns bytes read, 0 on EAGAIN, -1 when the
 * connection was closed. */
static ssize_t
conn_read(conn *c)
{
	ssize_t n;

	if (c->state == CONN_NREAD && c->rpos == c->rlen &&
	    c->nread_left >= DIRECT_READ_MIN) {
		/* A big value: read it straight into the item. */
		n = read(c->fd, c->nread_dst, c->nread_left);
		if (n > 0) {
			server_stats.bytes_read += (uint64_t)n;
			c->nread_dst += n;
			c->nread_left -= (size_t)n;
			if (c->nread_left == 0 && c->trailer_need == 0)
				conn_nread_finish(c);
			return n;
		}
	} else {
		if (c->rpos == c->rlen) {
			c->rpos = c->rlen = 0;
		} else if (c->rpos > 0 && c->rsize - c->rlen < 4096) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		if (c->rlen == c->rsize) {
			/* A request longer than the buffer: grow it, up to the
			 * protocol's limit (checked by the protocol). */
			size_t ns = c->rsize * 2;
			char *nb = realloc(c->rbuf, ns);
			if (nb == NULL) {
				server_stats.read_buf_oom++;
				server_stats.malloc_fails++;
				conn_out_str(c, "SERVER_ERROR out of memory "
				                "reading request\r\n");
				conn_flush(c);
				conn_close(c, "out of memory");
				return -1;
			}
			server_stats.read_buf_bytes += ns - c->rsize;
			c->rbuf = nb;
			c->rsize = ns;
		}
		n = read(c->fd, c->rbuf + c->rlen, c->rsize - c->rlen);
		if (n > 0) {
			server_stats.bytes_read += (uint64_t)n;
			c->rlen += (size_t)n;
			return n;
		}
	}
	if (n == 0) {
		conn_close(c, "eof");
		return -1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	conn_close(c, "read error");
	return -1;
}

/* Runs the protocol over buffered input, up to the -R budget. */
static void
conn_process(conn *c)
{
	c->reqs_left = settings.reqs_per_event;
	c->yielded = false;
	while (c->state != CONN_CLOSED && c->state != CONN_CLOSING &&
	       c->state != CONN_WAIT) {
		enum proc_result r;

		if (c->state == CONN_NREAD || c->state == CONN_SWALLOW) {
			if (!conn_feed_pending(c))
				return;
			continue;
		}
		if (c->rpos == c->rlen)
			return;
		if (c->wbytes > settings.max_conn_output)
			return; /* paused until the client reads */
		if (c->reqs_left <= 0) {
			/* Fairness (-R): let other connections run first. */
			server_stats.conn_yields++;
			c->yielded = true;
			return;
		}
		if (c->proto == CONN_PROTO_UNKNOWN) {
			bool bin =
			    (unsigned char)c->rbuf[c->rpos] == BIN_REQ_MAGIC;
			if (settings.protocol == PROTO_BINARY && !bin) {
				conn_close(c, "not binary protocol");
				return;
			}
			if (settings.protocol == PROTO_ASCII)
				bin = false;
			c->proto = bin ? CONN_PROTO_BINARY : CONN_PROTO_ASCII;
		}
		if (!repl_ready() && !conn_admin_request(c)) {
			repl_ready_wait(c); /* the request stays buffered */
			return;
		}
		conn_parsing = c;
		r = c->proto == CONN_PROTO_BINARY ? proto_bin_process(c)
		                                  : proto_text_process(c);
		conn_parsing = NULL;
		c->reqs_left--;
		if (r == PROC_MORE)
			return;
		if (r == PROC_CLOSE) {
			if (c->state != CONN_CLOSED)
				conn_set_state(c, CONN_CLOSING);
			return;
		}
	}
}

/* Sets the events c waits for: read unless paused or closing, write while
 * output is queued. */
static void
conn_update_events(conn *c)
{
	short want = 0;

	if (c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_WAIT && c->wait_kind == CONN_WAIT_JOB)
		want = c->wbytes > 0 ? EV_WRITE : 0; /* a job's answer */
	else if (c->state == CONN_WAIT)
		want = 0; /* held: neither answer nor read until released */
	else if (c->wbytes > 0)
		want |= EV_WRITE;
	if ((c->state != CONN_CLOSING || c->lingering) &&
	    c->state != CONN_WAIT && c->wbytes <= settings.max_conn_output)
		want |= EV_READ;
	if (want != c->ev_flags) {
		event_del(c->ev);
		event_assign(c->ev, conn_base, c->fd, want | EV_PERSIST,
		             conn_event_cb, c);
		if (want != 0)
			event_add(c->ev, NULL);
		c->ev_flags = want;
	}
	if (c->yielded && c->state != CONN_WAIT &&
	    c->wbytes <= settings.max_conn_output)
		event_active(c->ev, EV_READ, 0);
}

/* Holds c's answers if the requests just run changed the store while the
 * sync is active (the link's sync point moved from `before`): c goes to
 * CONN_WAIT until the peer acknowledges. Returns true if c is held. */
static bool
conn_sync_hold(conn *c, uint64_t before)
{
	uint64_t after;

	if (!settings.repl_sync || c->state == CONN_CLOSED ||
	    c->state == CONN_WAIT || c->lingering)
		return c->state == CONN_WAIT;
	after = repl_sync_point();
	if (after == before || !repl_sync_active())
		return false;
	c->sync_wait_offset = after;
	conn_hold(c, CONN_WAIT_SYNC);
	repl_sync_wait(c);
	return true;
}

/* After the last answer went out: a client that quit is closed now; one
 * that is dropped for bad input may still be sending, and closing with
 * unread input would reset the connection and could destroy the error
 * reply in flight. So half-close, discard what still comes for up to two
 * seconds, then close. */
static void
conn_linger(conn *c)
{
	char sink[4096];
	ssize_t n;

	if (c->close_reason != NULL && strcmp(c->close_reason, "quit") == 0) {
		conn_close(c, "quit");
		return;
	}
	if (!c->lingering) {
		c->lingering = true;
		c->linger_since = current_time;
		shutdown(c->fd, SHUT_WR);
	}
	while ((n = read(c->fd, sink, sizeof sink)) > 0)
		;
	if (n == 0 ||
	    (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		conn_close(c, c->close_reason ? c->close_reason : "closing");
}

/* The connection's one callback: read, process, write (unless held for
 * the peer), re-arm. */
static void
conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;
	uint64_t sync_before = repl_sync_point();

	proc_sync_before = sync_before;
	c->last_active = current_time;
	if (what & EV_WRITE) {
		conn_flush(c);
		if (c->state == CONN_CLOSED)
			goto out;
		if (c == job_conn)
			conn_job_arm();
		if (c->wbytes <= settings.max_conn_output && c->rpos < c->rlen)
			conn_process(c); /* resume a paused client */
	}
	if ((what & EV_READ) && c->lingering) {
		conn_linger(c);
		goto out;
	}
	if ((what & EV_READ) && c->state != CONN_CLOSED) {
		if (c->yielded && c->rpos < c->rlen && c->state == CONN_READ) {
			conn_process(c);
		} else if (c->state != CONN_CLOSING && c->state != CONN_WAIT) {
			ssize_t n = conn_read(c);
			if (n > 0 && c->state != CONN_CLOSED)
				conn_process(c);
		}
	}
	if (conn_sync_hold(c, sync_before))
		goto out;
	if (c->state != CONN_CLOSED && c->wbytes > 0)
		conn_flush(c);
	if (c->state == CONN_CLOSING && c->wbytes == 0)
		conn_linger(c);
out:
	if (c->state == CONN_CLOSED)
		conn_free(c);
	else
		conn_update_events(c);
}

/* Returns true if the next buffered request is a text "stats" or
 * "version" (or may still become one: its first bytes are a prefix), which
 * run even while requests are held for the first copy. */
static bool
conn_admin_request(const conn *c)
{
	static const char *const names[] = {"stats", "version"};
	const char *p = c->rbuf + c->rpos;
	size_t n = c->rlen - c->rpos, i;

	if (c->proto != CONN_PROTO_ASCII)
		return false;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t len = strlen(names[i]);

		if (n < len) {
			if (memcmp(p, names[i], n) == 0)
				return true;
			continue;
		}
		if (memcmp(p, names[i], len) == 0 &&
		    (n == len || p[len] == ' ' || p[len] == '\r' ||
		     p[len] == '\n'))
			return true;
	}
	return false;
}

/* Holds c in CONN_WAIT: no reading, no writing, until conn_resume(). */
void
conn_hold(conn *c, enum conn_wait_kind kind)
{
	c->sync_prev_state = c->state;
	c->wait_kind = kind;
	conn_set_state(c, CONN_WAIT);
}

/* Releases a connection held in CONN_WAIT: sends the held answers, then
 * runs the requests already buffered, which may hold it again. */
void
conn_resume(conn *c)
{
	uint64_t sync_before;

	if (c->state != CONN_WAIT)
		return;
	conn_set_state(c, c->sync_prev_state);
	if (c->wbytes > 0)
		conn_flush(c);
	if (c->state != CONN_CLOSED && c->state != CONN_CLOSING &&
	    c->rpos < c->rlen) {
		sync_before = repl_sync_point();
		proc_sync_before = sync_before;
		conn_process(c);
		if (conn_sync_hold(c, sync_before)) {
			conn_update_events(c);
			return;
		}
		if (c->state != CONN_CLOSED && c->wbytes > 0)
			conn_flush(c);
	}
	if (c->state == CONN_CLOSING && c->wbytes == 0)
		conn_linger(c);
	if (c->state == CONN_CLOSED)
		conn_free(c);
	else
		conn_update_events(c);
}

/* ---- digests in slices ---- */

/* Schedules the next digest slice (next loop turn) if one is queued. */
static void
conn_digest_arm(void)
{
	struct timeval zero = {0, 0};

	if (digest_head != NULL && digest_ev != NULL)
		evtimer_add(digest_ev, &zero);
}

/* Holds c in CONN_WAIT until its digest is done (see conn.h). */
void
conn_digest_wait(conn *c, uint32_t parts, uint32_t lo, uint32_t hi,
                 conn_digest_fn done)
{
	uint64_t now;

	c->digest_parts = parts;
	c->digest_lo = lo;
	c->digest_hi = hi;
	c->digest_done = done;
	/* Writes earlier in this batch still need the peer's ACK (-o
	 * repl_sync) before any answer goes out: remember their offset. */
	now = repl_sync_point();
	c->digest_sync_point =
	    settings.repl_sync && now != proc_sync_before ? now : 0;
	conn_hold(c, CONN_WAIT_DIGEST);
	c->digest_next = NULL;
	if (digest_tail != NULL)
		digest_tail->digest_next = c;
	else
		digest_head = c;
	digest_tail = c;
	conn_digest_arm();
}

/* Takes a closing c out of the digest queue, ending its walk if begun. */
static void
conn_digest_forget(conn *c)
{
	conn **pp, *prev = NULL;

	for (pp = &digest_head; *pp != NULL; pp = &(*pp)->digest_next) {
		if (*pp == c)
			break;
		prev = *pp;
	}
	if (*pp == NULL)
		return;
	if (c == digest_head && digest_walking) {
		store_digest_end(&digest_walk);
		digest_walking = false;
	}
	*pp = c->digest_next;
	if (digest_tail == c)
		digest_tail = prev;
	c->digest_next = NULL;
}

/* One slice of the oldest queued digest; at its end, queues the reply and
 * resumes the connection (or holds it for the peer's ACK of the writes it
 * made before asking, with -o repl_sync). */
static void
conn_digest_cb(evutil_socket_t fd, short what, void *arg)
{
	conn *c = digest_head;

	if (c == NULL)
		return;
	if (!digest_walking) {
		store_digest_begin(&digest_walk, c->digest_parts, c->digest_lo,
		                   c->digest_hi);
		digest_walking = true;
	}
	if (!store_digest_step(&digest_walk, DIGEST_SLICE_ITEMS)) {
		conn_digest_arm();
		return;
	}
	store_digest_end(&digest_walk);
	digest_walking = false;
	digest_head = c->digest_next;
	if (digest_head == NULL)
		digest_tail = NULL;
	c->digest_next = NULL;
	c->digest_done(c, digest_walk.sum, digest_walk.items);
	if (c->state == CONN_CLOSED) {
		conn_free(c); /* closed by the reply (out of memory) */
	} else if (c->digest_sync_point != 0 && repl_sync_active()) {
		c->wait_kind = CONN_WAIT_SYNC;
		c->sync_wait_offset = c->digest_sync_point;
		repl_sync_wait(c);
	} else {
		conn_resume(c); /* may queue c again */
	}
	conn_digest_arm();
}

/* ---- long answers in slices (jobs) ---- */

/* Half the output limit: a job writes its next slice once its connection's
 * queued output is below this. */
#define JOB_OUTPUT_LOW (settings.max_conn_output / 2)

/* Schedules the job's next slice if its output has drained enough. */
static void
conn_job_arm(void)
{
	struct timeval zero = {0, 0};

	if (job_conn != NULL && job_ev != NULL &&
	    job_conn->wbytes <= JOB_OUTPUT_LOW)
		evtimer_add(job_ev, &zero);
}

/* Holds c while a job writes its answer (see conn.h). */
bool
conn_job_start(conn *c, conn_job_fn step, conn_job_cancel_fn cancel, void *arg)
{
	if (job_conn != NULL)
		return false;
	job_conn = c;
	job_step = step;
	job_cancel = cancel;
	job_arg = arg;
	conn_hold(c, CONN_WAIT_JOB);
	conn_job_arm();
	return true;
}

/* One slice of the running job: at its end, resumes the connection. */
static void
conn_job_cb(evutil_socket_t fd, short what, void *arg)
{
	conn *c = job_conn;

	(void)fd;
	(void)what;
	(void)arg;
	if (c == NULL)
		return;
	if (job_step(c, job_arg)) {
		job_conn = NULL;
		if (c->state == CONN_CLOSED)
			conn_free(c);
		else
			conn_resume(c);
		return;
	}
	if (c->state != CONN_CLOSED && c->wbytes > 0)
		conn_flush(c);
	if (c->state == CONN_CLOSED) {
		conn_free(c);
		return;
	}
	conn_update_events(c);
	conn_job_arm();
}

/* Closes clients idle for longer than -o idle_timeout (called each second). */
void
conn_idle_check(void)
{
	size_t i;

	for (i = 0; i < conn_table_size; i++) {
		conn *c = conn_table[i];
		if (c != NULL && c->lingering &&
		    current_time - c->linger_since >= 2) {
			conn_close(c, c->close_reason);
			conn_free(c);
			continue;
		}
		if (settings.idle_timeout <= 0)
			continue;
		if (c != NULL && c->state == CONN_READ && c->rpos == c->rlen &&
		    current_time - c->last_active >
		        (uint32_t)settings.idle_timeout) {
			server_stats.idle_kicks++;
			conn_close(c, "idle timeout");
			conn_free(c);
		}
	}
}

/* Writes "tcp:host:port", "tcp6:[host]:port" or "unix:path" for a socket
 * address into buf. */
static void
conn_addr_str(const struct sockaddr_storage *ss, socklen_t sl, char *buf,
              size_t size)
{
	char host[INET6_ADDRSTRLEN + 8] = "", serv[16] = "";

	if (ss->ss_family == AF_UNIX) {
		snprintf(buf, size, "unix:%s",
		         settings.socketpath ? settings.socketpath : "");
	} else if (getnameinfo((const struct sockaddr *)ss, sl, host,
	                       sizeof host, serv, sizeof serv,
	                       NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		if (ss->ss_family == AF_INET6)
			snprintf(buf, size, "tcp6:[%s]:%s", host, serv);
		else
			snprintf(buf, size, "tcp:%s:%s", host, serv);
	} else {
		snprintf(buf, size, "tcp:unknown");
	}
}

/* Emits one "fd:name value" line. */
static void
conn_stat_line(stat_emit_fn emit, void *ctx, int fd, const char *name,
               const char *val)
{
	char key[64];

	snprintf(key, sizeof key, "%d:%s", fd, name);
	emit(ctx, key, val);
}

/* "stats conns": each listening socket (its address), then each client
 * (its peer's address, the address it came in on, its state and the
 * seconds since its last request), by descriptor as memcached does. The
 * client running this command shows as conn_parse_cmd, an idle one as
 * conn_waiting. */
void
conn_stats(stat_emit_fn emit, void *ctx)
{
	struct listener *l;
	struct sockaddr_storage ss;
	socklen_t sl;
	char val[PATH_MAX + 32];
	size_t i;

	for (l = listeners; l != NULL; l = l->next) {
		sl = sizeof ss;
		if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0)
			continue;
		conn_addr_str(&ss, sl, val, sizeof val);
		conn_stat_line(emit, ctx, l->fd, "addr", val);
		conn_stat_line(emit, ctx, l->fd, "state", "conn_listening");
		snprintf(val, sizeof val, "%u",
		         current_time - server_stats.started);
		conn_stat_line(emit, ctx, l->fd, "secs_since_last_cmd", val);
	}
	for (i = 0; i < conn_table_size; i++) {
		conn *c = conn_table[i];
		const char *state;

		if (c == NULL || c->state == CONN_CLOSED)
			continue;
		sl = sizeof ss;
		if (c->is_unix) {
			ss.ss_family = AF_UNIX;
			conn_addr_str(&ss, sl, val, sizeof val);
		} else if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) ==
		           0) {
			conn_addr_str(&ss, sl, val, sizeof val);
		} else {
			snprintf(val, sizeof val, "tcp:unknown");
		}
		conn_stat_line(emit, ctx, c->fd, "addr", val);
		sl = sizeof ss;
		if (c->is_unix) {
			ss.ss_family = AF_UNIX;
			conn_addr_str(&ss, sl, val, sizeof val);
			conn_stat_line(emit, ctx, c->fd, "listen_addr", val);
		} else if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) ==
		           0) {
			conn_addr_str(&ss, sl, val, sizeof val);
			conn_stat_line(emit, ctx, c->fd, "listen_addr", val);
		}
		state = conn_state_name(c->state);
		if (c == conn_parsing)
			state = "conn_parse_cmd";
		else if (c->state == CONN_READ && c->rpos == c->rlen &&
		         c->wbytes == 0)
			state = "conn_waiting";
		conn_stat_line(emit, ctx, c->fd, "state", state);
		snprintf(val, sizeof val, "%u", current_time - c->last_active);
		conn_stat_line(emit, ctx, c->fd, "secs_since_last_cmd", val);
	}
}
