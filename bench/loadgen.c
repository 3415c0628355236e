/* loadgen.c: a small pipelining load generator for memcached's text
 * protocol. One thread, epoll, non-blocking sockets, so that on its own
 * CPU it keeps the server, not itself, the bottleneck.
 *
 * Two modes:
 *  - throughput (default): every connection keeps --depth requests in
 *    flight for --duration seconds;
 *  - fixed rate (--rate N): N requests/s spread over the connections with
 *    one request in flight each; latency is measured from the time each
 *    request was scheduled, so a slow server cannot hide its queueing.
 *
 * Every reply is checked: the value for key i is a fixed function of i, so
 * a wrong key, flags, length or byte is counted as an error (with --floor,
 * against bench/floor's prepared replies, only the key and the length).
 * Throughput counts what came back: keys returned and sets STORED, not
 * requests sent. The result is one JSON line on stdout. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MGET_MAX 100        /* most keys per multiget request */
#define HIST_MAX_US 1000000 /* histogram range: 1 us buckets up to 1 s */
#define KEY_PREFIX "key:"
#define PATTERN_PERIOD 61 /* value bytes repeat with this period */
#define MAX_EVENTS 256

enum workload { WL_MIX, WL_MULTIGET, WL_SET, WL_GET, WL_MG };
enum req_type { REQ_GET, REQ_MGET, REQ_SET, REQ_MG };
enum parse_state { PS_LINE, PS_DATA };

/* One request in flight. */
struct req {
	uint8_t type;
	uint32_t key;      /* REQ_GET/REQ_SET: the key; REQ_MGET: first slot */
	uint64_t t_ns;     /* send (or scheduled) time */
	uint64_t t_sent;   /* fixed-rate mode: when it was actually sent */
	uint8_t mg_cursor; /* REQ_MGET: next expected key among mget_keys */
	uint8_t hits;
	uint8_t bad; /* values that came back wrong */
};

struct conn {
	int fd;
	bool dead;
	bool want_out; /* EPOLLOUT armed */
	/* requests in flight: a ring of depth entries */
	struct req *ring;
	uint32_t *mkeys; /* depth * mget_keys keys of multigets */
	unsigned head, count;
	/* output */
	char *wbuf;
	size_t wlen, woff, wcap;
	/* input */
	char *rbuf;
	size_t rlen, rcap;
	enum parse_state ps;
	size_t data_need; /* PS_DATA: bytes of data plus "\r\n" */
	uint32_t data_key;
	bool data_ok; /* the VALUE line matched: check the bytes */
	/* preload */
	uint32_t pl_next, pl_end;
	/* fixed-rate mode: index of the next scheduled request */
	uint64_t rate_k;
};

struct options {
	char host[256];
	char port[16];
	int conns;
	int depth;
	uint32_t keyspace;
	int key_size;
	int value_size;
	enum workload wl;
	double duration;
	bool preload;
	double rate;
	uint64_t seed;
	int set_pct;
	int mget_keys;
	bool floor; /* bench/floor: check keys and lengths only */
};

struct result {
	uint64_t ops, gets, sets, stored, keys, hits, misses, errors;
	uint64_t preload_ops, preload_errors;
	double preload_s, elapsed_s;
};

static struct options opt;
static struct result res;
static struct conn *conns;
static int epfd;
static char *pattern;       /* value_size + PATTERN_PERIOD bytes */
static uint64_t *hist;      /* HIST_MAX_US + 1 buckets */
static uint64_t *hist_sent; /* fixed-rate mode: latency from the send */
static bool measuring;      /* count completed requests */
static bool stopping;       /* issue no new requests */
static bool preloading;     /* the preload phase runs */
static uint64_t now_ns;     /* refreshed once per loop iteration */
static uint64_t rng_state;
static size_t rbuf_min;
static FILE *latlog; /* --latency-log: "t_ns latency_us [sent_us]" */

static void usage(FILE *out);

/* Returns CLOCK_MONOTONIC in nanoseconds. */
static uint64_t
clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Prints a message and exits with status 1. */
static void
die(const char *msg)
{
	fprintf(stderr, "loadgen: %s\n", msg);
	exit(1);
}

/* Returns a pseudo-random 64-bit number (xorshift64*). */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Returns a uniformly chosen key index. */
static uint32_t
rnd_key(void)
{
	return (uint32_t)(((rnd() >> 32) * opt.keyspace) >> 32);
}

