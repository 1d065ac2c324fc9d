/* xdrstream.c: record-marked XDR over a byte stream, with bulk data moved directly. */
#include "xdrstream.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR	  4 /* a fragment header: last-fragment bit and 31-bit length */
#define LAST_FRAG 0x80000000u
#define FRAG_MAX  0x7fffffffu
#define UNIT	  4 /* XDR items are multiples of 4 bytes */

struct xstream {
	void *handle;
	xdrstream_read_fn readit;
	xdrstream_write_fn writeit;
	/* Sending: out[0, HDR) holds the header of the fragment being filled. */
	char *out;
	size_t out_size, out_len;
	/* Receiving: in[in_pos, in_end) is buffered. Buffer index and stream offset
	 * stay equal modulo UNIT, so x_inline hands out aligned pointers. */
	char *in;
	size_t in_size, in_pos, in_end;
	uint32_t frag_left; /* bytes of the current fragment not consumed yet */
	bool last_frag;	    /* the current fragment ends its record */
	u_int pos;	    /* bytes encoded or decoded so far (x_getpostn) */
};

static struct xstream *xs_of(XDR *xdrs)
{
	return (struct xstream *)xdrs->x_private;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- sending ---- */

/* Sends the buffered fragment; last ends the record. */
static bool flush_out(struct xstream *x, bool last)
{
	uint32_t hdr = htonl((uint32_t)(x->out_len - HDR) | (last ? LAST_FRAG : 0));

	memcpy(x->out, &hdr, HDR);
	if (x->writeit(x->handle, x->out, (int)x->out_len) != (int)x->out_len)
		return false;
	x->out_len = HDR;
	return true;
}

/* Sends len bytes at p as a fragment of their own, after the buffered one: the
 * buffered fragment and the new fragment's header go out in one write. */
static bool put_direct(struct xstream *x, const char *p, uint32_t len)
{
	uint32_t hdr = htonl(len);

	if (x->out_len > HDR && x->out_len + HDR > x->out_size && !flush_out(x, false))
		return false;
	if (x->out_len > HDR) {
		uint32_t mine = htonl((uint32_t)(x->out_len - HDR));

		memcpy(x->out, &mine, HDR);
		memcpy(x->out + x->out_len, &hdr, HDR);
		if (x->writeit(x->handle, x->out, (int)(x->out_len + HDR)) !=
		    (int)(x->out_len + HDR))
			return false;
	} else if (x->writeit(x->handle, &hdr, HDR) != HDR) {
		return false;
	}
	x->out_len = HDR;
	return x->writeit(x->handle, (void *)p, (int)len) == (int)len;
}

static bool_t xs_putbytes(XDR *xdrs, const char *p, u_int len)
{
	struct xstream *x = xs_of(xdrs);

	x->pos += len;
	while (len >= XDRSTREAM_DIRECT) {
		uint32_t n = len < (1u << 30) ? len : (1u << 30);

		if (!put_direct(x, p, n))
			return FALSE;
		p += n;
		len -= n;
	}
	while (len > 0) {
		size_t n = min_size(len, x->out_size - x->out_len);

		memcpy(x->out + x->out_len, p, n);
		x->out_len += n;
		p += n;
		len -= (u_int)n;
		if (x->out_len == x->out_size && !flush_out(x, false))
			return FALSE;
	}
	return TRUE;
}

static bool_t xs_putlong(XDR *xdrs, const long *lp)
{
	uint32_t v = htonl((uint32_t)*lp);

	return xs_putbytes(xdrs, (const char *)&v, sizeof(v));
}

/* ---- receiving ---- */

/* Reads more bytes into the buffer: false if the stream failed or ended. */
static bool fill(struct xstream *x)
{
	int n;

	if (x->in_pos == x->in_end) {
		x->in_pos = x->in_end = x->in_pos % UNIT;
	} else if (x->in_end == x->in_size) {
		size_t keep = x->in_end - x->in_pos, to = x->in_pos % UNIT;

		memmove(x->in + to, x->in + x->in_pos, keep);
		x->in_pos = to;
		x->in_end = to + keep;
	}
	n = x->readit(x->handle, x->in + x->in_end, (int)min_size(x->in_size - x->in_end, INT_MAX));
	if (n <= 0)
		return false;
	x->in_end += (size_t)n;
	return true;
}

/* Reads the next fragment header. */
static bool next_fragment(struct xstream *x)
{
	uint32_t hdr;
	size_t got = 0;

	while (got < HDR) {
		size_t n = min_size(HDR - got, x->in_end - x->in_pos);

		if (n == 0) {
			if (!fill(x))
				return false;
			continue;
		}
		memcpy((char *)&hdr + got, x->in + x->in_pos, n);
		x->in_pos += n;
		got += n;
	}
	hdr = ntohl(hdr);
	if (hdr == 0) /* an empty fragment that is not the last: nonsense */
		return false;
	x->last_frag = (hdr & LAST_FRAG) != 0;
	x->frag_left = hdr & FRAG_MAX;
	return true;
}

/* Takes len bytes of the current record into dst, or skips them (dst NULL).
 * false at the end of the record or if the stream failed. */
static bool get_bytes(struct xstream *x, char *dst, size_t len)
{
	while (len > 0) {
		size_t n = min_size(len, x->frag_left), have = x->in_end - x->in_pos;

		if (x->frag_left == 0) {
			if (x->last_frag || !next_fragment(x))
				return false;
			continue;
		}
		if (have > 0) {
			n = min_size(n, have);
			if (dst)
				memcpy(dst, x->in + x->in_pos, n);
			x->in_pos += n;
		} else if (dst && n >= XDRSTREAM_DIRECT) {
			int got = x->readit(x->handle, dst, (int)min_size(n, INT_MAX));

			if (got <= 0)
				return false;
			n = (size_t)got;
			/* The buffer is empty: move it so it stays in step with the stream. */
			x->in_pos = x->in_end = (x->in_pos + n) % UNIT;
		} else {
			if (!fill(x))
				return false;
			continue;
		}
		if (dst)
			dst += n;
		len -= n;
		x->frag_left -= (uint32_t)n;
	}
	return true;
}

static bool_t xs_getbytes(XDR *xdrs, char *p, u_int len)
{
	struct xstream *x = xs_of(xdrs);

	x->pos += len;
	return get_bytes(x, p, len) ? TRUE : FALSE;
}

static bool_t xs_getlong(XDR *xdrs, long *lp)
{
	struct xstream *x = xs_of(xdrs);
	uint32_t v;

	if (x->frag_left >= sizeof(v) && x->in_end - x->in_pos >= sizeof(v)) {
		memcpy(&v, x->in + x->in_pos, sizeof(v));
		x->in_pos += sizeof(v);
		x->frag_left -= sizeof(v);
		x->pos += sizeof(v);
	} else if (!xs_getbytes(xdrs, (char *)&v, sizeof(v))) {
		return FALSE;
	}
	*lp = (long)(int32_t)ntohl(v);
	return TRUE;
}

/* Consumes the rest of the current record. */
static bool skip_rest(struct xstream *x)
{
	while (x->frag_left > 0 || !x->last_frag) {
		if (x->frag_left > 0) {
			if (!get_bytes(x, NULL, x->frag_left))
				return false;
		} else if (!next_fragment(x)) {
			return false;
		}
	}
	return true;
}

/* ---- the rest of the XDR interface ---- */

static u_int xs_getpostn(XDR *xdrs)
{
	return xs_of(xdrs)->pos;
}

static bool_t xs_setpostn(XDR *xdrs, u_int pos)
{
	(void)xdrs;
	(void)pos;
	return FALSE;
}

/* A pointer to len contiguous buffered bytes, or NULL (the caller then goes byte by
 * byte). */
static int32_t *xs_inline(XDR *xdrs, u_int len)
{
	struct xstream *x = xs_of(xdrs);
	char *p;

	if (xdrs->x_op == XDR_ENCODE) {
		if (len > x->out_size - x->out_len || x->out_len % UNIT)
			return NULL;
		p = x->out + x->out_len;
		x->out_len += len;
	} else if (xdrs->x_op == XDR_DECODE) {
		if (len > x->frag_left || len > x->in_end - x->in_pos || x->in_pos % UNIT)
			return NULL;
		p = x->in + x->in_pos;
		x->in_pos += len;
		x->frag_left -= len;
	} else {
		return NULL;
	}
	x->pos += len;
	return (int32_t *)(void *)p;
}

static void xs_destroy(XDR *xdrs)
{
	struct xstream *x = xs_of(xdrs);

	if (x) {
		free(x->out);
		free(x->in);
		free(x);
	}
	xdrs->x_private = NULL;
}

static bool_t xs_control(XDR *xdrs, int request, void *info)
{
	(void)xdrs;
	(void)request;
	(void)info;
	return FALSE;
}

static const struct xdr_ops xs_ops = {
    .x_getlong = xs_getlong,
    .x_putlong = xs_putlong,
    .x_getbytes = xs_getbytes,
    .x_putbytes = xs_putbytes,
    .x_getpostn = xs_getpostn,
    .x_setpostn = xs_setpostn,
    .x_inline = xs_inline,
    .x_destroy = xs_destroy,
    .x_control = xs_control,
};

bool xdrstream_create(XDR *xdrs, size_t sendsize, size_t recvsize, void *handle,
		      xdrstream_read_fn readit, xdrstream_write_fn writeit)
{
	struct xstream *x = calloc(1, sizeof(*x));

	memset(xdrs, 0, sizeof(*xdrs));
	if (!x)
		return false;
	x->out_size = (sendsize < 1024 ? 1024 : sendsize) & ~(size_t)(UNIT - 1);
	x->in_size = (recvsize < 1024 ? 1024 : recvsize) & ~(size_t)(UNIT - 1);
	x->out = malloc(x->out_size);
	x->in = malloc(x->in_size);
	if (!x->out || !x->in) {
		free(x->out);
		free(x->in);
		free(x);
		return false;
	}
	x->handle = handle;
	x->readit = readit;
	x->writeit = writeit;
	x->out_len = HDR;
	x->last_frag = true; /* no record begun: the first decode reads a header */
	xdrs->x_ops = &xs_ops;
	xdrs->x_private = x;
	return true;
}

bool xdrstream_endofrecord(XDR *xdrs, bool sendnow)
{
	struct xstream *x = xs_of(xdrs);

	(void)sendnow;
	x->pos = 0;
	return flush_out(x, true);
}

bool xdrstream_skiprecord(XDR *xdrs)
{
	struct xstream *x = xs_of(xdrs);

	if (!skip_rest(x))
		return false;
	x->last_frag = false;
	x->frag_left = 0;
	x->pos = 0;
	return true;
}

bool xdrstream_eof(XDR *xdrs)
{
	struct xstream *x = xs_of(xdrs);

	if (!skip_rest(x))
		return true;
	return x->in_pos == x->in_end;
}
