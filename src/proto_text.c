/* proto_text.c: memcached's text protocol: a pure line parser and the
 * execution of each command against the store. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "proto_admin.h"
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
text_parse_storage(struct text_req *req, const struct token *t, size_t n,
                   const char *end)
{
	bool is_cas = req->cmd == TXT_CAS;
	size_t want = is_cas ? 6 : 5;
	int32_t vlen;
	int32_t exptime;
	uint64_t flags64;

	if (n != want && n != want + 1) {
		text_error(req, "ERROR");
		return;
	}
	/* As in memcached, noreply also silences the errors below. */
	req->noreply = tok_is(&t[n - 1], "noreply");
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
}

/* Parses get/gets/gat/gats <keys...> (gat/gats: <exptime> first). */
static void
text_parse_get(struct text_req *req, const struct token *t, size_t n,
               const char *end)
{
	bool touch = req->cmd == TXT_GAT || req->cmd == TXT_GATS;
	size_t first = touch ? 2 : 1;
	const char *keys, *cur, *key;
	size_t nkey;

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
			req->keys = end;
			req->nkeys_len = 0;
			return;
		}
	}
	keys = t[first].p;
	req->keys = keys;
	req->nkeys_len = (size_t)(end - keys);
	req->key = t[first].p;
	req->nkey = t[first].len;
	/* One bad key fails the whole command before any VALUE is sent. */
	for (cur = keys; proto_text_next_key(&cur, end, &key, &nkey);) {
		if (!util_key_valid(key, nkey)) {
			text_error(req, "CLIENT_ERROR bad command line format");
			return;
		}
	}
}

/* Parses incr|decr <key> <delta> [noreply]. */
static void
text_parse_arith(struct text_req *req, const struct token *t, size_t n,
                 const char *end)
{
	if (n != 3 && n != 4) {
		text_error(req, "ERROR");
		return;
	}
	req->noreply = tok_is(&t[n - 1], "noreply");
	if (!text_take_key(req, &t[1]))
		return;
	if (!util_strtoull(t[2].p, t[2].len, &req->delta))
		text_error(req, "CLIENT_ERROR invalid numeric delta argument");
}

/* Parses delete <key> [0] [noreply]. */
static void
text_parse_delete(struct text_req *req, const struct token *t, size_t n,
                  const char *end)
{
	bool zero, noreply;

	if (n < 2 || n > 4) {
		text_error(req, "ERROR");
		return;
	}
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
	text_take_key(req, &t[1]);
}

/* Parses touch <key> <exptime> [noreply]. */
static void
text_parse_touch(struct text_req *req, const struct token *t, size_t n,
                 const char *end)
{
	int32_t exptime;

	if (n != 3 && n != 4) {
		text_error(req, "ERROR");
		return;
	}
	req->noreply = tok_is(&t[n - 1], "noreply");
	if (!text_take_key(req, &t[1]))
		return;
	if (!util_strtol(t[2].p, t[2].len, &exptime)) {
		text_error(req, "CLIENT_ERROR invalid exptime argument");
		return;
	}
	req->exptime = exptime;
}

/* Parses flush_all [delay] [noreply]. */
static void
text_parse_flush_all(struct text_req *req, const struct token *t, size_t n,
                     const char *end)
{
	int32_t delay;

	if (n > 3) {
		text_error(req, "ERROR");
		return;
	}
	req->noreply = tok_is(&t[n - 1], "noreply");
	if (n == 3 || (n == 2 && !req->noreply)) {
		if (!util_strtol(t[1].p, t[1].len, &delay)) {
			text_error(req,
			           "CLIENT_ERROR invalid exptime argument");
			return;
		}
		req->num = delay < 0 ? 0 : (uint64_t)delay;
		req->has_num = true;
	}
}

/* Parses shutdown [mode]. */
static void
text_parse_shutdown(struct text_req *req, const struct token *t, size_t n,
                    const char *end)
{
	if (n == 2) {
		req->arg = t[1].p;
		req->narg = t[1].len;
	}
}

