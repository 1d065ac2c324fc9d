/* test_rpcstream.c: the RPC stream transport over real loopback sockets, plain and TLS. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "dfs_prot.h"
#include "rpcstream.h"
#include "tls.h"

#define XDRPROC(f) ((xdrproc_t)(void (*)(void))(f))
#define MIB	   (1024 * 1024)

static uint8_t pattern[DFS_BLOCK_MAX + 256];
static char tmpdir[] = "/tmp/test_rpcstream.XXXXXX";

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- certificates, made at run time ---- */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A certificate for key, signed by issuer (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;
	int bad = 0;

	if (!x)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	bad |= add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (!issuer) {
		bad |= add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		bad |= add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		bad |= add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
		bad |= add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
		bad |= add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
		bad |= add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
		bad |= add_ext(x, &ctx, NID_subject_alt_name, san);
	}
	if (bad || X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int write_pem(const char *file, X509 *cert, EVP_PKEY *key)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ok = cert ? PEM_write_X509(f, cert)
		  : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0)
		ok = 0;
	return ok == 1 ? 0 : -1;
}

/* ca.pem, server.pem/server.key (SAN DNS:dfs-test, signed by ca.pem), and an
 * unrelated other-ca.pem/other-ca.key. */
static int make_pki(void)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256");
	EVP_PKEY *other_key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *srv = NULL, *other = NULL;
	int rc = -1;

	if (!ca_key || !srv_key || !other_key)
		goto out;
	ca = make_cert(ca_key, "dfs test CA", NULL, NULL, NULL);
	other = make_cert(other_key, "dfs other CA", NULL, NULL, NULL);
	if (!ca || !other)
		goto out;
	srv = make_cert(srv_key, "dfs-test", ca, ca_key, "DNS:dfs-test");
	if (!srv)
		goto out;
	if (write_pem("ca.pem", ca, NULL) || write_pem("other-ca.pem", other, NULL) ||
	    write_pem("server.pem", srv, NULL) || write_pem("server.key", NULL, srv_key) ||
	    write_pem("other-ca.key", NULL, other_key))
		goto out;
	rc = 0;
out:
	X509_free(ca);
	X509_free(srv);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(other_key);
	return rc;
}

static const char *tmpfile_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/* ---- a test server: accept loop, one thread per connection ---- */

#define MAX_CONNS 256

struct ended {
	uint16_t peer_port;
	int rc;
};

struct tserver {
	int lfd;
	uint16_t port;
	pthread_t acceptor;
	struct rpcstream_svc_opts opts;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t conns[MAX_CONNS];
	int nconns;
	struct ended ended[MAX_CONNS];
	int nended;
};

struct conn_job {
	struct tserver *s;
	int fd;
};

static void dispatch(struct svc_req *rq, SVCXPRT *xprt, void *arg)
{
	(void)arg;
	switch (rq->rq_proc) {
	case DFSPROC_READ: {
		dfs_read_args a;
		dfs_read_res r;

		memset(&a, 0, sizeof(a));
		memset(&r, 0, sizeof(r));
		if (!svc_getargs(xprt, XDRPROC(xdr_dfs_read_args), &a)) {
			svcerr_decode(xprt);
		} else {
			if (a.count > DFS_BLOCK_MAX) {
				r.status = DFS_EINVAL;
			} else {
				r.status = DFS_OK;
				r.dfs_read_res_u.data.data_len = a.count;
				r.dfs_read_res_u.data.data_val = (char *)pattern + a.offset % 256;
			}
			svc_sendreply(xprt, XDRPROC(xdr_dfs_read_res), &r);
		}
		svc_freeargs(xprt, XDRPROC(xdr_dfs_read_args), &a);
		break;
	}
	case DFSPROC_PUT_BLOCK: {
		dfs_put_block_args a;
		dfs_stat st;

		memset(&a, 0, sizeof(a));
		if (!svc_getargs(xprt, XDRPROC(xdr_dfs_put_block_args), &a)) {
			svcerr_decode(xprt);
		} else {
			st = a.data.data_len == a.offset ? DFS_OK : DFS_EINVAL;
			svc_sendreply(xprt, XDRPROC(xdr_dfs_stat), &st);
		}
		svc_freeargs(xprt, XDRPROC(xdr_dfs_put_block_args), &a);
		break;
	}
	case DFSPROC_STATUS: {
		dfs_cred_args a;
		dfs_status_res r;

		memset(&a, 0, sizeof(a));
		memset(&r, 0, sizeof(r));
		if (!svc_getargs(xprt, XDRPROC(xdr_dfs_cred_args), &a)) {
			svcerr_decode(xprt);
		} else {
			r.status = DFS_OK;
			r.dfs_status_res_u.ok.software = (char *)"test";
			r.dfs_status_res_u.ok.tls = rpcstream_svc_is_tls(xprt);
			svc_sendreply(xprt, XDRPROC(xdr_dfs_status_res), &r);
		}
		svc_freeargs(xprt, XDRPROC(xdr_dfs_cred_args), &a);
		break;
	}
	default:
		svcerr_noproc(xprt);
		break;
	}
}

