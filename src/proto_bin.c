/* proto_bin.c: memcached's binary protocol front end. A pure header parser
 * validates every request against its opcode's shape; handlers then drive
 * the store and queue responses on the connection. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto_bin.h"
#include "settings.h"
#include "stats.h"
#include "store.h"
#include "util.h"

/* What a key or value length may be for an opcode. */
enum bin_len { LEN_ZERO = 0, LEN_NONZERO, LEN_ANY };

/* Handler flags. */
#define BF_QUIET 0x01   /* no reply on success (or on a get miss) */
#define BF_WITHKEY 0x02 /* getk/gatk: echo the key */
#define BF_GAT 0x04     /* gat: touch and fetch */
#define BF_TOUCH 0x08   /* touch: no value in the reply */
#define BF_INCR 0x10    /* increment (else decrement) */

/* One request as a handler sees it: the header, its table entry, and
 * pointers to the extras and key (inside c->rbuf, already consumed). */
struct bin_call {
	const struct bin_req *req;
	const struct bin_cmd *cmd;
	const uint8_t *ext;
	const char *key;
};
typedef enum proc_result (*bin_run_fn)(conn *c, const struct bin_call *k);

/* One served opcode: the shape of its body, and how to run it. A handler
 * with `value` LEN_ANY gets the value streamed (only extras and key are
 * buffered when it runs). */
struct bin_cmd {
	const char *name;
	uint8_t ext_a;    /* allowed extras length */
	uint8_t ext_b;    /* a second allowed length (flush) */
	uint8_t key;      /* enum bin_len */
	uint8_t value;    /* LEN_ZERO or LEN_ANY */
	uint8_t flags;    /* BF_* */
	enum store_op op; /* update commands */
	bin_run_fn run;
};

static enum proc_result bin_get(conn *c, const struct bin_call *k);
static enum proc_result bin_update(conn *c, const struct bin_call *k);
static enum proc_result bin_delete(conn *c, const struct bin_call *k);
static enum proc_result bin_arith(conn *c, const struct bin_call *k);
static enum proc_result bin_quit(conn *c, const struct bin_call *k);
static enum proc_result bin_flush(conn *c, const struct bin_call *k);
static enum proc_result bin_noop(conn *c, const struct bin_call *k);
static enum proc_result bin_version(conn *c, const struct bin_call *k);
static enum proc_result bin_stat(conn *c, const struct bin_call *k);
static bool bin_stat_detail(conn *c, const struct bin_call *k, const char *arg);
static enum proc_result bin_verbosity(conn *c, const struct bin_call *k);
static enum proc_result bin_sasl(conn *c, const struct bin_call *k);

/* clang-format off */
#define GETLIKE(n, f) {n, 0, 0, LEN_NONZERO, LEN_ZERO, f, STORE_SET, bin_get}
#define GATLIKE(n, f) {n, 4, 4, LEN_NONZERO, LEN_ZERO, f, STORE_SET, bin_get}
#define UPDATE(n, e, op, f) {n, e, e, LEN_NONZERO, LEN_ANY, f, op, bin_update}
#define ARITH(n, f) {n, 20, 20, LEN_NONZERO, LEN_ZERO, f, STORE_SET, bin_arith}
#define BARE(n, f, fn) {n, 0, 0, LEN_ZERO, LEN_ZERO, f, STORE_SET, fn}
#define OTHER(n, e1, e2, key, f, fn) {n, e1, e2, key, LEN_ZERO, f, STORE_SET, fn}
/* clang-format on */

/* The opcode table; an entry without `run` is an unknown command. The
 * shapes are memcached's: e.g. set needs 8 bytes of extras and a key,
 * get a key and nothing else. */
