/* dispatch.c: the procedure table of DFS_V1: decode, run, reply, free. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "rpcstream.h"

typedef void (*handler_fn)(struct conn *, void *, void *);

struct proc {
	const char *name;
	xdrproc_t xdr_args;
	size_t args_size;
	xdrproc_t xdr_res;
	size_t res_size;
	handler_fn run;
};

#define PROC(NUM, NAME, ARGS, RES, FN)                                                             \
	[NUM] = {NAME,	      (xdrproc_t)xdr_##ARGS, sizeof(ARGS), (xdrproc_t)xdr_##RES,           \
		 sizeof(RES), (handler_fn)FN}

static const struct proc procs[] = {
    PROC(DFSPROC_LOGIN_BEGIN, "login_begin", dfs_login_begin_args, dfs_login_begin_res,
	 op_login_begin),
    PROC(DFSPROC_LOGIN_FINISH, "login_finish", dfs_login_finish_args, dfs_login_finish_res,
	 op_login_finish),
    PROC(DFSPROC_LOGOUT, "logout", dfs_cred_args, dfs_stat, op_logout),
    PROC(DFSPROC_PUT_BEGIN, "put_begin", dfs_put_begin_args, dfs_put_begin_res, op_put_begin),
    PROC(DFSPROC_PUT_BLOCK, "put_block", dfs_put_block_args, dfs_stat, op_put_block),
    PROC(DFSPROC_PUT_END, "put_end", dfs_put_end_args, dfs_stat, op_put_end),
    PROC(DFSPROC_COMMIT, "commit", dfs_commit_args, dfs_stat, op_commit),
    PROC(DFSPROC_ABORT, "abort", dfs_version_args, dfs_stat, op_abort),
    PROC(DFSPROC_READ, "read", dfs_read_args, dfs_read_res, op_read),
    PROC(DFSPROC_LOOKUP, "lookup", dfs_name_args, dfs_lookup_res, op_lookup),
    PROC(DFSPROC_LIST, "list", dfs_list_args, dfs_list_res, op_list),
    PROC(DFSPROC_DELETE, "delete", dfs_delete_args, dfs_stat, op_delete),
    PROC(DFSPROC_STATUS, "status", dfs_cred_args, dfs_status_res, op_status),
    PROC(DFSPROC_VERIFY, "verify", dfs_version_args, dfs_verify_res, op_verify),
    PROC(DFSPROC_SET_VERIFIER, "set_verifier", dfs_set_verifier_args, dfs_stat, op_set_verifier),
    PROC(DFSPROC_REPAIR_HINTS, "repair_hints", dfs_cred_args, dfs_hints_res, op_repair_hints),
    PROC(DFSPROC_STORE, "store", dfs_store_args, dfs_stat, op_store),
    PROC(DFSPROC_LOOKUP_READ, "lookup_read", dfs_lookup_read_args, dfs_lookup_read_res,
	 op_lookup_read),
    PROC(DFSPROC_VERIFIED, "verified", dfs_version_args, dfs_verified_res, op_verified),
    PROC(DFSPROC_LIST_NAMES, "list_names", dfs_list_names_args, dfs_list_names_res, op_list_names),
    PROC(DFSPROC_TASKS, "tasks", dfs_cred_args, dfs_tasks_res, op_tasks),
    PROC(DFSPROC_PEER_LOGIN, "peer_login", dfs_peer_login_args, dfs_peer_login_res, op_peer_login),
    PROC(DFSPROC_PEER_USERS, "peer_users", dfs_peer_users_args, dfs_peer_users_res, op_peer_users),
    PROC(DFSPROC_PEER_NUDGE, "peer_nudge", dfs_peer_nudge_args, dfs_stat, op_peer_nudge),
    /* Decoded within a budget for the data of all its items. */
    [DFSPROC_STORE_MANY] = {"store_many", (xdrproc_t)xdr_store_many_bounded,
			    sizeof(dfs_store_many_args), (xdrproc_t)xdr_dfs_store_many_res,
			    sizeof(dfs_store_many_res), (handler_fn)op_store_many},
    PROC(DFSPROC_LOOKUP_READ_MANY, "lookup_read_many", dfs_lookup_read_many_args,
	 dfs_lookup_read_many_res, op_lookup_read_many),
};

/* Big enough for the largest argument and result structures above. */
union any_args {
	dfs_login_begin_args login_begin;
	dfs_login_finish_args login_finish;
	dfs_cred_args cred;
	dfs_put_begin_args put_begin;
	dfs_put_block_args put_block;
	dfs_put_end_args put_end;
	dfs_commit_args commit;
	dfs_version_args version;
	dfs_delete_args delete;
	dfs_read_args read;
	dfs_name_args name;
	dfs_list_args list;
	dfs_list_names_args list_names;
	dfs_set_verifier_args set_verifier;
	dfs_store_args store;
	dfs_lookup_read_args lookup_read;
	dfs_peer_login_args peer_login;
	dfs_peer_users_args peer_users;
	dfs_peer_nudge_args peer_nudge;
	dfs_store_many_args store_many;
	dfs_lookup_read_many_args lookup_read_many;
};
union any_res {
	dfs_login_begin_res login_begin;
	dfs_login_finish_res login_finish;
	dfs_stat stat;
	dfs_put_begin_res put_begin;
	dfs_read_res read;
	dfs_lookup_res lookup;
	dfs_lookup_read_res lookup_read;
	dfs_list_res list;
	dfs_list_names_res list_names;
	dfs_tasks_res tasks;
	dfs_status_res status;
	dfs_verify_res verify;
	dfs_verified_res verified;
	dfs_hints_res hints;
	dfs_peer_login_res peer_login;
	dfs_peer_users_res peer_users;
	dfs_store_many_res store_many;
	dfs_lookup_read_many_res lookup_read_many;
};