static void *conn_main(void *arg)
{
	struct conn_job *job = arg;
	struct tserver *s = job->s;
	struct sockaddr_in peer;
	socklen_t sl = sizeof(peer);
	uint16_t port = 0;
	int rc;

	if (getpeername(job->fd, (struct sockaddr *)&peer, &sl) == 0)
		port = ntohs(peer.sin_port);
	rc = rpcstream_serve(job->fd, &s->opts, dispatch, s);
	pthread_mutex_lock(&s->mu);
	if (s->nended < MAX_CONNS)
		s->ended[s->nended++] = (struct ended){port, rc};
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	free(job);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct tserver *s = arg;

	for (;;) {
		struct conn_job *job;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		job = malloc(sizeof(*job));
		pthread_mutex_lock(&s->mu);
		if (!job || s->nconns == MAX_CONNS) {
			pthread_mutex_unlock(&s->mu);
			free(job);
			close(fd);
			continue;
		}
		job->s = s;
		job->fd = fd;
		if (pthread_create(&s->conns[s->nconns], NULL, conn_main, job) == 0)
			s->nconns++;
		else
			free(job), close(fd);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &sl) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static int server_start(struct tserver *s, SSL_CTX *tls, enum rpcstream_tls_mode mode, int idle_ms,
			int request_ms)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->opts = (struct rpcstream_svc_opts){.prog = DFS_PROG,
					      .vers = DFS_V1,
					      .tls = tls,
					      .tls_mode = mode,
					      .idle_timeout_ms = idle_ms,
					      .request_timeout_ms = request_ms};
	s->lfd = listen_loopback(&s->port);
	if (s->lfd < 0)
		return -1;
	if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
		close(s->lfd);
		return -1;
	}
	return 0;
}

static void server_stop(struct tserver *s)
{
	int i;

	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->acceptor, NULL);
	close(s->lfd);
	for (i = 0; i < s->nconns; i++)
		pthread_join(s->conns[i], NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
}

/* Waits (up to 5 s) until the server's connection from local port ends;
 * returns its rpcstream_serve code, or 1 if it did not end. */
static int server_wait_end(struct tserver *s, uint16_t peer_port)
{
	struct timespec until;
	int i, rc = 1;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		for (i = 0; i < s->nended; i++)
			if (s->ended[i].peer_port == peer_port)
				rc = s->ended[i].rc;
		if (rc != 1 || pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &sl) < 0)
		return 0;
	return ntohs(a.sin_port);
}

/* ---- client side ---- */

static CLIENT *client_open(uint16_t port, uint32_t vers, SSL_CTX *tls, const char *name,
			   uint16_t *lport, char *err, size_t errlen)
{
	struct rpcstream_clnt_opts o = {.call_timeout_ms = 10000, .tls = tls, .tls_name = name};
	int fd = rpcstream_connect("127.0.0.1", port, 2000, err, errlen);

	if (fd < 0)
		return NULL;
	if (lport)
		*lport = local_port(fd);
	return rpcstream_clnt_create(fd, DFS_PROG, vers, &o, err, errlen);
}

static void client_close(CLIENT *c)
{
	if (c)
		clnt_destroy(c);
}

static enum clnt_stat call_null(CLIENT *c)
{
	struct timeval tv = {25, 0};

	return clnt_call(c, NULLPROC, XDRPROC(xdr_void), NULL, XDRPROC(xdr_void), NULL, tv);
}

