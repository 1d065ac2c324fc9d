/* dfs-probe.c: a protocol-level dfs client for the security tests: it does what the dfs tool
 * refuses to do. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "dfs_prot.h"
#include "checksum.h"
#include "hex.h"
#include "rpcstream.h"
#include "scram.h"
#include "tls.h"

static const char usage_text[] =
    "usage: dfs-probe [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Talks to one dfs server directly, below the dfs tool's own checks. Results\n"
    "are printed one a line as 'COMMAND RESULT' with dfs_stat / clnt_stat names;\n"
    "the exit status is 0 when the exchange took place (whatever the server\n"
    "answered), 2 on a usage error, 3 when the server could not be reached.\n"
    "\n"
    "Target (a dfs.conf and a server number, or explicit values, which win):\n"
    "  -c FILE            client configuration (tls, ca, [server N] host/port/program/tls_name)\n"
    "  -s N               server number in FILE (default 1)\n"
    "  --host H --port P --program NUM --ca FILE --tls-name NAME\n"
    "  --plain            do not start TLS even if the configuration asks for it\n"
    "  --cert FILE --key FILE\n"
    "                     present this client certificate (PEM chain and key) in TLS\n"
    "  --login-first      peer-login and peer-users: log in as -u USER ($DFS_PASSWORD)\n"
    "                     on the same connection first\n"
    "  -u USER            user (default $DFS_USER); the password comes from $DFS_PASSWORD\n"
    "  --timeout-ms MS    per call (default 10000)\n"
    "  --interval-ms MS   pause between bytes for 'slow' (default 500)\n"
    "  --max-s S          how long 'slow', 'silent' and 'garbage' wait for the server (default "
    "30)\n"
    "  --hold-s S         how long 'connections' holds its connections (default 0)\n"
    "  --bind ADDR        connect from this local address (e.g. 127.0.0.2: another client\n"
    "                     address on the same host)\n"
    "\n"
    "Commands:\n"
    "  login                    SCRAM login; prints 'login STAT', 'token HEX', 'expires UNIX'\n"
    "  replay-final             log in, then send the same client-final again, on the same\n"
    "                           exchange and on a new one: 'same-exchange STAT', 'new-exchange "
    "STAT'\n"
    "  alter-final              log in with one byte of the proof flipped: 'alter-final STAT'\n"
    "  call-with-token HEX PROC [NAME]\n"
    "                           PROC (LOOKUP READ DELETE LIST STATUS PUT_BEGIN VERIFY LOGOUT)\n"
    "                           with the given token: 'PROC STAT'\n"
    "  peer-login USER          PEER_LOGIN, a server's session for USER: 'peer-login STAT',\n"
    "                           then 'token HEX' on DFS_OK\n"
    "  peer-users [AFTER]       PEER_USERS (at most 256, after AFTER): 'peer-users STAT',\n"
    "                           then 'user NAME' for each, then 'eof 0|1'\n"
    "                           (both: exit status 3 if the call got no answer, e.g. the\n"
    "                           server refused the certificate in the handshake)\n"
    "  raw-name KIND PROC       log in, then PROC (LOOKUP PUT_BEGIN DELETE) with a hostile name,\n"
    "                           KIND one of dot dotdot slash (a/b, valid) long (4,097 bytes)\n"
    "                           nul badutf8 ctrl empty max (4,096 bytes, valid)\n"
    "                           empty-component leading-slash trailing-slash\n"
    "                           dotdot-component long-component (256 bytes):\n"
    "                           'raw-name KIND PROC STAT' (or 'rpc CLNT_STAT' if undecodable)\n"
    "  plain-call               NULL and STATUS on a plain connection: 'plain-null RPC_STAT',\n"
    "                           'plain-call rpc RPC_STAT auth AUTH_STAT' (or a dfs_stat)\n"
    "  garbage                  random bytes, then a record marker of 0x7fffffff and junk, each\n"
    "                           on its own connection: 'garbage closed|open',\n"
    "                           'oversized closed|open'\n"
    "  slow                     send a call one byte per interval: 'slow closed after S s' or\n"
    "                           'slow open after S s'\n"
    "  silent                   connect and send nothing: 'silent closed|open after S s'\n"
    "  connections N            open N connections, a plain NULL call on each:\n"
    "                           'connections answered A refused R', then hold them\n"
    "  idle-connections N       open N TCP connections that send nothing:\n"
    "                           'idle-connections opened A failed F', then wait (--max-s)\n"
    "                           for the server to close them: 'idle-connections closed C of\n"
    "                           A after S s'\n"
    "  flood-login-begin N      N pipelined LOGIN_BEGINs on one connection, for -u USER or\n"
    "                           else a new made-up user each, never finished:\n"
    "                           'flood-login-begin ok A throttled T other O'\n"
    "  guess-flood N            N pipelined LOGIN_BEGINs for -u USER, then a LOGIN_FINISH\n"
    "                           with $DFS_PASSWORD as the guess for each one begun:\n"
    "                           'guess-flood begun B throttled T checked C refused R\n"
    "                           accepted A' (checked: proofs the server verified)\n"
    "  sessions N               log in N times: 'sessions created C valid V first STAT\n"
    "                           last STAT' (V: tokens LIST still accepts afterwards)\n"
    "  set-verifier HEX         SET_VERIFIER with token HEX and no knowledge of the\n"
    "                           password (a made-up verifier, a zero proof): 'set-verifier\n"
    "                           STAT'\n"
    "  salt                     LOGIN_BEGIN for -u USER: 'salt HEX iterations N'\n"
    "  store-many KIND          log in, then STORE_MANY: KIND mixed (four files: a good one,\n"
    "                           a bad checksum, the name '..', sizes that do not add up):\n"
    "                           'store-many mixed STAT R1 R2 R3 R4'; oversized (two files of\n"
    "                           600 KiB) or too-many (65 empty files): 'store-many KIND STAT'\n"
    "                           or 'store-many KIND rpc CLNT_STAT'\n"
    "  lookup-read-many         log in, then LOOKUP_READ_MANY of probe-good (chunk 1, as\n"
    "                           store-many mixed stores it), probe-missing and '..':\n"
    "                           'lookup-read-many STAT R1:BYTES R2:BYTES R3:BYTES'\n"
    "  put-begin-hold SIZE N    log in, begin N uploads of SIZE bytes each (names hold-1..N)\n"
    "                           and send no data: 'put-begin-hold ok A other O (STAT)';\n"
    "                           then hold the connection (--hold-s)\n";

struct target {
	char host[256];
	uint16_t port;
	uint32_t program;
	bool tls;
	char ca[PATH_MAX];
	char tls_name[256];
	const char *cert, *key; /* client certificate presented in TLS, if set */
	bool login_first;
	const char *user;
	const char *password;
	int timeout_ms;
	int interval_ms;
	double max_s;
	double hold_s;
	const char *bind;
};

/* xdr_void takes no arguments; the detour through void (*)(void) says the
 * cast to the variadic xdrproc_t is meant. */
#define XDR_VOID ((xdrproc_t)(void (*)(void))xdr_void)

static const unsigned char zero_token[DFS_TOKEN_SIZE];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *dfs_stat_name(int s)
{
	switch (s) {
	case DFS_OK:
		return "DFS_OK";
	case DFS_EPERM:
		return "DFS_EPERM";
	case DFS_ENOENT:
		return "DFS_ENOENT";
	case DFS_EIO:
		return "DFS_EIO";
	case DFS_EAGAIN:
		return "DFS_EAGAIN";
	case DFS_ENOMEM:
		return "DFS_ENOMEM";
	case DFS_EACCES:
		return "DFS_EACCES";
	case DFS_EBUSY:
		return "DFS_EBUSY";
	case DFS_EEXIST:
		return "DFS_EEXIST";
	case DFS_EINVAL:
		return "DFS_EINVAL";
	case DFS_EFBIG:
		return "DFS_EFBIG";
	case DFS_ENOSPC:
		return "DFS_ENOSPC";
	case DFS_EROFS:
		return "DFS_EROFS";
	case DFS_ENAMETOOLONG:
		return "DFS_ENAMETOOLONG";
	case DFS_EPROTO:
		return "DFS_EPROTO";
	case DFS_EBADMSG:
		return "DFS_EBADMSG";
	case DFS_ESTALE:
		return "DFS_ESTALE";
	case DFS_EKEYEXPIRED:
		return "DFS_EKEYEXPIRED";
	case DFS_EKEYREJECTED:
		return "DFS_EKEYREJECTED";
	default:
		return "DFS_UNKNOWN";
	}
}

