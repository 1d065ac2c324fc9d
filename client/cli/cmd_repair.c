/* cmd_repair.c: dfs repair [NAME | --all]: bring copies back to two per chunk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

struct repair_opts {
	bool all;
};

static const struct option repair_longopts[] = {
    {"all", no_argument, NULL, CLI_OPT_ALL},
    {NULL, 0, NULL, 0},
};

static int repair_option(struct cli *cli, void *ctx, int opt, const char *arg)
{
	struct repair_opts *o = ctx;

	(void)cli;
	(void)arg;
	if (opt != CLI_OPT_ALL)
		return cli_usage_error(&cli_cmd_repair, "unexpected option");
	o->all = true;
	return 0;
}

/* "repaired N copies", with what was corrupt or could not be made good. */
static void print_report(const struct cli *cli, const struct dfs_repair_report *r)
{
	if (cli->json) {
		cli_json_repair_report(r);
		return;
	}
	if (cli->quiet)
		return;
	printf("repaired %u %s", r->rewritten, r->rewritten == 1 ? "copy" : "copies");
	if (r->corrupt)
		printf("; found %u corrupt", r->corrupt);
	if (r->failed)
		printf("; %u could not be made good", r->failed);
	printf("\n");
}

static int repair_main(struct cli *cli, int argc, char **argv)
{
	struct repair_opts o = {0};
	struct dfs_repair_report *r = NULL;
	const char *name = NULL;
	char **ops = NULL;
	char what[64 + DFS_NAME_MAX_BYTES];
	int nops = 0, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_repair, argc, argv, repair_option, &o, &ops, &nops);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops > 1 || (nops == 1 && o.all)) {
		status = cli_usage_error(&cli_cmd_repair, "give a single NAME or --all");
		goto out;
	}
	if (nops == 1) {
		name = ops[0];
		snprintf(what, sizeof(what), "repair %s", name);
		if (cli_check_name(cli, what, name) < 0) {
			status = CLI_EXIT_FAIL;
			goto out;
		}
	} else {
		snprintf(what, sizeof(what), "repair");
	}
	rc = cli_open(cli, false);
	if (rc) {
		status = rc;
		goto out;
	}
	rc = dfs_repair(cli->client, name, &r);
	cli_progress_done(cli);
	if (rc < 0 && rc != -EIO) {
		cli_error(cli, "%s: %s", what, cli_reason(cli, rc));
		status = cli_exit_for(rc);
		goto out;
	}
	if (r)
		print_report(cli, r);
	/* Copies that could not be made good are named by the warnings above. */
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

const struct cli_command cli_cmd_repair = {
    .name = "repair",
    .summary = "restore missing copies",
    .usage = "[NAME | --all]",
    .help = "Bring every chunk of NAME (of every file with --all or without NAME) back\n"
	    "to two good current copies: every server re-reads its copies, and missing,\n"
	    "stale or corrupt ones are rewritten from a good one; deletes reach servers\n"
	    "that missed them. Prints what it checked and did; exits non-zero, naming\n"
	    "them, when some copies could not be made good.\n"
	    "\n"
	    "Options:\n"
	    "  --all     repair every file\n"
	    "  --json    print {\"files\", \"verified\", \"corrupt\", \"repaired\", \"failed\"}",
    .longopts = repair_longopts,
    .run = repair_main,
};