static int raw_connect(uint16_t port)
{
	char err[256];

	return rpcstream_connect("127.0.0.1", port, 2000, err, sizeof(err));
}

/* Receives exactly len bytes within timeout_ms: 0, or -1. */
static int recv_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = recv(fd, (char *)buf + got, len - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* True if the peer closes fd (EOF or reset) within timeout_ms. */
static bool peer_closes(int fd, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return false;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return true;
	}
}

/* ---- cases ---- */

static void test_plain_read(struct tserver *s)
{
	char err[512];
	CLIENT *c = client_open(s->port, DFS_V1, NULL, NULL, NULL, err, sizeof(err));
	dfs_read_args a;
	dfs_read_res r;
	dfs_cred_args ca;
	dfs_status_res sr;

	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "plain connect: %s\n", err);
		return;
	}
	CHECK(rpcstream_clnt_ssl(c) == NULL);
	CHECK_EQ(call_null(c), RPC_SUCCESS);
	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	a.offset = 5;
	a.count = MIB;
	CHECK_EQ(dfsproc_read_1(&a, &r, c), RPC_SUCCESS);
	CHECK_EQ(r.status, DFS_OK);
	CHECK_EQ(r.dfs_read_res_u.data.data_len, MIB);
	CHECK(r.dfs_read_res_u.data.data_val &&
	      memcmp(r.dfs_read_res_u.data.data_val, pattern + 5, MIB) == 0);
	clnt_freeres(c, XDRPROC(xdr_dfs_read_res), &r);

	memset(&ca, 0, sizeof(ca));
	memset(&sr, 0, sizeof(sr));
	CHECK_EQ(dfsproc_status_1(&ca, &sr, c), RPC_SUCCESS);
	CHECK_EQ(sr.status, DFS_OK);
	CHECK_EQ(sr.dfs_status_res_u.ok.tls, 0);
	clnt_freeres(c, XDRPROC(xdr_dfs_status_res), &sr);
	client_close(c);
}

static void test_tls_read(struct tserver *s, SSL_CTX *cctx)
{
	char err[512];
	CLIENT *c = client_open(s->port, DFS_V1, cctx, "dfs-test", NULL, err, sizeof(err));
	dfs_read_args a;
	dfs_read_res r;
	dfs_cred_args ca;
	dfs_status_res sr;
	long long secs = 0;

	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "TLS connect: %s\n", err);
		return;
	}
	CHECK(rpcstream_clnt_ssl(c) != NULL);
	CHECK_EQ(tls_peer_expiry(rpcstream_clnt_ssl(c), &secs), 0);
	CHECK(secs > 86400L * 29 && secs <= 86400L * 30);
	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	a.offset = 77;
	a.count = MIB;
	CHECK_EQ(dfsproc_read_1(&a, &r, c), RPC_SUCCESS);
	CHECK_EQ(r.status, DFS_OK);
	CHECK_EQ(r.dfs_read_res_u.data.data_len, MIB);
	CHECK(r.dfs_read_res_u.data.data_val &&
	      memcmp(r.dfs_read_res_u.data.data_val, pattern + 77, MIB) == 0);
	clnt_freeres(c, XDRPROC(xdr_dfs_read_res), &r);

	memset(&ca, 0, sizeof(ca));
	memset(&sr, 0, sizeof(sr));
	CHECK_EQ(dfsproc_status_1(&ca, &sr, c), RPC_SUCCESS);
	CHECK_EQ(sr.dfs_status_res_u.ok.tls, 1);
	clnt_freeres(c, XDRPROC(xdr_dfs_status_res), &sr);
	/* A NULL inside TLS is a plain NULL. */
	CHECK_EQ(call_null(c), RPC_SUCCESS);
	client_close(c);
}