/* PUT_BLOCK data is decoded into one page-aligned buffer per connection rather than
 * a fresh allocation per call; the alignment lets the store write it with O_DIRECT,
 * and the store may keep it to write with the blocks after it, giving back another.
 * READ reads into the same buffer for its reply: a call's buffer is done with once
 * its reply is sent, and a fresh megabyte per call costs page faults and munmap. */
static void lend_block_buffer(struct conn *cn, rpcproc_t proc, union any_args *args)
{
	if (cn->block_buf == NULL)
		cn->block_buf = aligned_alloc(4096, DFS_BLOCK_MAX);
	if (cn->block_buf == NULL)
		return;
	if (proc == DFSPROC_READ) {
		cn->reply_buf = cn->block_buf;
		return;
	}
	args->put_block.data.data_val = cn->block_buf;
	args->put_block.data.data_len = DFS_BLOCK_MAX;
}

void dispatch_call(struct svc_req *rq, SVCXPRT *xprt, void *conn_arg)
{
	struct conn *cn = conn_arg;
	union any_args args;
	union any_res res;
	const struct proc *p;
	struct timespec started;
	void *lent = NULL; /* the buffer PUT_BLOCK decodes into: not the call's to free */

	clock_gettime(CLOCK_MONOTONIC, &started);
	if (rq->rq_proc >= sizeof(procs) / sizeof(procs[0]) || !procs[rq->rq_proc].run) {
		metrics_call_rejected(cn->srv->metrics, METRICS_UNKNOWN_PROCEDURE);
		svcerr_noproc(xprt);
		return;
	}
	p = &procs[rq->rq_proc];
	cn->tls = rpcstream_svc_is_tls(xprt);
	cn->ssl = rpcstream_svc_ssl(xprt);
	memset(&args, 0, sizeof(args));
	memset(&res, 0, sizeof(res));
	if (rq->rq_proc == DFSPROC_PUT_BLOCK || rq->rq_proc == DFSPROC_READ)
		lend_block_buffer(cn, rq->rq_proc, &args);
	if (rq->rq_proc == DFSPROC_PUT_BLOCK)
		lent = args.put_block.data.data_val;
	if (!svc_getargs(xprt, p->xdr_args, (char *)&args)) {
		log_warn("%s: undecodable %s arguments", cn->peer_text, p->name);
		metrics_call_rejected(cn->srv->metrics, METRICS_UNDECODABLE);
		svcerr_decode(xprt);
		goto out;
	}
	p->run(cn, &args, &res);
	if (!svc_sendreply(xprt, p->xdr_res, (char *)&res))
		log_debug("%s: could not send the %s reply", cn->peer_text, p->name);
	metrics_call_done(cn->srv->metrics, rq->rq_proc, &res, &started);
	if (rq->rq_proc == DFSPROC_READ && res.read.status == DFS_OK &&
	    res.read.dfs_read_res_u.data.data_val == cn->reply_buf)
		res.read.dfs_read_res_u.data.data_val = NULL;
	xdr_free(p->xdr_res, (char *)&res);
out:
	cn->reply_buf = NULL;
	if (lent != NULL && args.put_block.data.data_val == lent)
		args.put_block.data.data_val = NULL;
	/* Freeing never fails for these types; a failure would only leak. */
	if (!svc_freeargs(xprt, p->xdr_args, (char *)&args))
		log_error("%s: could not free %s arguments", cn->peer_text, p->name);
}

int dispatch_describe(rpcproc_t proc, struct dispatch_proc_info *out)
{
	const struct proc *p;

	if (proc >= sizeof(procs) / sizeof(procs[0]) || !procs[proc].run)
		return -ENOENT;
	p = &procs[proc];
	*out = (struct dispatch_proc_info){
	    p->name,
	    p->xdr_args,
	    p->xdr_res,
	    p->args_size,
	    p->res_size,
	    proc != DFSPROC_LOGIN_BEGIN && proc != DFSPROC_LOGIN_FINISH &&
		proc != DFSPROC_PEER_LOGIN && proc != DFSPROC_PEER_USERS &&
		proc != DFSPROC_PEER_NUDGE};
	return 0;
}

void dispatch_invoke(struct conn *cn, rpcproc_t proc, void *args, void *res)
{
	procs[proc].run(cn, args, res);
}

void dispatch_conn_closed(struct conn *conn)
{
	op_uploads_release(conn);
	free(conn->block_buf);
	conn->block_buf = NULL;
}
