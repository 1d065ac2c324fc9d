/* fuzz_xdr.c: libFuzzer target for the XDR decoding of every procedure's
 * arguments (what a server decodes) and results (what a client decodes).
 * The first byte picks the procedure and the direction. A decoded value
 * must encode back to exactly the bytes it was decoded from. */
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

		xdrmem_create(&out, again, (u_int)size, XDR_ENCODE);
		if (!proc(&out, value) || xdr_getpos(&out) != used ||
		    memcmp(again, data + 1, used) != 0)
			abort();
	}
	xdr_free(proc, value);
	free(value);
	free(again);
	return 0;
}
