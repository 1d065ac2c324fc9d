/* server.h: one dfsd's configuration and shared state, passed explicitly. */
#ifndef DFS_SERVER_H
#define DFS_SERVER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <openssl/ssl.h>
#include "log.h"
#include "rpcstream.h"

struct store;
struct user_db;
struct sessions;
struct metrics;
struct scrub;
struct heal;

struct server_config {
	unsigned id;		     /* server number, 1..DFS_SERVERS_MAX */
	char listen[64];	     /* address to bind; default 0.0.0.0 */
	uint16_t port;		     /* 0: any free port */
	uint32_t program;	     /* RPC program number registered with rpcbind */
	char data[PATH_MAX];	     /* data folder */
	bool upgrade_data;	     /* --upgrade-data: convert the data folder and exit */
	char users[PATH_MAX];	     /* LMDB user database file */
	enum rpcstream_tls_mode tls; /* default required */
	char cert[PATH_MAX];	     /* PEM certificate chain */
	char key[PATH_MAX];	     /* PEM private key */
	enum log_level log_level;
	unsigned idle_timeout_s;	      /* default 300 */
	unsigned request_timeout_s;	      /* default 60 */
	unsigned max_connections;	      /* default 256 */
	unsigned max_connections_per_address; /* default 64 */
	unsigned session_ttl_s;		      /* default 43200 */
	unsigned tombstone_ttl_s;	      /* default 30 days */
	unsigned previous_ttl_s;	/* default 600: a superseded version is kept this long */
	unsigned housekeep_interval_s;	/* default 600 */
	unsigned max_clock_skew_s;	/* default 7 days: versions further ahead are refused */
	unsigned login_timeout_s;	/* default 10: a new connection's TLS handshake and login */
	unsigned max_sessions_per_user; /* default 64: a new session ends the user's oldest */
	char metrics_listen[128];	/* HOST:PORT of the Prometheus metrics; empty: off */
	unsigned scrub_interval_s;	/* default 7 days between scrub passes; 0: none */
	unsigned scrub_rate_mb_s;	/* default 64 MB/s read by the scrub; 0: no limit */
	char peers[PATH_MAX];		/* client configuration naming every server; empty: */
					/* no recovery from the neighbours */
	char peer_ca[PATH_MAX];		/* the CA of the servers' certificates (the peers file's) */
	unsigned peer_count;		/* servers the peers file names (0: no peers file) */
	unsigned heal_interval_s;	/* default 3600 between recovery passes; 0: at start only */
	unsigned heal_rate_mb_s;	/* default 0: copies as fast as the cluster allows */
	unsigned inline_max;		/* chunks up to this size go in the records database */
};

struct server {
	struct server_config cfg;
	struct store *store;
	struct user_db *users;
	struct sessions *sessions;
	SSL_CTX *tls; /* NULL when cfg.tls is off */
	time_t started;
	atomic_uint_fast64_t bytes_read, bytes_written, reads;
	atomic_uint_fast64_t listed;	   /* records sent by LIST and LIST_NAMES */
	struct metrics *metrics;	   /* NULL when metrics_listen is empty */
	struct scrub *scrub;		   /* the scrub thread (scrub.h), once started */
	struct heal *heal;		   /* the recovery thread (heal.h), or NULL */
	atomic_uint_fast64_t client_calls; /* calls on users' own sessions: recovery yields */
	/* Bit s-1: a record committed here since start names server s as lacking a
	 * version; recovery tells s (PEER_NUDGE) and clears the bit. */
	atomic_uint_fast64_t lacking_seen;
};

/* One client connection, owned by its thread. */
struct conn {
	struct server *srv;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char peer_text[64];	     /* "127.0.0.1:51234", for logs */
	struct upload_slot *uploads; /* chunk uploads open on this connection */
	void *block_buf;	     /* page-aligned, DFS_BLOCK_MAX bytes, or NULL */
	void *reply_buf;	     /* block_buf, lent to the current READ for its reply */
	bool tls;		     /* the current call arrived inside TLS */
	SSL *ssl;		     /* the TLS connection of the current call, or NULL */
	bool peer_known;	     /* peer_server was read from ssl */
	unsigned peer_server;	     /* the server this connection proved to be, or 0 */
	unsigned call_peer;	     /* the server whose session the current call uses, or 0 */
	uint64_t id;		     /* unique per server run: binds a login's two calls */
	/* Set once a login succeeds or a call carries a valid session token:
	 * from then on the connection is a logged-in client's (listener.c). */
	atomic_bool authenticated;
};

/* (Re)loads cfg.cert and cfg.key into srv->tls and logs the certificate's
 * expiry. On a reload, new connections get the new context and existing ones
 * keep theirs; on failure the old context stays. 0 or -EINVAL (logged). */
int server_tls_load(struct server *srv, bool reload);
/* A reference to the current TLS context (NULL when TLS is off); release it
 * with SSL_CTX_free. */
SSL_CTX *server_tls_hold(struct server *srv);

struct store_quota;
/* The user's quota as the user database holds it now (no limit for a user
 * it does not know, or while a shared database is unreachable), so a change
 * by dfsadm applies to the next commit; none for a server's recovery
 * (PEER_LOGIN session), which copies what the cluster already accepted.
 * 0 or -errno (ops_login.c). */
int op_user_quota(struct conn *cn, const char *user, struct store_quota *out);

/* Remembers that a record stored here names these servers as lacking its
 * version (srv->lacking_seen), for recovery to tell them (ops_peer.c). */
void server_note_lacking(struct server *srv, const unsigned *servers, unsigned n);

#endif