static const struct bin_cmd bin_cmds[256] = {
    [BIN_CMD_GET] = GETLIKE("get", 0),
    [BIN_CMD_GETQ] = GETLIKE("getq", BF_QUIET),
    [BIN_CMD_GETK] = GETLIKE("getk", BF_WITHKEY),
    [BIN_CMD_GETKQ] = GETLIKE("getkq", BF_WITHKEY | BF_QUIET),
    [BIN_CMD_TOUCH] = GATLIKE("touch", BF_TOUCH),
    [BIN_CMD_GAT] = GATLIKE("gat", BF_GAT),
    [BIN_CMD_GATQ] = GATLIKE("gatq", BF_GAT | BF_QUIET),
    [BIN_CMD_GATK] = GATLIKE("gatk", BF_GAT | BF_WITHKEY),
    [BIN_CMD_GATKQ] = GATLIKE("gatkq", BF_GAT | BF_WITHKEY | BF_QUIET),
    [BIN_CMD_SET] = UPDATE("set", 8, STORE_SET, 0),
    [BIN_CMD_SETQ] = UPDATE("setq", 8, STORE_SET, BF_QUIET),
    [BIN_CMD_ADD] = UPDATE("add", 8, STORE_ADD, 0),
    [BIN_CMD_ADDQ] = UPDATE("addq", 8, STORE_ADD, BF_QUIET),
    [BIN_CMD_REPLACE] = UPDATE("replace", 8, STORE_REPLACE, 0),
    [BIN_CMD_REPLACEQ] = UPDATE("replaceq", 8, STORE_REPLACE, BF_QUIET),
    [BIN_CMD_APPEND] = UPDATE("append", 0, STORE_APPEND, 0),
    [BIN_CMD_APPENDQ] = UPDATE("appendq", 0, STORE_APPEND, BF_QUIET),
    [BIN_CMD_PREPEND] = UPDATE("prepend", 0, STORE_PREPEND, 0),
    [BIN_CMD_PREPENDQ] = UPDATE("prependq", 0, STORE_PREPEND, BF_QUIET),
    [BIN_CMD_DELETE] = OTHER("delete", 0, 0, LEN_NONZERO, 0, bin_delete),
    [BIN_CMD_DELETEQ] =
        OTHER("deleteq", 0, 0, LEN_NONZERO, BF_QUIET, bin_delete),
    [BIN_CMD_INCREMENT] = ARITH("increment", BF_INCR),
    [BIN_CMD_INCREMENTQ] = ARITH("incrementq", BF_INCR | BF_QUIET),
    [BIN_CMD_DECREMENT] = ARITH("decrement", 0),
    [BIN_CMD_DECREMENTQ] = ARITH("decrementq", BF_QUIET),
    [BIN_CMD_QUIT] = BARE("quit", 0, bin_quit),
    [BIN_CMD_QUITQ] = BARE("quitq", BF_QUIET, bin_quit),
    [BIN_CMD_NOOP] = BARE("noop", 0, bin_noop),
    [BIN_CMD_VERSION] = BARE("version", 0, bin_version),
    [BIN_CMD_FLUSH] = OTHER("flush", 0, 4, LEN_ZERO, 0, bin_flush),
    [BIN_CMD_FLUSHQ] = OTHER("flushq", 0, 4, LEN_ZERO, BF_QUIET, bin_flush),
    [BIN_CMD_STAT] = OTHER("stat", 0, 0, LEN_ANY, 0, bin_stat),
    [BIN_CMD_VERBOSITY] = OTHER("verbosity", 4, 4, LEN_ZERO, 0, bin_verbosity),
    [BIN_CMD_SASL_LIST_MECHS] = BARE("sasl_list_mechs", 0, bin_sasl),
    [BIN_CMD_SASL_AUTH] = {"sasl_auth", 0, 0, LEN_NONZERO, LEN_ANY, 0,
                           STORE_SET, bin_sasl},
    [BIN_CMD_SASL_STEP] = {"sasl_step", 0, 0, LEN_NONZERO, LEN_ANY, 0,
                           STORE_SET, bin_sasl},
};

/* ---- pure functions: parsing and encoding ---- */

/* True if a length satisfies an enum bin_len rule. */
static bool
len_ok(uint8_t rule, uint32_t len)
{
	switch (rule) {
	case LEN_ZERO:
		return len == 0;
	case LEN_NONZERO:
		return len != 0;
	default:
		return true;
	}
}

