/* cmd_delete.c: dfs delete NAME...: remove files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void delete_report(struct cli *cli, const struct cli_item *item, const char *error)
{
	cli_json_result(cli, NULL, item->name, error);
}

static int delete_main(struct cli *cli, int argc, char **argv)
{
	char **names = NULL;
	struct cli_item *items = NULL;
	int n = 0, i, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_delete, argc, argv, NULL, NULL, &names, &n);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (n == 0) {
		status = cli_usage_error(&cli_cmd_delete, "no NAME given");
		goto out;
	}
	items = calloc((size_t)n, sizeof(*items));
	if (!items) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++)
		items[i] = (struct cli_item){.operand = names[i], .name = names[i]};
	if (!cli_items_open(cli, "delete", items, n, delete_report, &status))
		goto out;
	for (i = 0; i < n; i++) {
		if (!items[i].ok)
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
	free(items);
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
