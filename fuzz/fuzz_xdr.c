/* fuzz_xdr.c: libFuzzer target for the XDR decoding of every procedure's
 * arguments (what a server decodes) and results (what a client decodes).
 * The first byte picks the procedure and the direction. A decoded value
 * must encode back to at most as many bytes as were decoded, and that
 * encoding must decode and encode again to itself. (Not to the input bytes:
 * XDR decoders accept non-zero padding, any non-zero bool and strings with
 * NUL bytes, which encode canonically or shorter.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dispatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dispatch_proc_info info;
	xdrproc_t proc;
	size_t value_size;
	void *value;
	XDR in, out;
	char *again;

	if (size < 1 || dispatch_describe(data[0] & 0x1f, &info) != 0)
		return 0;
	proc = data[0] & 0x80 ? info.xdr_res : info.xdr_args;
	value_size = data[0] & 0x80 ? info.res_size : info.args_size;
	value = calloc(1, value_size);
	again = malloc(size);
	if (!value || !again)
		abort();
	xdrmem_create(&in, (char *)data + 1, (u_int)(size - 1), XDR_DECODE);
	if (proc(&in, value)) {
		u_int used = xdr_getpos(&in);
		void *value2 = calloc(1, value_size);
		char *third = malloc(size);

		if (!value2 || !third)
			abort();
		xdrmem_create(&out, again, (u_int)size, XDR_ENCODE);
		if (!proc(&out, value) || xdr_getpos(&out) > used)
			abort();
		used = xdr_getpos(&out);
		xdrmem_create(&in, again, used, XDR_DECODE);
		if (!proc(&in, value2) || xdr_getpos(&in) != used)
			abort();
		xdrmem_create(&out, third, (u_int)size, XDR_ENCODE);
		if (!proc(&out, value2) || xdr_getpos(&out) != used ||
		    memcmp(again, third, used) != 0)
			abort();
		xdr_free(proc, value2);
		free(value2);
		free(third);
	}
	xdr_free(proc, value);
	free(value);
	free(again);
	return 0;
}
