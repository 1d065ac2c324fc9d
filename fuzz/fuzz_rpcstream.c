/* fuzz_rpcstream.c: libFuzzer target for the server side of the record
 * stream: the input arrives as the bytes of a TCP connection (record marks,
 * call headers, arguments) and is served by rpcstream_serve and the real
 * dispatch table until the stream ends. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dispatch.h"
#include "session.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct server srv;

static void setup(void)
{
	char dir[] = "/tmp/dfs-fuzz-stream-XXXXXX", err[256];

	if (!mkdtemp(dir) || store_open(&srv.store, dir, err, sizeof(err)) != 0 ||
	    sessions_new(&srv.sessions, 3600, 64, 64) != 0)
		abort();
	srv.cfg.id = 1;
	log_set_level(DFS_LOG_ERROR);
}

struct feed {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* Writes the input and then drains the replies, so the server never blocks. */
static void *feed_run(void *arg)
{
	struct feed *f = arg;
	char sink[65536];

	for (size_t done = 0; done < f->size;) {
		ssize_t w = send(f->fd, f->data + done, f->size - done, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		done += (size_t)w;
	}
	shutdown(f->fd, SHUT_WR);
	while (read(f->fd, sink, sizeof(sink)) > 0)
		;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpcstream_svc_opts opts = {.prog = DFS_PROG,
					  .vers = DFS_V1,
					  .tls_mode = RPCSTREAM_TLS_OFF,
					  .idle_timeout_ms = 2000,
					  .request_timeout_ms = 2000};
	struct conn cn = {.srv = &srv};
	struct feed f = {.data = data, .size = size};
	pthread_t tid;
	int sv[2];

	if (!srv.store)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	f.fd = sv[0];
	snprintf(cn.peer_text, sizeof(cn.peer_text), "fuzzer");
	if (pthread_create(&tid, NULL, feed_run, &f) != 0)
		abort();
	rpcstream_serve(sv[1], &opts, dispatch_call, &cn);
	dispatch_conn_closed(&cn);
	pthread_join(tid, NULL);
	close(sv[0]);
	return 0;
}