/* Decodes and validates a request header (see proto_bin.h). */
int
proto_bin_parse_header(const uint8_t *p, struct bin_req *req)
{
	const struct bin_cmd *cmd;
	uint32_t fixed, vlen;

	req->magic = p[0];
	req->opcode = p[1];
	req->keylen = util_get_be16(p + 2);
	req->extlen = p[4];
	req->datatype = p[5];
	req->vbucket = util_get_be16(p + 6);
	req->bodylen = util_get_be32(p + 8);
	req->opaque = util_get_be32(p + 12);
	req->cas = util_get_be64(p + 16);

	if (req->magic != BIN_REQ_MAGIC)
		return -1;
	fixed = (uint32_t)req->keylen + req->extlen;
	/* memcached checks that the key and extras fit before anything else,
	 * and answers a misfit with "Unknown command". */
	if (fixed > req->bodylen)
		return BIN_STATUS_UNKNOWN_COMMAND;
	if (req->keylen > KEY_MAX_LENGTH)
		return BIN_STATUS_EINVAL;
	cmd = &bin_cmds[req->opcode];
	if (cmd->run == NULL)
		return 0;
	if (req->extlen != cmd->ext_a && req->extlen != cmd->ext_b)
		return BIN_STATUS_EINVAL;
	vlen = req->bodylen - fixed;
	if (!len_ok(cmd->key, req->keylen) || !len_ok(cmd->value, vlen))
		return BIN_STATUS_EINVAL;
	return 0;
}

/* Encodes a response header into 24 bytes at p. */
void
proto_bin_encode_header(uint8_t *p, const struct bin_res *res)
{
	p[0] = BIN_RES_MAGIC;
	p[1] = res->opcode;
	util_put_be16(p + 2, res->keylen);
	p[4] = res->extlen;
	p[5] = 0; /* datatype: raw bytes */
	util_put_be16(p + 6, res->status);
	util_put_be32(p + 8, res->bodylen);
	util_put_be32(p + 12, res->opaque);
	util_put_be64(p + 16, res->cas);
}

/* Returns memcached's error text for a status. */
const char *
proto_bin_status_text(uint16_t status)
{
	switch (status) {
	case BIN_STATUS_OK:
		return "";
	case BIN_STATUS_KEY_ENOENT:
		return "Not found";
	case BIN_STATUS_KEY_EEXISTS:
		return "Data exists for key.";
	case BIN_STATUS_E2BIG:
		return "Too large.";
	case BIN_STATUS_EINVAL:
		return "Invalid arguments";
	case BIN_STATUS_NOT_STORED:
		return "Not stored.";
	case BIN_STATUS_DELTA_BADVAL:
		return "Non-numeric server-side value for incr or decr";
	case BIN_STATUS_AUTH_ERROR:
		return "Auth failure.";
	case BIN_STATUS_UNKNOWN_COMMAND:
		return "Unknown command";
	case BIN_STATUS_ENOMEM:
		return "Out of memory";
	default:
		return "UNHANDLED ERROR";
	}
}

/* Returns the name of a served opcode, or NULL. */
const char *
proto_bin_opcode_name(uint8_t opcode)
{
	return bin_cmds[opcode].name;
}

/* ---- responses ---- */

/* Queues a response: header, then extras, key and value copied from
 * memory. */
static void
bin_reply(conn *c, uint8_t opcode, uint32_t opaque, uint16_t status,
          uint64_t cas, const void *ext, uint8_t extlen, const void *key,
          uint16_t keylen, const void *val, uint32_t vlen)
{
	struct bin_res res = {
	    .opcode = opcode,
	    .extlen = extlen,
	    .keylen = keylen,
	    .status = status,
	    .bodylen = (uint32_t)extlen + keylen + vlen,
	    .opaque = opaque,
	    .cas = cas,
	};
	size_t total = BIN_HEADER_LEN + (size_t)res.bodylen;
	uint8_t *p = (uint8_t *)conn_out_reserve(c, total);

	if (p == NULL)
		return;
	proto_bin_encode_header(p, &res);
	p += BIN_HEADER_LEN;
	if (extlen > 0) {
		memcpy(p, ext, extlen);
		p += extlen;
	}
	if (keylen > 0) {
		memcpy(p, key, keylen);
		p += keylen;
	}
	if (vlen > 0)
		memcpy(p, val, vlen);
	conn_out_commit(c, total);
}

/* Queues an error response with memcached's text as the body. */
static void
bin_error(conn *c, uint8_t opcode, uint32_t opaque, uint16_t status)
{
	const char *text = proto_bin_status_text(status);

	bin_reply(c, opcode, opaque, status, 0, NULL, 0, NULL, 0, text,
	          (uint32_t)strlen(text));
}

