/* rpcvers_server.c: a test server that speaks only another version of an RPC program. */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "rpcstream.h"

static struct rpcstream_svc_opts opts = {
    .tls_mode = RPCSTREAM_TLS_OFF,
    .idle_timeout_ms = 30000,
    .request_timeout_ms = 30000,
};

/* Every call of the right version gets PROC_UNAVAIL: only the version check matters. */
static void dispatch(struct svc_req *rq, SVCXPRT *xprt, void *arg)
{
	(void)rq;
	(void)arg;
	svcerr_noproc(xprt);
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;

	rpcstream_serve(fd, &opts, dispatch, NULL);
	return NULL;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > 0xFFFFFFFFul)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Usage: rpcvers_server PROGRAM VERSION. Listens on 127.0.0.1, prints its port on
 * stdout, and serves until killed. */
int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int lfd;

	if (argc != 3 || parse_u32(argv[1], &opts.prog) < 0 || parse_u32(argv[2], &opts.vers) < 0) {
		fprintf(stderr, "usage: rpcvers_server PROGRAM VERSION\n");
		return 2;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		perror("rpcvers_server");
		return 1;
	}
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("accept");
			return 1;
		}
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}