/* Writes key idx (exactly opt.key_size bytes) to dst; returns the length. */
static int
fmt_key(char *dst, uint32_t idx)
{
	int plen = (int)sizeof(KEY_PREFIX) - 1;
	int i;

	memcpy(dst, KEY_PREFIX, (size_t)plen);
	for (i = opt.key_size - 1; i >= plen; i--) {
		dst[i] = (char)('0' + idx % 10);
		idx /= 10;
	}
	return opt.key_size;
}

/* Parses a key written by fmt_key; returns false if it is not one. */
static bool
parse_key(const char *s, size_t len, uint32_t *idx)
{
	size_t plen = sizeof(KEY_PREFIX) - 1;
	uint64_t v = 0;
	size_t i;

	if (len != (size_t)opt.key_size || memcmp(s, KEY_PREFIX, plen) != 0)
		return false;
	for (i = plen; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= opt.keyspace)
		return false;
	*idx = (uint32_t)v;
	return true;
}

/* Returns the expected value bytes of key idx. */
static const char *
value_of(uint32_t idx)
{
	return pattern + idx % PATTERN_PERIOD;
}

/* Returns the flags stored with key idx. */
static unsigned
flags_of(uint32_t idx)
{
	return idx & 0xffff;
}

/* Makes room for n more bytes in c's output buffer. */
static void
wbuf_reserve(struct conn *c, size_t n)
{
	if (c->wlen + n <= c->wcap)
		return;
	if (c->woff > 0) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	while (c->wlen + n > c->wcap)
		c->wcap *= 2;
	c->wbuf = realloc(c->wbuf, c->wcap);
	if (c->wbuf == NULL)
		die("out of memory");
}

/* Appends a request of the given type to c's output and its ring. */
static void
issue(struct conn *c, enum req_type type, uint64_t t_ns)
{
	struct req *r = &c->ring[(c->head + c->count) % (unsigned)opt.depth];
	size_t slot = (c->head + c->count) % (unsigned)opt.depth;
	char *p;
	int i;

	r->type = (uint8_t)type;
	r->t_ns = t_ns;
	r->mg_cursor = 0;
	r->hits = 0;
	r->bad = 0;
	switch (type) {
	case REQ_GET:
		r->key = preloading ? 0 : rnd_key();
		wbuf_reserve(c, (size_t)opt.key_size + 8);
		p = c->wbuf + c->wlen;
		memcpy(p, "get ", 4);
		p += 4;
		p += fmt_key(p, r->key);
		memcpy(p, "\r\n", 2);
		c->wlen = (size_t)(p + 2 - c->wbuf);
		break;
	case REQ_MGET:
		r->key = (uint32_t)slot;
		wbuf_reserve(
		    c, (size_t)(opt.key_size + 1) * (size_t)opt.mget_keys + 8);
		p = c->wbuf + c->wlen;
		memcpy(p, "get", 3);
		p += 3;
		for (i = 0; i < opt.mget_keys; i++) {
			uint32_t k = rnd_key();

			c->mkeys[slot * (size_t)opt.mget_keys + (size_t)i] = k;
			*p++ = ' ';
			p += fmt_key(p, k);
		}
		memcpy(p, "\r\n", 2);
		c->wlen = (size_t)(p + 2 - c->wbuf);
		break;
	case REQ_MG:
		r->key = rnd_key();
		wbuf_reserve(c, (size_t)opt.key_size + 16);
		p = c->wbuf + c->wlen;
		memcpy(p, "mg ", 3);
		p += 3;
		p += fmt_key(p, r->key);
		memcpy(p, " f v\r\n", 6);
		c->wlen = (size_t)(p + 6 - c->wbuf);
		break;
	case REQ_SET:
		if (preloading)
			r->key = c->pl_next++;
		else
			r->key = rnd_key();
		wbuf_reserve(c, (size_t)opt.key_size + (size_t)opt.value_size +
		                    64);
		p = c->wbuf + c->wlen;
		memcpy(p, "set ", 4);
		p += 4;
		p += fmt_key(p, r->key);
		p += sprintf(p, " %u 0 %d\r\n", flags_of(r->key),
		             opt.value_size);
		memcpy(p, value_of(r->key), (size_t)opt.value_size);
		p += opt.value_size;
		memcpy(p, "\r\n", 2);
		c->wlen = (size_t)(p + 2 - c->wbuf);
		break;
	}
	c->count++;
}