static void test_pipelining(struct tserver *s, SSL_CTX *cctx)
{
	char err[512];
	CLIENT *c = client_open(s->port, DFS_V1, cctx, "dfs-test", NULL, err, sizeof(err));
	static char data[8 * 4096];
	dfs_put_block_args a[8];
	int i;

	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "pipelining connect: %s\n", err);
		return;
	}
	for (i = 0; i < 8; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].data.data_len = 1000u * (unsigned)i + 1;
		a[i].data.data_val = data;
		/* Odd blocks claim a wrong offset: the server answers EINVAL. */
		a[i].offset = a[i].data.data_len + (i % 2);
		CHECK_EQ(
		    rpcstream_send(c, DFSPROC_PUT_BLOCK, XDRPROC(xdr_dfs_put_block_args), &a[i]),
		    RPC_SUCCESS);
	}
	CHECK_EQ(rpcstream_outstanding(c), 8);
	/* No clnt_call while calls are outstanding. */
	CHECK(call_null(c) != RPC_SUCCESS);
	for (i = 0; i < 8; i++) {
		dfs_stat st = DFS_EIO;

		CHECK_EQ(rpcstream_recv(c, XDRPROC(xdr_dfs_stat), &st), RPC_SUCCESS);
		CHECK_EQ(st, i % 2 ? DFS_EINVAL : DFS_OK);
	}
	CHECK_EQ(rpcstream_outstanding(c), 0);
	CHECK(rpcstream_recv(c, XDRPROC(xdr_dfs_stat), &(dfs_stat){0}) != RPC_SUCCESS);
	/* The stream is still in step for ordinary calls. */
	CHECK_EQ(call_null(c), RPC_SUCCESS);
	client_close(c);
}

static void test_required(struct tserver *s, SSL_CTX *cctx)
{
	char err[512];
	CLIENT *c = client_open(s->port, DFS_V1, NULL, NULL, NULL, err, sizeof(err));
	dfs_read_args a;
	dfs_read_res r;
	struct rpc_err e;
	dfs_cred_args ca;
	dfs_status_res sr;

	CHECK(c != NULL);
	if (!c)
		return;
	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	a.count = 10;
	CHECK_EQ(dfsproc_read_1(&a, &r, c), RPC_AUTHERROR);
	clnt_geterr(c, &e);
	CHECK_EQ(e.re_status, RPC_AUTHERROR);
	CHECK_EQ(e.re_why, AUTH_TOOWEAK);
	printf("plain call to a TLS-required server: %s\n", clnt_sperror(c, "READ"));
	/* The connection goes on: a plain NULL still works (rpcinfo -t). */
	CHECK_EQ(call_null(c), RPC_SUCCESS);
	CHECK_EQ(dfsproc_read_1(&a, &r, c), RPC_AUTHERROR);
	client_close(c);

	c = client_open(s->port, DFS_V1, cctx, "dfs-test", NULL, err, sizeof(err));
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "TLS connect to required: %s\n", err);
		return;
	}
	memset(&ca, 0, sizeof(ca));
	memset(&sr, 0, sizeof(sr));
	CHECK_EQ(dfsproc_status_1(&ca, &sr, c), RPC_SUCCESS);
	CHECK_EQ(sr.dfs_status_res_u.ok.tls, 1);
	clnt_freeres(c, XDRPROC(xdr_dfs_status_res), &sr);
	client_close(c);
}

static void test_versions(struct tserver *s)
{
	char err[512];
	CLIENT *c = client_open(s->port, DFS_V1 + 1, NULL, NULL, NULL, err, sizeof(err));
	struct rpc_err e;
	uint32_t prog = DFS_PROG + 1;
	struct timeval tv = {25, 0};

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(call_null(c), RPC_PROGVERSMISMATCH);
	clnt_geterr(c, &e);
	CHECK_EQ(e.re_vers.low, DFS_V1);
	CHECK_EQ(e.re_vers.high, DFS_V1);
	CHECK(clnt_control(c, CLSET_PROG, (char *)&prog));
	CHECK_EQ(call_null(c), RPC_PROGUNAVAIL);
	prog = DFS_PROG;
	uint32_t vers = DFS_V1;
	CHECK(clnt_control(c, CLSET_PROG, (char *)&prog));
	CHECK(clnt_control(c, CLSET_VERS, (char *)&vers));
	CHECK_EQ(call_null(c), RPC_SUCCESS);
	CHECK_EQ(clnt_call(c, 99, XDRPROC(xdr_void), NULL, XDRPROC(xdr_void), NULL, tv),
		 RPC_PROCUNAVAIL);
	client_close(c);
}

