/* dispatch.h: the procedure table of DFS_V1. */
#ifndef DFS_DISPATCH_H
#define DFS_DISPATCH_H

#include <rpc/rpc.h>
#include "server.h"

/* The rpcstream dispatch function: conn_arg is the connection's struct conn.
 * Decodes the arguments, runs the handler, sends the reply, always frees the
 * arguments and the result. */
void dispatch_call(struct svc_req *rq, SVCXPRT *xprt, void *conn_arg);
/* Releases what a connection left open (unfinished uploads). */
void dispatch_conn_closed(struct conn *conn);

#endif
