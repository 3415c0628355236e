/* proto_text.c: memcached's text protocol: a pure line parser and the
 * execution of each command against the store. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "proto_meta.h"
#include "proto_text.h"
#include "settings.h"
#include "stats.h"
#include "store.h"
#include "util.h"

#define MAX_TOKENS 24
#define MAX_VERBOSITY_LEVEL 3

struct token {
	const char *p;
	size_t len;
};

/* Splits line into space separated tokens; returns how many (at most max;
 * *rest points after the last token taken). */
static size_t
text_tokenize(const char *line, size_t len, struct token *t, size_t max,
              const char **rest)
{
	const char *p = line, *end = line + len;
	size_t n = 0;

	while (p < end && n < max) {
		const char *s;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		s = p;
		while (p < end && *p != ' ')
			p++;
		t[n].p = s;
		t[n].len = (size_t)(p - s);
		n++;
	}
	while (p < end && *p == ' ')
		p++;
	*rest = p;
	return n;
}

/* True if token t equals the string s. */
static bool
tok_is(const struct token *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && memcmp(t->p, s, n) == 0;
}

/* Sets req to a TXT_ERROR with the given reply. */
static void
text_error(struct text_req *req, const char *msg)
{
	req->cmd = TXT_ERROR;
	req->error = msg;
}

/* Takes token t as the request's key; on a bad key sets the error and
 * returns false. */
static bool
text_take_key(struct text_req *req, const struct token *t)
{
	if (!util_key_valid(t->p, t->len)) {
		text_error(req, "CLIENT_ERROR bad command line format");
		return false;
	}
	req->key = t->p;
	req->nkey = t->len;
	return true;
}

/* Parses a storage command: <cmd> <key> <flags> <exptime> <bytes> [cas]
 * [noreply]. */
static void
text_parse_storage(struct text_req *req, struct token *t, size_t n, bool is_cas)
{
	size_t want = is_cas ? 6 : 5;
	int32_t vlen;
	int32_t exptime;
	uint64_t flags64;

	if (n != want && n != want + 1) {
		text_error(req, "ERROR");
		return;
	}
	if (!text_take_key(req, &t[1]))
		return;
	/* memcached reads flags as 64 bits and keeps the low 32. */
	if (!util_strtoull(t[2].p, t[2].len, &flags64) ||
	    !util_strtol(t[3].p, t[3].len, &exptime) ||
	    !util_strtol(t[4].p, t[4].len, &vlen)) {
		text_error(req, "CLIENT_ERROR bad command line format");
		return;
	}
	req->flags = (uint32_t)flags64;
	req->exptime = exptime;
	req->nbytes_raw = vlen;
	if (is_cas && !util_strtoull(t[5].p, t[5].len, &req->cas)) {
		text_error(req, "CLIENT_ERROR bad command line format");
		return;
	}
	if (vlen < 0 || vlen > INT32_MAX - 2) {
		text_error(req, "CLIENT_ERROR bad command line format");
		return;
	}
	req->nbytes = (uint32_t)vlen;
	if (n == want + 1)
		req->noreply = tok_is(&t[want], "noreply");
}

/* Parses get/gets/gat/gats. */
static void
text_parse_get(struct text_req *req, struct token *t, size_t n,
               const char *line, size_t len, bool touch)
{
	size_t first = touch ? 2 : 1;
	const char *keys;

	if (n < 2) {
		text_error(req, "ERROR");
		return;
	}
	if (touch) {
		int32_t exptime;
		if (!util_strtol(t[1].p, t[1].len, &exptime)) {
			text_error(req,
			           "CLIENT_ERROR invalid exptime argument");
			return;
		}
		req->exptime = exptime;
		if (n == 2) {
			/* memcached answers "gat <exptime>" with no keys by
			 * END. */
			req->keys = line + len;
			req->nkeys_len = 0;
			return;
		}
	}
	keys = t[first].p;
	req->keys = keys;
	req->nkeys_len = (size_t)(line + len - keys);
	req->key = t[first].p;
	req->nkey = t[first].len;
}