/* Queues an empty success response carrying cas. */
static void
bin_ok(conn *c, uint8_t opcode, uint32_t opaque, uint64_t cas)
{
	bin_reply(c, opcode, opaque, BIN_STATUS_OK, cas, NULL, 0, NULL, 0, NULL,
	          0);
}

/* Maps a store result to a binary status. */
static uint16_t
bin_status_of(enum store_result r)
{
	switch (r) {
	case STORE_OK:
		return BIN_STATUS_OK;
	case STORE_NOT_STORED:
		return BIN_STATUS_NOT_STORED;
	case STORE_EXISTS:
		return BIN_STATUS_KEY_EEXISTS;
	case STORE_NOT_FOUND:
		return BIN_STATUS_KEY_ENOENT;
	case STORE_TOO_LARGE:
		return BIN_STATUS_E2BIG;
	case STORE_NO_MEMORY:
		return BIN_STATUS_ENOMEM;
	case STORE_NON_NUMERIC:
		return BIN_STATUS_DELTA_BADVAL;
	default:
		return BIN_STATUS_EINVAL;
	}
}

/* The request's cas, or 0 when cas is disabled (-C ignores it). */
static uint64_t
bin_req_cas(const struct bin_req *req)
{
	return settings.use_cas ? req->cas : 0;
}

/* Discards n more bytes of the request body; returns what the connection
 * loop needs. */
static enum proc_result
bin_skip(conn *c, uint32_t n)
{
	if (n == 0)
		return PROC_DONE;
	conn_swallow(c, n);
	return c->state == CONN_SWALLOW ? PROC_NREAD : PROC_DONE;
}

/* ---- handlers ---- */

/* get/getq/getk/getkq, gat/gatq/gatk/gatkq and touch. */
static enum proc_result
bin_get(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;
	struct bin_res res;
	uint8_t flags[4];
	uint16_t keylen;
	uint32_t vlen;
	uint8_t *p;
	item *it;

	if (k->cmd->flags & (BF_GAT | BF_TOUCH))
		it = store_touch(k->key, req->keylen,
		                 util_realtime((int64_t)util_get_be32(k->ext)),
		                 (k->cmd->flags & BF_GAT) != 0);
	else
		it = store_get(k->key, req->keylen);
	if (!(k->cmd->flags & (BF_GAT | BF_TOUCH)))
		server_stats.cmd_get++;
	if (!(k->cmd->flags & BF_TOUCH))
		stats_prefix_get(k->key, req->keylen, it != NULL);
	if (it == NULL) {
		if (k->cmd->flags & BF_QUIET)
			return PROC_DONE;
		if (k->cmd->flags & BF_WITHKEY)
			bin_reply(c, req->opcode, req->opaque,
			          BIN_STATUS_KEY_ENOENT, 0, NULL, 0, k->key,
			          req->keylen, NULL, 0);
		else
			bin_error(c, req->opcode, req->opaque,
			          BIN_STATUS_KEY_ENOENT);
		return PROC_DONE;
	}
	util_put_be32(flags, it->flags);
	if (k->cmd->flags & BF_TOUCH) {
		bin_reply(c, req->opcode, req->opaque, BIN_STATUS_OK,
		          settings.use_cas ? it->cas : 0, flags, 4, NULL, 0,
		          NULL, 0);
		store_release(it);
		return PROC_DONE;
	}
	keylen = (k->cmd->flags & BF_WITHKEY) ? it->nkey : 0;
	vlen = it->nbytes;
	res = (struct bin_res){
	    .opcode = req->opcode,
	    .extlen = 4,
	    .keylen = keylen,
	    .status = BIN_STATUS_OK,
	    .bodylen = 4 + (uint32_t)keylen + vlen,
	    .opaque = req->opaque,
	    .cas = settings.use_cas ? it->cas : 0,
	};
	p = (uint8_t *)conn_out_reserve(c, BIN_HEADER_LEN + 4 + keylen);
	if (p != NULL) {
		proto_bin_encode_header(p, &res);
		memcpy(p + BIN_HEADER_LEN, flags, 4);
		if (keylen > 0)
			memcpy(p + BIN_HEADER_LEN + 4, ITEM_key(it), keylen);
		conn_out_commit(c, BIN_HEADER_LEN + 4 + (size_t)keylen);
		conn_out_value(c, it);
	}
	store_release(it);
	return PROC_DONE;
}