/* Issues one request of the configured workload. */
static void
issue_workload(struct conn *c, uint64_t t_ns)
{
	switch (opt.wl) {
	case WL_MIX:
		issue(c, (int)(rnd() % 100) < opt.set_pct ? REQ_SET : REQ_GET,
		      t_ns);
		break;
	case WL_MULTIGET:
		issue(c, REQ_MGET, t_ns);
		break;
	case WL_SET:
		issue(c, REQ_SET, t_ns);
		break;
	case WL_GET:
		issue(c, REQ_GET, t_ns);
		break;
	case WL_MG:
		issue(c, REQ_MG, t_ns);
		break;
	}
}

/* Arms or disarms EPOLLOUT on c to match whether output is queued. */
static void
update_events(struct conn *c)
{
	bool want = c->woff < c->wlen;
	struct epoll_event ev;

	if (want == c->want_out || c->dead)
		return;
	ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl");
	c->want_out = want;
}

/* Marks c dead: its requests in flight count as errors. */
static void
conn_kill(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	fprintf(stderr, "loadgen: connection lost: %s\n", why);
	if (measuring || preloading)
		res.errors += c->count;
	c->count = 0;
	c->dead = true;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
}

/* Writes as much queued output as the socket takes. */
static void
conn_flush(struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_kill(c, strerror(errno));
			return;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	update_events(c);
}

/* Records the latency of a request that completed now. */
static void
record(const struct req *r)
{
	uint64_t t = clock_ns();
	uint64_t us, sus;

	if (!measuring)
		return;
	sus = t > r->t_sent ? (t - r->t_sent) / 1000 : 0;
	hist_sent[sus > HIST_MAX_US ? HIST_MAX_US : sus]++;
	us = t > r->t_ns ? (t - r->t_ns) / 1000 : 0;
	hist[us > HIST_MAX_US ? HIST_MAX_US : us]++;
	res.ops++;
	if (latlog)
		fprintf(latlog, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t, us,
		        sus);
}

/* Records the latency of a throughput-mode request (per-loop clock). */
static void
record_fast(const struct req *r)
{
	uint64_t us;

	if (!measuring)
		return;
	us = now_ns > r->t_ns ? (now_ns - r->t_ns) / 1000 : 0;
	hist[us > HIST_MAX_US ? HIST_MAX_US : us]++;
	res.ops++;
	if (latlog)
		fprintf(latlog, "%" PRIu64 " %" PRIu64 "\n", now_ns, us);
}

/* Completes the request at the head of c's ring. */
static void
complete(struct conn *c, bool error)
{
	struct req *r = &c->ring[c->head];

	if (preloading) {
		res.preload_ops++;
		if (error)
			res.preload_errors++;
	} else {
		if (measuring) {
			if (error)
				res.errors++;
			if (r->type == REQ_SET) {
				res.sets++;
				if (!error)
					res.stored++;
			} else {
				unsigned nk = r->type == REQ_MGET
				                  ? (unsigned)opt.mget_keys
				                  : 1;
				res.gets++;
				res.keys += nk;
				res.hits += r->hits;
				if (!error)
					res.misses += nk - r->hits - r->bad;
			}
		}
		if (opt.rate > 0)
			record(r);
		else
			record_fast(r);
	}
	c->head = (c->head + 1) % (unsigned)opt.depth;
	c->count--;
}

/* Counts an error against the request in progress without finishing it. */
static void
soft_error(void)
{
	if (preloading)
		res.preload_errors++;
	else if (measuring)
		res.errors++;
}

/* Handles a "VALUE key flags bytes" line for request r; returns false if
 * the stream cannot be followed. */
static bool
on_value(struct conn *c, struct req *r, char *line, size_t len)
{
	char *key = line + 6, *sp, *end;
	unsigned long flags, bytes;
	uint32_t idx = 0;
	bool ok;

	sp = memchr(key, ' ', len - 6);
	if (sp == NULL)
		return false;
	flags = strtoul(sp + 1, &end, 10);
	if (*end != ' ')
		return false;
	bytes = strtoul(end + 1, &end, 10);
	if (*end != '\r' && *end != ' ')
		return false;
	ok = parse_key(key, (size_t)(sp - key), &idx);
	if (ok && r->type == REQ_GET) {
		ok = idx == r->key && r->hits == 0;
	} else if (ok) {
		const uint32_t *ks =
		    &c->mkeys[(size_t)r->key * (size_t)opt.mget_keys];

		/* Hits come back in request order; skipped keys missed. */
		while (r->mg_cursor < opt.mget_keys && ks[r->mg_cursor] != idx)
			r->mg_cursor++;
		ok = r->mg_cursor < opt.mget_keys;
		if (ok)
			r->mg_cursor++;
	}
	ok = ok && (opt.floor || flags == flags_of(idx)) &&
	     bytes == (unsigned long)opt.value_size;
	if (ok) {
		r->hits++;
	} else {
		r->bad++;
		soft_error();
	}
	c->ps = PS_DATA;
	c->data_need = bytes + 2;
	c->data_key = idx;
	c->data_ok = ok;
	return true;
}

