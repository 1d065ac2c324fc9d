/* metrics.c: per-procedure counters and latency histograms, rendered for Prometheus over HTTP. */
#include "metrics.h"
#include "scrub.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "dfs_prot.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "store.h"

/* Procedure numbers of DFS_V1 are small; larger ones are not counted. */
#define PROCS_MAX 32
/* dfs_stat values are errno numbers; larger ones share the last slot. */
#define STATUS_MAX 256

#define HTTP_CONNECTIONS_MAX 16
#define HTTP_TIMEOUT_S	     10

/* Upper bounds of the latency buckets, in seconds; +Inf follows. */
static const double bucket_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				   0.05,   0.1,	    0.25,   0.5,   1,	   2.5,	  5,	10};
#define NBUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]) + 1)

struct proc_counts {
	/* Not cumulative: bucket[i] counts calls in (le[i-1], le[i]]; the last is +Inf. */
	atomic_uint_fast64_t bucket[NBUCKETS];
	atomic_uint_fast64_t sum_ns;
	atomic_uint_fast64_t status[STATUS_MAX];
};

struct metrics {
	struct proc_counts procs[PROCS_MAX];
	atomic_uint_fast64_t rejected[METRICS_REJECT_COUNT];
	atomic_uint_fast64_t verified_ok, verified_corrupt, verified_missing;
	atomic_int_fast64_t connections;
	atomic_uint_fast64_t connections_opened;
	struct MHD_Daemon *http;
};

static const char *const reject_reason[METRICS_REJECT_COUNT] = {
    [METRICS_UNKNOWN_PROCEDURE] = "unknown_procedure",
    [METRICS_UNDECODABLE] = "undecodable",
};

static const struct {
	dfs_stat stat;
	const char *name;
} stat_names[] = {
    {DFS_OK, "DFS_OK"},
    {DFS_EPERM, "DFS_EPERM"},
    {DFS_ENOENT, "DFS_ENOENT"},
    {DFS_EIO, "DFS_EIO"},
    {DFS_EAGAIN, "DFS_EAGAIN"},
    {DFS_ENOMEM, "DFS_ENOMEM"},
    {DFS_EACCES, "DFS_EACCES"},
    {DFS_EBUSY, "DFS_EBUSY"},
    {DFS_EEXIST, "DFS_EEXIST"},
    {DFS_EINVAL, "DFS_EINVAL"},
    {DFS_EFBIG, "DFS_EFBIG"},
    {DFS_ENOSPC, "DFS_ENOSPC"},
    {DFS_EROFS, "DFS_EROFS"},
    {DFS_ERANGE, "DFS_ERANGE"},
    {DFS_ENAMETOOLONG, "DFS_ENAMETOOLONG"},
    {DFS_EPROTO, "DFS_EPROTO"},
    {DFS_EBADMSG, "DFS_EBADMSG"},
    {DFS_ESTALE, "DFS_ESTALE"},
    {DFS_EKEYEXPIRED, "DFS_EKEYEXPIRED"},
    {DFS_EKEYREJECTED, "DFS_EKEYREJECTED"},
};

int metrics_new(struct metrics **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void metrics_free(struct metrics *m)
{
	free(m);
}

void metrics_call_done(struct metrics *m, unsigned proc, const void *res,
		       const struct timespec *started)
{
	struct proc_counts *pc;
	struct timespec now;
	uint64_t ns;
	unsigned status, b = 0;

	if (!m || proc >= PROCS_MAX)
		return;
	pc = &m->procs[proc];
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)(now.tv_sec - started->tv_sec) * 1000000000u +
	     (uint64_t)(now.tv_nsec - started->tv_nsec);
	while (b < NBUCKETS - 1 && (double)ns > bucket_le[b] * 1e9)
		b++;
	status = (unsigned)*(const dfs_stat *)res;
	atomic_fetch_add_explicit(&pc->status[status < STATUS_MAX ? status : STATUS_MAX - 1], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->bucket[b], 1, memory_order_relaxed);
	if (proc == DFSPROC_VERIFY && status == DFS_OK) {
		const dfs_verify_res *v = res;

		for (unsigned i = 0; i < v->dfs_verify_res_u.checks.checks_len; i++) {
			dfs_stat s = v->dfs_verify_res_u.checks.checks_val[i].status;

			atomic_fetch_add_explicit(s == DFS_OK	     ? &m->verified_ok
						  : s == DFS_EBADMSG ? &m->verified_corrupt
								     : &m->verified_missing,
						  1, memory_order_relaxed);
		}
	}
}

