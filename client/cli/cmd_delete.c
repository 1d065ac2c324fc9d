/* cmd_delete.c: dfs delete NAME...: remove files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static int delete_main(struct cli *cli, int argc, char **argv)
{
	char **names = NULL;
	bool *ok = NULL;
	int n = 0, i, rc, status = CLI_EXIT_OK, todo = 0;

	rc = cli_parse(cli, &cli_cmd_delete, argc, argv, NULL, NULL, &names, &n);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (n == 0) {
		status = cli_usage_error(&cli_cmd_delete, "no NAME given");
		goto out;
	}
	ok = calloc((size_t)n, sizeof(*ok));
	if (!ok) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		char what[64 + DFS_NAME_MAX_BYTES];

		snprintf(what, sizeof(what), "delete %s", names[i]);
		ok[i] = cli_check_name(cli, what, names[i]) == 0;
		if (ok[i]) {
			todo++;
		} else {
			cli_json_result(cli, NULL, names[i], "invalid name");
			status = CLI_EXIT_FAIL;
		}
	}
	if (todo == 0)
		goto out;
	rc = cli_open(cli, false);
	if (rc) {
		status = rc;
		for (i = 0; i < n; i++)
			if (ok[i])
				cli_json_result(cli, NULL, names[i], "not logged in");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		rc = dfs_delete(cli->client, names[i]);
		if (rc == -ENOENT) {
			cli_error(cli, "delete %s: no such file", names[i]);
			cli_json_result(cli, NULL, names[i], "no such file");
			status = CLI_EXIT_FAIL;
		} else if (rc < 0) {
			cli_error(cli, "delete %s: %s", names[i], cli_reason(cli, rc));
			cli_json_result(cli, NULL, names[i], cli_reason(cli, rc));
			status = CLI_EXIT_FAIL;
		} else {
			cli_json_result(cli, NULL, names[i], NULL);
			if (cli->verbose && !cli->quiet && !cli->json)
				printf("deleted %s\n", names[i]);
		}
	}
out:
	if (status != CLI_EXIT_USAGE)
		cli_json_results_end(cli);
	cli_close(cli);
	free(ok);
	free(names);
	return status;
}

const struct cli_command cli_cmd_delete = {
    .name = "delete",
    .summary = "remove files",
    .usage = "NAME...",
    .help = "Remove every copy of every chunk of each NAME. Servers that are down\n"
	    "catch up when 'dfs repair' runs. The exit status is 1 if some NAME did not\n"
	    "exist on any server that answered, or could not be removed. Nothing is\n"
	    "printed on success (with -v a line per name).\n"
	    "\n"
	    "Options:\n"
	    "  --json    print a JSON array with one object per NAME: name, ok, and\n"
	    "            error when ok is false",
    .run = delete_main,
};