/* Handles a meta "VA bytes f<flags>" line for request r; returns false
 * if the stream cannot be followed. */
static bool
on_meta_value(struct conn *c, struct req *r, char *line)
{
	unsigned long flags = 0, bytes;
	char *end;
	bool ok;

	bytes = strtoul(line + 3, &end, 10);
	if (*end != ' ' || end[1] != 'f')
		return false;
	flags = strtoul(end + 2, &end, 10);
	if (*end != '\r' && *end != ' ')
		return false;
	ok = (opt.floor || flags == flags_of(r->key)) &&
	     bytes == (unsigned long)opt.value_size;
	if (ok) {
		r->hits++;
	} else {
		r->bad++;
		soft_error();
	}
	c->ps = PS_DATA;
	c->data_need = bytes + 2;
	c->data_key = r->key;
	c->data_ok = ok;
	return true;
}

/* Parses and checks the complete replies in c's input; returns false if
 * the stream cannot be followed any more. */
static bool
conn_parse(struct conn *c)
{
	size_t off = 0;

	while (off < c->rlen) {
		char *p = c->rbuf + off, *nl;
		size_t avail = c->rlen - off, len;
		struct req *r;

		if (c->count == 0)
			return false; /* a reply nobody asked for */
		r = &c->ring[c->head];
		if (c->ps == PS_DATA) {
			if (avail < c->data_need)
				break;
			if (c->data_ok && !opt.floor &&
			    memcmp(p, value_of(c->data_key),
			           (size_t)opt.value_size) != 0) {
				r->hits--;
				r->bad++;
				soft_error();
			}
			if (p[c->data_need - 2] != '\r' ||
			    p[c->data_need - 1] != '\n')
				return false;
			off += c->data_need;
			c->ps = PS_LINE;
			if (r->type == REQ_MG)
				complete(c, false); /* errors counted above */
			continue;
		}
		nl = memchr(p, '\n', avail);
		if (nl == NULL) {
			if (avail > 4096)
				return false;
			break;
		}
		len = (size_t)(nl - p) + 1;
		off += len;
		if (r->type == REQ_SET) {
			complete(c,
			         len != 8 || memcmp(p, "STORED\r\n", 8) != 0);
		} else if (r->type == REQ_MG) {
			if (len > 5 && memcmp(p, "VA ", 3) == 0) {
				if (!on_meta_value(c, r, p))
					return false;
			} else {
				/* EN is a miss; anything else an error. */
				complete(c, len != 4 ||
				                memcmp(p, "EN\r\n", 4) != 0);
			}
		} else if (len > 6 && memcmp(p, "VALUE ", 6) == 0) {
			if (!on_value(c, r, p, len))
				return false;
		} else {
			complete(c, len != 5 || memcmp(p, "END\r\n", 5) != 0);
		}
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return true;
}

/* Reads what the socket has and parses it. */
static void
conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->rlen == c->rcap) {
			c->rcap *= 2;
			c->rbuf = realloc(c->rbuf, c->rcap);
			if (c->rbuf == NULL)
				die("out of memory");
		}
		n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n == 0) {
			conn_kill(c, "closed by server");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_kill(c, strerror(errno));
			return;
		}
		c->rlen += (size_t)n;
		if (!conn_parse(c)) {
			conn_kill(c, "unparseable reply");
			return;
		}
		if ((size_t)n < c->rcap - c->rlen)
			return; /* drained the socket */
	}
}

/* Sets O_NONBLOCK on fd; returns -1 on error. */
static int
fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Opens connection c to the server; exits on failure. */
static void
conn_open(struct conn *c, const struct addrinfo *ai)
{
	struct epoll_event ev;
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (c->fd < 0)
		die("socket");
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "loadgen: connect %s:%s: %s\n", opt.host,
		        opt.port, strerror(errno));
		exit(1);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fcntl_nonblock(c->fd) < 0)
		die("fcntl");
	c->ring = calloc((size_t)opt.depth, sizeof(*c->ring));
	c->mkeys = calloc((size_t)opt.depth * (size_t)opt.mget_keys,
	                  sizeof(*c->mkeys));
	c->wcap = 65536;
	c->wbuf = malloc(c->wcap);
	c->rcap = rbuf_min;
	c->rbuf = malloc(c->rcap);
	if (!c->ring || !c->mkeys || !c->wbuf || !c->rbuf)
		die("out of memory");
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl");
}

