/* cmd_locate.c: dfs locate NAME: which chunks of a file each server holds. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void print_json(const struct dfs_placement *p)
{
	fputs("[", stdout);
	for (size_t i = 0; i < p->count; i++) {
		const struct dfs_location *l = p->servers[i];

		printf("%s\n  {\"server\": %u, \"chunks\": [%u, %u], \"up\": %s, \"held\": ",
		       i ? "," : "", l->server, l->first, l->second, l->up ? "true" : "false");
		if (l->held < 0)
			fputs("null}", stdout);
		else
			printf("[%s%s%s]}", l->held & 1 ? "true" : "false", ", ",
			       l->held & 2 ? "true" : "false");
	}
	fputs(p->count ? "\n]\n" : "]\n", stdout);
}

static int locate_main(struct cli *cli, int argc, char **argv)
{
	struct dfs_placement *placement = NULL;
	char **ops = NULL;
	char what[64 + DFS_NAME_MAX_BYTES];
	int nops = 0, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_locate, argc, argv, NULL, NULL, &ops, &nops);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops != 1) {
		status = cli_usage_error(&cli_cmd_locate,
					 nops ? "takes a single NAME" : "no NAME given");
		goto out;
	}
	snprintf(what, sizeof(what), "locate %s", ops[0]);
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
	rc = dfs_locate(cli->client, ops[0], &placement);
	if (rc < 0) {
		cli_error(cli, "%s: %s", what, cli_reason(cli, rc));
		status = cli_exit_for(rc);
		goto out;
	}
	if (cli->json) {
		print_json(placement);
		goto out;
	}
	for (size_t i = 0; i < placement->count; i++) {
		const struct dfs_location *l = placement->servers[i];
		const char *mark = "";

		if (!l->up)
			mark = " (down)";
		else if (l->held >= 0 && (l->held & 3) != 3)
			mark = " (missing copy)";
		printf("DFS%u %u,%u%s\n", l->server, l->first, l->second, mark);
	}
out:
	dfs_placement_free(placement);
	cli_close(cli);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_locate = {
    .name = "locate",
    .summary = "show which chunks each server holds",
    .usage = "NAME",
    .help = "Print one line per server, 'DFS<s> <a>,<b>': the chunk pair server s holds\n"
	    "for NAME by the placement table. ' (down)' follows for a server that did\n"
	    "not answer, ' (missing copy)' for one that answered without holding both\n"
	    "chunks ('dfs repair NAME' brings them back).\n"
	    "\n"
	    "Options:\n"
	    "  --json    a JSON array: server, chunks, up, held (per chunk, null if down)",
    .run = locate_main,
};