static const char *clnt_stat_name(enum clnt_stat s)
{
	switch (s) {
	case RPC_SUCCESS:
		return "RPC_SUCCESS";
	case RPC_CANTENCODEARGS:
		return "RPC_CANTENCODEARGS";
	case RPC_CANTDECODERES:
		return "RPC_CANTDECODERES";
	case RPC_CANTSEND:
		return "RPC_CANTSEND";
	case RPC_CANTRECV:
		return "RPC_CANTRECV";
	case RPC_TIMEDOUT:
		return "RPC_TIMEDOUT";
	case RPC_VERSMISMATCH:
		return "RPC_VERSMISMATCH";
	case RPC_AUTHERROR:
		return "RPC_AUTHERROR";
	case RPC_PROGUNAVAIL:
		return "RPC_PROGUNAVAIL";
	case RPC_PROGVERSMISMATCH:
		return "RPC_PROGVERSMISMATCH";
	case RPC_PROCUNAVAIL:
		return "RPC_PROCUNAVAIL";
	case RPC_CANTDECODEARGS:
		return "RPC_CANTDECODEARGS";
	case RPC_SYSTEMERROR:
		return "RPC_SYSTEMERROR";
	default:
		return "RPC_OTHER";
	}
}

static const char *auth_stat_name(enum auth_stat s)
{
	switch (s) {
	case AUTH_OK:
		return "AUTH_OK";
	case AUTH_BADCRED:
		return "AUTH_BADCRED";
	case AUTH_REJECTEDCRED:
		return "AUTH_REJECTEDCRED";
	case AUTH_BADVERF:
		return "AUTH_BADVERF";
	case AUTH_REJECTEDVERF:
		return "AUTH_REJECTEDVERF";
	case AUTH_TOOWEAK:
		return "AUTH_TOOWEAK";
	default:
		return "AUTH_OTHER";
	}
}

/* The per-call timeout as clnt_call takes it. */
static struct timeval call_tv(const struct target *t)
{
	struct timeval tv = {.tv_sec = t->timeout_ms / 1000,
			     .tv_usec = t->timeout_ms % 1000 * 1000};

	return tv;
}

/* Prints "WHAT rpc CLNT_STAT [auth AUTH_STAT]" for a failed call. */
static void print_rpc_failure(const char *what, CLIENT *clnt, enum clnt_stat st)
{
	struct rpc_err e;

	clnt_geterr(clnt, &e);
	if (st == RPC_AUTHERROR)
		printf("%s rpc %s auth %s\n", what, clnt_stat_name(st), auth_stat_name(e.re_why));
	else
		printf("%s rpc %s\n", what, clnt_stat_name(st));
}

/* ---- target and connections ---- */

/* Fills t from the client configuration at path, for server number n. */
static int load_conf(struct target *t, const char *path, unsigned n)
{
	struct cfg *cfg = NULL;
	char err[512], num[16];
	int rc;

	rc = cfg_parse_file(path, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dfs-probe: %s\n", err);
		return rc;
	}
	snprintf(num, sizeof(num), "%u", n);
	for (size_t i = 0; i < cfg->count; i++) {
		const struct cfg_entry *e = &cfg->entries[i];

		if (!*e->section && strcmp(e->key, "tls") == 0) {
			t->tls = strcmp(e->value, "off") != 0;
		} else if (!*e->section && strcmp(e->key, "ca") == 0) {
			snprintf(t->ca, sizeof(t->ca), "%s", e->value);
		} else if (strcmp(e->section, "server") == 0 && strcmp(e->arg, num) == 0) {
			if (strcmp(e->key, "host") == 0)
				snprintf(t->host, sizeof(t->host), "%s", e->value);
			else if (strcmp(e->key, "port") == 0)
				t->port = (uint16_t)strtoul(e->value, NULL, 0);
			else if (strcmp(e->key, "program") == 0)
				t->program = (uint32_t)strtoul(e->value, NULL, 0);
			else if (strcmp(e->key, "tls_name") == 0)
				snprintf(t->tls_name, sizeof(t->tls_name), "%s", e->value);
		}
	}
	cfg_free(cfg);
	return 0;
}

/* A TCP connection to the server from t->bind (any port), or -errno with
 * the reason in err. */
static int connect_from(const struct target *t, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *dst = NULL, *src = NULL;
	char port[8];
	int fd = -1, rc, one = 1;

	snprintf(port, sizeof(port), "%u", (unsigned)t->port);
	if (getaddrinfo(t->host, port, &hints, &dst) != 0) {
		snprintf(err, errlen, "cannot resolve %s", t->host);
		return -EHOSTUNREACH;
	}
	hints.ai_family = dst->ai_family;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	if (getaddrinfo(t->bind, NULL, &hints, &src) != 0) {
		snprintf(err, errlen, "cannot use %s as a local address", t->bind);
		rc = -EINVAL;
		goto out;
	}
	fd = socket(dst->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, src->ai_addr, src->ai_addrlen) < 0 ||
	    connect(fd, dst->ai_addr, dst->ai_addrlen) < 0) {
		rc = -errno;
		snprintf(err, errlen, "connect to %s port %u from %s: %s", t->host,
			 (unsigned)t->port, t->bind, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = fd;
out:
	freeaddrinfo(dst);
	if (src)
		freeaddrinfo(src);
	return rc;
}

/* A TCP connection to the server (from t->bind if set), or -errno. */
static int connect_to(const struct target *t, char *err, size_t errlen)
{
	if (t->bind)
		return connect_from(t, err, errlen);
	return rpcstream_connect(t->host, t->port, t->timeout_ms, err, errlen);
}

/* A CLIENT on a new connection, inside TLS when tls is set. NULL (reason on
 * stderr) if the server cannot be reached. */
static CLIENT *open_client(const struct target *t, bool tls)
{
	struct rpcstream_clnt_opts o = {.call_timeout_ms = t->timeout_ms};
	SSL_CTX *ctx = NULL;
	CLIENT *clnt = NULL;
	char err[512];
	int fd;

	if (tls) {
		ctx = tls_client_ctx(t->ca, err, sizeof(err));
		if (ctx && t->cert &&
		    tls_client_identity(ctx, t->cert, t->key, err, sizeof(err)) < 0) {
			SSL_CTX_free(ctx);
			ctx = NULL;
		}
		if (!ctx) {
			fprintf(stderr, "dfs-probe: %s\n", err);
			return NULL;
		}
		o.tls = ctx;
		o.tls_name = *t->tls_name ? t->tls_name : t->host;
	}
	fd = connect_to(t, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "dfs-probe: %s\n", err);
		goto out;
	}
	clnt = rpcstream_clnt_create(fd, t->program, DFS_V1, &o, err, sizeof(err));
	if (!clnt)
		fprintf(stderr, "dfs-probe: %s\n", err);
out:
	/* The connection keeps its own reference to the context. */
	SSL_CTX_free(ctx);
	return clnt;
}

/* A bare TCP socket to the server, or -1 (reason on stderr). */
static int open_raw(const struct target *t)
{
	char err[512];
	int fd = connect_to(t, err, sizeof(err));

	if (fd < 0)
		fprintf(stderr, "dfs-probe: %s\n", err);
	return fd < 0 ? -1 : fd;
}

/* Waits until the peer closes fd (end of file or reset) or max_s passes,
 * discarding what it sends. Returns true if it closed. */
