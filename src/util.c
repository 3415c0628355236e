/* util.c: number parsing with memcached's rules, the clock, host:port
 * splitting and socket setup. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint32_t current_time;
uint64_t current_time_ms;

/* Parses digits s[0..len) into *out; rejects empty, signs, overflow. */
bool
util_strtoull(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && s[i] == ' ')
		i++;
	if (i == len)
		return false;
	for (; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9)
			return false;
		/* overflow: UINT64_MAX is 1844674407370955161 * 10 + 5 */
		if (v >= UINT64_MAX / 10 &&
		    (v > UINT64_MAX / 10 || d > UINT64_MAX % 10))
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* 32-bit unsigned variant of util_strtoull. */
bool
util_strtoul(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;

	if (!util_strtoull(s, len, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Parses an optionally negative decimal number into *out. */
bool
util_strtoll(const char *s, size_t len, int64_t *out)
{
	uint64_t v;
	size_t i = 0;
	bool neg = false;

	while (i < len && s[i] == ' ')
		i++;
	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	if (i == len || s[i] == ' ')
		return false;
	if (!util_strtoull(s + i, len - i, &v))
		return false;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = (int64_t)(0 - v);
	} else {
		if (v > INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

/* 32-bit signed variant of util_strtoll. */
bool
util_strtol(const char *s, size_t len, int32_t *out)
{
	int64_t v;

	if (!util_strtoll(s, len, &v) || v > INT32_MAX || v < INT32_MIN)
		return false;
	*out = (int32_t)v;
	return true;
}

/* Formats v in decimal; returns the number of characters written. */
size_t
util_u64toa(uint64_t v, char *buf)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

/* A key is 1..KEY_MAX_LENGTH bytes without a space. Control characters are
 * allowed, as in memcached's text protocol, where a key is any token: a
 * newline or a NUL ends the command line before it can reach a key. */
bool
util_key_valid(const char *key, size_t nkey)
{
	return nkey != 0 && nkey <= KEY_MAX_LENGTH &&
	       memchr(key, ' ', nkey) == NULL;
}

#ifndef NDEBUG
/* debugtime (debug builds only): seconds added to the clock, and whether
 * the clock stands still. */
static int64_t clock_offset;
static bool clock_paused;

/* Moves the clock by secs seconds (debugtime <secs>). */
void
util_clock_debug_move(int64_t secs)
{
	clock_offset += secs;
	current_time = (uint32_t)((int64_t)current_time + secs);
	current_time_ms = (uint64_t)((int64_t)current_time_ms + secs * 1000);
}

/* Stops (debugtime p) or restarts (debugtime r) the clock. */
void
util_clock_debug_pause(bool pause)
{
	clock_paused = pause;
}
#endif

/* Reads the wall clock into current_time and current_time_ms. */
void
util_clock_update(void)
{
	struct timeval tv;
	int64_t off = 0;

#ifndef NDEBUG
	if (clock_paused)
		return;
	off = clock_offset;
#endif
	gettimeofday(&tv, NULL);
	current_time = (uint32_t)(tv.tv_sec + off);
	current_time_ms =
	    (uint64_t)(tv.tv_sec + off) * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Reads the wall clock in milliseconds, now (not the cached tick). */
uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Converts a protocol exptime into absolute unix time (0 = never). */
uint32_t
util_realtime(int64_t exptime)
{
	if (exptime == 0)
		return 0;
	if (exptime < 0)
		return 1;
	if (exptime > REALTIME_MAXDELTA) {
		if (exptime <= 1)
			return 1;
		if (exptime > UINT32_MAX)
			return UINT32_MAX;
		return (uint32_t)exptime;
	}
	return current_time + (uint32_t)exptime;
}

/* MADV_POPULATE_WRITE is Linux 5.14; older headers lack the name. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void
util_populate(void *p, size_t len)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t hi = ((uintptr_t)p + len) & ~(pg - 1);

	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

/* Copies s[0..len) into buf as a string; false if it does not fit. */
static bool
util_copy(char *buf, size_t sz, const char *s, size_t len)
{
	if (len >= sz)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* Splits host[:port] / [v6][:port] / bare v6 into host and port. */
bool
util_split_hostport(const char *s, size_t len, char *host, size_t hostsz,
                    char *port, size_t portsz)
{
	const char *h = s, *p = NULL, *colon;
	size_t hl = len, pl = 0;

	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		size_t rest;

		if (rb == NULL)
			return false;
		h = s + 1;
		hl = (size_t)(rb - h);
		rest = len - (size_t)(rb - s) - 1;
		if (rest > 0) {
			if (rb[1] != ':')
				return false;
			p = rb + 2;
			pl = rest - 1;
		}
	} else if ((colon = memchr(s, ':', len)) != NULL &&
	           memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) ==
	               NULL) {
		/* One colon is host:port; several are a bare IPv6 host. */
		hl = (size_t)(colon - s);
		p = colon + 1;
		pl = len - hl - 1;
	}
	if (p != NULL && pl == 0)
		return false;
	return util_copy(host, hostsz, h, hl) &&
	       util_copy(port, portsz, p != NULL ? p : "", pl);
}

/* Sets O_NONBLOCK and FD_CLOEXEC on fd. */
int
util_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* Opens a listening TCP socket on sa; -1 with errno on failure. */
int
util_listen_socket(const struct sockaddr *sa, socklen_t salen, int backlog,
                   bool v6only)
{
	int fd, on = 1, v6 = v6only ? 1 : 0, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (util_nonblock(fd) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (sa->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)) < 0) ||
	    bind(fd, sa, salen) < 0 || listen(fd, backlog) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}
