/* cmd_scrub.c: dfs scrub [NAME]: have every server verify its copies; rewrite corrupt ones. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

/* "found N corrupt copies, repaired M", with what could not be made good. */
static void print_report(const struct cli *cli, const struct dfs_repair_report *r)
{
	if (cli->json) {
		cli_json_repair_report(r);
		return;
	}
	if (cli->quiet)
		return;
	printf("checked %u %s in %u %s: found %u corrupt, repaired %u", r->verified,
	       r->verified == 1 ? "copy" : "copies", r->files, r->files == 1 ? "file" : "files",
	       r->corrupt, r->rewritten);
	if (r->failed)
		printf("; %u could not be made good", r->failed);
	printf("\n");
}

static int scrub_main(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	char **ops = NULL;
	char what[64 + DFS_NAME_MAX_BYTES];
	struct dfs_repair_report *r = NULL;
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
	rc = dfs_scrub(cli->client, name, &r);
	if (rc < 0 && rc != -EIO) {
		cli_error(cli, "%s: %s", what, cli_reason(cli, rc));
		status = cli_exit_for(rc);
		goto out;
	}
	if (r)
		print_report(cli, r);
	if (rc == -EIO) {
		cli_error(cli, "%s: %s", what, cli_reason(cli, rc));
		status = CLI_EXIT_FAIL;
	}
out:
	dfs_repair_report_free(r);
	cli_close(cli);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_scrub = {
    .name = "scrub",
    .summary = "verify every stored copy",
    .usage = "[NAME]",
    .help = "Have every server re-read its copies of NAME (of every file without NAME)\n"
	    "and check them against their checksums. Corrupt, missing or stale copies are\n"
	    "rewritten from a good one. Prints 'checked N copies in F files: found C\n"
	    "corrupt, repaired M'; exits 1, naming them, if some copies could not be made\n"
	    "good (no good copy left, a server down or failing).\n"
	    "\n"
	    "Options:\n"
	    "  --json    print {\"files\", \"verified\", \"corrupt\", \"repaired\", \"failed\"}",
    .run = scrub_main,
};