/* Completes a store once the value is in: commits the item, answers, and
 * drops the reference. */
static void
bin_store_finish(conn *c, item *it)
{
	uint64_t cas_out = 0;
	enum store_result r;
	uint16_t status;

	r = store_commit(it, c->pend.op, c->pend.cas, &cas_out);
	store_release(it);
	if (r == STORE_OK) {
		if (!c->pend.noreply)
			bin_ok(c, c->pend.opcode, c->pend.opaque,
			       settings.use_cas ? cas_out : 0);
		return;
	}
	switch (r) {
	case STORE_NOT_STORED:
	case STORE_TOO_LARGE:
	case STORE_NO_MEMORY:
		/* memcached reports a refused add as "exists" and a refused
		 * replace as "not found"; append/prepend say "not stored". */
		if (c->pend.op == STORE_ADD)
			status = BIN_STATUS_KEY_EEXISTS;
		else if (c->pend.op == STORE_REPLACE)
			status = BIN_STATUS_KEY_ENOENT;
		else
			status = BIN_STATUS_NOT_STORED;
		break;
	default:
		status = bin_status_of(r);
		break;
	}
	bin_error(c, c->pend.opcode, c->pend.opaque, status);
}

/* conn_read_value's callback: the item is c->nread_item. */
static void
bin_store_done(conn *c)
{
	bin_store_finish(c, c->nread_item);
}

/* set/add/replace/append/prepend and their quiet forms. Runs with the
 * extras and key buffered; the value is read straight into the item. */
static enum proc_result
bin_update(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;
	uint32_t vlen = req->bodylen - req->extlen - req->keylen;
	uint32_t flags = 0, exptime = 0;
	uint64_t cas = bin_req_cas(req);
	enum store_result r;
	item *it = NULL;

	if (req->extlen == 8) {
		flags = util_get_be32(k->ext);
		exptime = util_get_be32(k->ext + 4);
	}
	stats_prefix_set(k->key, req->keylen);
	if (vlen > settings.item_size_max) {
		r = STORE_TOO_LARGE;
		store_stats.store_too_large++;
	} else
		r = store_alloc(&it, k->key, req->keylen, flags,
		                util_realtime((int64_t)exptime), vlen);
	if (r != STORE_OK) {
		bin_error(c, req->opcode, req->opaque,
		          r == STORE_TOO_LARGE ? BIN_STATUS_E2BIG
		                               : BIN_STATUS_ENOMEM);
		/* As memcached: a failed set must not leave the old value
		 * readable. */
		if (k->cmd->op == STORE_SET) {
			item *old = store_peek(k->key, req->keylen);
			if (old != NULL) {
				store_release(old);
				store_drop(k->key, req->keylen);
			}
		}
		return bin_skip(c, vlen);
	}
	server_stats.cmd_set++; /* as memcached: once the item is allocated */
	c->pend.op = k->cmd->op;
	/* A cas on set/add/replace turns them into a cas command. */
	if (cas != 0 && (k->cmd->op == STORE_SET || k->cmd->op == STORE_ADD ||
	                 k->cmd->op == STORE_REPLACE))
		c->pend.op = STORE_CAS;
	c->pend.cas = cas;
	c->pend.noreply = (k->cmd->flags & BF_QUIET) != 0;
	c->pend.opcode = req->opcode;
	c->pend.opaque = req->opaque;
	conn_read_value(c, it, ITEM_value(it), vlen, 0, bin_store_done);
	return PROC_NREAD;
}

/* delete/deleteq. */
static enum proc_result
bin_delete(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;
	enum store_result r;

	stats_prefix_delete(k->key, req->keylen);
	r = store_delete(k->key, req->keylen, bin_req_cas(req));

	if (r != STORE_OK)
		bin_error(c, req->opcode, req->opaque, bin_status_of(r));
	else if (!(k->cmd->flags & BF_QUIET))
		bin_ok(c, req->opcode, req->opaque, 0);
	return PROC_DONE;
}

/* increment/decrement and quiet forms: extras are delta, initial value and
 * expiration (0xffffffff: do not create a missing key). */
