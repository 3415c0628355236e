/* fuzz_meta.c: libFuzzer target for the meta command parser and its
 * base64 helpers. Each input line is parsed with proto_meta_parse and the
 * request checked: errors carry a reply, the key points into the line (or
 * into the request's decoded key buffer), limits hold. Base64 must
 * round-trip. Build with scripts/fuzz. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proto_meta.h"
#include "util.h"

/* Aborts unless [p, p + n) lies inside [base, base + len). */
static void
check_inside(const char *p, size_t n, const char *base, size_t len)
{
	if (p < base || p > base + len || n > (size_t)(base + len - p))
		abort();
}

/* Parses one line and checks the request's invariants. */
static void
fuzz_line(const char *line, size_t len)
{
	struct meta_req req;

	proto_meta_parse(line, len, &req);
	if (req.cmd == META_ERROR) {
		if (req.error == NULL || strlen(req.error) == 0)
			abort();
		return;
	}
	if (req.cmd < META_MG || req.cmd > META_ME)
		abort();
	if (req.nflags < 0 || req.nflags > META_MAX_FLAGS)
		abort();
	if (req.key != NULL)
		check_inside(req.key, req.nkey, line, len);
	if (req.lkey != NULL) {
		if (req.b64) {
			check_inside(req.lkey, req.nlkey, req.dkey,
			             sizeof req.dkey);
		} else {
			check_inside(req.lkey, req.nlkey, line, len);
		}
	}
	if (req.cmd != META_MN && req.cmd != META_ME &&
	    (req.nlkey > KEY_MAX_LENGTH || req.nkey > KEY_MAX_LENGTH))
		abort();
	if (req.opaque != NULL) {
		check_inside(req.opaque, req.nopaque, line, len);
		if (req.nopaque > META_OPAQUE_MAX)
			abort();
	}
	if (req.cmd == META_MS && req.vlen > INT32_MAX - 2)
		abort();
}

/* Checks that base64 encode then decode gives the bytes back, and that
 * decoding arbitrary bytes stays inside its buffer. */
static void
fuzz_b64(const uint8_t *data, size_t size)
{
	size_t n = size > 300 ? 300 : size;
	char enc[4 * ((300 + 2) / 3)], *dec;
	size_t elen;
	long dlen;

	elen = proto_meta_b64_encode((const char *)data, n, enc);
	if (elen != 4 * ((n + 2) / 3))
		abort();
	dec = malloc(n + 1);
	if (dec == NULL)
		abort();
	dlen = proto_meta_b64_decode(enc, elen, dec, n + 1);
	if (n > 0 && (dlen != (long)n || memcmp(dec, data, n) != 0))
		abort();
	free(dec);

	/* Arbitrary input into an exactly sized buffer. */
	dec = malloc(KEY_MAX_LENGTH);
	if (dec == NULL)
		abort();
	dlen = proto_meta_b64_decode((const char *)data, size, dec,
	                             KEY_MAX_LENGTH);
	if (dlen > KEY_MAX_LENGTH)
		abort();
	free(dec);
}

/* The fuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char *copy;

	copy = malloc(size ? size : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	fuzz_line(copy, size);
	free(copy);
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
	fuzz_b64(data, size);
	return 0;
}
