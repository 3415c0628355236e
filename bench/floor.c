/* floor.c: the I/O floor for bench/run. A minimal single-threaded epoll
 * server that answers memcached's requests with prepared replies of the
 * right size, with no store behind it: every get hits, every set is
 * STORED. What a cache daemon does beyond this costs time on top of the
 * reads and writes both have to make, so a row's ours/floor figure is the
 * share of the I/O-bound limit the daemon reaches.
 *
 * Answers, per connection and in order:
 *  - text: get/gets (one or many keys: "VALUE key 0 N" + N bytes each,
 *    then END), mg (VA N with the f, k, s, c, t flags it was asked for,
 *    or HD without v), set/add/replace (STORED, or nothing with noreply),
 *    version, stats (END), flush_all (OK), quit; anything else ERROR;
 *  - binary: GET, GETQ, GETK, GETKQ (4 bytes of flags + N bytes), SET,
 *    SETQ, ADD, REPLACE (CAS 1), NOOP, VERSION, QUIT; others get status
 *    0x81 (unknown command).
 * N is the size of the last value set (any connection), or -V until a
 * set has been seen: the value bytes are a prepared buffer, not stored.
 *
 *     floor [-l HOST] [-p PORT] [-V BYTES]
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_VALUE (1024 * 1024) /* largest value it answers with */
#define MAX_LINE 8192           /* longest request line */
#define RBUF_MIN 65536
#define MAX_EVENTS 256

struct fconn {
	int fd;
	bool want_out;
	char *rbuf;
	size_t rlen, rcap;
	size_t skip;     /* bytes of a set's data still to drop */
	bool skip_reply; /* after the data: reply STORED */
	char *wbuf;
	size_t wlen, woff, wcap;
};

static int epfd;
static char value[MAX_VALUE + 2]; /* 'x' * MAX_VALUE, then "\r\n" */
static size_t vlen = 100;         /* the size gets answer with */

/* Prints a message and exits with status 1. */
static void
die(const char *msg)
{
	fprintf(stderr, "floor: %s: %s\n", msg, strerror(errno));
	exit(1);
}

/* Returns a pointer to n bytes of room at the end of c's output. */
static char *
out_reserve(struct fconn *c, size_t n)
{
	if (c->wlen + n > c->wcap) {
		if (c->woff > 0) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
		}
		while (c->wlen + n > c->wcap)
			c->wcap *= 2;
		c->wbuf = realloc(c->wbuf, c->wcap);
		if (c->wbuf == NULL)
			die("realloc");
	}
	return c->wbuf + c->wlen;
}

/* Appends n bytes to c's output. */
static void
out(struct fconn *c, const void *p, size_t n)
{
	memcpy(out_reserve(c, n), p, n);
	c->wlen += n;
}

/* Appends a string to c's output. */
static void
outs(struct fconn *c, const char *s)
{
	out(c, s, strlen(s));
}

/* Appends a number in decimal to c's output. */
static void
outu(struct fconn *c, size_t v)
{
	char buf[24], *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out(c, p, (size_t)(buf + sizeof(buf) - p));
}