static bool wait_closed(int fd, double max_s)
{
	double end = now_s() + max_s;
	char sink[4096];

	for (;;) {
		double left = end - now_s();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = recv(fd, sink, sizeof(sink), 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return true;
	}
}

/* ---- login ---- */

struct login_trace {
	uint64_t login_id;
	char final[SCRAM_MSG_MAX];
	int final_len;
	unsigned char token[DFS_TOKEN_SIZE];
	int64_t expires;
};

/* LOGIN_BEGIN with a fresh nonce; on DFS_OK fills sc and the login id. */
static enum clnt_stat login_begin(CLIENT *clnt, const struct target *t, struct scram_client *sc,
				  uint64_t *login_id, unsigned char *salt, size_t *salt_len,
				  uint32_t *iterations, int *status)
{
	dfs_login_begin_args a;
	dfs_login_begin_res r;
	char msg[SCRAM_MSG_MAX];
	enum clnt_stat st;
	int n;

	n = scram_client_first(sc, t->user, msg, sizeof(msg));
	if (n < 0) {
		fprintf(stderr, "dfs-probe: invalid user name\n");
		exit(2);
	}
	a.client_first.client_first_val = msg;
	a.client_first.client_first_len = (u_int)n;
	memset(&r, 0, sizeof(r));
	st = clnt_call(clnt, DFSPROC_LOGIN_BEGIN, (xdrproc_t)xdr_dfs_login_begin_args, (char *)&a,
		       (xdrproc_t)xdr_dfs_login_begin_res, (char *)&r, call_tv(t));
	if (st != RPC_SUCCESS)
		return st;
	*status = r.status;
	if (r.status == DFS_OK) {
		*login_id = r.dfs_login_begin_res_u.ok.login_id;
		if (scram_client_parse_server_first(
			sc, r.dfs_login_begin_res_u.ok.server_first.server_first_val,
			r.dfs_login_begin_res_u.ok.server_first.server_first_len, salt, salt_len,
			iterations) < 0) {
			printf("server-first malformed\n");
			*status = DFS_EPROTO;
		}
	}
	xdr_free((xdrproc_t)xdr_dfs_login_begin_res, (char *)&r);
	return st;
}

/* LOGIN_FINISH with a given client-final; fills the token on DFS_OK. */
static enum clnt_stat login_finish(CLIENT *clnt, const struct target *t, uint64_t login_id,
				   const char *final, int final_len, struct login_trace *tr,
				   int *status)
{
	dfs_login_finish_args a;
	dfs_login_finish_res r;
	enum clnt_stat st;

	a.login_id = login_id;
	a.client_final.client_final_val = (char *) final;
	a.client_final.client_final_len = (u_int)final_len;
	memset(&r, 0, sizeof(r));
	st = clnt_call(clnt, DFSPROC_LOGIN_FINISH, (xdrproc_t)xdr_dfs_login_finish_args, (char *)&a,
		       (xdrproc_t)xdr_dfs_login_finish_res, (char *)&r, call_tv(t));
	if (st != RPC_SUCCESS)
		return st;
	*status = r.status;
	if (r.status == DFS_OK && tr) {
		memcpy(tr->token, r.dfs_login_finish_res_u.ok.token, DFS_TOKEN_SIZE);
		tr->expires = r.dfs_login_finish_res_u.ok.expires;
	}
	xdr_free((xdrproc_t)xdr_dfs_login_finish_res, (char *)&r);
	return st;
}

/* A whole SCRAM login; with alter, one character of the proof is changed.
 * Prints "WHAT STAT" (or the RPC failure; nothing when what is NULL but a
 * failed call). Returns the dfs_stat, or -1 if the exchange did not complete. */
static int do_login(CLIENT *clnt, const struct target *t, bool alter, struct login_trace *tr,
		    const char *what)
{
	struct scram_client sc;
	unsigned char salt[SCRAM_SALT_MAX], salted[SCRAM_KEY_LEN];
	size_t salt_len = 0;
	uint32_t iterations = 0;
	enum clnt_stat st;
	int status = -1;

	memset(&sc, 0, sizeof(sc));
	st = login_begin(clnt, t, &sc, &tr->login_id, salt, &salt_len, &iterations, &status);
	if (st != RPC_SUCCESS) {
		print_rpc_failure(what ? what : "login", clnt, st);
		return -1;
	}
	if (status != DFS_OK) {
		if (what)
			printf("%s %s\n", what, dfs_stat_name(status));
		return status;
	}
	if (scram_salted_password(t->password, salt, salt_len, iterations, salted) < 0) {
		fprintf(stderr, "dfs-probe: invalid password\n");
		exit(2);
	}
	tr->final_len = scram_client_final(&sc, salted, tr->final, sizeof(tr->final));
	OPENSSL_cleanse(salted, sizeof(salted));
	if (tr->final_len < 0) {
		fprintf(stderr, "dfs-probe: cannot build client-final\n");
		exit(3);
	}
	if (alter) {
		/* The proof is the base64 text after "p=", at the end: change its
		 * first character to another base64 digit. */
		char *p = strstr(tr->final, ",p=");

		if (!p) {
			fprintf(stderr, "dfs-probe: client-final without a proof\n");
			exit(3);
		}
		p[3] = p[3] == 'A' ? 'B' : 'A';
	}
	st = login_finish(clnt, t, tr->login_id, tr->final, tr->final_len, tr, &status);
	if (st != RPC_SUCCESS) {
		print_rpc_failure(what ? what : "login", clnt, st);
		return -1;
	}
	if (what)
		printf("%s %s\n", what, dfs_stat_name(status));
	return status;
}

static int cmd_login(const struct target *t)
{
	struct login_trace tr;
	char hex[2 * DFS_TOKEN_SIZE + 1];
	CLIENT *clnt = open_client(t, t->tls);

	if (!clnt)
		return 3;
	memset(&tr, 0, sizeof(tr));
	if (do_login(clnt, t, false, &tr, "login") == DFS_OK) {
		hex_encode(tr.token, DFS_TOKEN_SIZE, hex);
		printf("token %s\nexpires %lld\n", hex, (long long)tr.expires);
	}
	clnt_destroy(clnt);
	return 0;
}

static int cmd_replay_final(const struct target *t)
{
	struct login_trace tr;
	struct scram_client sc;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint32_t iterations;
	uint64_t id2 = 0;
	enum clnt_stat st;
	int status = -1, rc = 3;
	CLIENT *clnt = open_client(t, t->tls);

	if (!clnt)
		return 3;
	memset(&tr, 0, sizeof(tr));
	if (do_login(clnt, t, false, &tr, "login") != DFS_OK)
		goto out;
	/* The exchange that succeeded, once more. */
	st = login_finish(clnt, t, tr.login_id, tr.final, tr.final_len, NULL, &status);
	if (st != RPC_SUCCESS)
		print_rpc_failure("same-exchange", clnt, st);
	else
		printf("same-exchange %s\n", dfs_stat_name(status));
	/* The recorded client-final against a new exchange's nonce. */
	memset(&sc, 0, sizeof(sc));
	st = login_begin(clnt, t, &sc, &id2, salt, &salt_len, &iterations, &status);
	if (st != RPC_SUCCESS || status != DFS_OK) {
		printf("new-begin %s\n",
		       st != RPC_SUCCESS ? clnt_stat_name(st) : dfs_stat_name(status));
		goto out;
	}
	st = login_finish(clnt, t, id2, tr.final, tr.final_len, NULL, &status);
	if (st != RPC_SUCCESS)
		print_rpc_failure("new-exchange", clnt, st);
	else
		printf("new-exchange %s\n", dfs_stat_name(status));
	rc = 0;
out:
	clnt_destroy(clnt);
	return rc;
}

static int cmd_alter_final(const struct target *t)
{
	struct login_trace tr;
	CLIENT *clnt = open_client(t, t->tls);
	int rc;

	if (!clnt)
		return 3;
	memset(&tr, 0, sizeof(tr));
	rc = do_login(clnt, t, true, &tr, "alter-final") < 0 ? 3 : 0;
	clnt_destroy(clnt);
	return rc;
}

/* ---- calls with a chosen token or name ---- */

/* The arguments of LOOKUP, PUT_BEGIN or DELETE with a name of any length:
 * encoded by hand so no XDR bound on this side stops it. */
struct raw_args {
	const unsigned char *token;
	const char *name;
	u_int len;
	rpcproc_t proc;
};

static bool_t xdr_raw_args(XDR *x, struct raw_args *a)
{
	char *name = (char *)a->name;
	u_int len = a->len, index = 1, zero = 0;
	u_quad_t ver = 1, size = 0;

	if (!xdr_opaque(x, (char *)a->token, DFS_TOKEN_SIZE) || !xdr_bytes(x, &name, &len, ~0u))
		return FALSE;
	switch (a->proc) {
	case DFSPROC_PUT_BEGIN:
		return xdr_u_quad_t(x, &ver) && xdr_u_int(x, &index) && xdr_u_quad_t(x, &size);
	case DFSPROC_DELETE:
		return xdr_u_quad_t(x, &ver) && xdr_u_int(x, &zero);
	default:
		return TRUE;
	}
}

/* The result type of each procedure this tool calls; all begin with a dfs_stat. */
static xdrproc_t result_xdr(rpcproc_t proc)
{
	switch (proc) {
	case DFSPROC_PUT_BEGIN:
		return (xdrproc_t)xdr_dfs_put_begin_res;
	case DFSPROC_READ:
		return (xdrproc_t)xdr_dfs_read_res;
	case DFSPROC_LOOKUP:
		return (xdrproc_t)xdr_dfs_lookup_res;
	case DFSPROC_LIST:
		return (xdrproc_t)xdr_dfs_list_res;
	case DFSPROC_STATUS:
		return (xdrproc_t)xdr_dfs_status_res;
	case DFSPROC_VERIFY:
		return (xdrproc_t)xdr_dfs_verify_res;
	default:
		return (xdrproc_t)xdr_dfs_stat;
	}
}

union any_res {
	dfs_stat stat;
	dfs_put_begin_res put_begin;
	dfs_read_res read;
	dfs_lookup_res lookup;
	dfs_list_res list;
	dfs_status_res status;
	dfs_verify_res verify;
};

static const struct {
	const char *name;
	rpcproc_t proc;
} proc_names[] = {
    {"LOOKUP", DFSPROC_LOOKUP}, {"READ", DFSPROC_READ},	    {"DELETE", DFSPROC_DELETE},
    {"LIST", DFSPROC_LIST},	{"STATUS", DFSPROC_STATUS}, {"PUT_BEGIN", DFSPROC_PUT_BEGIN},
    {"VERIFY", DFSPROC_VERIFY}, {"LOGOUT", DFSPROC_LOGOUT},
};

static int proc_by_name(const char *name, rpcproc_t *out)
{
	for (size_t i = 0; i < sizeof(proc_names) / sizeof(proc_names[0]); i++)
		if (strcmp(proc_names[i].name, name) == 0) {
			*out = proc_names[i].proc;
			return 0;
		}
	fprintf(stderr, "dfs-probe: unknown procedure %s\n", name);
	return -EINVAL;
}

/* Calls proc with token and name (for the procedures that take one); prints
 * "WHAT STAT" or the RPC failure. */
static void call_proc(CLIENT *clnt, const struct target *t, rpcproc_t proc,
		      const unsigned char *token, const char *name, u_int name_len,
		      const char *what)
{
	struct raw_args raw = {.token = token, .name = name, .len = name_len, .proc = proc};
	union {
		dfs_read_args read;
		dfs_list_args list;
		dfs_cred_args cred;
		dfs_version_args version;
	} a;
	union any_res r;
	xdrproc_t xargs;
	void *args;
	enum clnt_stat st;

	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	switch (proc) {
	case DFSPROC_LOOKUP:
	case DFSPROC_PUT_BEGIN:
	case DFSPROC_DELETE:
		xargs = (xdrproc_t)xdr_raw_args;
		args = &raw;
		break;
	case DFSPROC_READ:
		memcpy(a.read.cred.token, token, DFS_TOKEN_SIZE);
		a.read.name.dfs_name_val = (char *)name;
		a.read.name.dfs_name_len = name_len;
		a.read.ver = 1;
		a.read.index = 1;
		a.read.count = 16;
		xargs = (xdrproc_t)xdr_dfs_read_args;
		args = &a.read;
		break;
	case DFSPROC_VERIFY:
		memcpy(a.version.cred.token, token, DFS_TOKEN_SIZE);
		a.version.name.dfs_name_val = (char *)name;
		a.version.name.dfs_name_len = name_len;
		a.version.ver = 1;
		xargs = (xdrproc_t)xdr_dfs_version_args;
		args = &a.version;
		break;
	case DFSPROC_LIST:
		memcpy(a.list.cred.token, token, DFS_TOKEN_SIZE);
		xargs = (xdrproc_t)xdr_dfs_list_args;
		args = &a.list;
		break;
	default:
		memcpy(a.cred.cred.token, token, DFS_TOKEN_SIZE);
		xargs = (xdrproc_t)xdr_dfs_cred_args;
		args = &a.cred;
		break;
	}
	st = clnt_call(clnt, proc, xargs, args, result_xdr(proc), (char *)&r, call_tv(t));
	if (st != RPC_SUCCESS) {
		print_rpc_failure(what, clnt, st);
		return;
	}
	printf("%s %s\n", what, dfs_stat_name(r.stat));
	xdr_free(result_xdr(proc), (char *)&r);
}

static int cmd_call_with_token(const struct target *t, int argc, char **argv)
{
	unsigned char token[DFS_TOKEN_SIZE];
	const char *name = argc > 2 ? argv[2] : "probe";
	rpcproc_t proc;
	CLIENT *clnt;

	if (argc < 2 || strlen(argv[0]) != 2 * DFS_TOKEN_SIZE ||
	    hex_decode(argv[0], token, sizeof(token)) != 0) {
		fprintf(stderr,
			"dfs-probe: call-with-token needs a %d-digit hex token and a PROC\n",
			2 * DFS_TOKEN_SIZE);
		return 2;
	}
	if (proc_by_name(argv[1], &proc) != 0)
		return 2;
	clnt = open_client(t, t->tls);
	if (!clnt)
		return 3;
	call_proc(clnt, t, proc, token, name, (u_int)strlen(name), argv[1]);
	clnt_destroy(clnt);
	return 0;
}

/* ---- calls between servers ---- */

/* A connection for a peer call; with --login-first, a user's login on it
 * before. NULL (reason printed) if it could not be had. */
static CLIENT *open_peer_client(const struct target *t)
{
	struct login_trace tr;
	CLIENT *clnt = open_client(t, t->tls);

	if (!clnt || !t->login_first)
		return clnt;
	memset(&tr, 0, sizeof(tr));
	if (do_login(clnt, t, false, &tr, "login") != DFS_OK) {
		clnt_destroy(clnt);
		return NULL;
	}
	OPENSSL_cleanse(tr.token, sizeof(tr.token));
	return clnt;
}

static int cmd_peer_login(const struct target *t, int argc, char **argv)
{
	dfs_peer_login_args a = {.user = argc > 0 ? argv[0] : NULL};
	dfs_peer_login_res r;
	char hex[2 * DFS_TOKEN_SIZE + 1];
	enum clnt_stat st;
	CLIENT *clnt;

	if (argc != 1) {
		fprintf(stderr, "dfs-probe: peer-login needs a USER\n");
		return 2;
	}
	clnt = open_peer_client(t);
	if (!clnt)
		return 3;
	memset(&r, 0, sizeof(r));
	st = clnt_call(clnt, DFSPROC_PEER_LOGIN, (xdrproc_t)xdr_dfs_peer_login_args, (char *)&a,
		       (xdrproc_t)xdr_dfs_peer_login_res, (char *)&r, call_tv(t));
	if (st != RPC_SUCCESS) {
		print_rpc_failure("peer-login", clnt, st);
		clnt_destroy(clnt);
		return 3;
	}
	printf("peer-login %s\n", dfs_stat_name(r.status));
	if (r.status == DFS_OK) {
		hex_encode((const unsigned char *)r.dfs_peer_login_res_u.token, DFS_TOKEN_SIZE,
			   hex);
		printf("token %s\n", hex);
	}
	xdr_free((xdrproc_t)xdr_dfs_peer_login_res, (char *)&r);
	clnt_destroy(clnt);
	return 0;
}

static int cmd_peer_users(const struct target *t, int argc, char **argv)
{
	dfs_peer_users_args a = {.after = argc > 0 ? argv[0] : "", .max = DFS_LIST_MAX};
	dfs_peer_users_res r;
	enum clnt_stat st;
	CLIENT *clnt;

	if (argc > 1) {
		fprintf(stderr, "dfs-probe: peer-users takes at most one user name (AFTER)\n");
		return 2;
	}
	clnt = open_peer_client(t);
	if (!clnt)
		return 3;
	memset(&r, 0, sizeof(r));
	st = clnt_call(clnt, DFSPROC_PEER_USERS, (xdrproc_t)xdr_dfs_peer_users_args, (char *)&a,
		       (xdrproc_t)xdr_dfs_peer_users_res, (char *)&r, call_tv(t));
	if (st != RPC_SUCCESS) {
		print_rpc_failure("peer-users", clnt, st);
		clnt_destroy(clnt);
		return 3;
	}
	printf("peer-users %s\n", dfs_stat_name(r.status));
	if (r.status == DFS_OK) {
		const dfs_peer_users_ok *ok = &r.dfs_peer_users_res_u.ok;

		for (u_int i = 0; i < ok->users.users_len; i++)
			printf("user %s\n", ok->users.users_val[i]);
		printf("eof %d\n", ok->eof ? 1 : 0);
	}
	xdr_free((xdrproc_t)xdr_dfs_peer_users_res, (char *)&r);
	clnt_destroy(clnt);
	return 0;
}

static int cmd_raw_name(const struct target *t, int argc, char **argv)
{
	static char name[5000];
	struct login_trace tr;
	char what[64];
	u_int len;
	rpcproc_t proc;
	CLIENT *clnt;
	int rc = 3;

	if (argc < 2 || proc_by_name(argv[1], &proc) != 0 ||
	    (proc != DFSPROC_LOOKUP && proc != DFSPROC_PUT_BEGIN && proc != DFSPROC_DELETE)) {
		fprintf(stderr, "dfs-probe: raw-name needs KIND and LOOKUP, PUT_BEGIN or DELETE\n");
		return 2;
	}
	if (strcmp(argv[0], "dot") == 0) {
		len = 1;
		memcpy(name, ".", len);
	} else if (strcmp(argv[0], "dotdot") == 0) {
		len = 2;
		memcpy(name, "..", len);
	} else if (strcmp(argv[0], "slash") == 0) {
		len = 3;
		memcpy(name, "a/b", len);
	} else if (strcmp(argv[0], "long") == 0 || strcmp(argv[0], "max") == 0) {
		/* Components of 200 bytes: only the whole name's length matters. */
		len = strcmp(argv[0], "long") == 0 ? 4097 : 4096;
		memset(name, 'a', len);
		for (u_int i = 200; i < len - 1; i += 201)
			name[i] = '/';
	} else if (strcmp(argv[0], "empty-component") == 0) {
		len = 4;
		memcpy(name, "a//b", len);
	} else if (strcmp(argv[0], "leading-slash") == 0) {
		len = 2;
		memcpy(name, "/a", len);
	} else if (strcmp(argv[0], "trailing-slash") == 0) {
		len = 2;
		memcpy(name, "a/", len);
	} else if (strcmp(argv[0], "dotdot-component") == 0) {
		len = 6;
		memcpy(name, "a/../b", len);
	} else if (strcmp(argv[0], "long-component") == 0) {
		len = 258;
		memset(name, 'a', len);
		name[1] = '/';
	} else if (strcmp(argv[0], "nul") == 0) {
		len = 3;
		memcpy(name, "a\0b", len);
	} else if (strcmp(argv[0], "badutf8") == 0) {
		len = 3;
		memcpy(name, "a\xff\xfe", len);
	} else if (strcmp(argv[0], "ctrl") == 0) {
		len = 3;
		memcpy(name, "a\nb", len);
	} else if (strcmp(argv[0], "empty") == 0) {
		len = 0;
	} else {
		fprintf(stderr, "dfs-probe: unknown name kind %s\n", argv[0]);
		return 2;
	}
	clnt = open_client(t, t->tls);
	if (!clnt)
		return 3;
	memset(&tr, 0, sizeof(tr));
	if (do_login(clnt, t, false, &tr, "login") != DFS_OK)
		goto out;
	snprintf(what, sizeof(what), "raw-name %s %s", argv[0], argv[1]);
	call_proc(clnt, t, proc, tr.token, name, len, what);
	rc = 0;
out:
	clnt_destroy(clnt);
	return rc;
}

/* ---- calls for many files ---- */

/* A client logged in as t's user (tr its login), or NULL. */
static CLIENT *open_logged_in(const struct target *t, struct login_trace *tr)
{
	CLIENT *clnt = open_client(t, t->tls);

	memset(tr, 0, sizeof(*tr));
	if (clnt && do_login(clnt, t, false, tr, "login") != DFS_OK) {
		clnt_destroy(clnt);
		clnt = NULL;
	}
	return clnt;
}

/* STORE_MANY's arguments with any count of items, so that more than the
 * protocol allows can be sent. */
static bool_t xdr_many_items(XDR *x, dfs_store_many_args *a)
{
	if (!xdr_dfs_cred(x, &a->cred) || !xdr_u_int(x, &a->items.items_len))
		return FALSE;
	for (u_int i = 0; i < a->items.items_len; i++)
		if (!xdr_dfs_store_item(x, &a->items.items_val[i]))
			return FALSE;
	return TRUE;
}

/* Item i: a one-chunk file of len bytes at data named name, checksum sum. */
static void store_item(dfs_store_item *it, dfs_chunk_sum *c, const char *name, char *data,
		       u_int len, uint64_t sum)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*c = (dfs_chunk_sum){.index = 1, .size = len, .checksum = sum};
	memset(it, 0, sizeof(*it));
	it->info.name.dfs_name_val = (char *)name;
	it->info.name.dfs_name_len = (u_int)strlen(name);
	it->info.ver = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	it->info.size = len;
	it->info.nchunks = 1;
	it->info.chunks.chunks_val = c;
	it->info.chunks.chunks_len = 1;
	it->data.data_val = data;
	it->data.data_len = len;
}

