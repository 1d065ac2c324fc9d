/* xdrstream.h: XDR over a byte stream with record marking (RFC 5531, section 11).
 *
 * The same wire format and the same semantics as libtirpc's xdrrec, with one
 * difference that matters for bulk data: opaque data of XDRSTREAM_DIRECT bytes or
 * more goes straight between the caller's buffer and the stream (as a fragment of
 * its own when sending), instead of being copied through the stream's buffer.
 */
#ifndef DFS_XDRSTREAM_H
#define DFS_XDRSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <rpc/rpc.h>

/* Byte runs at least this long bypass the buffers. */
#define XDRSTREAM_DIRECT (64 * 1024)

/* Reads some bytes (at most len) into buf: the count, or -1 on failure or end. */
typedef int (*xdrstream_read_fn)(void *handle, void *buf, int len);
/* Writes all len bytes: len, or -1 on failure. */
typedef int (*xdrstream_write_fn)(void *handle, void *buf, int len);

/* Sets up xdrs with buffers of sendsize and recvsize bytes (at least 1 KiB each).
 * false if out of memory. Free with xdr_destroy. */
bool xdrstream_create(XDR *xdrs, size_t sendsize, size_t recvsize, void *handle,
		      xdrstream_read_fn readit, xdrstream_write_fn writeit);

/* Ends the record being encoded and sends it (sendnow is accepted for xdrrec's
 * signature; the record is always sent). */
bool xdrstream_endofrecord(XDR *xdrs, bool sendnow);

/* Skips what is left of the record being decoded, so decoding resumes at the start
 * of the next one. false if the stream failed. */
bool xdrstream_skiprecord(XDR *xdrs);

/* Skips what is left of the current record; true unless more bytes are already
 * buffered (the next record has begun to arrive), or if the stream failed. */
bool xdrstream_eof(XDR *xdrs);

#endif
