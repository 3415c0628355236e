/* fuzz_conn.c: stateful libFuzzer target. Runs the real listener, the
 * connection state machine, the text, meta and binary front ends and the
 * store in-process, and drives one whole client connection per input:
 * connect to the unix socket, send the input in a few chunks (their count
 * comes from the first byte), read every reply, close, and turn the loop
 * until the server has cleaned the connection up. The store keeps its
 * contents from one input to the next (with a small memory limit, so
 * eviction happens too). Every store mutation is also encoded for
 * replication and decoded back, which checks the wire format against real
 * item states. Build with scripts/fuzz. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "repl.h"
#include "repl_proto.h"
#include "settings.h"
#include "stats.h"
#include "store.h"
#include "util.h"

#define FUZZ_MAX_CHUNKS 8
#define FUZZ_MAX_TURNS 200 /* loop turns per input, at most */

static struct event_base *base;
static char sockpath[108];
static struct repl_buf hookbuf;
static unsigned long inputs;

/* Removes the socket file at exit. */
static void
fuzz_cleanup(void)
{
	if (sockpath[0] != '\0')
		unlink(sockpath);
}

/* The text "shutdown" command: ignored here. */
static void
fuzz_shutdown_request(void)
{
}

/* Encodes every mutation the store reports and decodes it back: the
 * record must be complete and of the matching type. */
static void
fuzz_hook(const struct mutation *m)
{
	static const enum repl_type want[] = {[MUT_ITEM] = REPL_ITEM,
	                                      [MUT_DELETE] = REPL_DELETE,
	                                      [MUT_TOUCH] = REPL_TOUCH,
	                                      [MUT_FLUSH] = REPL_FLUSH};
	struct repl_msg msg;
	const char *err = NULL;
	size_t n;
	long r;

	repl_buf_consume(&hookbuf, hookbuf.len);
	n = repl_encode_mutation(&hookbuf, m);
	if (n != hookbuf.len)
		abort();
	r = repl_decode(hookbuf.data, hookbuf.len, 1u << 21, &msg, &err);
#ifdef FUZZ_CONN_ALLOW_BAD_KEYS
	/* Build with -DFUZZ_CONN_ALLOW_BAD_KEYS to fuzz past the known
	 * mismatch (binary and meta base64 keys may hold any byte; the
	 * replication decoder refuses them). */
	if (r == -1 && err != NULL && strcmp(err, "bad key") == 0)
		return;
#endif
	if (r != (long)n || msg.type != want[m->type]) {
		fprintf(stderr,
		        "fuzz_conn: mutation %d: encoded %zu bytes, "
		        "decoded %ld (%s)\n",
		        (int)m->type, n, r, err ? err : "no error");
		abort();
	}
	if (m->type == MUT_ITEM &&
	    (msg.nkey != m->it->nkey || msg.nbytes != m->it->nbytes ||
	     memcmp(msg.key, ITEM_key(m->it), msg.nkey) != 0 ||
	     memcmp(msg.value, ITEM_value(m->it), msg.nbytes) != 0 ||
	     msg.version != m->it->version || msg.cas != m->it->cas))
		abort();
}

/* One-time setup: settings, store and a unix socket listener. */
static void
fuzz_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	util_clock_update();
	settings_init();
	settings.port = 0;
	settings.udpport = 0;
	settings.repl_port = 0;
	settings.maxbytes = 8u << 20; /* evict early */
	settings.maxconns = 16;
	snprintf(sockpath, sizeof sockpath, "/tmp/fuzz_conn.%d.sock",
	         (int)getpid());
	settings.socketpath = sockpath;
	if (settings_validate() != 0)
		abort();
	log_init(0);
	stats_init();
	store_init();
	store_mutation_hook = fuzz_hook;
	base = event_base_new();
	if (base == NULL)
		abort();
	conn_shutdown_request = fuzz_shutdown_request;
	conn_init(base);
	repl_init(base); /* off: -X 0 */
	atexit(fuzz_cleanup);
}

/* Reads and discards whatever the server has sent; returns false at EOF
 * or on an error (the server closed). */
static bool
drain(int fd)
{
	char sink[65536];
	ssize_t n;

	for (;;) {
		n = read(fd, sink, sizeof sink);
		if (n > 0)
			continue;
		if (n == 0)
			return false;
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		       errno == EINTR;
	}
}

/* Turns the loop once without blocking. */
static void
turn(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Sends p[0..n) on the client socket, turning the loop and reading
 * replies while the socket is full. Returns false if the server closed. */
static bool
send_chunk(int fd, const uint8_t *p, size_t n, int *turns)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return false;
		if (++*turns > FUZZ_MAX_TURNS)
			return false;
		turn();
		if (!drain(fd))
			return false;
	}
	return true;
}

/* The fuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun;
	size_t nchunks, chunk, off;
	int fd, turns = 0, i;
	bool open = true;

	if (base == NULL)
		fuzz_init();
	if (size == 0)
		return 0;
	/* The clock moves one second every 64 inputs, so expiry and delayed
	 * flushes happen; upkeep runs like the once-a-second timer. */
	if (++inputs % 64 == 0) {
		current_time++;
		current_time_ms += 1000;
		store_maintain();
		conn_idle_check();
	}
	nchunks = (size_t)(data[0] % FUZZ_MAX_CHUNKS) + 1;
	data++;
	size--;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sockpath);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		abort();
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		abort();
	turn(); /* accept */

	chunk = size / nchunks + 1;
	for (off = 0; off < size && open; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		open = send_chunk(fd, data + off, n, &turns);
		for (i = 0; i < 3 && open; i++) {
			turn();
			open = drain(fd);
		}
	}
	/* Let the server answer everything it can, then hang up. */
	while (open && turns++ < FUZZ_MAX_TURNS) {
		uint64_t before = server_stats.bytes_written;

		turn();
		open = drain(fd);
		if (server_stats.bytes_written == before) {
			turn();
			open = drain(fd);
			if (server_stats.bytes_written == before)
				break;
		}
	}
	close(fd);
	for (i = 0; i < FUZZ_MAX_TURNS && server_stats.curr_conns > 0; i++)
		turn();
	if (server_stats.curr_conns > 0) {
		/* A connection that outlives its client is a leak. */
		fprintf(stderr, "fuzz_conn: connection not cleaned up\n");
		abort();
	}
	return 0;
}