/* Parses one command line (see proto_text.h). */
void
proto_text_parse(const char *line, size_t len, struct text_req *req)
{
	struct token t[MAX_TOKENS];
	const char *rest;
	size_t n;

	memset(req, 0, sizeof *req);
	n = text_tokenize(line, len, t, MAX_TOKENS, &rest);
	if (n == 0) {
		text_error(req, "ERROR");
		return;
	}
	/* Retrieval commands take any number of keys. */
	if (tok_is(&t[0], "get") || tok_is(&t[0], "gets")) {
		req->cmd = t[0].len == 3 ? TXT_GET : TXT_GETS;
		text_parse_get(req, t, n, line, len, false);
		return;
	}
	if (tok_is(&t[0], "gat") || tok_is(&t[0], "gats")) {
		req->cmd = t[0].len == 3 ? TXT_GAT : TXT_GATS;
		text_parse_get(req, t, n, line, len, true);
		return;
	}
	if (t[0].len == 2 && t[0].p[0] == 'm') {
		switch (t[0].p[1]) {
		case 'g':
		case 's':
		case 'd':
		case 'a':
		case 'n':
		case 'e':
			req->cmd = TXT_META;
			return;
		}
	}
	if (rest < line + len) {
		/* More than MAX_TOKENS tokens. */
		text_error(req, "ERROR");
		return;
	}
	if (tok_is(&t[0], "set")) {
		req->cmd = TXT_SET;
	} else if (tok_is(&t[0], "add")) {
		req->cmd = TXT_ADD;
	} else if (tok_is(&t[0], "replace")) {
		req->cmd = TXT_REPLACE;
	} else if (tok_is(&t[0], "append")) {
		req->cmd = TXT_APPEND;
	} else if (tok_is(&t[0], "prepend")) {
		req->cmd = TXT_PREPEND;
	} else if (tok_is(&t[0], "cas")) {
		req->cmd = TXT_CAS;
		text_parse_storage(req, t, n, true);
		return;
	}
	if (req->cmd != TXT_ERROR) {
		text_parse_storage(req, t, n, false);
		return;
	}
	if (tok_is(&t[0], "incr") || tok_is(&t[0], "decr")) {
		req->cmd = t[0].p[0] == 'i' ? TXT_INCR : TXT_DECR;
		if (n != 3 && n != 4) {
			text_error(req, "ERROR");
			return;
		}
		if (!text_take_key(req, &t[1]))
			return;
		if (n == 4)
			req->noreply = tok_is(&t[3], "noreply");
		if (!util_strtoull(t[2].p, t[2].len, &req->delta)) {
			text_error(
			    req, "CLIENT_ERROR invalid numeric delta argument");
			return;
		}
		return;
	}
	if (tok_is(&t[0], "delete")) {
		bool zero, noreply;

		req->cmd = TXT_DELETE;
		if (n < 2 || n > 4) {
			text_error(req, "ERROR");
			return;
		}
		if (!text_take_key(req, &t[1]))
			return;
		if (n > 2) {
			zero = tok_is(&t[2], "0");
			noreply = tok_is(&t[n - 1], "noreply");
			req->noreply = noreply;
			if (!((n == 3 && (zero || noreply)) ||
			      (n == 4 && zero && noreply))) {
				text_error(req, "CLIENT_ERROR bad command line "
				                "format.  Usage: delete <key> "
				                "[noreply]");
				return;
			}
		}
		return;
	}
	if (tok_is(&t[0], "touch")) {
		int32_t exptime;

		req->cmd = TXT_TOUCH;
		if (n != 3 && n != 4) {
			text_error(req, "ERROR");
			return;
		}
		if (!text_take_key(req, &t[1]))
			return;
		if (n == 4)
			req->noreply = tok_is(&t[3], "noreply");
		if (!util_strtol(t[2].p, t[2].len, &exptime)) {
			text_error(req,
			           "CLIENT_ERROR invalid exptime argument");
			return;
		}
		req->exptime = exptime;
		return;
	}
	if (tok_is(&t[0], "flush_all")) {
		req->cmd = TXT_FLUSH_ALL;
		if (n > 3) {
			text_error(req, "ERROR");
			return;
		}
		req->noreply = tok_is(&t[n - 1], "noreply");
		if (n == 3 || (n == 2 && !req->noreply)) {
			int32_t delay;
			if (!util_strtol(t[1].p, t[1].len, &delay)) {
				text_error(
				    req,
				    "CLIENT_ERROR invalid exptime argument");
				return;
			}
			req->num = delay < 0 ? 0 : (uint64_t)delay;
			req->has_num = true;
		}
		return;
	}
	if (tok_is(&t[0], "version")) {
		req->cmd = TXT_VERSION;
		return;
	}
	if (tok_is(&t[0], "quit")) {
		req->cmd = TXT_QUIT;
		return;
	}
	if (tok_is(&t[0], "shutdown")) {
		req->cmd = TXT_SHUTDOWN;
		if (n == 2) {
			req->arg = t[1].p;
			req->narg = t[1].len;
		}
		return;
	}
	if (tok_is(&t[0], "verbosity") && (n == 2 || n == 3)) {
		uint32_t level;

		req->cmd = TXT_VERBOSITY;
		req->noreply = tok_is(&t[n - 1], "noreply");
		if (!util_strtoul(t[1].p, t[1].len, &level)) {
			/* "verbosity noreply" is silent, as in memcached. */
			if (req->noreply) {
				req->num = (uint64_t)log_verbose;
				return;
			}
			text_error(req, "CLIENT_ERROR bad command line format");
			return;
		}
		req->num = level;
		return;
	}
	if (tok_is(&t[0], "stats")) {
		req->cmd = TXT_STATS;
		if (n >= 2) {
			req->arg = t[1].p;
			req->narg = (size_t)(line + len - t[1].p);
		}
		return;
	}
	if (tok_is(&t[0], "digest") && (n == 1 || n == 4)) {
		req->cmd = TXT_DIGEST;
		req->parts = 1;
		req->lo = 0;
		req->hi = 1;
		if (n == 4 && (!util_strtoul(t[1].p, t[1].len, &req->parts) ||
		               !util_strtoul(t[2].p, t[2].len, &req->lo) ||
		               !util_strtoul(t[3].p, t[3].len, &req->hi) ||
		               req->parts == 0 || req->lo > req->hi ||
		               req->hi > req->parts))
			text_error(req, "CLIENT_ERROR bad command line format");
		return;
	}
	if (tok_is(&t[0], "cache_memlimit") && (n == 2 || n == 3)) {
		req->cmd = TXT_CACHE_MEMLIMIT;
		req->noreply = tok_is(&t[n - 1], "noreply");
		if (!util_strtoull(t[1].p, t[1].len, &req->num)) {
			text_error(req, "ERROR");
			return;
		}
		req->has_num = true;
		return;
	}
	text_error(req, "ERROR");
}