static int cmd_store_many(const struct target *t, int argc, char **argv)
{
	static char good[] = "probe bytes", big[600 * 1024];
	dfs_store_item items[65];
	dfs_chunk_sum chunks[65];
	dfs_store_many_args a;
	dfs_store_many_res r;
	struct login_trace tr;
	enum clnt_stat st;
	u_int n;
	CLIENT *clnt;
	int rc = 3;

	if (argc < 1 || (strcmp(argv[0], "mixed") && strcmp(argv[0], "oversized") &&
			 strcmp(argv[0], "too-many"))) {
		fprintf(stderr, "dfs-probe: store-many needs mixed, oversized or too-many\n");
		return 2;
	}
	if (strcmp(argv[0], "mixed") == 0) {
		n = 4;
		store_item(&items[0], &chunks[0], "probe-good", good, sizeof(good) - 1,
			   checksum_of(good, sizeof(good) - 1));
		store_item(&items[1], &chunks[1], "probe-bad-sum", good, sizeof(good) - 1, 1);
		store_item(&items[2], &chunks[2], "..", good, sizeof(good) - 1,
			   checksum_of(good, sizeof(good) - 1));
		store_item(&items[3], &chunks[3], "probe-bad-size", good, sizeof(good) - 1,
			   checksum_of(good, sizeof(good) - 1));
		chunks[3].size = 3;
	} else if (strcmp(argv[0], "oversized") == 0) {
		n = 2;
		for (u_int i = 0; i < n; i++)
			store_item(&items[i], &chunks[i], i ? "probe-big-2" : "probe-big-1", big,
				   sizeof(big), checksum_of(big, sizeof(big)));
	} else {
		n = 65;
		for (u_int i = 0; i < n; i++)
			store_item(&items[i], &chunks[i], "probe-empty", good, 0,
				   checksum_of(good, 0));
	}
	clnt = open_logged_in(t, &tr);
	if (!clnt)
		return 3;
	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	memcpy(a.cred.token, tr.token, DFS_TOKEN_SIZE);
	a.items.items_val = items;
	a.items.items_len = n;
	st = clnt_call(clnt, DFSPROC_STORE_MANY, (xdrproc_t)xdr_many_items, (char *)&a,
		       (xdrproc_t)xdr_dfs_store_many_res, (char *)&r, call_tv(t));
	rc = 0;
	if (st != RPC_SUCCESS) {
		char what[64];

		snprintf(what, sizeof(what), "store-many %s", argv[0]);
		print_rpc_failure(what, clnt, st);
		goto out;
	}
	printf("store-many %s %s", argv[0], dfs_stat_name(r.status));
	for (u_int i = 0; r.status == DFS_OK && i < r.dfs_store_many_res_u.results.results_len; i++)
		printf(" %s", dfs_stat_name(r.dfs_store_many_res_u.results.results_val[i]));
	printf("\n");
	xdr_free((xdrproc_t)xdr_dfs_store_many_res, (char *)&r);
out:
	clnt_destroy(clnt);
	return rc;
}

