/* dispatch.h: the procedure table of DFS_V1. */
#ifndef DFS_DISPATCH_H
#define DFS_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <rpc/rpc.h>
#include "server.h"

/* The rpcstream dispatch function: conn_arg is the connection's struct conn.
 * Decodes the arguments, runs the handler, sends the reply, always frees the
 * arguments and the result. */
void dispatch_call(struct svc_req *rq, SVCXPRT *xprt, void *conn_arg);
/* The shape of one procedure, for callers that decode arguments themselves
 * (the request fuzzer). Returns 0, or -ENOENT for an unknown procedure. */
struct dispatch_proc_info {
	const char *name;
	xdrproc_t xdr_args, xdr_res;
	size_t args_size, res_size;
	bool has_cred; /* the arguments begin with a dfs_cred */
};
int dispatch_describe(rpcproc_t proc, struct dispatch_proc_info *out);
/* Runs procedure proc on decoded arguments, filling res (zeroed, res_size
 * bytes); the caller frees both with their XDR routines. */
void dispatch_invoke(struct conn *cn, rpcproc_t proc, void *args, void *res);

/* Releases what a connection left open (unfinished uploads). */
void dispatch_conn_closed(struct conn *conn);

#endif