/* Runs the event loop until done() is true or the deadline (0: none)
 * passes; refill() is called for each connection after its input. */
static void
loop(bool (*done)(void), void (*refill)(struct conn *), uint64_t deadline,
     int timer_fd, void (*on_timer)(void))
{
	struct epoll_event evs[MAX_EVENTS];
	int i, n;

	while (!done()) {
		int timeout = -1;

		now_ns = clock_ns();
		if (deadline) {
			if (now_ns >= deadline)
				return;
			timeout = (int)((deadline - now_ns) / 1000000) + 1;
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		now_ns = clock_ns();
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL) {
				uint64_t exp;

				if (read(timer_fd, &exp, sizeof(exp)) < 0 &&
				    errno != EAGAIN)
					die("timerfd read");
				on_timer();
				continue;
			}
			if (c->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_read(c);
			if (c->dead)
				continue;
			if (refill)
				refill(c);
			conn_flush(c);
		}
	}
}

/* ---- preload ---- */

/* Keeps up to depth preload sets in flight on c. */
static void
preload_refill(struct conn *c)
{
	while (!c->dead && c->count < (unsigned)opt.depth &&
	       c->pl_next < c->pl_end)
		issue(c, REQ_SET, now_ns);
}

/* True when every connection has loaded its share. */
static bool
preload_done(void)
{
	int i;

	for (i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];

		if (!c->dead && (c->count > 0 || c->pl_next < c->pl_end))
			return false;
	}
	return true;
}

/* Stores every key of the key space once. */
static void
preload(void)
{
	uint32_t per = opt.keyspace / (uint32_t)opt.conns + 1;
	uint64_t t0 = clock_ns();
	int i;

	preloading = true;
	now_ns = t0;
	for (i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		uint64_t lo = (uint64_t)per * (uint64_t)i;
		uint64_t hi = lo + per;

		c->pl_next = (uint32_t)(lo < opt.keyspace ? lo : opt.keyspace);
		c->pl_end = (uint32_t)(hi < opt.keyspace ? hi : opt.keyspace);
		preload_refill(c);
		conn_flush(c);
	}
	loop(preload_done, preload_refill, 0, -1, NULL);
	res.preload_s = (double)(clock_ns() - t0) / 1e9;
	preloading = false;
}

/* ---- throughput mode ---- */

/* Keeps depth requests in flight on c. */
static void
tput_refill(struct conn *c)
{
	if (stopping)
		return;
	while (!c->dead && c->count < (unsigned)opt.depth)
		issue_workload(c, now_ns);
}

/* Never done by itself: the deadline ends the loop. */
static bool
never_done(void)
{
	return false;
}

/* True when no connection has a request in flight. */
static bool
all_idle(void)
{
	int i;

	for (i = 0; i < opt.conns; i++)
		if (!conns[i].dead && conns[i].count > 0)
			return false;
	return true;
}

/* Runs the closed-loop throughput measurement. */
static void
run_throughput(void)
{
	uint64_t t0;
	int i;

	now_ns = clock_ns();
	t0 = now_ns;
	measuring = true;
	for (i = 0; i < opt.conns; i++) {
		tput_refill(&conns[i]);
		conn_flush(&conns[i]);
	}
	loop(never_done, tput_refill, t0 + (uint64_t)(opt.duration * 1e9), -1,
	     NULL);
	res.elapsed_s = (double)(clock_ns() - t0) / 1e9;
	measuring = false;
	stopping = true;
	/* Let the replies in flight arrive, uncounted, before closing. */
	loop(all_idle, NULL, clock_ns() + 2000000000ull, -1, NULL);
}

/* ---- fixed-rate mode ---- */

static uint64_t rate_t0;
static int rate_tfd = -1;

/* Returns the scheduled time of request k. */
static uint64_t
rate_due(uint64_t k)
{
	return rate_t0 + (uint64_t)((double)k * 1e9 / opt.rate);
}