/* Parses verbosity <level> [noreply]. */
static void
text_parse_verbosity(struct text_req *req, const struct token *t, size_t n,
                     const char *end)
{
	uint32_t level;

	if (n != 2 && n != 3) {
		text_error(req, "ERROR");
		return;
	}
	req->noreply = tok_is(&t[n - 1], "noreply");
	if (!util_strtoul(t[1].p, t[1].len, &level)) {
		text_error(req, "CLIENT_ERROR bad command line format");
		return;
	}
	req->num = level;
}

/* Parses stats [group...]: the group is the rest of the line. */
static void
text_parse_stats(struct text_req *req, const struct token *t, size_t n,
                 const char *end)
{
	if (n >= 2) {
		req->arg = t[1].p;
		req->narg = (size_t)(end - t[1].p);
	}
}

/* Parses digest [<parts> <lo> <hi>]. */
static void
text_parse_digest(struct text_req *req, const struct token *t, size_t n,
                  const char *end)
{
	if (n != 1 && n != 4) {
		text_error(req, "ERROR");
		return;
	}
	req->parts = 1;
	req->lo = 0;
	req->hi = 1;
	if (n == 4 &&
	    (!util_strtoul(t[1].p, t[1].len, &req->parts) ||
	     !util_strtoul(t[2].p, t[2].len, &req->lo) ||
	     !util_strtoul(t[3].p, t[3].len, &req->hi) || req->parts == 0 ||
	     req->lo > req->hi || req->hi > req->parts))
		text_error(req, "CLIENT_ERROR bad command line format");
}

/* Parses cache_memlimit <MB> [noreply]. */
static void
text_parse_memlimit(struct text_req *req, const struct token *t, size_t n,
                    const char *end)
{
	if (n != 2 && n != 3) {
		text_error(req, "ERROR");
		return;
	}
	req->noreply = tok_is(&t[n - 1], "noreply");
	if (!util_strtoull(t[1].p, t[1].len, &req->num)) {
		text_error(req, "ERROR");
		return;
	}
	req->has_num = true;
}

#ifndef NDEBUG
/* Parses debugtime <secs>|p|r (debug builds only). */
static void
text_parse_debugtime(struct text_req *req, const struct token *t, size_t n,
                     const char *end)
{
	if (n < 2) {
		text_error(req, "ERROR");
		return;
	}
	req->arg = t[1].p;
	req->narg = t[1].len;
	if (!tok_is(&t[1], "p") && !tok_is(&t[1], "r") &&
	    !util_strtoll(t[1].p, t[1].len, &req->snum))
		text_error(req, "ERROR");
}
#endif

/* One text command: its name, the request it makes, whether it takes any
 * number of tokens (retrievals), and its argument parser (NULL: arguments
 * are ignored). The parser may turn the request into a TXT_ERROR. */
struct text_cmd_def {
	const char *name;
	enum text_cmd cmd;
	bool any_tokens;
	void (*parse)(struct text_req *req, const struct token *t, size_t n,
	              const char *end);
};

/* The command table, most frequent first. Meta commands (two letters
 * starting with 'm') are handled by proto_meta.c. */
static const struct text_cmd_def text_cmds[] = {
    {"get", TXT_GET, true, text_parse_get},
    {"set", TXT_SET, false, text_parse_storage},
    {"gets", TXT_GETS, true, text_parse_get},
    {"delete", TXT_DELETE, false, text_parse_delete},
    {"incr", TXT_INCR, false, text_parse_arith},
    {"decr", TXT_DECR, false, text_parse_arith},
    {"add", TXT_ADD, false, text_parse_storage},
    {"replace", TXT_REPLACE, false, text_parse_storage},
    {"append", TXT_APPEND, false, text_parse_storage},
    {"prepend", TXT_PREPEND, false, text_parse_storage},
    {"cas", TXT_CAS, false, text_parse_storage},
    {"touch", TXT_TOUCH, false, text_parse_touch},
    {"gat", TXT_GAT, true, text_parse_get},
    {"gats", TXT_GATS, true, text_parse_get},
    {"flush_all", TXT_FLUSH_ALL, false, text_parse_flush_all},
    {"version", TXT_VERSION, false, NULL},
    {"quit", TXT_QUIT, false, NULL},
    {"shutdown", TXT_SHUTDOWN, false, text_parse_shutdown},
    {"verbosity", TXT_VERBOSITY, false, text_parse_verbosity},
    {"stats", TXT_STATS, false, text_parse_stats},
    {"digest", TXT_DIGEST, false, text_parse_digest},
    {"cache_memlimit", TXT_CACHE_MEMLIMIT, false, text_parse_memlimit},
#ifndef NDEBUG
    {"debugtime", TXT_DEBUGTIME, false, text_parse_debugtime},
#endif
};

