/* cmd_status.c: dfs status [--json]: which servers are up, and how they fare. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

static void print_json(struct dfs_server_info *const *s, size_t n)
{
	size_t i;

	fputs("[", stdout);
	for (i = 0; i < n; i++) {
		fprintf(stdout, "%s\n  {\"server\": %u, \"address\": ", i ? "," : "", s[i]->number);
		cli_json_string(stdout, s[i]->address);
		printf(", \"up\": %s", s[i]->up ? "true" : "false");
		if (!s[i]->up) {
			fputs(", \"error\": ", stdout);
			cli_json_string(stdout, s[i]->error);
			fputs("}", stdout);
			continue;
		}
		printf(", \"program\": %lu, \"tls\": %s, \"rtt_ms\": %.3f, \"version\": ",
		       (unsigned long)s[i]->program, s[i]->tls ? "true" : "false", s[i]->rtt_ms);
		cli_json_string(stdout, s[i]->software);
		printf(
		    ", \"space_free\": %llu, \"space_total\": %llu, \"files\": %llu, "
		    "\"chunks\": %llu, \"bytes_stored\": %llu, \"chunks_need_repair\": %llu, "
		    "\"bytes_read\": %llu, \"bytes_written\": %llu, \"reads\": %llu, "
		    "\"logical_bytes\": %llu, \"quota_bytes\": %llu, \"quota_files\": %llu",
		    (unsigned long long)s[i]->space_free, (unsigned long long)s[i]->space_total,
		    (unsigned long long)s[i]->files, (unsigned long long)s[i]->chunks,
		    (unsigned long long)s[i]->bytes_stored,
		    (unsigned long long)s[i]->chunks_need_repair,
		    (unsigned long long)s[i]->bytes_read, (unsigned long long)s[i]->bytes_written,
		    (unsigned long long)s[i]->reads, (unsigned long long)s[i]->logical_bytes,
		    (unsigned long long)s[i]->quota_bytes, (unsigned long long)s[i]->quota_files);
		if (s[i]->has_scrub)
			printf(
			    ", \"scrub\": {\"running\": %s, \"items_done\": %llu, "
			    "\"items_total\": %llu, \"bytes_done\": %llu, \"bytes_total\": %llu, "
			    "\"corrupt\": %llu, \"started\": %lld, \"last_end\": %lld}",
			    s[i]->scrub_running ? "true" : "false",
			    (unsigned long long)s[i]->scrub_items_done,
			    (unsigned long long)s[i]->scrub_items_total,
			    (unsigned long long)s[i]->scrub_bytes_done,
			    (unsigned long long)s[i]->scrub_bytes_total,
			    (unsigned long long)s[i]->scrub_corrupt,
			    (long long)s[i]->scrub_started_s, (long long)s[i]->scrub_last_end_s);
		if (s[i]->has_recovery)
			printf(", \"recovery\": {\"running\": %s, \"users_done\": %llu, "
			       "\"users_total\": %llu, \"bytes_done\": %llu, \"errors\": %llu, "
			       "\"started\": %lld, \"last_end\": %lld}",
			       s[i]->recovery_running ? "true" : "false",
			       (unsigned long long)s[i]->recovery_users_done,
			       (unsigned long long)s[i]->recovery_users_total,
			       (unsigned long long)s[i]->recovery_bytes_done,
			       (unsigned long long)s[i]->recovery_errors,
			       (long long)s[i]->recovery_started_s,
			       (long long)s[i]->recovery_last_end_s);
		fputs("}", stdout);
	}
	fputs(n ? "\n]\n" : "]\n", stdout);
}

/* " scrub running 45% corrupt 0", " scrub done 2026-12-06 10:00 UTC corrupt 0" or
 * " scrub never corrupt 0": where the server's own scrub stands. */
static void print_scrub(const struct dfs_server_info *s)
{
	char when[32] = "";
	time_t t = (time_t)s->scrub_last_end_s;
	struct tm tm;

	if (!s->has_scrub)
		return;
	if (s->scrub_running) {
		uint64_t total = s->scrub_bytes_total ? s->scrub_bytes_total : 1;
		uint64_t pct =
		    s->scrub_bytes_done >= total ? 100 : s->scrub_bytes_done * 100 / total;

		printf(" scrub running %llu%%", (unsigned long long)pct);
	} else if (t > 0 && gmtime_r(&t, &tm)) {
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		printf(" scrub done %s", when);
	} else {
		printf(" scrub never");
	}
	printf(" corrupt %llu", (unsigned long long)s->scrub_corrupt);
}

/* " recovery running 3/10 users 12.0 MiB copied", " recovery done 2026-12-06 10:00 UTC"
 * or " recovery pending": where the server's recovery from the others stands. */
static void print_recovery(const struct dfs_server_info *s)
{
	char when[32] = "", bytes[32];
	time_t t = (time_t)s->recovery_last_end_s;
	struct tm tm;

	if (!s->has_recovery)
		return;
	if (s->recovery_running)
		printf(" recovery running %llu/%llu users %s copied",
		       (unsigned long long)s->recovery_users_done,
		       (unsigned long long)s->recovery_users_total,
		       cli_human_bytes(s->recovery_bytes_done, bytes, sizeof(bytes)));
	else if (t > 0 && gmtime_r(&t, &tm) &&
		 strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm))
		printf(" recovery done %s", when);
	else
		printf(" recovery pending");
	if (s->recovery_errors)
		printf(" recovery-errors %llu", (unsigned long long)s->recovery_errors);
}