/* Arms the timer for the earliest due request of an idle connection. */
static void
rate_arm(void)
{
	uint64_t next = UINT64_MAX;
	struct itimerspec its;
	int i;

	for (i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		uint64_t d;

		if (c->dead || c->count > 0)
			continue;
		d = rate_due(c->rate_k);
		if (d < next)
			next = d;
	}
	memset(&its, 0, sizeof(its));
	if (next != UINT64_MAX) {
		its.it_value.tv_sec = (time_t)(next / 1000000000ull);
		its.it_value.tv_nsec = (long)(next % 1000000000ull);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(rate_tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime");
}

/* Sends c's next request if it is idle and the request is due. */
static void
rate_refill(struct conn *c)
{
	uint64_t due;

	if (stopping || c->dead || c->count > 0)
		return;
	due = rate_due(c->rate_k);
	if (due > now_ns)
		return;
	issue_workload(c, due);
	c->ring[c->head].t_sent = now_ns;
	c->rate_k += (uint64_t)opt.conns;
}

/* Timer callback: sends every due request, then re-arms. */
static void
rate_tick(void)
{
	int i;

	for (i = 0; i < opt.conns; i++) {
		rate_refill(&conns[i]);
		conn_flush(&conns[i]);
	}
	rate_arm();
}

/* Refill hook for the loop: send if due, and keep the timer right. */
static void
rate_refill_arm(struct conn *c)
{
	rate_refill(c);
	if (c->count == 0 && !stopping)
		rate_arm();
}

/* Runs the open-loop fixed-rate latency measurement. */
static void
run_rate(void)
{
	struct epoll_event ev;
	int i;

	/* The default 50-us timer slack would be charged to the server. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	rate_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	if (rate_tfd < 0)
		die("timerfd_create");
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, rate_tfd, &ev) < 0)
		die("epoll_ctl");
	rate_t0 = clock_ns();
	for (i = 0; i < opt.conns; i++)
		conns[i].rate_k = (uint64_t)i;
	measuring = true;
	now_ns = rate_t0;
	rate_tick();
	loop(never_done, rate_refill_arm,
	     rate_t0 + (uint64_t)(opt.duration * 1e9), rate_tfd, rate_tick);
	res.elapsed_s = (double)(clock_ns() - rate_t0) / 1e9;
	measuring = false;
	stopping = true;
	loop(all_idle, NULL, clock_ns() + 2000000000ull, rate_tfd, rate_tick);
}

/* ---- results ---- */

/* Returns the latency in us at quantile q of the histogram. */
static uint64_t
percentile(const uint64_t *h, double q)
{
	uint64_t total = 0, want, acc = 0;
	uint64_t i;

	for (i = 0; i <= HIST_MAX_US; i++)
		total += h[i];
	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total);
	if (want >= total)
		want = total - 1;
	for (i = 0; i <= HIST_MAX_US; i++) {
		acc += h[i];
		if (acc > want)
			return i;
	}
	return HIST_MAX_US;
}

/* Prints the result line. */
static void
print_result(void)
{
	static const char *names[] = {"mix", "multiget", "set", "get", "mg"};
	double el = res.elapsed_s > 0 ? res.elapsed_s : 1;
	int dead = 0, i;

	for (i = 0; i < opt.conns; i++)
		dead += conns[i].dead;
	printf("{\"workload\":\"%s\",\"mode\":\"%s\",\"conns\":%d,"
	       "\"depth\":%d,\"keyspace\":%" PRIu32 ",\"key_size\":%d,"
	       "\"value_size\":%d,\"rate\":%.0f,\"duration_s\":%.3f,"
	       "\"mget_keys\":%d,\"ops\":%" PRIu64 ",\"ops_per_sec\":%.1f,"
	       "\"keys_per_sec\":%.1f,\"gets\":%" PRIu64 ",\"sets\":%" PRIu64
	       ",\"stored\":%" PRIu64 ",\"keys_asked\":%" PRIu64
	       ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"conns_lost\":%d,"
	       "\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64
	       ",\"p999_us\":%" PRIu64 ",\"max_us\":%" PRIu64 ","
	       "\"sent_p50_us\":%" PRIu64 ",\"sent_p99_us\":%" PRIu64 ","
	       "\"preload_ops\":%" PRIu64 ",\"preload_errors\":%" PRIu64
	       ",\"preload_s\":%.3f}\n",
	       names[opt.wl], opt.rate > 0 ? "rate" : "throughput", opt.conns,
	       opt.depth, opt.keyspace, opt.key_size, opt.value_size, opt.rate,
	       res.elapsed_s, opt.mget_keys, res.ops, (double)res.ops / el,
	       (double)(res.hits + res.stored) / el, res.gets, res.sets,
	       res.stored, res.keys, res.hits, res.misses, res.errors, dead,
	       percentile(hist, 0.5), percentile(hist, 0.99),
	       percentile(hist, 0.999), percentile(hist, 1.0),
	       percentile(hist_sent, 0.5), percentile(hist_sent, 0.99),
	       res.preload_ops, res.preload_errors, res.preload_s);
	fflush(stdout);
}

/* ---- options ---- */

/* Prints the usage text. */
static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: loadgen [options]\n"
	    "  -s, --server HOST:PORT   server (127.0.0.1:11211)\n"
	    "  -c, --conns N            connections (50)\n"
	    "  -d, --depth N            requests in flight per connection "
	    "(32)\n"
	    "  -k, --keyspace N         distinct keys (100000)\n"
	    "  -K, --key-size N         key length in bytes (16)\n"
	    "  -V, --value-size N       value length in bytes (100)\n"
	    "  -w, --workload W         mix (90%% get/10%% set), multiget "
	    "(-m keys),\n"
	    "                           set, get, mg (meta get) (mix)\n"
	    "  -m, --mget-keys N        keys per multiget (20, at most %d)\n"
	    "  -F, --floor              the server is bench/floor: check "
	    "keys and lengths,\n"
	    "                           not flags or value bytes\n"
	    "  -p, --set-pct N          sets in the mix, percent (10)\n"
	    "  -t, --duration SECS      measured time (10); 0 = preload "
	    "only\n"
	    "  -n, --no-preload         do not store the key space first\n"
	    "  -r, --rate N             fixed-rate latency mode: N req/s, "
	    "depth 1\n"
	    "  -S, --seed N             random seed (1)\n"
	    "  -L, --latency-log FILE   write \"completion_ns latency_us\" "
	    "per request\n"
	    "                           (CLOCK_MONOTONIC; --rate mode adds "
	    "a third\n"
	    "                           column, the latency from the actual "
	    "send)\n"
	    "Prints one JSON line with the results; exits 2 if any reply "
	    "was wrong.\n"
	    "keys_per_sec counts keys returned (hits) and sets STORED.\n",
	    MGET_MAX);
}