/* Returns the table entry named by token t, or NULL. */
static const struct text_cmd_def *
text_cmd_find(const struct token *t)
{
	size_t i;

	for (i = 0; i < sizeof text_cmds / sizeof text_cmds[0]; i++)
		if (tok_is(t, text_cmds[i].name))
			return &text_cmds[i];
	return NULL;
}

/* True for a meta command: two letters, 'm' and one of g s d a n e. */
static bool
text_is_meta(const struct token *t)
{
	return t->len == 2 && t->p[0] == 'm' && t->p[1] != '\0' &&
	       strchr("gsdane", t->p[1]) != NULL;
}

/* Parses one command line (see proto_text.h). */
void
proto_text_parse(const char *line, size_t len, struct text_req *req)
{
	struct token t[MAX_TOKENS];
	const struct text_cmd_def *def;
	const char *rest;
	size_t n;

	memset(req, 0, sizeof *req);
	n = text_tokenize(line, len, t, MAX_TOKENS, &rest);
	if (n == 0) {
		text_error(req, "ERROR");
		return;
	}
	if (text_is_meta(&t[0])) {
		req->cmd = TXT_META;
		return;
	}
	if (proto_admin_match(line, len)) {
		req->cmd = TXT_ADMIN;
		return;
	}
	def = text_cmd_find(&t[0]);
	/* Only retrievals may have more than MAX_TOKENS tokens. */
	if (rest < line + len && (def == NULL || !def->any_tokens)) {
		text_error(req, "ERROR");
		return;
	}
	if (def == NULL) {
		/* memcached hangs up, silently, on an unknown command whose
		 * last token starts with "HTTP/" (a web request sent to the
		 * cache), unless its first letter is one memcached
		 * dispatches on. */
		if (t[0].len >= 2 && strchr("gsacidt", t[0].p[0]) == NULL &&
		    t[n - 1].len >= 5 && memcmp(t[n - 1].p, "HTTP/", 5) == 0) {
			text_error(req, NULL);
			req->close_after = true;
			return;
		}
		text_error(req, "ERROR");
		return;
	}
	req->cmd = def->cmd;
	if (def->parse != NULL)
		def->parse(req, t, n, line + len);
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
		REPLY(c, nr, "CLIENT_ERROR bad data chunk");
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
		/* memcached's out_string: noreply silences errors too. */
		if (req->error != NULL && !req->noreply)
			text_reply_err(c, req->error);
		if (!req->close_after)
			return PROC_DONE;
		c->close_reason = "web request";
		return PROC_CLOSE;
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
			REPLY(c, req->noreply,
			      "CLIENT_ERROR flush_all not allowed");
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
	case TXT_DEBUGTIME:
#ifndef NDEBUG
		if (req->narg == 1 &&
		    (req->arg[0] == 'p' || req->arg[0] == 'r'))
			util_clock_debug_pause(req->arg[0] == 'p');
		else
			util_clock_debug_move(req->snum);
		conn_out_str(c, "OK\r\n");
#endif
		return PROC_DONE;
	case TXT_META:
	case TXT_ADMIN:
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
	char *nl = memchr(start, '\n', avail), *nul;
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
	/* memcached reads the line as a C string: a NUL ends it. */
	nul = memchr(start, '\0', len);
	if (nul != NULL)
		len = (size_t)(nul - start);
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("<%d %.*s", c->fd, (int)len, start);
	proto_text_parse(start, len, &req);
	if (req.cmd == TXT_META)
		return proto_meta_process(c, start, len);
	if (req.cmd == TXT_ADMIN)
		return proto_admin_process(c, start, len);
	return text_execute(c, &req);
}