static void print_plain(struct dfs_server_info *const *s, size_t n, int verbose)
{
	char freeb[32], totalb[32];
	size_t i;

	for (i = 0; i < n; i++) {
		printf("DFS%u %s %s", s[i]->number, s[i]->address, s[i]->up ? "up" : "down");
		if (!s[i]->up) {
			if (s[i]->error[0])
				printf(" (%s)", s[i]->error);
			putchar('\n');
			continue;
		}
		printf(" program 0x%lx tls %s rtt %.1f ms", (unsigned long)s[i]->program,
		       s[i]->tls ? "on" : "off", s[i]->rtt_ms);
		/* A server that answered but did not log us in gives no details. */
		if (!s[i]->software[0]) {
			putchar('\n');
			continue;
		}
		printf(
		    " version %s free %s of %s files %llu chunks %llu bytes %llu need-repair %llu",
		    s[i]->software, cli_human_bytes(s[i]->space_free, freeb, sizeof(freeb)),
		    cli_human_bytes(s[i]->space_total, totalb, sizeof(totalb)),
		    (unsigned long long)s[i]->files, (unsigned long long)s[i]->chunks,
		    (unsigned long long)s[i]->bytes_stored,
		    (unsigned long long)s[i]->chunks_need_repair);
		print_scrub(s[i]);
		print_recovery(s[i]);
		if (verbose)
			printf(" read %llu written %llu reads %llu",
			       (unsigned long long)s[i]->bytes_read,
			       (unsigned long long)s[i]->bytes_written,
			       (unsigned long long)s[i]->reads);
		putchar('\n');
	}
}

/* One line for the user's quota: usage as the server that counts the most
 * (each counts every file; one that missed writes counts fewer), and the
 * limit as the database holds it. Nothing when no server gave details. */
static void print_quota(struct dfs_server_info *const *s, size_t n)
{
	const struct dfs_server_info *q = NULL;
	char used[32], limit[32];

	for (size_t i = 0; i < n; i++) {
		if (!s[i]->up || !s[i]->software[0])
			continue;
		if (!q || s[i]->logical_bytes > q->logical_bytes ||
		    (s[i]->logical_bytes == q->logical_bytes && s[i]->files > q->files))
			q = s[i];
	}
	if (!q)
		return;
	printf("quota: %llu", (unsigned long long)q->logical_bytes);
	if (q->quota_bytes)
		printf(" of %llu bytes (%s of %s)", (unsigned long long)q->quota_bytes,
		       cli_human_bytes(q->logical_bytes, used, sizeof(used)),
		       cli_human_bytes(q->quota_bytes, limit, sizeof(limit)));
	else
		printf(" bytes of no limit");
	printf(", %llu", (unsigned long long)q->files);
	if (q->quota_files)
		printf(" of %llu files\n", (unsigned long long)q->quota_files);
	else
		printf(" files of no limit\n");
}

/* The cluster's health for monitoring. Every chunk lives on two neighbouring
 * servers, so files become unreadable only when two neighbours are down (or
 * every server is): that is unavailable. Any server down, or any chunk known
 * to need repair, is degraded. */
static int cluster_health(struct dfs_server_info *const *s, size_t n)
{
	size_t i, up = 0;
	int repair = 0;

	for (i = 0; i < n; i++) {
		up += s[i]->up;
		repair |= s[i]->up && s[i]->chunks_need_repair > 0;
	}
	if (up == 0)
		return CLI_EXIT_UNAVAILABLE;
	for (i = 0; n > 1 && i < n; i++)
		if (!s[i]->up && !s[(i + 1) % n]->up)
			return CLI_EXIT_UNAVAILABLE;
	if (up < n || repair)
		return CLI_EXIT_DEGRADED;
	return CLI_EXIT_OK;
}

static int status_main(struct cli *cli, int argc, char **argv)
{
	struct dfs_server_list *info = NULL;
	char **ops = NULL;
	int nops = 0, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_status, argc, argv, NULL, NULL, &ops, &nops);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops > 0) {
		status = cli_usage_error(&cli_cmd_status, "unexpected operand '%s'", ops[0]);
		goto out;
	}
	/* The table says which servers are down; no warning per server. */
	cli->mute_server_down = true;
	rc = cli_open(cli, true);
	if (rc) {
		status = rc;
		goto out;
	}
	rc = dfs_status(cli->client, &info);
	if (rc < 0) {
		cli_error(cli, "status: %s", cli_reason(cli, rc));
		status = cli_exit_for(rc);
		goto out;
	}
	if (cli->json)
		print_json(info->servers, info->count);
	else
		print_plain(info->servers, info->count, cli->verbose);
	if (!cli->json)
		print_quota(info->servers, info->count);
	status = cluster_health(info->servers, info->count);
out:
	dfs_server_list_free(info);
	cli_close(cli);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_status = {
    .name = "status",
    .summary = "show the servers",
    .usage = "[--json]",
    .help = "Print one line per configured server: DFS<n>, its address and 'up' or\n"
	    "'down'. A server that is up is followed by its RPC program number, whether\n"
	    "TLS is on, the round-trip time, its software version, free space, and the\n"
	    "files, chunks and bytes it stores and its chunks that need repair, where\n"
	    "its own scrub stands ('scrub running 45%', 'scrub done DATE' or 'scrub\n"
	    "never', and the copies it found corrupt since it started) (with -v also\n"
	    "bytes read and written); one that is down by the reason. A last\n"
	    "line 'quota: USED of LIMIT bytes, FILES of LIMIT files' gives your usage\n"
	    "(the whole sizes of your files) and the limits set by dfsadm quota.\n"
	    "\n"
	    "Exit status, for monitoring: 0 healthy (every server up, nothing to\n"
	    "repair); 3 degraded (a server down, or chunks that need repair);\n"
	    "4 unavailable (no server up, or two neighbouring servers down, so some\n"
	    "chunks have no live copy).\n"
	    "\n"
	    "Options:\n"
	    "  --json    a JSON array with one object per server",
    .run = status_main,
};
