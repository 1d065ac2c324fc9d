/* test_xdrstream.c: record marking against libtirpc's xdrrec, both ways, bulk included. */
#include "check.h"
#include "xdrstream.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG (1024 * 1024 + 3) /* above XDRSTREAM_DIRECT, not a multiple of 4 */

static int fd_read(void *h, void *buf, int len)
{
	ssize_t n = read(*(int *)h, buf, (size_t)len);

	return n > 0 ? (int)n : -1;
}

static int fd_write(void *h, void *buf, int len)
{
	const char *p = buf;
	int done = 0;

	while (done < len) {
		ssize_t n = write(*(int *)h, p + done, (size_t)(len - done));

		if (n <= 0)
			return -1;
		done += (int)n;
	}
	return len;
}

static char big[BIG], small[5] = {'a', 'b', 'c', 'd', 'e'};

/* One record: an int, a 5-byte opaque, a big opaque, a trailing int. Then a second
 * record: two ints. */
static bool encode_records(XDR *x, bool (*end)(XDR *))
{
	u_int n1 = 7, n2 = 0xfffffffe, n3 = 42, n4 = 43;
	char *p = small, *q = big;
	u_int len = sizeof(small), blen = BIG;

	x->x_op = XDR_ENCODE;
	return xdr_u_int(x, &n1) && xdr_bytes(x, &p, &len, 16) && xdr_bytes(x, &q, &blen, BIG) &&
	       xdr_u_int(x, &n2) && end(x) && xdr_u_int(x, &n3) && xdr_u_int(x, &n4) && end(x);
}

/* Decodes what encode_records wrote; with skip, skips the first record after its
 * first int. */
static void decode_records(XDR *x, bool (*skiprec)(XDR *), bool skip)
{
	static char got_big[BIG];
	char got_small[16], *p = got_small, *q = got_big;
	u_int n = 0, len = 0, blen = 0;

	x->x_op = XDR_DECODE;
	CHECK(skiprec(x));
	CHECK(xdr_u_int(x, &n));
	CHECK_EQ(n, 7);
	if (!skip) {
		CHECK(xdr_bytes(x, &p, &len, sizeof(got_small)));
		CHECK_EQ(len, sizeof(small));
		CHECK(memcmp(got_small, small, sizeof(small)) == 0);
		CHECK(xdr_bytes(x, &q, &blen, BIG));
		CHECK_EQ(blen, BIG);
		CHECK(memcmp(got_big, big, BIG) == 0);
		CHECK(xdr_u_int(x, &n));
		CHECK_EQ(n, 0xfffffffe);
		CHECK(!xdr_u_int(x, &n)); /* the record is over */
	}
	CHECK(skiprec(x));
	CHECK(xdr_u_int(x, &n));
	CHECK_EQ(n, 42);
	CHECK(xdr_u_int(x, &n));
	CHECK_EQ(n, 43);
}

static bool rec_end(XDR *x)
{
	return xdrrec_endofrecord(x, TRUE);
}
static bool rec_skip(XDR *x)
{
	return xdrrec_skiprecord(x);
}
static bool stream_end(XDR *x)
{
	return xdrstream_endofrecord(x, true);
}
static bool stream_skip(XDR *x)
{
	return xdrstream_skiprecord(x);
}

struct writer {
	int fd;
	bool ours;
	size_t bufsize;
	bool ok;
};

static void *write_run(void *arg)
{
	struct writer *w = arg;
	XDR x;

	if (w->ours) {
		if (!xdrstream_create(&x, w->bufsize, w->bufsize, &w->fd, fd_read, fd_write))
			return NULL;
		w->ok = encode_records(&x, stream_end);
	} else {
		xdrrec_create(&x, (u_int)w->bufsize, (u_int)w->bufsize, &w->fd, fd_read, fd_write);
		w->ok = encode_records(&x, rec_end);
	}
	xdr_destroy(&x);
	/* A reader that wants more than was written then fails instead of waiting. */
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* Writes with one implementation on a thread, reads with the other. */
static void interop(bool ours_write, size_t wbuf, size_t rbuf, bool skip)
{
	struct writer w = {.ours = ours_write, .bufsize = wbuf};
	pthread_t t;
	int sv[2];
	XDR x;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	w.fd = sv[0];
	CHECK_EQ(pthread_create(&t, NULL, write_run, &w), 0);
	if (ours_write) {
		xdrrec_create(&x, (u_int)rbuf, (u_int)rbuf, &sv[1], fd_read, fd_write);
		decode_records(&x, rec_skip, skip);
	} else {
		CHECK(xdrstream_create(&x, rbuf, rbuf, &sv[1], fd_read, fd_write));
		decode_records(&x, stream_skip, skip);
		CHECK(xdrstream_eof(&x)); /* nothing more was sent */
	}
	xdr_destroy(&x);
	pthread_join(t, NULL);
	CHECK(w.ok);
	close(sv[0]);
	close(sv[1]);
}

/* A fragment header of 0 (an empty fragment that is not the last) is refused. */
static void test_zero_fragment(void)
{
	static const unsigned char bytes[] = {0, 0, 0, 0, 0, 0, 0, 1};
	int sv[2];
	u_int n;
	XDR x;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(write(sv[0], bytes, sizeof(bytes)), (ssize_t)sizeof(bytes));
	close(sv[0]);
	CHECK(xdrstream_create(&x, 1024, 1024, &sv[1], fd_read, fd_write));
	x.x_op = XDR_DECODE;
	CHECK(xdrstream_skiprecord(&x));
	CHECK(!xdr_u_int(&x, &n));
	xdr_destroy(&x);
	close(sv[1]);
}

int main(void)
{
	static const size_t sizes[] = {1024, 4000, 256 * 1024};

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 31 + 7);
	for (size_t a = 0; a < sizeof(sizes) / sizeof(sizes[0]); a++) {
		for (size_t b = 0; b < sizeof(sizes) / sizeof(sizes[0]); b++) {
			interop(true, sizes[a], sizes[b], false);
			interop(false, sizes[a], sizes[b], false);
			interop(false, sizes[a], sizes[b], true);
		}
	}
	test_zero_fragment();
	return CHECK_DONE();
}