static void test_tls_failures(struct tserver *opt, struct tserver *off, SSL_CTX *cctx,
			      SSL_CTX *other_cctx)
{
	char err[512];
	CLIENT *c;

	err[0] = 0;
	c = client_open(opt->port, DFS_V1, other_cctx, "dfs-test", NULL, err, sizeof(err));
	CHECK(c == NULL);
	printf("other CA: %s\n", err);
	CHECK(strstr(err, X509_verify_cert_error_string(
			      X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)) != NULL);
	client_close(c);

	err[0] = 0;
	c = client_open(opt->port, DFS_V1, cctx, "not-dfs-test", NULL, err, sizeof(err));
	CHECK(c == NULL);
	printf("wrong name: %s\n", err);
	CHECK(strstr(err, X509_verify_cert_error_string(X509_V_ERR_HOSTNAME_MISMATCH)) != NULL);
	client_close(c);

	err[0] = 0;
	c = client_open(off->port, DFS_V1, cctx, "dfs-test", NULL, err, sizeof(err));
	CHECK(c == NULL);
	printf("TLS off: %s\n", err);
	CHECK_STR(err, "server does not offer TLS");
	client_close(c);

	/* The server still serves after failed handshakes. */
	c = client_open(opt->port, DFS_V1, cctx, "dfs-test", NULL, err, sizeof(err));
	CHECK(c != NULL);
	if (c)
		CHECK_EQ(call_null(c), RPC_SUCCESS);
	client_close(c);
}

/* Sends bytes on a fresh connection and checks the server drops it. */
static void expect_dropped(struct tserver *s, const void *bytes, size_t len, const char *what)
{
	int fd = raw_connect(s->port);
	uint16_t lport;
	int rc;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	lport = local_port(fd);
	CHECK_EQ(send(fd, bytes, len, MSG_NOSIGNAL), (long long)len);
	CHECK(peer_closes(fd, 3000));
	rc = server_wait_end(s, lport);
	if (rc != -EPROTO)
		fprintf(stderr, "%s: server ended with %d\n", what, rc);
	CHECK_EQ(rc, -EPROTO);
	close(fd);
}

static void test_garbage(struct tserver *s)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: dfs\r\n\r\n";
	unsigned char junk[4 + 200];
	unsigned char zero[8] = {0};
	unsigned char empty_last[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};
	char err[256];
	CLIENT *c;

	expect_dropped(s, http, sizeof(http) - 1, "http");
	memset(junk, 0xab, sizeof(junk));
	junk[0] = 0x7f;
	junk[1] = junk[2] = junk[3] = 0xff;
	expect_dropped(s, junk, sizeof(junk), "0x7fffffff record");
	expect_dropped(s, zero, sizeof(zero), "zero record mark");
	expect_dropped(s, empty_last, sizeof(empty_last), "empty last fragment");

	c = client_open(s->port, DFS_V1, NULL, NULL, NULL, err, sizeof(err));
	CHECK(c != NULL);
	if (c)
		CHECK_EQ(call_null(c), RPC_SUCCESS);
	client_close(c);
}

/* A PUT_BLOCK call whose data length field claims `claimed` bytes, followed
 * by only a few: the record as it would go on the wire. */
static size_t craft_put_block(char *buf, size_t cap, uint32_t xid, uint32_t claimed)
{
	struct rpc_msg m;
	XDR x;
	char token[DFS_TOKEN_SIZE] = {0};
	char tail[16] = {0};
	uint64_t handle = 1, offset = 0;
	uint32_t mark;
	u_int len;

	memset(&m, 0, sizeof(m));
	m.rm_xid = xid;
	m.rm_direction = CALL;
	m.rm_call.cb_rpcvers = RPC_MSG_VERSION;
	m.rm_call.cb_prog = DFS_PROG;
	m.rm_call.cb_vers = DFS_V1;
	m.rm_call.cb_proc = DFSPROC_PUT_BLOCK;
	m.rm_call.cb_cred = _null_auth;
	m.rm_call.cb_verf = _null_auth;
	xdrmem_create(&x, buf + 4, (u_int)(cap - 4), XDR_ENCODE);
	if (!xdr_callmsg(&x, &m) || !xdr_opaque(&x, token, sizeof(token)) ||
	    !xdr_u_int64_t(&x, &handle) || !xdr_u_int64_t(&x, &offset) ||
	    !xdr_u_int32_t(&x, &claimed) || !xdr_opaque(&x, tail, sizeof(tail)))
		return 0;
	len = xdr_getpos(&x);
	xdr_destroy(&x);
	mark = htonl(0x80000000u | len);
	memcpy(buf, &mark, 4);
	return len + 4;
}