static int cmd_lookup_read_many(const struct target *t)
{
	static const char *names[] = {"probe-good", "probe-missing", ".."};
	dfs_lookup_read_item items[3];
	dfs_lookup_read_many_args a;
	dfs_lookup_read_many_res r;
	struct login_trace tr;
	enum clnt_stat st;
	CLIENT *clnt;
	int rc = 3;

	clnt = open_logged_in(t, &tr);
	if (!clnt)
		return 3;
	for (int i = 0; i < 3; i++)
		items[i] = (dfs_lookup_read_item){
		    .name = {(u_int)strlen(names[i]), (char *)names[i]}, .index = 1, .max = 1024};
	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	memcpy(a.cred.token, tr.token, DFS_TOKEN_SIZE);
	a.items.items_val = items;
	a.items.items_len = 3;
	st = clnt_call(clnt, DFSPROC_LOOKUP_READ_MANY, (xdrproc_t)xdr_dfs_lookup_read_many_args,
		       (char *)&a, (xdrproc_t)xdr_dfs_lookup_read_many_res, (char *)&r, call_tv(t));
	rc = 0;
	if (st != RPC_SUCCESS) {
		print_rpc_failure("lookup-read-many", clnt, st);
		goto out;
	}
	printf("lookup-read-many %s", dfs_stat_name(r.status));
	for (u_int i = 0;
	     r.status == DFS_OK && i < r.dfs_lookup_read_many_res_u.results.results_len; i++) {
		const dfs_lookup_read_res *one =
		    &r.dfs_lookup_read_many_res_u.results.results_val[i];

		printf(" %s:%u", dfs_stat_name(one->status),
		       one->status == DFS_OK ? one->dfs_lookup_read_res_u.ok.data.data_len : 0);
	}
	printf("\n");
	xdr_free((xdrproc_t)xdr_dfs_lookup_read_many_res, (char *)&r);
out:
	clnt_destroy(clnt);
	return rc;
}

static int cmd_plain_call(const struct target *t)
{
	CLIENT *clnt = open_client(t, false);
	enum clnt_stat st;

	if (!clnt)
		return 3;
	st = clnt_call(clnt, NULLPROC, XDR_VOID, NULL, XDR_VOID, NULL, call_tv(t));
	printf("plain-null %s\n", clnt_stat_name(st));
	call_proc(clnt, t, DFSPROC_STATUS, zero_token, "", 0, "plain-call");
	clnt_destroy(clnt);
	return 0;
}

/* ---- hostile connections ---- */

