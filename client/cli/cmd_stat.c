/* cmd_stat.c: dfs stat NAME: a file's version, size, times, digest and every chunk copy. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *state_word(enum dfs_copy_state s)
{
	switch (s) {
	case DFS_COPY_GOOD:
		return "good";
	case DFS_COPY_MISSING:
		return "missing";
	case DFS_COPY_STALE:
		return "stale";
	case DFS_COPY_CORRUPT:
		return "corrupt";
	default:
		return "down";
	}
}

/* "good (verified TIME)", "good (unverified)" or the state's word. */
static const char *copy_words(const struct dfs_copy *c, char *buf, size_t len)
{
	char when[64];

	if (c->state != DFS_COPY_GOOD)
		return state_word(c->state);
	if (c->verified_ns > 0)
		snprintf(buf, len, "good (verified %s)",
			 cli_iso_time(c->verified_ns, when, sizeof(when)));
	else
		snprintf(buf, len, "good (unverified)");
	return buf;
}

static void print_json(const struct dfs_file_stat *st)
{
	char when[64];

	fputs("{\"name\": ", stdout);
	cli_json_string(stdout, st->name);
	printf(", \"size\": %llu, \"version\": %llu, \"mtime\": \"%s\", \"mtime_ns\": %lld, "
	       "\"digest\": \"%016llx\", \"readable\": %s, \"row\": %u, \"chunks\": [",
	       (unsigned long long)st->size, (unsigned long long)st->version,
	       cli_iso_time(st->mtime_ns, when, sizeof(when)), (long long)st->mtime_ns,
	       (unsigned long long)st->digest, st->readable ? "true" : "false", st->row);
	for (unsigned k = 0; k < st->nchunks; k++) {
		const struct dfs_chunk_state *c = st->chunks[k];

		printf("%s\n  {\"chunk\": %u, \"offset\": %llu, \"size\": %llu, \"checksum\": "
		       "\"%016llx\", \"copies\": [",
		       k ? "," : "", c->index, (unsigned long long)c->offset,
		       (unsigned long long)c->size, (unsigned long long)c->checksum);
		for (int i = 0; i < 2; i++)
			printf("%s{\"server\": %u, \"state\": \"%s\", \"server_version\": %llu, "
			       "\"verified_ns\": %lld}",
			       i ? ", " : "", c->copies[i]->server, state_word(c->copies[i]->state),
			       (unsigned long long)c->copies[i]->version,
			       (long long)c->copies[i]->verified_ns);
		fputs("]}", stdout);
	}
	fputs(st->nchunks ? "\n]}\n" : "]}\n", stdout);
}

static void print_text(const struct dfs_file_stat *st)
{
	char when[64], human[32], a[96], b[96];

	fputs("name      ", stdout);
	cli_print_name(stdout, st->name);
	putchar('\n');
	printf("size      %llu (%s)\n", (unsigned long long)st->size,
	       cli_human_bytes(st->size, human, sizeof(human)));
	printf("version   %llu\n", (unsigned long long)st->version);
	printf("modified  %s (%lld.%09lld)\n", cli_iso_time(st->mtime_ns, when, sizeof(when)),
	       (long long)(st->mtime_ns / 1000000000), (long long)(st->mtime_ns % 1000000000));
	printf("digest    xxh3:%016llx\n", (unsigned long long)st->digest);
	printf("readable  %s\n", st->readable ? "yes" : "no (some chunk has no good copy)");
	printf("chunk  offset      size        checksum          copies\n");
	for (unsigned k = 0; k < st->nchunks; k++) {
		const struct dfs_chunk_state *c = st->chunks[k];

		printf("%-6u %-11llu %-11llu %016llx  DFS%u %s, DFS%u %s\n", c->index,
		       (unsigned long long)c->offset, (unsigned long long)c->size,
		       (unsigned long long)c->checksum, c->copies[0]->server,
		       copy_words(c->copies[0], a, sizeof(a)), c->copies[1]->server,
		       copy_words(c->copies[1], b, sizeof(b)));
	}
}

static int stat_main(struct cli *cli, int argc, char **argv)
{
	struct dfs_file_stat *st = NULL;
	char **ops = NULL;
	char what[64 + DFS_NAME_MAX_BYTES];
	int nops = 0, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_stat, argc, argv, NULL, NULL, &ops, &nops);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops != 1) {
		status =
		    cli_usage_error(&cli_cmd_stat, nops ? "takes a single NAME" : "no NAME given");
		goto out;
	}
	snprintf(what, sizeof(what), "stat %s", ops[0]);
	if (cli_check_name(cli, what, ops[0]) < 0) {
		status = CLI_EXIT_FAIL;
		goto out;
	}
	cli->mute_server_down = true;
	rc = cli_open(cli, false);
	if (rc) {
		status = rc;
		goto out;
	}
	rc = dfs_stat_file(cli->client, ops[0], &st);
	if (rc < 0) {
		cli_error(cli, "%s: %s", what, cli_reason(cli, rc));
		status = cli_exit_for(rc);
		goto out;
	}
	if (cli->json)
		print_json(st);
	else
		print_text(st);
out:
	dfs_file_stat_free(st);
	cli_close(cli);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_stat = {
    .name = "stat",
    .summary = "show a file's version, checksum and every chunk copy",
    .usage = "NAME",
    .help = "Print the size, version, modification time and whole-file digest (XXH3-64\n"
	    "over the chunk checksums) of NAME as a get would read it, then one line per\n"
	    "chunk: its offset, size, checksum and the state of its copy on each of its\n"
	    "two servers: good (holds this version; 'verified TIME' when its server last\n"
	    "re-read it and found it whole, 'unverified' if it never did), corrupt\n"
	    "(its server's last verification found it bad; set aside until repaired),\n"
	    "missing (answered without it), stale (holds only another version) or down\n"
	    "(did not answer). Servers verify their copies by their own scrub; 'dfs\n"
	    "scrub NAME' re-reads the bytes now.\n"
	    "\n"
	    "Options:\n"
	    "  --json    one JSON object: name, size, version, mtime, mtime_ns, digest,\n"
	    "            readable, row, chunks (chunk, offset, size, checksum, copies:\n"
	    "            server, state, server_version, verified_ns (0: never))",
    .run = stat_main,
};