void metrics_call_rejected(struct metrics *m, enum metrics_reject why)
{
	if (m && why < METRICS_REJECT_COUNT)
		atomic_fetch_add_explicit(&m->rejected[why], 1, memory_order_relaxed);
}

void metrics_connection(struct metrics *m, int delta)
{
	if (!m)
		return;
	atomic_fetch_add_explicit(&m->connections, delta, memory_order_relaxed);
	if (delta > 0)
		atomic_fetch_add_explicit(&m->connections_opened, (uint64_t)delta,
					  memory_order_relaxed);
}

/* ---- rendering ---- */

void metrics_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_header(f, name, "gauge", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

void metrics_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_header(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static const char *stat_name(unsigned status, char *buf, size_t cap)
{
	for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++)
		if ((unsigned)stat_names[i].stat == status)
			return stat_names[i].name;
	snprintf(buf, cap, "DFS_STATUS_%u", status);
	return buf;
}

/* The procedure's name as the protocol spells it ("LOOKUP_READ"), or NULL if unknown. */
static const char *proc_label(unsigned proc, char *buf, size_t cap)
{
	struct dispatch_proc_info info;
	size_t i;

	if (dispatch_describe(proc, &info) < 0 || !info.name)
		return NULL;
	for (i = 0; info.name[i] && i + 1 < cap; i++)
		buf[i] = (char)toupper((unsigned char)info.name[i]);
	buf[i] = '\0';
	return buf;
}

static void render_requests(FILE *f, struct metrics *m)
{
	uint64_t counts[PROCS_MAX][NBUCKETS];
	int_fast64_t open_now;
	char name[32], sbuf[32];

	/* One snapshot of the buckets, so that the request counter, the
	 * histogram's _count and its +Inf bucket agree within a scrape. */
	for (unsigned p = 0; p < PROCS_MAX; p++)
		for (size_t b = 0; b < NBUCKETS; b++)
			counts[p][b] =
			    atomic_load_explicit(&m->procs[p].bucket[b], memory_order_relaxed);

	metrics_header(f, "dfs_requests_total", "counter", "Calls answered, by procedure.");
	for (unsigned p = 0; p < PROCS_MAX; p++) {
		uint64_t total = 0;

		if (!proc_label(p, name, sizeof(name)))
			continue;
		for (size_t b = 0; b < NBUCKETS; b++)
			total += counts[p][b];
		fprintf(f, "dfs_requests_total{proc=\"%s\"} %llu\n", name,
			(unsigned long long)total);
	}

	metrics_header(f, "dfs_request_errors_total", "counter",
		       "Calls answered with a status other than DFS_OK, by procedure and status.");
	for (unsigned p = 0; p < PROCS_MAX; p++) {
		if (!proc_label(p, name, sizeof(name)))
			continue;
		for (unsigned s = 1; s < STATUS_MAX; s++) {
			uint64_t n =
			    atomic_load_explicit(&m->procs[p].status[s], memory_order_relaxed);

			if (n)
				fprintf(f,
					"dfs_request_errors_total{proc=\"%s\",status=\"%s\"} "
					"%llu\n",
					name, stat_name(s, sbuf, sizeof(sbuf)),
					(unsigned long long)n);
		}
	}

	metrics_header(f, "dfs_request_duration_seconds", "histogram",
		       "Time from a call's dispatch to its reply being sent, by procedure.");
	for (unsigned p = 0; p < PROCS_MAX; p++) {
		uint64_t cum = 0;

		if (!proc_label(p, name, sizeof(name)))
			continue;
		for (size_t b = 0; b < NBUCKETS; b++) {
			cum += counts[p][b];
			if (b < NBUCKETS - 1)
				fprintf(
				    f,
				    "dfs_request_duration_seconds_bucket{proc=\"%s\",le=\"%g\"} "
				    "%llu\n",
				    name, bucket_le[b], (unsigned long long)cum);
			else
				fprintf(f,
					"dfs_request_duration_seconds_bucket{proc=\"%s\","
					"le=\"+Inf\"} %llu\n",
					name, (unsigned long long)cum);
		}
		fprintf(f, "dfs_request_duration_seconds_sum{proc=\"%s\"} %.9f\n", name,
			(double)atomic_load_explicit(&m->procs[p].sum_ns, memory_order_relaxed) /
			    1e9);
		fprintf(f, "dfs_request_duration_seconds_count{proc=\"%s\"} %llu\n", name,
			(unsigned long long)cum);
	}

	metrics_header(f, "dfs_requests_rejected_total", "counter",
		       "Calls refused before any procedure ran: unknown procedure or undecodable "
		       "arguments.");
	for (unsigned r = 0; r < METRICS_REJECT_COUNT; r++)
		fprintf(f, "dfs_requests_rejected_total{reason=\"%s\"} %llu\n", reject_reason[r],
			(unsigned long long)atomic_load(&m->rejected[r]));

	metrics_header(
	    f, "dfs_verified_copies_total", "counter",
	    "Chunk copies re-read for VERIFY (dfs scrub), by result: ok, corrupt (fails its "
	    "checksum) or missing.");
	fprintf(f, "dfs_verified_copies_total{result=\"ok\"} %llu\n",
		(unsigned long long)atomic_load(&m->verified_ok));
	fprintf(f, "dfs_verified_copies_total{result=\"corrupt\"} %llu\n",
		(unsigned long long)atomic_load(&m->verified_corrupt));
	fprintf(f, "dfs_verified_copies_total{result=\"missing\"} %llu\n",
		(unsigned long long)atomic_load(&m->verified_missing));

	open_now = atomic_load(&m->connections);
	metrics_gauge(f, "dfs_connections", "Client connections open now.",
		      open_now > 0 ? (uint64_t)open_now : 0);
	metrics_counter(f, "dfs_connections_opened_total", "Client connections accepted.",
			atomic_load(&m->connections_opened));
}

int metrics_render(struct server *srv, char **text, size_t *len)
{
	struct store_stats st;
	struct timespec now;
	FILE *f;
	int rc;

	*text = NULL;
	*len = 0;
	f = open_memstream(text, len);
	if (!f)
		return -ENOMEM;
	metrics_gauge(f, "dfs_up", "1 while this dfsd serves.", 1);
	metrics_header(f, "dfs_build_info", "gauge",
		       "The software version and server number; always 1.");
	fprintf(f, "dfs_build_info{version=\"%s\",server=\"%u\"} 1\n", DFS_VERSION_STRING,
		srv->cfg.id);
	metrics_gauge(f, "dfs_start_time_seconds",
		      "When this dfsd started, in seconds since the epoch.",
		      (uint64_t)srv->started);
	clock_gettime(CLOCK_REALTIME, &now);
	metrics_gauge(f, "dfs_uptime_seconds", "Seconds since this dfsd started.",
		      now.tv_sec > srv->started ? (uint64_t)(now.tv_sec - srv->started) : 0);

	rc = srv->store ? store_stats(srv->store, &st) : -ENOENT;
	if (rc == 0) {
		metrics_gauge(f, "dfs_files", "Live files this server holds chunks of.", st.files);
		metrics_gauge(f, "dfs_chunks", "Chunk copies this server holds.", st.chunks);
		metrics_gauge(f, "dfs_stored_bytes", "Bytes of the chunk copies this server holds.",
			      st.bytes);
		metrics_gauge(
		    f, "dfs_chunks_need_repair",
		    "Chunks of this server's files whose version names a server lacking them.",
		    st.chunks_need_repair);
		metrics_gauge(f, "dfs_filesystem_free_bytes",
			      "Free space of the data folder's filesystem (available to dfsd).",
			      st.space_free);
		metrics_gauge(f, "dfs_filesystem_size_bytes",
			      "Size of the data folder's filesystem.", st.space_total);
	} else {
		log_warn("metrics: cannot read the store's counts: %s", strerror(-rc));
	}
	metrics_gauge(f, "dfs_store_stats_ok",
		      "1 if the store's counts could be read for this scrape.", rc == 0);

	metrics_counter(f, "dfs_read_bytes_total", "Chunk bytes sent to clients.",
			atomic_load(&srv->bytes_read));
	metrics_counter(f, "dfs_written_bytes_total", "Chunk bytes received from clients.",
			atomic_load(&srv->bytes_written));
	metrics_counter(f, "dfs_listed_records_total", "File records sent in listings.",
			atomic_load(&srv->listed));
	if (srv->sessions)
		metrics_gauge(f, "dfs_sessions", "Live login sessions.",
			      sessions_count(srv->sessions));
	metrics_render_tasks(f, srv);
	if (srv->metrics)
		render_requests(f, srv->metrics);
	if (ferror(f)) {
		fclose(f);
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- HTTP ---- */

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;
	size_t len;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	if (strcmp(url, "/metrics") != 0)
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n");
	if (metrics_render(srv, &text, &len) < 0)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* libmicrohttpd's own messages; the format comes from the library. */
__attribute__((format(printf, 2, 0))) static void http_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_warn("metrics http: %s", msg);
}

int metrics_parse_address(const char *text, char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = text, *digits;
	size_t hlen;
	char *end;
	unsigned long v;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = text + 1;
		hlen = (size_t)(close - h);
		digits = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return -EINVAL;
		hlen = (size_t)(colon - text);
		digits = colon + 1;
	}
	if (hlen == 0 || hlen >= cap || !isdigit((unsigned char)digits[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(digits, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)v;
	return 0;
}

/* A listening TCP socket on host:port, or -errno with the reason in err. */
static int listen_on(const char *text, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char host[128], service[8];
	uint16_t port;
	int fd = -1, one = 1, rc;

	if (metrics_parse_address(text, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen,
			 "metrics_listen '%s' is not HOST:PORT (or [IPV6]:PORT, port 1..65535)",
			 text);
		return -EINVAL;
	}
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", text, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "metrics_listen %s: socket: %s", text, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot serve metrics on %s: %s", text, strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	rc = fd;
out:
	freeaddrinfo(ai);
	return rc;
}

int metrics_start(struct server *srv, char *err, size_t errlen)
{
	struct metrics *m = srv->metrics;
	sigset_t all, old;
	int fd;

	if (!m) {
		snprintf(err, errlen, "metrics: no counters");
		return -EINVAL;
	}
	fd = listen_on(srv->cfg.metrics_listen, err, errlen);
	if (fd < 0)
		return fd;
	/* Signals belong to the main thread: the HTTP thread inherits this mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	m->http = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->http) {
		close(fd);
		snprintf(err, errlen, "cannot start the metrics HTTP server on %s",
			 srv->cfg.metrics_listen);
		return -EIO;
	}
	return 0;
}

void metrics_stop(struct server *srv)
{
	if (!srv->metrics || !srv->metrics->http)
		return;
	MHD_stop_daemon(srv->metrics->http);
	srv->metrics->http = NULL;
}
