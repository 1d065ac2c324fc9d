/* fuzz_request.c: libFuzzer target for a server's request handling behind
 * the decoder: arguments decoded from the input are run through the real
 * handlers, store and session table, with a valid session token put in
 * place so the handlers past authentication are reached. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dispatch.h"
#include "session.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct server srv;
static struct conn cn;
static unsigned char token[SESSION_TOKEN_LEN];

static void setup(void)
{
	char dir[] = "/tmp/dfs-fuzz-request-XXXXXX", err[256];
	int64_t expires;

	if (!mkdtemp(dir) || store_open(&srv.store, dir, err, sizeof(err)) != 0 ||
	    sessions_new(&srv.sessions, 3600, 64, 64) != 0 ||
	    sessions_create(srv.sessions, "fuzz", token, &expires) != 0)
		abort();
	srv.cfg.id = 1;
	log_set_level(DFS_LOG_ERROR);
	cn.srv = &srv;
	snprintf(cn.peer_text, sizeof(cn.peer_text), "fuzzer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dispatch_proc_info info;
	rpcproc_t proc;
	void *args, *res;
	XDR in;

	if (!srv.store)
		setup();
	if (size < 1)
		return 0;
	proc = data[0] & 0x1f;
	/* Logins need the user database; their parsing is covered by the
	 * SCRAM unit tests and the XDR target. */
	if (proc == DFSPROC_LOGIN_BEGIN || proc == DFSPROC_LOGIN_FINISH ||
	    dispatch_describe(proc, &info) != 0)
		return 0;
	args = calloc(1, info.args_size);
	res = calloc(1, info.res_size);
	if (!args || !res)
		abort();
	xdrmem_create(&in, (char *)data + 1, (u_int)(size - 1), XDR_DECODE);
	if (info.xdr_args(&in, args)) {
		/* LOGOUT with the real token would end the session every later
		 * input relies on, and so would SET_VERIFIER with a wrong proof. */
		if (info.has_cred && !(data[0] & 0x40) && proc != DFSPROC_LOGOUT &&
		    proc != DFSPROC_SET_VERIFIER)
			memcpy(args, token, sizeof(token)); /* dfs_cred leads */
		dispatch_invoke(&cn, proc, args, res);
		xdr_free(info.xdr_res, res);
	}
	xdr_free(info.xdr_args, args);
	free(args);
	free(res);
	return 0;
}
