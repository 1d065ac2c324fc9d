/* cmd_scrub.c: dfs scrub [NAME]: have every server verify its copies; rewrite corrupt ones. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static int scrub_main(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	char **ops = NULL;
	char what[64 + DFS_NAME_MAX_BYTES];
	unsigned corrupt = 0;
	int nops = 0, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_scrub, argc, argv, NULL, NULL, &ops, &nops);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops > 1) {
		status = cli_usage_error(&cli_cmd_scrub, "give at most one NAME");
		goto out;
	}
	if (nops == 1) {
		name = ops[0];
		snprintf(what, sizeof(what), "scrub %s", name);
		if (cli_check_name(cli, what, name) < 0) {
			status = CLI_EXIT_FAIL;
			goto out;
		}
	} else {
		snprintf(what, sizeof(what), "scrub");
	}
	rc = cli_open(cli, false);
	if (rc) {
		status = rc;
		goto out;
	}
	rc = dfs_scrub(cli->client, name, &corrupt);
	if (rc < 0) {
		cli_error(cli, "%s: %s", what, cli_reason(cli, rc));
		status = cli_exit_for(rc);
		goto out;
	}
	if (cli->json)
		printf("{\"corrupt\": %u, \"repaired\": %d}\n", corrupt, rc);
	else if (!cli->quiet)
		printf("found %u corrupt %s, repaired %d\n", corrupt,
		       corrupt == 1 ? "copy" : "copies", rc);
	/* Corruption that could not be rewritten is a failure worth an exit status. */
	if ((int)corrupt > rc)
		status = CLI_EXIT_FAIL;
out:
	cli_close(cli);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_scrub = {
    .name = "scrub",
    .summary = "verify every stored copy",
    .usage = "[NAME]",
    .help = "Have every server re-read its copies of NAME (of every file without NAME)\n"
	    "and check them against their checksums. Corrupt copies are rewritten from a\n"
	    "good one. Prints 'found N corrupt copies, repaired M'; exits 1 if some\n"
	    "corrupt copy could not be repaired.\n"
	    "\n"
	    "Options:\n"
	    "  --json    print {\"corrupt\": N, \"repaired\": M}",
    .run = scrub_main,
};