static void test_oversized(struct tserver *s)
{
	static const uint32_t claims[] = {DFS_BLOCK_MAX + 1, 0x7ffffff0u, 0xfffffff0u};
	size_t i;

	for (i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		char call[512], reply[512];
		uint32_t mark, rlen;
		size_t n = craft_put_block(call, sizeof(call), 4242 + (uint32_t)i, claims[i]);
		int fd = raw_connect(s->port);
		uint16_t lport;
		struct rpc_msg r;
		XDR x;

		CHECK(n > 0 && fd >= 0);
		if (n == 0 || fd < 0)
			return;
		lport = local_port(fd);
		CHECK_EQ(send(fd, call, n, MSG_NOSIGNAL), (long long)n);
		/* A prompt GARBAGE_ARGS while the socket stays open shows the server
		 * refused the length before trying to read (or allocate) the body. */
		CHECK_EQ(recv_exact(fd, &mark, 4, 2000), 0);
		rlen = ntohl(mark) & 0x7fffffffu;
		CHECK(rlen < sizeof(reply));
		if (rlen >= sizeof(reply) || recv_exact(fd, reply, rlen, 2000) < 0) {
			close(fd);
			CHECK(0);
			return;
		}
		memset(&r, 0, sizeof(r));
		r.acpted_rply.ar_results.proc = XDRPROC(xdr_void);
		xdrmem_create(&x, reply, rlen, XDR_DECODE);
		CHECK(xdr_replymsg(&x, &r));
		CHECK_EQ(r.rm_xid, 4242 + i);
		CHECK_EQ(r.rm_reply.rp_stat, MSG_ACCEPTED);
		CHECK_EQ(r.acpted_rply.ar_stat, GARBAGE_ARGS);
		xdr_free(XDRPROC(xdr_opaque_auth), &r.acpted_rply.ar_verf);
		xdr_destroy(&x);
		CHECK(peer_closes(fd, 3000));
		CHECK_EQ(server_wait_end(s, lport), -EPROTO);
		close(fd);
	}
}

/* The STARTTLS answer byte for byte, then a peer that does not speak TLS. */
static void test_starttls_wire(struct tserver *s)
{
	/* clang-format off */
	static const unsigned char expect_tail[] = {
		0, 0, 0, 0,                             /* MSG_ACCEPTED */
		0, 0, 0, 0,                             /* verifier AUTH_NONE */
		0, 0, 0, 8,                             /* length 8 */
		'S', 'T', 'A', 'R', 'T', 'T', 'L', 'S',
		0, 0, 0, 0,                             /* SUCCESS */
	};
	unsigned char call[] = {
		0x80, 0, 0, 40,                         /* last fragment, 40 bytes */
		0x12, 0x34, 0x56, 0x78,                 /* xid */
		0, 0, 0, 0,                             /* CALL */
		0, 0, 0, 2,                             /* RPC version 2 */
		0, 0, 0, 0,                             /* program, set below */
		0, 0, 0, 1,                             /* version 1 */
		0, 0, 0, 0,                             /* NULL */
		0, 0, 0, 7,                             /* credential AUTH_TLS */
		0, 0, 0, 0,                             /* empty body */
		0, 0, 0, 0,                             /* verifier AUTH_NONE */
		0, 0, 0, 0,
	};
	/* clang-format on */
	unsigned char reply[4 + 8 + sizeof(expect_tail)];
	static const char not_tls[] = "this is not a TLS ClientHello";
	uint32_t prog = htonl(DFS_PROG);
	int fd = raw_connect(s->port);
	uint16_t lport;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	lport = local_port(fd);
	memcpy(call + 16, &prog, 4);
	CHECK_EQ(send(fd, call, sizeof(call), MSG_NOSIGNAL), (long long)sizeof(call));
	CHECK_EQ(recv_exact(fd, reply, sizeof(reply), 2000), 0);
	CHECK_EQ(ntohl(*(uint32_t *)reply), 0x80000000u | (sizeof(reply) - 4));
	CHECK(memcmp(reply + 4, call + 4, 4) == 0);
	CHECK_EQ(ntohl(*(uint32_t *)(reply + 8)), REPLY);
	CHECK(memcmp(reply + 12, expect_tail, sizeof(expect_tail)) == 0);
	CHECK_EQ(send(fd, not_tls, sizeof(not_tls), MSG_NOSIGNAL), (long long)sizeof(not_tls));
	CHECK(peer_closes(fd, 3000));
	CHECK_EQ(server_wait_end(s, lport), -EPROTO);
	close(fd);
}