static enum proc_result
bin_arith(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;
	uint64_t delta = util_get_be64(k->ext),
	         initial = util_get_be64(k->ext + 8);
	uint32_t exptime = util_get_be32(k->ext + 16);
	uint64_t value = 0, cas_out = 0;
	enum store_result r;
	uint8_t body[8];

	r = store_arith(k->key, req->keylen, (k->cmd->flags & BF_INCR) != 0,
	                delta, exptime != 0xffffffffu, initial,
	                util_realtime((int64_t)exptime), bin_req_cas(req),
	                &value, &cas_out, NULL);
	if (r != STORE_OK) {
		bin_error(c, req->opcode, req->opaque, bin_status_of(r));
		return PROC_DONE;
	}
	if (k->cmd->flags & BF_QUIET)
		return PROC_DONE;
	util_put_be64(body, value);
	bin_reply(c, req->opcode, req->opaque, BIN_STATUS_OK,
	          settings.use_cas ? cas_out : 0, NULL, 0, NULL, 0, body, 8);
	return PROC_DONE;
}

/* quit answers then closes; quitq closes at once. */
static enum proc_result
bin_quit(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;

	if (!(k->cmd->flags & BF_QUIET))
		bin_ok(c, req->opcode, req->opaque, 0);
	c->close_reason = "quit";
	return PROC_CLOSE;
}

/* flush/flushq, with an optional delay in the extras. */
static enum proc_result
bin_flush(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;
	uint32_t delay = req->extlen == 4 ? util_get_be32(k->ext) : 0;

	if (!settings.flush_enabled) {
		/* -F: memcached refuses with an auth error, even if quiet. */
		bin_error(c, req->opcode, req->opaque, BIN_STATUS_AUTH_ERROR);
		return PROC_DONE;
	}
	store_flush(delay);
	if (!(k->cmd->flags & BF_QUIET))
		bin_ok(c, req->opcode, req->opaque, 0);
	return PROC_DONE;
}

/* noop: always answered (it ends a batch of quiet commands). */
static enum proc_result
bin_noop(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;

	bin_ok(c, req->opcode, req->opaque, 0);
	return PROC_DONE;
}

/* version: the body is the version string. */
static enum proc_result
bin_version(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;

	bin_reply(c, req->opcode, req->opaque, BIN_STATUS_OK, 0, NULL, 0, NULL,
	          0, MEMCACHED_VERSION, (uint32_t)strlen(MEMCACHED_VERSION));
	return PROC_DONE;
}

/* Where stat lines go: one response per stat. */
struct bin_stat_ctx {
	conn *c;
	uint32_t opaque;
};

/* stat_emit_fn: queues one stat as a response (key = name, value). */
static void
bin_stat_emit(void *arg, const char *name, const char *value)
{
	struct bin_stat_ctx *ctx = arg;
	size_t nlen = strlen(name), vlen = strlen(value);

	if (nlen > UINT16_MAX)
		nlen = UINT16_MAX;
	bin_reply(ctx->c, BIN_CMD_STAT, ctx->opaque, BIN_STATUS_OK, 0, NULL, 0,
	          name, (uint16_t)nlen, value, (uint32_t)vlen);
}

/* stat: the key names a group (empty = general); a run of stat responses
 * ends with an empty one. */
static enum proc_result
bin_stat(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;
	struct bin_stat_ctx ctx = {c, req->opaque};
	char group[KEY_MAX_LENGTH + 1];

	memcpy(group, k->key, req->keylen);
	group[req->keylen] = '\0';
	if (req->keylen == 0) {
		stats_general(bin_stat_emit, &ctx);
	} else if (strcmp(group, "reset") == 0) {
		stats_reset();
	} else if (strncmp(group, "detail", 6) == 0) {
		if (!bin_stat_detail(c, k, group + 6))
			return PROC_DONE;
	} else if (strlen(group) != req->keylen ||
	           !stats_group(group, bin_stat_emit, &ctx)) {
		bin_error(c, req->opcode, req->opaque, BIN_STATUS_KEY_ENOENT);
		return PROC_DONE;
	}
	bin_ok(c, req->opcode, req->opaque, 0);
	return PROC_DONE;
}

/* stat "detail on|off|dump" (arg follows "detail"): the dump is one stat
 * named "detailed" holding the PREFIX lines, as memcached sends it.
 * Returns false if an error reply was sent instead. */