/* Sends len bytes; false once the server has closed or reset the connection. */
static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static int cmd_garbage(const struct target *t)
{
	static unsigned char junk[65536];
	static const unsigned char marker[4] = {0x7f, 0xff, 0xff, 0xff};
	int fd;

	if (getrandom(junk, sizeof(junk), 0) != (ssize_t)sizeof(junk))
		return 3;
	fd = open_raw(t);
	if (fd < 0)
		return 3;
	/* A server that stops reading mid-way has already given up on it. */
	(void)send_all(fd, junk, sizeof(junk));
	printf("garbage %s\n", wait_closed(fd, t->max_s) ? "closed" : "open");
	close(fd);

	fd = open_raw(t);
	if (fd < 0)
		return 3;
	if (send_all(fd, marker, sizeof(marker)))
		(void)send_all(fd, junk, 4096);
	printf("oversized %s\n", wait_closed(fd, t->max_s) ? "closed" : "open");
	close(fd);
	return 0;
}

/* The start of a LOOKUP call whose record (1000 bytes) and name (900 bytes)
 * are longer than what will ever be sent: the call never completes. */
static size_t slow_call_bytes(const struct target *t, unsigned char *buf)
{
	uint32_t words[20] = {
	    htonl(0x80000000u | 1000), htonl(1),      htonl(CALL),	    htonl(2),
	    htonl(t->program),	       htonl(DFS_V1), htonl(DFSPROC_LOOKUP)};

	/* AUTH_NONE credential and verifier, a zero token, then the name's length. */
	words[19] = htonl(900);
	memcpy(buf, words, sizeof(words));
	return sizeof(words);
}

static int cmd_slow(const struct target *t)
{
	unsigned char call[80];
	size_t len = slow_call_bytes(t, call);
	double start = now_s();
	bool closed = false;
	int fd = open_raw(t);

	if (fd < 0)
		return 3;
	for (size_t i = 0; !closed && now_s() - start < t->max_s; i++) {
		unsigned char b = i < len ? call[i] : 'a';

		if (!send_all(fd, &b, 1))
			closed = true;
		else
			closed = wait_closed(fd, t->interval_ms / 1000.0);
	}
	printf("slow %s after %.1f s\n", closed ? "closed" : "open", now_s() - start);
	close(fd);
	return 0;
}

static int cmd_silent(const struct target *t)
{
	double start = now_s();
	int fd = open_raw(t);
	bool closed;

	if (fd < 0)
		return 3;
	closed = wait_closed(fd, t->max_s);
	printf("silent %s after %.1f s\n", closed ? "closed" : "open", now_s() - start);
	close(fd);
	return 0;
}

static int cmd_connections(const struct target *t, int argc, char **argv)
{
	CLIENT **c;
	char *end;
	unsigned long n;
	unsigned answered = 0, refused = 0;

	n = argc > 0 ? strtoul(argv[0], &end, 10) : 0;
	if (argc < 1 || *end || n < 1 || n > 4096) {
		fprintf(stderr, "dfs-probe: connections needs a count 1..4096\n");
		return 2;
	}
	c = calloc(n, sizeof(*c));
	if (!c)
		return 3;
	for (unsigned long i = 0; i < n; i++) {
		enum clnt_stat st;

		c[i] = open_client(t, false);
		if (!c[i]) {
			refused++;
			continue;
		}
		st = clnt_call(c[i], NULLPROC, XDR_VOID, NULL, XDR_VOID, NULL, call_tv(t));
		if (st == RPC_SUCCESS) {
			answered++;
		} else {
			refused++;
			clnt_destroy(c[i]);
			c[i] = NULL;
		}
	}
	printf("connections answered %u refused %u\n", answered, refused);
	fflush(stdout);
	if (t->hold_s > 0)
		usleep((useconds_t)(t->hold_s * 1e6));
	for (unsigned long i = 0; i < n; i++)
		if (c[i])
			clnt_destroy(c[i]);
	free(c);
	return 0;
}

/* ---- login and connection floods ---- */

static int parse_count(int argc, char **argv, const char *what, unsigned long max, unsigned long *n)
{
	char *end = NULL;

	*n = argc > 0 ? strtoul(argv[0], &end, 10) : 0;
	if (argc < 1 || *end || *n < 1 || *n > max) {
		fprintf(stderr, "dfs-probe: %s needs a count 1..%lu\n", what, max);
		return -EINVAL;
	}
	return 0;
}

