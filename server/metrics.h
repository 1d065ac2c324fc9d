/* metrics.h: a dfsd's Prometheus metrics: per-procedure counters and latency
 * histograms kept with atomics, and an HTTP server that renders them with the
 * store's counts in the text exposition format 0.0.4.
 *
 * Recording functions take NULL (metrics off) and never block. */
#ifndef DFS_METRICS_H
#define DFS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct server;
struct metrics;

/* Why a call was refused before any procedure ran. */
enum metrics_reject { METRICS_UNKNOWN_PROCEDURE, METRICS_UNDECODABLE, METRICS_REJECT_COUNT };

/* Allocates zeroed counters. 0 or -ENOMEM. */
int metrics_new(struct metrics **out);
/* Frees m; the HTTP server must be stopped. NULL is fine. */
void metrics_free(struct metrics *m);

/* Records a finished call of procedure proc begun at started (CLOCK_MONOTONIC):
 * res is its result, whose first member is the dfs_stat status. */
void metrics_call_done(struct metrics *m, unsigned proc, const void *res,
		       const struct timespec *started);
void metrics_call_rejected(struct metrics *m, enum metrics_reject why);
/* A client connection opened (+1) or closed (-1). */
void metrics_connection(struct metrics *m, int delta);

/* The exposition text for srv (srv->metrics may be NULL: no request counts).
 * *text is malloc'ed, *len its length. 0 or -ENOMEM. */
int metrics_render(struct server *srv, char **text, size_t *len);

/* Starts serving GET /metrics on srv->cfg.metrics_listen (HOST:PORT, or
 * [V6ADDR]:PORT) on a thread of its own; srv->metrics must be set. 0, or
 * -errno with the reason in err (bad address, address in use...). */
int metrics_start(struct server *srv, char *err, size_t errlen);
/* Stops the HTTP server, if it runs. */
void metrics_stop(struct server *srv);

/* Writes one metric, or the HELP and TYPE lines of one, in the text format. */
void metrics_header(FILE *f, const char *name, const char *type, const char *help);
void metrics_gauge(FILE *f, const char *name, const char *help, uint64_t v);
void metrics_counter(FILE *f, const char *name, const char *help, uint64_t v);
/* The metrics of the scrub and of recovery (metrics_tasks.c). */
void metrics_render_tasks(FILE *f, struct server *srv);

/* Splits "HOST:PORT" or "[V6ADDR]:PORT" into host (cap bytes) and a port
 * 1..65535. 0 or -EINVAL. */
int metrics_parse_address(const char *text, char *host, size_t cap, uint16_t *port);

#endif