/* Takes the next key from a space separated list. */
bool
proto_text_next_key(const char **cursor, const char *end, const char **key,
                    size_t *nkey)
{
	const char *p = *cursor, *s;

	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return false;
	s = p;
	while (p < end && *p != ' ')
		p++;
	*key = s;
	*nkey = (size_t)(p - s);
	*cursor = p;
	return true;
}

/* ---- execution ---- */

/* Sends a reply line unless the request said noreply. */
static void
text_reply(conn *c, bool noreply, const char *s, size_t n)
{
	if (noreply)
		return;
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug(">%d %.*s", c->fd, (int)n, s);
	conn_out(c, s, n);
	conn_out(c, "\r\n", 2);
}

#define REPLY(c, nr, lit) text_reply((c), (nr), lit, sizeof(lit) - 1)

/* Sends an error line (always, as memcached does for errors). */
static void
text_reply_err(conn *c, const char *s)
{
	text_reply(c, false, s, strlen(s));
}

/* Writes "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n". */
static void
text_out_value(conn *c, item *it, bool with_cas)
{
	char *p = conn_out_reserve(c, 6 + KEY_MAX_LENGTH + 3 * 22 + 2);
	char *s = p;

	if (p == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(p, "VALUE ", 6);
	p += 6;
	memcpy(p, ITEM_key(it), it->nkey);
	p += it->nkey;
	*p++ = ' ';
	p += util_u64toa(it->flags, p);
	*p++ = ' ';
	p += util_u64toa(it->nbytes, p);
	if (with_cas) {
		*p++ = ' ';
		p += util_u64toa(it->cas, p);
	}
	*p++ = '\r';
	*p++ = '\n';
	conn_out_commit(c, (size_t)(p - s));
	conn_out_value(c, it);
	conn_out(c, "\r\n", 2);
}

/* get/gets/gat/gats over every key on the line. */
static void
text_exec_get(conn *c, struct text_req *req)
{
	const char *cur = req->keys, *end = req->keys + req->nkeys_len;
	const char *key;
	size_t nkey;
	bool with_cas = req->cmd == TXT_GETS || req->cmd == TXT_GATS;
	bool touch = req->cmd == TXT_GAT || req->cmd == TXT_GATS;
	uint32_t exptime = touch ? util_realtime(req->exptime) : 0;

	while (proto_text_next_key(&cur, end, &key, &nkey)) {
		item *it;

		if (nkey > KEY_MAX_LENGTH || !util_key_valid(key, nkey)) {
			text_reply_err(c,
			               "CLIENT_ERROR bad command line format");
			return;
		}
		if (touch) {
			it = store_touch(key, nkey, exptime, true);
		} else {
			it = store_get(key, nkey);
		}
		stats_prefix_get(key, nkey, it != NULL);
		if (!touch)
			server_stats.cmd_get++; /* gat counts as cmd_touch */
		if (it == NULL)
			continue;
		text_out_value(c, it, with_cas);
		store_release(it);
	}
	conn_out(c, "END\r\n", 5);
}

/* Finishes a storage command once its value has been read. */
static void
text_nread_done(conn *c)
{
	item *it = c->nread_item;
	bool nr = c->pend.noreply;

	c->nread_item = NULL;
	if (c->trailer[0] != '\r' || c->trailer[1] != '\n') {
		text_reply_err(c, "CLIENT_ERROR bad data chunk");
		store_release(it);
		return;
	}
	switch (store_commit(it, c->pend.op, c->pend.cas, NULL)) {
	case STORE_OK:
		REPLY(c, nr, "STORED");
		break;
	case STORE_EXISTS:
		REPLY(c, nr, "EXISTS");
		break;
	case STORE_NOT_FOUND:
		REPLY(c, nr, "NOT_FOUND");
		break;
	case STORE_TOO_LARGE:
		REPLY(c, nr, "SERVER_ERROR object too large for cache");
		break;
	case STORE_NO_MEMORY:
		REPLY(c, nr, "SERVER_ERROR out of memory storing object");
		break;
	default:
		REPLY(c, nr, "NOT_STORED");
		break;
	}
	store_release(it);
}

/* set/add/replace/append/prepend/cas: allocate, then read the value. */
static enum proc_result
text_exec_store(conn *c, struct text_req *req)
{
	static const enum store_op ops[] = {
	    [TXT_SET] = STORE_SET,         [TXT_ADD] = STORE_ADD,
	    [TXT_REPLACE] = STORE_REPLACE, [TXT_APPEND] = STORE_APPEND,
	    [TXT_PREPEND] = STORE_PREPEND, [TXT_CAS] = STORE_CAS};
	item *it = NULL;
	enum store_result r;

	stats_prefix_set(req->key, req->nkey);
	r = store_alloc(&it, req->key, req->nkey, req->flags,
	                util_realtime(req->exptime), req->nbytes);
	if (r != STORE_OK) {
		if (r == STORE_TOO_LARGE)
			REPLY(c, req->noreply,
			      "SERVER_ERROR object too large for cache");
		else
			REPLY(c, req->noreply,
			      "SERVER_ERROR out of memory storing object");
		conn_swallow(c, (size_t)req->nbytes + 2);
		/* A failed set must not leave the old value behind. */
		if (req->cmd == TXT_SET)
			store_drop(req->key, req->nkey);
		return c->state == CONN_SWALLOW ? PROC_NREAD : PROC_DONE;
	}
	server_stats.cmd_set++; /* as memcached: once the item is allocated */
	c->pend.op = ops[req->cmd];
	c->pend.cas = req->cas;
	c->pend.noreply = req->noreply;
	conn_read_value(c, it, ITEM_value(it), req->nbytes, 2, text_nread_done);
	return PROC_NREAD;
}

/* incr/decr. */
static void
text_exec_arith(conn *c, struct text_req *req)
{
	uint64_t v;
	char buf[24];
	size_t n;

	switch (store_arith(req->key, req->nkey, req->cmd == TXT_INCR,
	                    req->delta, false, 0, 0, 0, &v, NULL, NULL)) {
	case STORE_OK:
		n = util_u64toa(v, buf);
		text_reply(c, req->noreply, buf, n);
		break;
	case STORE_NOT_FOUND:
		REPLY(c, req->noreply, "NOT_FOUND");
		break;
	case STORE_NON_NUMERIC:
		REPLY(c, req->noreply,
		      "CLIENT_ERROR cannot increment or "
		      "decrement non-numeric value");
		break;
	case STORE_NO_MEMORY:
		REPLY(c, req->noreply, "SERVER_ERROR out of memory");
		break;
	default:
		REPLY(c, req->noreply, "SERVER_ERROR unexpected result");
		break;
	}
}

/* Emits one "STAT name value" line into the connection. */
static void
text_stat_emit(void *ctx, const char *name, const char *value)
{
	conn *c = ctx;
	size_t nn = strlen(name), vn = strlen(value);
	char *p = conn_out_reserve(c, 5 + nn + 1 + vn + 2);

	if (p == NULL)
		return;
	memcpy(p, "STAT ", 5);
	memcpy(p + 5, name, nn);
	p[5 + nn] = ' ';
	memcpy(p + 6 + nn, value, vn);
	memcpy(p + 6 + nn + vn, "\r\n", 2);
	conn_out_commit(c, 8 + nn + vn);
}

/* "stats detail on|off|dump" (arg is the word after "detail"). */
static void
text_exec_stats_detail(conn *c, const char *arg)
{
	char *dump;
	size_t len;

	if (strcmp(arg, "on") == 0) {
		stats_detail_enable(true);
		conn_out(c, "OK\r\n", 4);
	} else if (strcmp(arg, "off") == 0) {
		stats_detail_enable(false);
		conn_out(c, "OK\r\n", 4);
	} else if (strcmp(arg, "dump") == 0) {
		dump = stats_detail_dump(&len);
		if (dump == NULL) {
			text_reply_err(c, "SERVER_ERROR out of memory writing "
			                  "stats");
			return;
		}
		conn_out(c, dump, len);
		free(dump);
	} else {
		conn_out_str(c, "CLIENT_ERROR usage: stats detail on|off|dump"
		                "\r\n");
	}
}

/* stats [group]. */
static void
text_exec_stats(conn *c, struct text_req *req)
{
	char group[64];

	if (req->arg == NULL) {
		stats_general(text_stat_emit, c);
		conn_out(c, "END\r\n", 5);
		return;
	}
	if (req->narg >= sizeof group) {
		text_reply_err(c, "ERROR");
		return;
	}
	memcpy(group, req->arg, req->narg);
	group[req->narg] = '\0';
	if (strcmp(group, "reset") == 0) {
		stats_reset();
		conn_out(c, "RESET\r\n", 7);
		return;
	}
	if (strcmp(group, "detail") == 0 || strncmp(group, "detail ", 7) == 0) {
		char *arg = group + 6, *end;

		arg += strspn(arg, " ");
		end = arg + strcspn(arg, " ");
		*end = '\0';
		text_exec_stats_detail(c, arg);
		return;
	}
	if (!stats_group(group, text_stat_emit, c)) {
		text_reply_err(c, "ERROR");
		return;
	}
	conn_out(c, "END\r\n", 5);
}

/* Queues the reply to "digest" once its walk is done. */
static void
text_digest_done(conn *c, uint64_t digest, uint64_t items)
{
	char line[64];

	snprintf(line, sizeof(line), "DIGEST %016llx %llu\r\n",
	         (unsigned long long)digest, (unsigned long long)items);
	conn_out_str(c, line);
}

/* Runs one parsed request. */
static enum proc_result
text_execute(conn *c, struct text_req *req)
{
	switch (req->cmd) {
	case TXT_ERROR:
		text_reply_err(c, req->error);
		return req->close_after ? PROC_CLOSE : PROC_DONE;
	case TXT_GET:
	case TXT_GETS:
	case TXT_GAT:
	case TXT_GATS:
		text_exec_get(c, req);
		return PROC_DONE;
	case TXT_SET:
	case TXT_ADD:
	case TXT_REPLACE:
	case TXT_APPEND:
	case TXT_PREPEND:
	case TXT_CAS:
		return text_exec_store(c, req);
	case TXT_INCR:
	case TXT_DECR:
		text_exec_arith(c, req);
		return PROC_DONE;
	case TXT_DELETE:
		stats_prefix_delete(req->key, req->nkey);
		switch (store_delete(req->key, req->nkey, 0)) {
		case STORE_OK:
			REPLY(c, req->noreply, "DELETED");
			break;
		default:
			REPLY(c, req->noreply, "NOT_FOUND");
			break;
		}
		return PROC_DONE;
	case TXT_TOUCH: {
		item *it = store_touch(req->key, req->nkey,
		                       util_realtime(req->exptime), false);
		if (it != NULL) {
			REPLY(c, req->noreply, "TOUCHED");
			store_release(it);
		} else {
			REPLY(c, req->noreply, "NOT_FOUND");
		}
		return PROC_DONE;
	}
	case TXT_FLUSH_ALL:
		if (!settings.flush_enabled) {
			text_reply_err(c, "CLIENT_ERROR flush_all not allowed");
			return PROC_DONE;
		}
		store_flush(req->has_num ? (uint32_t)req->num : 0);
		REPLY(c, req->noreply, "OK");
		return PROC_DONE;
	case TXT_VERSION:
		conn_out_str(c, "VERSION " MEMCACHED_VERSION "\r\n");
		return PROC_DONE;
	case TXT_VERBOSITY:
		log_verbose = req->num > MAX_VERBOSITY_LEVEL
		                  ? MAX_VERBOSITY_LEVEL
		                  : (int)req->num;
		settings.verbose = log_verbose;
		REPLY(c, req->noreply, "OK");
		return PROC_DONE;
	case TXT_QUIT:
		c->close_reason = "quit";
		return PROC_CLOSE;
	case TXT_SHUTDOWN:
		if (!settings.shutdown_command) {
			text_reply_err(c, "ERROR: shutdown not enabled");
			return PROC_DONE;
		}
		if (req->arg != NULL &&
		    !(req->narg == 8 && memcmp(req->arg, "graceful", 8) == 0)) {
			text_reply_err(c, "CLIENT_ERROR invalid shutdown mode");
			return PROC_DONE;
		}
		conn_out_str(c, "OK\r\n");
		if (conn_shutdown_request != NULL)
			conn_shutdown_request();
		c->close_reason = "shutdown";
		return PROC_CLOSE;
	case TXT_STATS:
		text_exec_stats(c, req);
		return PROC_DONE;
	case TXT_CACHE_MEMLIMIT:
		if (req->num < 8) {
			REPLY(c, req->noreply,
			      "MEMLIMIT_TOO_SMALL cannot set "
			      "maxbytes to less than 8m");
			return PROC_DONE;
		}
		if (req->num > (uint64_t)1 << 40) {
			text_reply_err(c,
			               "CLIENT_ERROR bad command line format");
			return PROC_DONE;
		}
		settings.maxbytes = (size_t)req->num * 1024 * 1024;
		store_set_memlimit(settings.maxbytes);
		REPLY(c, req->noreply, "OK");
		return PROC_DONE;
	case TXT_DIGEST:
		/* Walked in slices; c waits, the others are served. */
		conn_digest_wait(c, req->parts, req->lo, req->hi,
		                 text_digest_done);
		return PROC_DONE;
	case TXT_META:
		break;
	}
	return PROC_DONE;
}

/* True if the buffered start of a line is a retrieval command, which may be
 * longer than LINE_MAX_LENGTH. */
static bool
text_is_get_line(const char *p, size_t n)
{
	while (n > 0 && *p == ' ') {
		p++;
		n--;
	}
	return (n >= 4 &&
	        (memcmp(p, "get ", 4) == 0 || memcmp(p, "gat ", 4) == 0)) ||
	       (n >= 5 &&
	        (memcmp(p, "gets ", 5) == 0 || memcmp(p, "gats ", 5) == 0));
}

/* Processes one request from c's input. */
enum proc_result
proto_text_process(conn *c)
{
	char *start = c->rbuf + c->rpos;
	size_t avail = c->rlen - c->rpos, len;
	char *nl = memchr(start, '\n', avail);
	struct text_req req;

	if (nl == NULL) {
		size_t limit = text_is_get_line(start, avail)
		                   ? GET_LINE_MAX_LENGTH
		                   : LINE_MAX_LENGTH;
		if (avail > limit) {
			conn_out_str(c, "CLIENT_ERROR line too long\r\n");
			c->close_reason = "line too long";
			c->rpos = c->rlen;
			return PROC_CLOSE;
		}
		return PROC_MORE;
	}
	len = (size_t)(nl - start);
	c->rpos += len + 1;
	if (len > 0 && start[len - 1] == '\r')
		len--;
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("<%d %.*s", c->fd, (int)len, start);
	proto_text_parse(start, len, &req);
	if (req.cmd == TXT_META)
		return proto_meta_process(c, start, len);
	return text_execute(c, &req);
}