/* Parses a positive integer option or exits. */
static long
parse_num(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		fprintf(stderr, "loadgen: bad %s: %s\n", what, s);
		exit(64);
	}
	return v;
}

/* Fills opt from argv. */
static void
parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"conns", required_argument, NULL, 'c'},
	    {"depth", required_argument, NULL, 'd'},
	    {"keyspace", required_argument, NULL, 'k'},
	    {"key-size", required_argument, NULL, 'K'},
	    {"value-size", required_argument, NULL, 'V'},
	    {"workload", required_argument, NULL, 'w'},
	    {"set-pct", required_argument, NULL, 'p'},
	    {"duration", required_argument, NULL, 't'},
	    {"no-preload", no_argument, NULL, 'n'},
	    {"rate", required_argument, NULL, 'r'},
	    {"seed", required_argument, NULL, 'S'},
	    {"latency-log", required_argument, NULL, 'L'},
	    {"mget-keys", required_argument, NULL, 'm'},
	    {"floor", no_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	char *colon, *end;
	int ch;

	snprintf(opt.host, sizeof(opt.host), "127.0.0.1");
	snprintf(opt.port, sizeof(opt.port), "11211");
	opt.conns = 50;
	opt.depth = 32;
	opt.keyspace = 100000;
	opt.key_size = 16;
	opt.value_size = 100;
	opt.wl = WL_MIX;
	opt.duration = 10;
	opt.preload = true;
	opt.seed = 1;
	opt.set_pct = 10;
	opt.mget_keys = 20;
	while ((ch = getopt_long(argc, argv, "s:c:d:k:K:V:w:p:t:nr:S:L:m:Fh",
	                         lopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			colon = strrchr(optarg, ':');
			if (colon == NULL || colon == optarg ||
			    (size_t)(colon - optarg) >= sizeof(opt.host) ||
			    strlen(colon + 1) >= sizeof(opt.port)) {
				fprintf(stderr, "loadgen: bad server: %s\n",
				        optarg);
				exit(64);
			}
			snprintf(opt.host, sizeof(opt.host), "%.*s",
			         (int)(colon - optarg), optarg);
			snprintf(opt.port, sizeof(opt.port), "%s", colon + 1);
			break;
		case 'c':
			opt.conns = (int)parse_num(optarg, "conns", 1, 10000);
			break;
		case 'd':
			opt.depth = (int)parse_num(optarg, "depth", 1, 4096);
			break;
		case 'k':
			opt.keyspace = (uint32_t)parse_num(optarg, "keyspace",
			                                   1, 1000000000);
			break;
		case 'K':
			opt.key_size =
			    (int)parse_num(optarg, "key size", 8, 250);
			break;
		case 'V':
			opt.value_size =
			    (int)parse_num(optarg, "value size", 1, 1 << 20);
			break;
		case 'w':
			if (strcmp(optarg, "mix") == 0)
				opt.wl = WL_MIX;
			else if (strcmp(optarg, "multiget") == 0)
				opt.wl = WL_MULTIGET;
			else if (strcmp(optarg, "set") == 0)
				opt.wl = WL_SET;
			else if (strcmp(optarg, "get") == 0)
				opt.wl = WL_GET;
			else if (strcmp(optarg, "mg") == 0)
				opt.wl = WL_MG;
			else {
				fprintf(stderr, "loadgen: bad workload: %s\n",
				        optarg);
				exit(64);
			}
			break;
		case 'p':
			opt.set_pct = (int)parse_num(optarg, "set pct", 0, 100);
			break;
		case 't':
			opt.duration = strtod(optarg, &end);
			if (*end || opt.duration < 0 || opt.duration > 86400) {
				fprintf(stderr, "loadgen: bad duration: %s\n",
				        optarg);
				exit(64);
			}
			break;
		case 'n':
			opt.preload = false;
			break;
		case 'r':
			opt.rate = strtod(optarg, &end);
			if (*end || opt.rate <= 0) {
				fprintf(stderr, "loadgen: bad rate: %s\n",
				        optarg);
				exit(64);
			}
			break;
		case 'S':
			opt.seed =
			    (uint64_t)parse_num(optarg, "seed", 0, 0x7fffffff);
			break;
		case 'L':
			latlog = fopen(optarg, "w");
			if (latlog == NULL) {
				fprintf(stderr, "loadgen: %s: %s\n", optarg,
				        strerror(errno));
				exit(1);
			}
			break;
		case 'm':
			opt.mget_keys =
			    (int)parse_num(optarg, "mget keys", 1, MGET_MAX);
			break;
		case 'F':
			opt.floor = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(64);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(64);
	}
	/* The key must hold the prefix and every index of the key space. */
	{
		int digits = 1;
		uint32_t k = opt.keyspace - 1;

		while (k >= 10) {
			k /= 10;
			digits++;
		}
		if (opt.key_size < (int)sizeof(KEY_PREFIX) - 1 + digits) {
			fprintf(stderr,
			        "loadgen: key size %d too small for "
			        "key space %" PRIu32 "\n",
			        opt.key_size, opt.keyspace);
			exit(64);
		}
	}
}

int
main(int argc, char **argv)
{
	struct addrinfo hints, *ai;
	int i, rc;

	parse_args(argc, argv);
	rng_state = opt.seed * 0x9E3779B97F4A7C15ull + 1;
	if (opt.rate > 0)
		opt.depth = 1;
	pattern = malloc((size_t)opt.value_size + PATTERN_PERIOD);
	hist = calloc(HIST_MAX_US + 1, sizeof(*hist));
	hist_sent = calloc(HIST_MAX_US + 1, sizeof(*hist_sent));
	conns = calloc((size_t)opt.conns, sizeof(*conns));
	if (!pattern || !hist || !hist_sent || !conns)
		die("out of memory");
	for (i = 0; i < opt.value_size + PATTERN_PERIOD; i++)
		pattern[i] = (char)('A' + i % PATTERN_PERIOD);
	rbuf_min = 65536;
	while (rbuf_min <
	       2 * (size_t)(opt.value_size + 512) * (size_t)opt.mget_keys)
		rbuf_min *= 2;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(opt.host, opt.port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s:%s: %s\n", opt.host, opt.port,
		        gai_strerror(rc));
		return 1;
	}
	epfd = epoll_create1(0);
	if (epfd < 0)
		die("epoll_create1");
	for (i = 0; i < opt.conns; i++)
		conn_open(&conns[i], ai);
	freeaddrinfo(ai);

	if (opt.preload)
		preload();
	if (opt.duration > 0) {
		if (opt.rate > 0)
			run_rate();
		else
			run_throughput();
	}
	print_result();
	if (latlog)
		fclose(latlog);
	return res.errors || res.preload_errors ? 2 : 0;
}
