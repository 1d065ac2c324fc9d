/* registry.c: dfsd's entry in the local rpcbind, replacing a stale one left by a killed server. */
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <rpc/rpc.h>
#include <rpc/pmap_clnt.h>
#include "registry.h"

#define PROBE_TIMEOUT_S 1

/* The port rpcbind maps (prog, vers, tcp) to: 0 and *port (0 if none), or
 * -ECONNREFUSED when rpcbind cannot be reached. */
static int registered_port(uint32_t prog, uint32_t vers, uint16_t *port)
{
	struct sockaddr_in addr;
	u_short p;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p = pmap_getport(&addr, prog, vers, IPPROTO_TCP);
	*port = p;
	if (p != 0)
		return 0;
	if (rpc_createerr.cf_stat == RPC_PROGNOTREGISTERED)
		return 0;
	return -ECONNREFUSED;
}

/* libtirpc declares xdr_void without parameters and calls it with two, which
 * it ignores; the cast through void (*)(void) says the mismatch is meant. */
#define xdr_none ((xdrproc_t)(void (*)(void))xdr_void)

/* Does a server on 127.0.0.1:port answer the NULL procedure of (prog, vers)? */
static bool port_answers(uint32_t prog, uint32_t vers, uint16_t port)
{
	struct sockaddr_in addr;
	struct timeval tv = {PROBE_TIMEOUT_S, 0};
	int sock = RPC_ANYSOCK;
	CLIENT *clnt;
	enum clnt_stat st;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	clnt = clnttcp_create(&addr, prog, vers, &sock, 0, 0);
	if (!clnt)
		return false;
	st = clnt_call(clnt, NULLPROC, xdr_none, NULL, xdr_none, NULL, tv);
	clnt_destroy(clnt);
	return st == RPC_SUCCESS;
}

/* What pmap_set does, with a buffer this code owns: libtirpc's pmap_set
 * leaks the address it builds. Registers (prog, vers, tcp) at 0.0.0.0:port. */
static int rpcbind_set(uint32_t prog, uint32_t vers, uint16_t port)
{
	struct netconfig *nconf;
	struct sockaddr_in addr;
	struct netbuf nb;
	bool_t ok;

	nconf = getnetconfigent("tcp");
	if (!nconf)
		return -ENOENT;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	nb.buf = &addr;
	nb.len = nb.maxlen = sizeof(addr);
	ok = rpcb_set(prog, vers, nconf, &nb);
	freenetconfigent(nconf);
	return ok ? 0 : -ECONNREFUSED;
}

int registry_register(uint32_t prog, uint32_t vers, uint16_t port, char *err, size_t errlen)
{
	uint16_t old = 0;
	int rc;

	rc = registered_port(prog, vers, &old);
	if (rc < 0) {
		snprintf(err, errlen, "cannot register with rpcbind (is rpcbind running?)");
		return rc;
	}
	/* We hold `port` now, so an entry naming it cannot be another live server. */
	if (old != 0 && old != port && port_answers(prog, vers, old)) {
		snprintf(err, errlen,
			 "program 0x%x is already served on port %u by a running server", prog,
			 old);
		return -EADDRINUSE;
	}
	if (old != 0)
		registry_unregister(prog, vers);
	rc = rpcbind_set(prog, vers, port);
	if (rc < 0) {
		snprintf(err, errlen,
			 "cannot register program 0x%x version %u port %u with rpcbind "
			 "(is rpcbind running?)",
			 prog, vers, port);
		return rc;
	}
	return 0;
}

void registry_unregister(uint32_t prog, uint32_t vers)
{
	rpcb_unset(prog, vers, NULL);
}