static void test_idle_timeout(struct tserver *s)
{
	char err[256];
	uint16_t lport = 0;
	CLIENT *c = client_open(s->port, DFS_V1, NULL, NULL, &lport, err, sizeof(err));
	int64_t t0, t1;
	enum clnt_stat st;

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(call_null(c), RPC_SUCCESS);
	t0 = now_ms();
	CHECK_EQ(server_wait_end(s, lport), -ETIMEDOUT);
	t1 = now_ms();
	printf("idle connection closed after %lld ms (timeout %d ms)\n", (long long)(t1 - t0),
	       s->opts.idle_timeout_ms);
	CHECK(t1 - t0 >= s->opts.idle_timeout_ms - 50);
	CHECK(t1 - t0 < 3000);
	st = call_null(c);
	CHECK(st == RPC_CANTRECV || st == RPC_CANTSEND);
	t0 = now_ms();
	CHECK_EQ(call_null(c), RPC_CANTSEND);
	CHECK(now_ms() - t0 < 50);
	client_close(c);
}

/* A peer trickling a call one byte at a time is dropped after the request timeout. */
static void test_slow_request(struct tserver *s)
{
	static const unsigned char call[] = {0x80, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
	int fd = raw_connect(s->port);
	uint16_t lport;
	int64_t t0;
	size_t i;
	bool closed = false;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	lport = local_port(fd);
	t0 = now_ms();
	for (i = 0; i < sizeof(call) && !closed; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (send(fd, call + i, 1, MSG_NOSIGNAL) != 1)
			break;
		/* Paces the trickle and notices the close at the same time. */
		if (poll(&p, 1, 100) > 0)
			closed = true;
	}
	CHECK(closed || peer_closes(fd, 3000));
	CHECK_EQ(server_wait_end(s, lport), -ETIMEDOUT);
	printf("trickling peer dropped after %lld ms (request timeout %d ms)\n",
	       (long long)(now_ms() - t0), s->opts.request_timeout_ms);
	CHECK(now_ms() - t0 < s->opts.request_timeout_ms + 1000);
	close(fd);
}

/* A server that accepts the connection but never answers. */
static void test_client_timeout(void)
{
	uint16_t port;
	int lfd = listen_loopback(&port);
	struct rpcstream_clnt_opts o = {.call_timeout_ms = 200};
	char err[256];
	CLIENT *c;
	int fd;
	int64_t t0, t1;

	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	fd = rpcstream_connect("127.0.0.1", port, 2000, err, sizeof(err));
	CHECK(fd >= 0);
	c = fd >= 0 ? rpcstream_clnt_create(fd, DFS_PROG, DFS_V1, &o, err, sizeof(err)) : NULL;
	CHECK(c != NULL);
	if (c) {
		t0 = now_ms();
		CHECK_EQ(call_null(c), RPC_TIMEDOUT);
		t1 = now_ms();
		CHECK(t1 - t0 >= 150 && t1 - t0 < 2000);
		CHECK_EQ(call_null(c), RPC_CANTSEND);
		CHECK(now_ms() - t1 < 50);
		client_close(c);
	}
	close(lfd);
}

static void test_connect_errors(void)
{
	uint16_t port;
	int lfd = listen_loopback(&port);
	char err[256] = "";
	int fd;

	close(lfd);
	fd = rpcstream_connect("127.0.0.1", port, 2000, err, sizeof(err));
	CHECK_EQ(fd, -ECONNREFUSED);
	CHECK(strstr(err, "127.0.0.1") != NULL);
	err[0] = 0;
	fd = rpcstream_connect("no-such-host.invalid", 1, 2000, err, sizeof(err));
	CHECK(fd < 0);
	CHECK(err[0] != 0);
}

static void bench(struct tserver *s, SSL_CTX *cctx, const char *label)
{
	char err[512];
	CLIENT *c = client_open(s->port, DFS_V1, cctx, "dfs-test", NULL, err, sizeof(err));
	char *buf = malloc(MIB);
	dfs_read_args a;
	dfs_read_res r;
	int64_t t0, t1;
	int i, ok = 0;

	CHECK(c != NULL && buf != NULL);
	if (!c || !buf) {
		free(buf);
		client_close(c);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.count = MIB;
	t0 = now_ms();
	for (i = 0; i < 256; i++) {
		memset(&r, 0, sizeof(r));
		/* Decoding into a caller buffer measures the transport, not malloc. */
		r.dfs_read_res_u.data.data_val = buf;
		if (dfsproc_read_1(&a, &r, c) == RPC_SUCCESS && r.status == DFS_OK &&
		    r.dfs_read_res_u.data.data_len == MIB)
			ok++;
	}
	t1 = now_ms();
	CHECK_EQ(ok, 256);
	printf("bench %s: 256 MiB in 1 MiB READs, one connection: %.0f MiB/s\n", label,
	       256.0 * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));
	CHECK(memcmp(buf, pattern, MIB) == 0);
	free(buf);
	client_close(c);
}

int main(void)
{
	struct tserver opt, req, off;
	SSL_CTX *sctx = NULL, *cctx = NULL, *other_cctx = NULL;
	char p1[512], p2[512], err[512];
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 31 + 7);
	if (!mkdtemp(tmpdir) || make_pki() < 0) {
		fprintf(stderr, "cannot make test certificates\n");
		return 1;
	}
	sctx = tls_server_ctx(tmpfile_path("server.pem", p1, sizeof(p1)),
			      tmpfile_path("server.key", p2, sizeof(p2)), err, sizeof(err));
	CHECK(sctx != NULL);
	cctx = tls_client_ctx(tmpfile_path("ca.pem", p1, sizeof(p1)), err, sizeof(err));
	CHECK(cctx != NULL);
	other_cctx = tls_client_ctx(tmpfile_path("other-ca.pem", p1, sizeof(p1)), err, sizeof(err));
	CHECK(other_cctx != NULL);
	CHECK(tls_server_ctx(tmpfile_path("server.pem", p1, sizeof(p1)),
			     tmpfile_path("ca.pem", p2, sizeof(p2)), err, sizeof(err)) == NULL);
	printf("not a key: %s\n", err);
	CHECK(strstr(err, "ca.pem") != NULL);
	CHECK(tls_server_ctx(tmpfile_path("server.pem", p1, sizeof(p1)),
			     tmpfile_path("other-ca.key", p2, sizeof(p2)), err,
			     sizeof(err)) == NULL);
	printf("mismatched key: %s\n", err);
	CHECK(strstr(err, "does not match") != NULL);
	CHECK(tls_client_ctx("/nonexistent/ca.pem", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
	if (!sctx || !cctx || !other_cctx)
		return CHECK_DONE();

	CHECK_EQ(server_start(&opt, sctx, RPCSTREAM_TLS_OPTIONAL, 10000, 5000), 0);
	CHECK_EQ(server_start(&req, sctx, RPCSTREAM_TLS_REQUIRED, 10000, 5000), 0);
	CHECK_EQ(server_start(&off, NULL, RPCSTREAM_TLS_OFF, 300, 400), 0);

	test_connect_errors();
	test_plain_read(&opt);
	test_tls_read(&opt, cctx);
	test_pipelining(&opt, NULL);
	test_pipelining(&opt, cctx);
	test_required(&req, cctx);
	test_versions(&opt);
	test_tls_failures(&opt, &off, cctx, other_cctx);
	test_garbage(&opt);
	test_oversized(&opt);
	test_starttls_wire(&opt);
	test_idle_timeout(&off);
	test_slow_request(&off);
	test_client_timeout();
	bench(&opt, NULL, "plain");
	bench(&opt, cctx, "TLS 1.3");

	server_stop(&opt);
	server_stop(&req);
	server_stop(&off);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(other_cctx);
	unlink(tmpfile_path("ca.pem", p1, sizeof(p1)));
	unlink(tmpfile_path("other-ca.pem", p1, sizeof(p1)));
	unlink(tmpfile_path("server.pem", p1, sizeof(p1)));
	unlink(tmpfile_path("server.key", p1, sizeof(p1)));
	unlink(tmpfile_path("other-ca.key", p1, sizeof(p1)));
	rmdir(tmpdir);
	return CHECK_DONE();
}
