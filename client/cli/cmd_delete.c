/* cmd_delete.c: dfs delete NAME... and delete -r PREFIX...: remove files. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const struct option delete_longopts[] = {
    {"recursive", no_argument, NULL, 'r'},
    {NULL, 0, NULL, 0},
};

static int delete_option(struct cli *cli, void *ctx, int opt, const char *arg)
{
	(void)cli;
	(void)arg;
	if (opt != 'r')
		return cli_usage_error(&cli_cmd_delete, "unexpected option");
	*(bool *)ctx = true;
	return 0;
}

/* The names of one delete that passed the checks: todo[i] indexes names. */
struct delete_batch {
	char **names;
	int *todo;
	int status;
};

static int delete_run(struct dfs_client *c, int i, void *arg)
{
	struct delete_batch *b = arg;

	return dfs_delete(c, b->names[b->todo[i]]);
}

static void delete_done(struct cli *cli, int i, int rc, const char *why, void *arg)
{
	struct delete_batch *b = arg;
	const char *name = b->names[b->todo[i]];

	if (rc == -ENOENT)
		why = "no such file";
	if (rc < 0) {
		cli_error(cli, "delete %s: %s", name, why);
		cli_json_result(cli, NULL, name, why);
		b->status = CLI_EXIT_FAIL;
		return;
	}
	cli_json_result(cli, NULL, name, NULL);
	if (cli->verbose && !cli->quiet && !cli->json)
		printf("deleted %s\n", name);
}

static void delete_report(struct cli *cli, const struct cli_item *item, const char *error)
{
	cli_json_result(cli, NULL, item->name, error);
}

static int delete_main(struct cli *cli, int argc, char **argv)
{
	char **names = NULL, **found = NULL;
	struct cli_item *items = NULL;
	struct delete_batch batch = {0};
	bool recursive = false;
	int n = 0, nfound = 0, ntodo = 0, i, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_delete, argc, argv, delete_option, &recursive, &names, &n);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (n == 0) {
		status = cli_usage_error(&cli_cmd_delete,
					 recursive ? "no PREFIX given" : "no NAME given");
		goto out;
	}
	items = calloc((size_t)n, sizeof(*items));
	if (!items) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (recursive)
			cli_strip_slashes(names[i]);
		items[i] = (struct cli_item){.operand = names[i], .name = names[i]};
	}
	cli->parallel_clients = cli_parallel_clients(recursive ? INT_MAX : n);
	if (!cli_items_open(cli, "delete", items, n, delete_report, &status))
		goto out;
	batch.status = status;
	if (recursive) {
		if (cli_folder_names(cli, "delete", items, n, &found, &nfound, &status) < 0)
			goto out;
		batch = (struct delete_batch){.names = found, .status = status};
	} else {
		batch.names = names;
		nfound = n;
	}
	batch.todo = calloc((size_t)nfound + 1, sizeof(*batch.todo));
	if (!batch.todo) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < nfound; i++)
		if (recursive || items[i].ok)
			batch.todo[ntodo++] = i;
	if (cli_parallel(cli, ntodo, delete_run, delete_done, &batch) < 0) {
		cli_error(cli, "out of memory");
		batch.status = CLI_EXIT_FAIL;
	}
	status = batch.status;
out:
	if (status != CLI_EXIT_USAGE)
		cli_json_results_end(cli);
	cli_close(cli);
	free(batch.todo);
	cli_free_names(found, nfound);
	free(items);
	free(names);
	return status;
}

const struct cli_command cli_cmd_delete = {
    .name = "delete",
    .summary = "remove files",
    .usage = "NAME... | -r PREFIX...",
    .help = "Remove every copy of every chunk of each NAME. Servers that are down\n"
	    "catch up when 'dfs repair' runs. The exit status is 1 if some NAME did not\n"
	    "exist on any server that answered, or could not be removed. Nothing is\n"
	    "printed on success (with -v a line per name).\n"
	    "\n"
	    "With -r, each PREFIX is a folder (a trailing '/' is allowed): every file\n"
	    "whose name is PREFIX or begins with PREFIX/ is removed. A PREFIX that\n"
	    "names no file is an error.\n"
	    "\n"
	    "Options:\n"
	    "  -r, --recursive  remove every file below each folder PREFIX\n"
	    "  --json           print a JSON array with one object per file: name,\n"
	    "                   ok, and error when ok is false",
    .shortopts = "r",
    .longopts = delete_longopts,
    .run = delete_main,
};