/* Closes c and frees it. */
static void
conn_close(struct fconn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

/* Returns the next space-separated token of [*p, end), or NULL. */
static char *
token(char **p, char *end, size_t *len)
{
	char *s = *p, *e;

	while (s < end && *s == ' ')
		s++;
	if (s >= end)
		return NULL;
	e = s;
	while (e < end && *e != ' ')
		e++;
	*len = (size_t)(e - s);
	*p = e;
	return s;
}

/* Answers a text "get k1 k2 ...". */
static void
text_get(struct fconn *c, char *p, char *end)
{
	size_t klen;
	char *k;

	while ((k = token(&p, end, &klen)) != NULL) {
		outs(c, "VALUE ");
		out(c, k, klen);
		outs(c, " 0 ");
		outu(c, vlen);
		outs(c, "\r\n");
		out(c, value, vlen);
		outs(c, "\r\n");
	}
	outs(c, "END\r\n");
}

/* Answers a meta "mg key flags...". */
static void
meta_get(struct fconn *c, char *p, char *end)
{
	size_t klen, flen;
	char *k = token(&p, end, &klen), *f;
	bool v = false;
	char *q;

	if (k == NULL) {
		outs(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	for (q = p; (f = token(&q, end, &flen)) != NULL;)
		if (f[0] == 'v')
			v = true;
	if (v) {
		outs(c, "VA ");
		outu(c, vlen);
	} else {
		outs(c, "HD");
	}
	while ((f = token(&p, end, &flen)) != NULL) {
		switch (f[0]) {
		case 'f':
			outs(c, " f0");
			break;
		case 'k':
			outs(c, " k");
			out(c, k, klen);
			break;
		case 's':
			outs(c, " s");
			outu(c, vlen);
			break;
		case 'c':
			outs(c, " c1");
			break;
		case 't':
			outs(c, " t-1");
			break;
		case 'O':
			out(c, " ", 1);
			out(c, f, flen);
			break;
		}
	}
	outs(c, "\r\n");
	if (v) {
		out(c, value, vlen);
		outs(c, "\r\n");
	}
}

/* Handles a text "set key flags exptime bytes [noreply]": the data is
 * dropped as it arrives. Returns false on a malformed line. */
static bool
text_set(struct fconn *c, char *p, char *end)
{
	size_t len, i;
	char *t;
	unsigned long n;

	for (i = 0; i < 3; i++)
		if (token(&p, end, &len) == NULL)
			return false;
	t = token(&p, end, &len);
	if (t == NULL)
		return false;
	n = strtoul(t, NULL, 10);
	if (n > MAX_VALUE)
		return false;
	t = token(&p, end, &len);
	c->skip = n + 2;
	c->skip_reply = !(t && len == 7 && memcmp(t, "noreply", 7) == 0);
	vlen = n;
	return true;
}

/* Handles one text request line (without "\r\n"); returns false to close
 * the connection. */
static bool
text_line(struct fconn *c, char *line, char *end)
{
	char *p = line;
	size_t len;
	char *cmd = token(&p, end, &len);

	if (cmd == NULL) {
		outs(c, "ERROR\r\n");
	} else if ((len == 3 && memcmp(cmd, "get", 3) == 0) ||
	           (len == 4 && memcmp(cmd, "gets", 4) == 0)) {
		text_get(c, p, end);
	} else if (len == 2 && memcmp(cmd, "mg", 2) == 0) {
		meta_get(c, p, end);
	} else if ((len == 3 && memcmp(cmd, "set", 3) == 0) ||
	           (len == 3 && memcmp(cmd, "add", 3) == 0) ||
	           (len == 7 && memcmp(cmd, "replace", 7) == 0)) {
		if (!text_set(c, p, end)) {
			outs(c, "CLIENT_ERROR bad command line format\r\n");
			return false;
		}
	} else if (len == 7 && memcmp(cmd, "version", 7) == 0) {
		outs(c, "VERSION floor\r\n");
	} else if (len == 5 && memcmp(cmd, "stats", 5) == 0) {
		outs(c, "END\r\n");
	} else if (len == 9 && memcmp(cmd, "flush_all", 9) == 0) {
		outs(c, "OK\r\n");
	} else if (len == 4 && memcmp(cmd, "quit", 4) == 0) {
		return false;
	} else {
		outs(c, "ERROR\r\n");
	}
	return true;
}

/* Appends a binary response header. */
static void
bin_header(struct fconn *c, const unsigned char *req, uint16_t status,
           uint16_t keylen, uint8_t extlen, uint32_t bodylen, uint64_t cas)
{
	unsigned char h[24];
	uint32_t be32;
	int i;

	h[0] = 0x81;
	h[1] = req[1];
	h[2] = (unsigned char)(keylen >> 8);
	h[3] = (unsigned char)keylen;
	h[4] = extlen;
	h[5] = 0;
	h[6] = (unsigned char)(status >> 8);
	h[7] = (unsigned char)status;
	be32 = htonl(bodylen);
	memcpy(h + 8, &be32, 4);
	memcpy(h + 12, req + 12, 4); /* opaque */
	for (i = 0; i < 8; i++)
		h[16 + i] = (unsigned char)(cas >> (56 - 8 * i));
	out(c, h, sizeof(h));
}

/* Handles one complete binary request of 24 + bodylen bytes; returns
 * false to close the connection. */
static bool
bin_request(struct fconn *c, const unsigned char *req, uint32_t bodylen)
{
	uint8_t op = req[1], extlen = req[4];
	uint16_t keylen = (uint16_t)(req[2] << 8 | req[3]);
	const unsigned char *key = req + 24 + extlen;
	static const unsigned char flags[4];

	switch (op) {
	case 0x00: /* GET */
	case 0x09: /* GETQ */
		bin_header(c, req, 0, 0, 4, (uint32_t)(4 + vlen), 1);
		out(c, flags, 4);
		out(c, value, vlen);
		break;
	case 0x0c: /* GETK */
	case 0x0d: /* GETKQ */
		bin_header(c, req, 0, keylen, 4, (uint32_t)(4 + keylen + vlen),
		           1);
		out(c, flags, 4);
		out(c, key, keylen);
		out(c, value, vlen);
		break;
	case 0x01: /* SET */
	case 0x02: /* ADD */
	case 0x03: /* REPLACE */
	case 0x11: /* SETQ */
	case 0x12: /* ADDQ */
	case 0x13: /* REPLACEQ */
		if (bodylen >= (uint32_t)extlen + keylen)
			vlen = bodylen - extlen - keylen;
		if (op < 0x11)
			bin_header(c, req, 0, 0, 0, 0, 1);
		break;
	case 0x0a: /* NOOP */
		bin_header(c, req, 0, 0, 0, 0, 0);
		break;
	case 0x0b: /* VERSION */
		bin_header(c, req, 0, 0, 0, 5, 0);
		out(c, "floor", 5);
		break;
	case 0x07: /* QUIT */
		return false;
	default:
		bin_header(c, req, 0x81, 0, 0, 15, 0);
		out(c, "Unknown command", 15);
		break;
	}
	return true;
}

/* Answers every complete request in c's input; returns false to close. */
static bool
conn_parse(struct fconn *c)
{
	size_t off = 0;

	while (off < c->rlen) {
		char *p = c->rbuf + off;
		size_t avail = c->rlen - off;

		if (c->skip > 0) {
			size_t n = avail < c->skip ? avail : c->skip;

			off += n;
			c->skip -= n;
			if (c->skip == 0 && c->skip_reply)
				outs(c, "STORED\r\n");
			continue;
		}
		if ((unsigned char)p[0] == 0x80) {
			uint32_t bodylen;

			if (avail < 24)
				break;
			memcpy(&bodylen, p + 8, 4);
			bodylen = ntohl(bodylen);
			if (bodylen > MAX_VALUE + 1024)
				return false;
			if (avail < 24 + (size_t)bodylen)
				break;
			if (!bin_request(c, (unsigned char *)p, bodylen))
				return false;
			off += 24 + bodylen;
		} else {
			char *nl = memchr(p, '\n', avail), *end;

			if (nl == NULL) {
				if (avail > MAX_LINE)
					return false;
				break;
			}
			off += (size_t)(nl - p) + 1;
			end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
			if (!text_line(c, p, end))
				return false;
		}
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return true;
}

/* Writes what the socket takes; arms EPOLLOUT while output remains.
 * Returns false if the connection failed. */
static bool
conn_flush(struct fconn *c)
{
	struct epoll_event ev;
	bool want;

	while (c->woff < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return false;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	want = c->wlen > 0;
	if (want != c->want_out) {
		ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return false;
		c->want_out = want;
	}
	return true;
}

/* Reads what the socket has, answers it, writes the replies once.
 * Returns false when the connection is to be closed. */
static bool
conn_read(struct fconn *c)
{
	for (;;) {
		size_t room;
		ssize_t n;

		if (c->rlen == c->rcap) {
			c->rcap *= 2;
			c->rbuf = realloc(c->rbuf, c->rcap);
			if (c->rbuf == NULL)
				die("realloc");
		}
		room = c->rcap - c->rlen;
		n = read(c->fd, c->rbuf + c->rlen, room);
		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return false;
		}
		c->rlen += (size_t)n;
		if (!conn_parse(c))
			return false;
		if ((size_t)n < room)
			break; /* drained the socket */
	}
	return conn_flush(c);
}

/* Accepts every pending connection on the listener. */
static void
accept_all(int lfd)
{
	for (;;) {
		struct epoll_event ev;
		struct fconn *c;
		int fd = accept(lfd, NULL, NULL), one = 1;

		if (fd < 0)
			return;
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
			die("fcntl");
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			die("calloc");
		c->fd = fd;
		c->rcap = RBUF_MIN;
		c->rbuf = malloc(c->rcap);
		c->wcap = RBUF_MIN;
		c->wbuf = malloc(c->wcap);
		if (c->rbuf == NULL || c->wbuf == NULL)
			die("malloc");
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
	}
}

/* Opens the listening socket on host:port; returns its fd. */
static int
listen_on(const char *host, const char *port)
{
	struct addrinfo hints, *ai;
	int fd, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "floor: %s:%s: %s\n", host, port,
		        gai_strerror(rc));
		exit(1);
	}
	fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("bind");
	if (listen(fd, 1024) < 0)
		die("listen");
	freeaddrinfo(ai);
	return fd;
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = "11211";
	struct epoll_event ev, evs[MAX_EVENTS];
	int lfd, ch;

	while ((ch = getopt(argc, argv, "l:p:V:h")) != -1) {
		switch (ch) {
		case 'l':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'V':
			vlen = strtoul(optarg, NULL, 10);
			if (vlen > MAX_VALUE) {
				fprintf(stderr, "floor: -V too large\n");
				return 64;
			}
			break;
		default:
			fprintf(
			    stderr,
			    "usage: floor [-l HOST] [-p PORT] [-V BYTES]\n");
			return ch == 'h' ? 0 : 64;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	memset(value, 'x', MAX_VALUE);
	memcpy(value + MAX_VALUE, "\r\n", 2);
	epfd = epoll_create1(0);
	if (epfd < 0)
		die("epoll_create1");
	lfd = listen_on(host, port);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");
	for (;;) {
		int i, n = epoll_wait(epfd, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			struct fconn *c = evs[i].data.ptr;
			bool ok = true;

			if (c == NULL) {
				accept_all(lfd);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				ok = conn_read(c);
			else if (evs[i].events & EPOLLOUT)
				ok = conn_flush(c);
			if (!ok)
				conn_close(c);
		}
	}
}