static bool
bin_stat_detail(conn *c, const struct bin_call *k, const char *arg)
{
	const struct bin_req *req = k->req;
	size_t len;
	char *dump;

	if (strncmp(arg, " dump", 5) == 0) {
		dump = stats_detail_dump(&len);
		if (dump == NULL) {
			bin_error(c, req->opcode, req->opaque,
			          BIN_STATUS_ENOMEM);
			return false;
		}
		bin_reply(c, BIN_CMD_STAT, req->opaque, BIN_STATUS_OK, 0, NULL,
		          0, "detailed", 8, dump, (uint32_t)len);
		free(dump);
	} else if (strncmp(arg, " on", 3) == 0) {
		stats_detail_enable(true);
	} else if (strncmp(arg, " off", 4) == 0) {
		stats_detail_enable(false);
	} else {
		bin_error(c, req->opcode, req->opaque, BIN_STATUS_KEY_ENOENT);
		return false;
	}
	return true;
}

/* verbosity: sets the log level. memcached 1.6.18 mishandles this opcode;
 * we answer as the protocol documents it: an empty success. */
static enum proc_result
bin_verbosity(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;
	uint32_t level = util_get_be32(k->ext);

	if (level > LOG_LVL_TRACE)
		level = LOG_LVL_TRACE;
	log_verbose = (int)level;
	settings.verbose = log_verbose;
	bin_ok(c, req->opcode, req->opaque, 0);
	return PROC_DONE;
}

/* SASL opcodes: authentication is not built in (memcached without -S). */
static enum proc_result
bin_sasl(conn *c, const struct bin_call *k)
{
	const struct bin_req *req = k->req;

	bin_error(c, req->opcode, req->opaque, BIN_STATUS_UNKNOWN_COMMAND);
	return bin_skip(c, req->bodylen - req->extlen - req->keylen);
}

/* ---- the request loop ---- */

/* Processes one request from c's input (see proto_bin.h). */
enum proc_result
proto_bin_process(conn *c)
{
	const uint8_t *p = (const uint8_t *)c->rbuf + c->rpos;
	size_t avail = c->rlen - c->rpos, need;
	const struct bin_cmd *cmd;
	struct bin_call call;
	struct bin_req req;
	int rc;

	if (avail == 0)
		return PROC_MORE;
	if (p[0] != BIN_REQ_MAGIC) {
		c->close_reason = "binary: invalid magic";
		return PROC_CLOSE;
	}
	if (avail < BIN_HEADER_LEN)
		return PROC_MORE;
	rc = proto_bin_parse_header(p, &req);
	if (rc != 0) {
		c->rpos = c->rlen;
		if (rc > 0) {
			log_debug("%d: binary: opcode 0x%02x: bad lengths "
			          "(key %u, extras %u, body %u)",
			          c->fd, req.opcode, req.keylen, req.extlen,
			          req.bodylen);
			bin_error(c, req.opcode, req.opaque, (uint16_t)rc);
		}
		c->close_reason = "binary: invalid request";
		return PROC_CLOSE;
	}
	cmd = &bin_cmds[req.opcode];
	if (cmd->run == NULL) {
		log_debug("%d: binary: unknown opcode 0x%02x", c->fd,
		          req.opcode);
		c->rpos += BIN_HEADER_LEN;
		bin_error(c, req.opcode, req.opaque,
		          BIN_STATUS_UNKNOWN_COMMAND);
		return bin_skip(c, req.bodylen);
	}
	/* Streamed values need only extras and key buffered; everything
	 * else is small (the parser bounded it) and read whole. */
	need = BIN_HEADER_LEN + (size_t)req.extlen + req.keylen;
	if (cmd->value != LEN_ANY)
		need = BIN_HEADER_LEN + (size_t)req.bodylen;
	if (avail < need)
		return PROC_MORE;
	c->rpos += need;
	if (log_enabled(LOG_LVL_DEBUG) && req.keylen > 0)
		log_debug("%d: binary: %s key=%.*s", c->fd, cmd->name,
		          (int)req.keylen,
		          (const char *)p + BIN_HEADER_LEN + req.extlen);
	else
		log_debug("%d: binary: %s", c->fd, cmd->name);
	call.req = &req;
	call.cmd = cmd;
	call.ext = p + BIN_HEADER_LEN;
	call.key = (const char *)p + BIN_HEADER_LEN + req.extlen;
	return cmd->run(c, &call);
}
