/* fuzz_text.c: libFuzzer target for the text protocol parser.
 * Splits the input into lines the way the connection does ("\n", with an
 * optional "\r" before it), parses each one and checks what the parser
 * promises: errors carry a reply, keys point into the line and respect the
 * 250-byte limit, and the key list walker stays inside its line. Build
 * with scripts/fuzz. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proto_text.h"
#include "util.h"

/* Aborts unless [p, p + n) lies inside [line, line + len). */
static void
check_inside(const char *p, size_t n, const char *line, size_t len)
{
	if (p == NULL) {
		if (n != 0)
			abort();
		return;
	}
	if (p < line || p > line + len || n > (size_t)(line + len - p))
		abort();
}

/* Parses one line and checks the request's invariants. */
static void
fuzz_line(const char *line, size_t len)
{
	struct text_req req;
	const char *cur, *end, *key;
	size_t nkey, count = 0;

	proto_text_parse(line, len, &req);
	switch (req.cmd) {
	case TXT_ERROR:
		/* no reply text only for a close (a web request) */
		if (req.error == NULL ? !req.close_after
		                      : strlen(req.error) == 0)
			abort();
		return;
	case TXT_SET:
	case TXT_ADD:
	case TXT_REPLACE:
	case TXT_APPEND:
	case TXT_PREPEND:
	case TXT_CAS:
		if (req.nkey == 0 || req.nkey > KEY_MAX_LENGTH)
			abort();
		if (req.nbytes_raw < 0 || (int64_t)req.nbytes != req.nbytes_raw)
			abort();
		/* fall through */
	case TXT_INCR:
	case TXT_DECR:
	case TXT_DELETE:
	case TXT_TOUCH:
		if (req.nkey == 0 || req.nkey > KEY_MAX_LENGTH)
			abort();
		check_inside(req.key, req.nkey, line, len);
		for (size_t i = 0; i < req.nkey; i++)
			if (req.key[i] == ' ')
				abort();
		return;
	case TXT_GET:
	case TXT_GETS:
	case TXT_GAT:
	case TXT_GATS:
		check_inside(req.keys, req.nkeys_len, line, len);
		check_inside(req.key, req.nkey, line, len);
		cur = req.keys;
		end = req.keys + req.nkeys_len;
		while (proto_text_next_key(&cur, end, &key, &nkey)) {
			check_inside(key, nkey, line, len);
			if (nkey == 0 || cur > end || ++count > len + 1)
				abort();
			/* the parser refuses a get with any bad key */
			if (nkey > KEY_MAX_LENGTH)
				abort();
		}
		return;
	case TXT_STATS:
	case TXT_SHUTDOWN:
		check_inside(req.arg, req.narg, line, len);
		return;
	default:
		return;
	}
}

/* The fuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	/* The whole input as one line (exact bounds for ASan), then each
	 * line the way the connection would cut it. */
	{
		char *copy = malloc(size ? size : 1);
		if (copy == NULL)
			abort();
		memcpy(copy, data, size);
		fuzz_line(copy, size);
		free(copy);
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (nl == NULL)
			break;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		fuzz_line(p, n);
		p = nl + 1;
	}
	return 0;
}
