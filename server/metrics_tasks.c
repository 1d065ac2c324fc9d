/* metrics_tasks.c: the metrics of the tasks a dfsd runs by itself: its scrub
 * and its recovery from the other servers. */
#include "heal.h"
#include "metrics.h"
#include "scrub.h"
#include "server.h"

static void render_scrub(FILE *f, struct scrub *sc)
{
	struct scrub_progress p;

	scrub_progress(sc, &p);
	metrics_gauge(f, "dfs_scrub_running", "1 while a scrub pass is under way.", p.running);
	metrics_counter(f, "dfs_scrub_passes_total", "Scrub passes finished in this data folder.",
			p.passes);
	metrics_gauge(f, "dfs_scrub_pass_start_time_seconds",
		      "When the current (or last) scrub pass began, in seconds since the epoch.",
		      p.pass_started_ns > 0 ? (uint64_t)(p.pass_started_ns / 1000000000) : 0);
	metrics_gauge(f, "dfs_scrub_last_end_time_seconds",
		      "When the last scrub pass ended, in seconds since the epoch; 0: never.",
		      p.last_end_ns > 0 ? (uint64_t)(p.last_end_ns / 1000000000) : 0);
	metrics_gauge(f, "dfs_scrub_pass_copies_done", "Chunk copies verified in the current pass.",
		      p.items_done);
	metrics_gauge(f, "dfs_scrub_pass_copies_remaining",
		      "Chunk copies left to verify in the current pass (estimated).",
		      p.running && p.items_total > p.items_done ? p.items_total - p.items_done : 0);
	metrics_gauge(f, "dfs_scrub_pass_bytes_done", "Bytes verified in the current pass.",
		      p.bytes_done);
	metrics_gauge(f, "dfs_scrub_pass_bytes_remaining",
		      "Bytes left to verify in the current pass (estimated).",
		      p.running && p.bytes_total > p.bytes_done ? p.bytes_total - p.bytes_done : 0);
	metrics_counter(f, "dfs_scrub_corrupt_copies_total",
			"Chunk copies the scrub found corrupt since this dfsd started.", p.corrupt);
	metrics_gauge(f, "dfs_scrub_quarantined_copies",
		      "Corrupt chunk copies kept aside in the data folder's quarantine.",
		      p.quarantined);
}

static void render_heal(FILE *f, struct heal *h)
{
	struct heal_progress p;

	heal_progress(h, &p);
	metrics_gauge(f, "dfs_recovery_running",
		      "1 while a recovery pass (from the other servers) is under way.", p.running);
	metrics_counter(f, "dfs_recovery_passes_total",
			"Recovery passes finished since this dfsd started.", p.passes);
	metrics_gauge(f, "dfs_recovery_pass_start_time_seconds",
		      "When the current (or last) recovery pass began, in seconds since the epoch.",
		      p.pass_started_ns > 0 ? (uint64_t)(p.pass_started_ns / 1000000000) : 0);
	metrics_gauge(f, "dfs_recovery_last_end_time_seconds",
		      "When the last recovery pass ended, in seconds since the epoch; 0: never.",
		      p.last_end_ns > 0 ? (uint64_t)(p.last_end_ns / 1000000000) : 0);
	metrics_gauge(f, "dfs_recovery_pass_users_done",
		      "Users done in the current (or last) pass.", p.users_done);
	metrics_gauge(f, "dfs_recovery_pass_users_remaining", "Users left in the current pass.",
		      p.running && p.users_total > p.users_done ? p.users_total - p.users_done : 0);
	metrics_gauge(f, "dfs_recovery_pass_files_done",
		      "Files the servers disagreed on, looked at in the current (or last) pass.",
		      p.files_done);
	metrics_gauge(f, "dfs_recovery_pass_bytes_done",
		      "Chunk bytes copied here in the current (or last) pass.", p.bytes_done);
	metrics_counter(f, "dfs_recovery_copies_rewritten_total",
			"Chunk copies recovery wrote here since this dfsd started.",
			p.copies_total);
	metrics_counter(f, "dfs_recovery_bytes_total",
			"Chunk bytes recovery wrote here since this dfsd started.", p.bytes_total);
	metrics_counter(f, "dfs_recovery_errors_total",
			"Chunk copies recovery could not make good since this dfsd started.",
			p.errors);
	metrics_gauge(f, "dfs_recovery_incomplete",
		      "1 if the last pass left work for a retry (a server was unreachable).",
		      p.incomplete);
}

void metrics_render_tasks(FILE *f, struct server *srv)
{
	if (srv->scrub)
		render_scrub(f, srv->scrub);
	if (srv->heal)
		render_heal(f, srv->heal);
}