static int cmd_idle_connections(const struct target *t, int argc, char **argv)
{
	unsigned long n;
	unsigned opened = 0, failed = 0, closed = 0;
	struct pollfd *p;
	double start, end;

	if (parse_count(argc, argv, "idle-connections", 4096, &n) < 0)
		return 2;
	p = calloc(n, sizeof(*p));
	if (!p)
		return 3;
	for (unsigned long i = 0; i < n; i++) {
		int fd = open_raw(t);

		if (fd < 0) {
			failed++;
			continue;
		}
		p[opened].fd = fd;
		p[opened++].events = POLLIN;
	}
	printf("idle-connections opened %u failed %u\n", opened, failed);
	fflush(stdout);
	start = now_s();
	end = start + t->max_s;
	while (closed < opened && now_s() < end) {
		int left = (int)((end - now_s()) * 1000) + 1;

		if (poll(p, opened, left) <= 0)
			continue;
		for (unsigned i = 0; i < opened; i++) {
			char sink[512];

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (recv(p[i].fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
				continue;
			close(p[i].fd);
			p[i].fd = -1;
			closed++;
		}
	}
	printf("idle-connections closed %u of %u after %.1f s\n", closed, opened, now_s() - start);
	for (unsigned i = 0; i < opened; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	free(p);
	return 0;
}

/* Sends LOGIN_BEGIN number i (user as given, or a made-up one per call),
 * keeping its client state in sc. */
static enum clnt_stat send_begin(CLIENT *clnt, const struct target *t, unsigned long i,
				 struct scram_client *sc)
{
	dfs_login_begin_args a;
	char msg[SCRAM_MSG_MAX], user[32];
	int n;

	snprintf(user, sizeof(user), "flood%lu", i);
	n = scram_client_first(sc, t->user ? t->user : user, msg, sizeof(msg));
	if (n < 0) {
		fprintf(stderr, "dfs-probe: invalid user name\n");
		exit(2);
	}
	a.client_first.client_first_val = msg;
	a.client_first.client_first_len = (u_int)n;
	return rpcstream_send(clnt, DFSPROC_LOGIN_BEGIN, (xdrproc_t)xdr_dfs_login_begin_args, &a);
}

#define WINDOW 32

/* The outcome of pipelined LOGIN_BEGINs. */
struct begins {
	unsigned ok, again, other;
	uint64_t *ids;			    /* per call, with keep */
	bool *answered;			    /* per call: DFS_OK and a well-formed server-first */
	unsigned char salt[SCRAM_SALT_MAX]; /* of the last one answered */
	size_t salt_len;
	uint32_t iterations;
};

/* Pipelines n LOGIN_BEGINs, WINDOW outstanding. With keep, sc holds n client
 * states and b->ids / b->answered n entries; otherwise sc is one scratch
 * state. -1 if the connection failed. */
static int pipeline_begins(CLIENT *clnt, const struct target *t, unsigned long n, bool keep,
			   struct scram_client *sc, struct begins *b)
{
	unsigned long sent = 0, got = 0;

	b->ok = b->again = b->other = 0;
	while (got < n) {
		dfs_login_begin_res r;
		enum clnt_stat st;

		while (sent < n && sent - got < WINDOW) {
			st = send_begin(clnt, t, sent, &sc[keep ? sent : 0]);
			if (st != RPC_SUCCESS) {
				print_rpc_failure("send", clnt, st);
				return -1;
			}
			sent++;
		}
		memset(&r, 0, sizeof(r));
		st = rpcstream_recv(clnt, (xdrproc_t)xdr_dfs_login_begin_res, &r);
		if (st != RPC_SUCCESS) {
			print_rpc_failure("recv", clnt, st);
			return -1;
		}
		if (r.status == DFS_OK) {
			b->ok++;
			if (keep) {
				b->ids[got] = r.dfs_login_begin_res_u.ok.login_id;
				b->answered[got] =
				    scram_client_parse_server_first(
					&sc[got],
					r.dfs_login_begin_res_u.ok.server_first.server_first_val,
					r.dfs_login_begin_res_u.ok.server_first.server_first_len,
					b->salt, &b->salt_len, &b->iterations) == 0;
			}
		} else if (r.status == DFS_EAGAIN) {
			b->again++;
		} else {
			b->other++;
		}
		xdr_free((xdrproc_t)xdr_dfs_login_begin_res, (char *)&r);
		got++;
	}
	return 0;
}

static int cmd_flood_login_begin(const struct target *t, int argc, char **argv)
{
	struct scram_client sc;
	struct begins b;
	unsigned long n;
	CLIENT *clnt;
	int rc;

	if (parse_count(argc, argv, "flood-login-begin", 1000000, &n) < 0)
		return 2;
	clnt = open_client(t, t->tls);
	if (!clnt)
		return 3;
	memset(&b, 0, sizeof(b));
	rc = pipeline_begins(clnt, t, n, false, &sc, &b);
	if (rc == 0)
		printf("flood-login-begin ok %u throttled %u other %u\n", b.ok, b.again, b.other);
	clnt_destroy(clnt);
	return rc == 0 ? 0 : 3;
}

static int cmd_guess_flood(const struct target *t, int argc, char **argv)
{
	struct scram_client *sc = NULL;
	struct begins b;
	unsigned char salted[SCRAM_KEY_LEN];
	unsigned long n, sent = 0, got = 0, todo = 0;
	unsigned long *order = NULL;
	unsigned checked = 0, refused = 0, accepted = 0;
	CLIENT *clnt = NULL;
	int rc = 3;

	memset(salted, 0, sizeof(salted));
	if (parse_count(argc, argv, "guess-flood", 100000, &n) < 0)
		return 2;
	memset(&b, 0, sizeof(b));
	sc = calloc(n, sizeof(*sc));
	b.ids = calloc(n, sizeof(*b.ids));
	b.answered = calloc(n, sizeof(*b.answered));
	order = calloc(n, sizeof(*order));
	if (!sc || !b.ids || !b.answered || !order)
		goto out;
	clnt = open_client(t, t->tls);
	if (!clnt)
		goto out;
	if (pipeline_begins(clnt, t, n, true, sc, &b) < 0)
		goto out;
	for (unsigned long i = 0; i < n; i++)
		if (b.answered[i])
			order[todo++] = i;
	/* One user, one salt: the guess is salted once. */
	if (todo &&
	    scram_salted_password(t->password, b.salt, b.salt_len, b.iterations, salted) < 0) {
		fprintf(stderr, "dfs-probe: invalid password\n");
		rc = 2;
		goto out;
	}
	while (got < todo) {
		dfs_login_finish_res r;
		enum clnt_stat st;

		while (sent < todo && sent - got < WINDOW) {
			unsigned long i = order[sent];
			dfs_login_finish_args a;
			char msg[SCRAM_MSG_MAX];
			int len = scram_client_final(&sc[i], salted, msg, sizeof(msg));

			if (len < 0) {
				fprintf(stderr, "dfs-probe: cannot build client-final\n");
				goto out;
			}
			a.login_id = b.ids[i];
			a.client_final.client_final_val = msg;
			a.client_final.client_final_len = (u_int)len;
			st = rpcstream_send(clnt, DFSPROC_LOGIN_FINISH,
					    (xdrproc_t)xdr_dfs_login_finish_args, &a);
			if (st != RPC_SUCCESS) {
				print_rpc_failure("send", clnt, st);
				goto out;
			}
			sent++;
		}
		memset(&r, 0, sizeof(r));
		st = rpcstream_recv(clnt, (xdrproc_t)xdr_dfs_login_finish_res, &r);
		if (st != RPC_SUCCESS) {
			print_rpc_failure("recv", clnt, st);
			goto out;
		}
		/* DFS_OK and DFS_EACCES: the server checked the proof; anything
		 * else: the exchange was gone (evicted or expired). */
		if (r.status == DFS_OK)
			accepted++;
		if (r.status == DFS_OK || r.status == DFS_EACCES)
			checked++;
		else
			refused++;
		xdr_free((xdrproc_t)xdr_dfs_login_finish_res, (char *)&r);
		got++;
	}
	printf("guess-flood begun %u throttled %u checked %u refused %u accepted %u\n", b.ok,
	       b.again, checked, refused, accepted);
	rc = 0;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	if (clnt)
		clnt_destroy(clnt);
	free(sc);
	free(b.ids);
	free(b.answered);
	free(order);
	return rc;
}

static int cmd_sessions(const struct target *t, int argc, char **argv)
{
	unsigned char(*tokens)[DFS_TOKEN_SIZE];
	unsigned long n;
	unsigned created = 0, valid = 0;
	int first = -1, last = -1;
	CLIENT *clnt;

	if (parse_count(argc, argv, "sessions", 100000, &n) < 0)
		return 2;
	tokens = calloc(n, sizeof(*tokens));
	clnt = tokens ? open_client(t, t->tls) : NULL;
	if (!clnt) {
		free(tokens);
		return 3;
	}
	for (unsigned long i = 0; i < n; i++) {
		struct login_trace tr;

		memset(&tr, 0, sizeof(tr));
		if (do_login(clnt, t, false, &tr, NULL) == DFS_OK)
			memcpy(tokens[created++], tr.token, DFS_TOKEN_SIZE);
	}
	for (unsigned i = 0; i < created; i++) {
		dfs_list_args a;
		dfs_list_res r;
		enum clnt_stat st;

		memset(&a, 0, sizeof(a));
		memset(&r, 0, sizeof(r));
		memcpy(a.cred.token, tokens[i], DFS_TOKEN_SIZE);
		st = clnt_call(clnt, DFSPROC_LIST, (xdrproc_t)xdr_dfs_list_args, (char *)&a,
			       (xdrproc_t)xdr_dfs_list_res, (char *)&r, call_tv(t));
		if (st != RPC_SUCCESS) {
			print_rpc_failure("list", clnt, st);
			break;
		}
		valid += r.status == DFS_OK;
		if (i == 0)
			first = r.status;
		last = r.status;
		xdr_free((xdrproc_t)xdr_dfs_list_res, (char *)&r);
	}
	printf("sessions created %u valid %u first %s last %s\n", created, valid,
	       first < 0 ? "none" : dfs_stat_name(first), last < 0 ? "none" : dfs_stat_name(last));
	clnt_destroy(clnt);
	free(tokens);
	return 0;
}

/* Announces uploads and sends nothing: what disk does the server set aside for them? */
static int cmd_put_begin_hold(const struct target *t, int argc, char **argv)
{
	unsigned long long size;
	unsigned long n;
	unsigned ok = 0, other = 0;
	int last = DFS_OK;
	struct login_trace tr;
	char *end = NULL;
	CLIENT *clnt;

	size = argc > 0 ? strtoull(argv[0], &end, 10) : 0;
	if (argc < 2 || *end || parse_count(argc - 1, argv + 1, "put-begin-hold", 16, &n) < 0) {
		fprintf(stderr, "dfs-probe: put-begin-hold needs SIZE and a count 1..16\n");
		return 2;
	}
	clnt = open_client(t, t->tls);
	if (!clnt)
		return 3;
	memset(&tr, 0, sizeof(tr));
	if (do_login(clnt, t, false, &tr, NULL) != DFS_OK) {
		printf("put-begin-hold login failed\n");
		clnt_destroy(clnt);
		return 0;
	}
	for (unsigned long i = 1; i <= n; i++) {
		dfs_put_begin_args a;
		dfs_put_begin_res r;
		char name[32];
		enum clnt_stat st;

		memset(&a, 0, sizeof(a));
		memset(&r, 0, sizeof(r));
		memcpy(a.cred.token, tr.token, DFS_TOKEN_SIZE);
		snprintf(name, sizeof(name), "hold-%lu", i);
		a.name.dfs_name_val = name;
		a.name.dfs_name_len = (u_int)strlen(name);
		a.ver = ((uint64_t)time(NULL) * 1000000000u) | 1;
		a.index = 1;
		a.size = size;
		st =
		    clnt_call(clnt, DFSPROC_PUT_BEGIN, (xdrproc_t)xdr_dfs_put_begin_args,
			      (char *)&a, (xdrproc_t)xdr_dfs_put_begin_res, (char *)&r, call_tv(t));
		if (st != RPC_SUCCESS) {
			print_rpc_failure("put-begin-hold", clnt, st);
			break;
		}
		if (r.status == DFS_OK)
			ok++;
		else
			other++, last = r.status;
	}
	printf("put-begin-hold ok %u other %u (%s)\n", ok, other, dfs_stat_name(last));
	fflush(stdout);
	if (t->hold_s > 0)
		usleep((useconds_t)(t->hold_s * 1e6));
	clnt_destroy(clnt);
	return 0;
}

static int cmd_set_verifier(const struct target *t, int argc, char **argv)
{
	dfs_set_verifier_args a;
	struct scram_verifier v;
	dfs_stat res = DFS_OK;
	enum clnt_stat st;
	CLIENT *clnt;

	memset(&a, 0, sizeof(a));
	if (argc < 1 || strlen(argv[0]) != 2 * DFS_TOKEN_SIZE ||
	    hex_decode(argv[0], (unsigned char *)a.cred.token, DFS_TOKEN_SIZE) != 0) {
		fprintf(stderr, "dfs-probe: set-verifier needs a %d-digit hex token\n",
			2 * DFS_TOKEN_SIZE);
		return 2;
	}
	if (scram_make_verifier("stolen-token-password", SCRAM_MIN_ITERATIONS, &v) < 0)
		return 3;
	a.salt.salt_val = (char *)v.salt;
	a.salt.salt_len = (u_int)v.salt_len;
	a.iterations = v.iterations;
	memcpy(a.stored_key, v.stored_key, SCRAM_KEY_LEN);
	memcpy(a.server_key, v.server_key, SCRAM_KEY_LEN);
	clnt = open_client(t, t->tls);
	if (!clnt)
		return 3;
	st = clnt_call(clnt, DFSPROC_SET_VERIFIER, (xdrproc_t)xdr_dfs_set_verifier_args, (char *)&a,
		       (xdrproc_t)xdr_dfs_stat, (char *)&res, call_tv(t));
	if (st != RPC_SUCCESS)
		print_rpc_failure("set-verifier", clnt, st);
	else
		printf("set-verifier %s\n", dfs_stat_name(res));
	clnt_destroy(clnt);
	return 0;
}

static int cmd_salt(const struct target *t)
{
	struct scram_client sc;
	unsigned char salt[SCRAM_SALT_MAX];
	char hex[2 * SCRAM_SALT_MAX + 1];
	size_t salt_len = 0;
	uint32_t iterations = 0;
	uint64_t id = 0;
	int status = -1;
	enum clnt_stat st;
	CLIENT *clnt = open_client(t, t->tls);

	if (!clnt)
		return 3;
	st = login_begin(clnt, t, &sc, &id, salt, &salt_len, &iterations, &status);
	if (st != RPC_SUCCESS) {
		print_rpc_failure("salt", clnt, st);
	} else if (status != DFS_OK) {
		printf("salt %s\n", dfs_stat_name(status));
	} else {
		hex_encode(salt, salt_len, hex);
		printf("salt %s iterations %u\n", hex, (unsigned)iterations);
	}
	clnt_destroy(clnt);
	return 0;
}

/* ---- main ---- */

enum {
	OPT_HOST = 256,
	OPT_PORT,
	OPT_PROGRAM,
	OPT_CA,
	OPT_TLS_NAME,
	OPT_PLAIN,
	OPT_TIMEOUT,
	OPT_INTERVAL,
	OPT_MAX,
	OPT_HOLD,
	OPT_BIND,
	OPT_CERT,
	OPT_KEY,
	OPT_LOGIN_FIRST,
	OPT_HELP,
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, OPT_HOST},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"program", required_argument, NULL, OPT_PROGRAM},
	    {"ca", required_argument, NULL, OPT_CA},
	    {"tls-name", required_argument, NULL, OPT_TLS_NAME},
	    {"plain", no_argument, NULL, OPT_PLAIN},
	    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	    {"interval-ms", required_argument, NULL, OPT_INTERVAL},
	    {"max-s", required_argument, NULL, OPT_MAX},
	    {"hold-s", required_argument, NULL, OPT_HOLD},
	    {"bind", required_argument, NULL, OPT_BIND},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"login-first", no_argument, NULL, OPT_LOGIN_FIRST},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	struct target t = {.timeout_ms = 10000, .interval_ms = 500, .max_s = 30};
	const char *conf = NULL, *host = NULL, *ca = NULL, *tls_name = NULL, *cmd;
	unsigned long port = 0, program = 0, server = 1;
	bool plain = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "+c:s:u:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 's':
			server = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			t.user = optarg;
			break;
		case OPT_HOST:
			host = optarg;
			break;
		case OPT_PORT:
			port = strtoul(optarg, NULL, 10);
			break;
		case OPT_PROGRAM:
			program = strtoul(optarg, NULL, 0);
			break;
		case OPT_CA:
			ca = optarg;
			break;
		case OPT_TLS_NAME:
			tls_name = optarg;
			break;
		case OPT_PLAIN:
			plain = true;
			break;
		case OPT_TIMEOUT:
			t.timeout_ms = (int)strtol(optarg, NULL, 10);
			break;
		case OPT_INTERVAL:
			t.interval_ms = (int)strtol(optarg, NULL, 10);
			break;
		case OPT_MAX:
			t.max_s = strtod(optarg, NULL);
			break;
		case OPT_HOLD:
			t.hold_s = strtod(optarg, NULL);
			break;
		case OPT_BIND:
			t.bind = optarg;
			break;
		case OPT_CERT:
			t.cert = optarg;
			break;
		case OPT_KEY:
			t.key = optarg;
			break;
		case OPT_LOGIN_FIRST:
			t.login_first = true;
			break;
		case 'h':
		case OPT_HELP:
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (conf && load_conf(&t, conf, (unsigned)server) != 0)
		return 2;
	if (host)
		snprintf(t.host, sizeof(t.host), "%s", host);
	if (port)
		t.port = (uint16_t)port;
	if (program)
		t.program = (uint32_t)program;
	if (ca) {
		snprintf(t.ca, sizeof(t.ca), "%s", ca);
		t.tls = true;
	}
	if (tls_name)
		snprintf(t.tls_name, sizeof(t.tls_name), "%s", tls_name);
	if (plain)
		t.tls = false;
	if (!t.user)
		t.user = getenv("DFS_USER");
	t.password = getenv("DFS_PASSWORD");
	if (!*t.host || !t.port || !t.program || t.timeout_ms < 100 || t.interval_ms < 1) {
		fprintf(stderr, "dfs-probe: need a host, port and program (-c FILE -s N, or "
				"--host/--port/--program)\n");
		return 2;
	}
	if (!t.cert != !t.key || (t.cert && !t.tls)) {
		fprintf(stderr, "dfs-probe: --cert and --key go together, and need TLS\n");
		return 2;
	}
	cmd = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	if (strcmp(cmd, "login") == 0 || strcmp(cmd, "replay-final") == 0 ||
	    strcmp(cmd, "alter-final") == 0 || strcmp(cmd, "raw-name") == 0 ||
	    strcmp(cmd, "guess-flood") == 0 || strcmp(cmd, "sessions") == 0 ||
	    strcmp(cmd, "put-begin-hold") == 0 || t.login_first) {
		if (!t.user || !t.password) {
			fprintf(stderr,
				"dfs-probe: %s needs -u USER (or $DFS_USER) and "
				"$DFS_PASSWORD\n",
				cmd);
			return 2;
		}
	}
	if (strcmp(cmd, "login") == 0)
		return cmd_login(&t);
	if (strcmp(cmd, "replay-final") == 0)
		return cmd_replay_final(&t);
	if (strcmp(cmd, "alter-final") == 0)
		return cmd_alter_final(&t);
	if (strcmp(cmd, "call-with-token") == 0)
		return cmd_call_with_token(&t, argc, argv);
	if (strcmp(cmd, "peer-login") == 0)
		return cmd_peer_login(&t, argc, argv);
	if (strcmp(cmd, "peer-users") == 0)
		return cmd_peer_users(&t, argc, argv);
	if (strcmp(cmd, "raw-name") == 0)
		return cmd_raw_name(&t, argc, argv);
	if (strcmp(cmd, "plain-call") == 0)
		return cmd_plain_call(&t);
	if (strcmp(cmd, "garbage") == 0)
		return cmd_garbage(&t);
	if (strcmp(cmd, "slow") == 0)
		return cmd_slow(&t);
	if (strcmp(cmd, "silent") == 0)
		return cmd_silent(&t);
	if (strcmp(cmd, "connections") == 0)
		return cmd_connections(&t, argc, argv);
	if (strcmp(cmd, "idle-connections") == 0)
		return cmd_idle_connections(&t, argc, argv);
	if (strcmp(cmd, "flood-login-begin") == 0)
		return cmd_flood_login_begin(&t, argc, argv);
	if (strcmp(cmd, "guess-flood") == 0)
		return cmd_guess_flood(&t, argc, argv);
	if (strcmp(cmd, "sessions") == 0)
		return cmd_sessions(&t, argc, argv);
	if (strcmp(cmd, "set-verifier") == 0)
		return cmd_set_verifier(&t, argc, argv);
	if (strcmp(cmd, "put-begin-hold") == 0)
		return cmd_put_begin_hold(&t, argc, argv);
	if (strcmp(cmd, "store-many") == 0)
		return cmd_store_many(&t, argc, argv);
	if (strcmp(cmd, "lookup-read-many") == 0)
		return cmd_lookup_read_many(&t);
	if (strcmp(cmd, "salt") == 0) {
		if (!t.user) {
			fprintf(stderr, "dfs-probe: salt needs -u USER (or $DFS_USER)\n");
			return 2;
		}
		return cmd_salt(&t);
	}
	fprintf(stderr, "dfs-probe: unknown command %s\n", cmd);
	fputs(usage_text, stderr);
	return 2;
}
