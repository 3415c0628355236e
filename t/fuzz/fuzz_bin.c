/* fuzz_bin.c: libFuzzer target for the binary protocol header parser.
 * Decodes the input as a stream of requests the way the connection does
 * (header, then skip the body) and checks the parser's promises: every
 * field is filled in host order, the result is 0, -1 (bad magic) or a
 * documented status, and an accepted header's key and extras fit in its
 * body. The response encoder must round-trip the fields. Build with
 * scripts/fuzz. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proto_bin.h"
#include "util.h"

/* Reads a big-endian integer of n bytes. */
static uint64_t
be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Parses one header and checks the result; returns the parser's value. */
static int
fuzz_header(const uint8_t *h, struct bin_req *req)
{
	uint8_t out[BIN_HEADER_LEN];
	struct bin_res res;
	struct bin_req again;
	int rc;

	memset(req, 0xa5, sizeof *req);
	rc = proto_bin_parse_header(h, req);
	if (req->magic != h[0] || req->opcode != h[1] ||
	    req->keylen != be(h + 2, 2) || req->extlen != h[4] ||
	    req->datatype != h[5] || req->vbucket != be(h + 6, 2) ||
	    req->bodylen != be(h + 8, 4) || req->opaque != be(h + 12, 4) ||
	    req->cas != be(h + 16, 8))
		abort();
	if (rc == -1) {
		if (h[0] == BIN_REQ_MAGIC)
			abort();
	} else if (rc == 0) {
		if (h[0] != BIN_REQ_MAGIC ||
		    (uint32_t)req->keylen + req->extlen > req->bodylen ||
		    req->keylen > KEY_MAX_LENGTH)
			abort();
	} else if (rc != BIN_STATUS_UNKNOWN_COMMAND &&
	           rc != BIN_STATUS_EINVAL) {
		abort();
	} else if (proto_bin_status_text((uint16_t)rc) == NULL) {
		abort();
	}
	/* Pure: the same bytes give the same answer. */
	if (proto_bin_parse_header(h, &again) != rc ||
	    memcmp(&again, req, sizeof again) != 0)
		abort();
	(void)proto_bin_opcode_name(req->opcode);

	res.opcode = req->opcode;
	res.extlen = req->extlen;
	res.keylen = req->keylen;
	res.status = req->vbucket;
	res.bodylen = req->bodylen;
	res.opaque = req->opaque;
	res.cas = req->cas;
	proto_bin_encode_header(out, &res);
	if (out[0] != BIN_RES_MAGIC || out[1] != h[1] ||
	    memcmp(out + 2, h + 2, 3) != 0 || out[5] != 0 ||
	    memcmp(out + 6, h + 6, 18) != 0)
		abort();
	return rc;
}

/* The fuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (size - off >= BIN_HEADER_LEN) {
		uint8_t *h = malloc(BIN_HEADER_LEN);
		struct bin_req req;
		int rc;

		if (h == NULL)
			abort();
		memcpy(h, data + off, BIN_HEADER_LEN);
		rc = fuzz_header(h, &req);
		free(h);
		if (rc != 0)
			break; /* the connection replies and closes */
		off += BIN_HEADER_LEN;
		if (req.bodylen > size - off)
			break;
		off += req.bodylen;
	}
	return 0;
}
