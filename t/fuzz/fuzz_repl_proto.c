/* fuzz_repl_proto.c: libFuzzer target for the replication decoder.
 * Decodes the input as a stream of records, the way the receiver does,
 * and re-encodes every record accepted: the bytes must come back
 * identical. Build (from a configured build dir for config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I/work/main/include \
 *     -I$BUILD -D_GNU_SOURCE t/fuzz/fuzz_repl_proto.c src/repl_proto.c \
 *     src/util.c src/log.c -o fuzz_repl_proto */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "repl_proto.h"

#define FUZZ_MAX_BODY (1u << 20)

/* Re-encodes a decoded record into b; returns the bytes appended. */
static size_t
reencode(struct repl_buf *b, const struct repl_msg *m)
{
	uint64_t dg[64];
	size_t n, i;
	item *it;

	switch (m->type) {
	case REPL_HELLO:
		return repl_encode_hello(b, &m->hello);
	case REPL_AUTH:
		return repl_encode_auth(b, m->mac);
	case REPL_ITEM:
		it = malloc(sizeof(item) + m->nkey + m->nbytes);
		if (it == NULL)
			abort();
		memset(it, 0, sizeof(item));
		it->version = m->version;
		it->origin = m->origin;
		it->cas = m->cas;
		it->flags = m->flags;
		it->iflags = m->iflags;
		it->exptime = m->exptime;
		it->nkey = m->nkey;
		it->nbytes = m->nbytes;
		memcpy(ITEM_key(it), m->key, m->nkey);
		memcpy(ITEM_value(it), m->value, m->nbytes);
		n = repl_encode_item(b, it);
		free(it);
		return n;
	case REPL_DELETE:
		return repl_encode_delete(b, m->key, m->nkey, m->version,
		                          m->origin, m->cas);
	case REPL_TOUCH:
		return repl_encode_touch(b, m->key, m->nkey, m->exptime,
		                         m->version, m->origin);
	case REPL_FLUSH:
		return repl_encode_flush(b, m->when, m->version, m->origin);
	case REPL_COPY_BEGIN:
	case REPL_COPY_END:
	case REPL_PING:
	case REPL_ACK:
		if (m->offset != m->count)
			abort();
		return repl_encode_u64(b, m->type, m->offset);
	case REPL_DIGEST: /* the caller skips more than 64 digests */
		for (i = 0; i < m->hi - m->lo; i++)
			dg[i] = repl_msg_digest(m, (uint32_t)i);
		return repl_encode_digest(b, m->type, m->parts, m->lo, m->hi,
		                          dg, m->hi - m->lo);
	default:
		return repl_encode_digest(b, m->type, m->parts, m->lo, m->hi,
		                          NULL, 0);
	}
}

/* The fuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct repl_buf out;
	struct repl_msg m;
	const char *err;
	size_t off = 0;
	long r;

	while (off < size) {
		r = repl_decode(data + off, size - off, FUZZ_MAX_BODY, &m,
		                &err);
		if (r <= 0) {
			if (r < -1 || (r == -1 && err == NULL))
				abort();
			break;
		}
		if ((size_t)r > size - off || m.len != (size_t)r)
			abort();
		repl_buf_consume(&out, out.len);
		if (m.type == REPL_DIGEST && m.hi - m.lo > 64) {
			off += (size_t)r;
			continue;
		}
		if (reencode(&out, &m) != (size_t)r ||
		    memcmp(out.data, data + off, (size_t)r) != 0)
			abort();
		off += (size_t)r;
	}
	return 0;
}
