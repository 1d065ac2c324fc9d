/* cmd_put.c: dfs put FILE... [--as NAME]: store local files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

struct put_opts {
	const char *as;
	bool resume;
};

static const struct option put_longopts[] = {
    {"as", required_argument, NULL, CLI_OPT_AS},
    {"resume", no_argument, NULL, CLI_OPT_RESUME},
    {NULL, 0, NULL, 0},
};

static int put_option(struct cli *cli, void *ctx, int opt, const char *arg)
{
	struct put_opts *o = ctx;

	(void)cli;
	if (opt == CLI_OPT_RESUME) {
		o->resume = true;
		return 0;
	}
	if (opt != CLI_OPT_AS)
		return cli_usage_error(&cli_cmd_put, "unexpected option");
	o->as = arg;
	return 0;
}

/* The name FILE is stored as: NAME from --as, else the path's base name. */
static int remote_name(const char *file, const char *as, char *buf, size_t len)
{
	size_t n;

	if (!as)
		return cli_basename(file, buf, len);
	n = strlen(as);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, as, n + 1);
	return 0;
}

/* A refused name leaves the name out of the result; a failed login keeps it. */
static void put_report(struct cli *cli, const struct cli_item *item, const char *error)
{
	cli_json_result(cli, item->operand, item->ok ? item->name : NULL, error);
}

/* The files of one put that passed the checks: todo[i] indexes files and names. */
struct put_batch {
	char **files;
	char (*names)[DFS_NAME_MAX_BYTES + 2];
	int *todo;
	int status;
};

static int put_run(struct dfs_client *c, int i, void *arg)
{
	struct put_batch *b = arg;

	return dfs_put(c, b->files[b->todo[i]], b->names[b->todo[i]]);
}

static void put_done(struct cli *cli, int i, int rc, const char *why, void *arg)
{
	struct put_batch *b = arg;
	const char *file = b->files[b->todo[i]], *name = b->names[b->todo[i]];
	struct stat st;

	cli_progress_done(cli);
	if (rc < 0) {
		cli_error(cli, "put %s: %s", file, why);
		cli_json_result(cli, file, name, why);
		b->status = CLI_EXIT_FAIL;
		return;
	}
	cli_json_result(cli, file, name, NULL);
	if (cli->json || !cli->verbose || cli->quiet)
		return;
	if (stat(file, &st) == 0)
		printf("put %s as %s (%lld bytes)\n", file, name, (long long)st.st_size);
	else
		printf("put %s as %s\n", file, name);
}

static int put_main(struct cli *cli, int argc, char **argv)
{
	struct put_opts o = {0};
	char(*names)[DFS_NAME_MAX_BYTES + 2] = NULL;
	struct cli_item *items = NULL;
	struct put_batch batch;
	char **files = NULL;
	int nfiles = 0, ntodo = 0, i, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_put, argc, argv, put_option, &o, &files, &nfiles);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nfiles == 0) {
		status = cli_usage_error(&cli_cmd_put, "no FILE given");
		goto out;
	}
	if (o.as && nfiles > 1) {
		status = cli_usage_error(&cli_cmd_put, "--as NAME needs a single FILE");
		goto out;
	}
	names = calloc((size_t)nfiles, sizeof(*names));
	items = calloc((size_t)nfiles, sizeof(*items));
	if (!names || !items) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < nfiles; i++) {
		items[i].operand = files[i];
		items[i].name = names[i];
		if (remote_name(files[i], o.as, names[i], sizeof(names[i])) == -ENAMETOOLONG) {
			cli_error(cli, "put %s: the name is longer than %d bytes", files[i],
				  DFS_NAME_MAX_BYTES);
			items[i].name = NULL;
		}
	}
	if (!cli_items_open(cli, "put", items, nfiles, put_report, &status))
		goto out;
	dfs_set_resume(cli->client, o.resume);
	batch = (struct put_batch){.files = files, .names = names, .status = status};
	batch.todo = calloc((size_t)nfiles, sizeof(*batch.todo));
	if (!batch.todo) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < nfiles; i++)
		if (items[i].ok)
			batch.todo[ntodo++] = i;
	if (cli_parallel(cli, ntodo, put_run, put_done, &batch) < 0) {
		cli_error(cli, "out of memory");
		batch.status = CLI_EXIT_FAIL;
	}
	status = batch.status;
	free(batch.todo);
out:
	if (status != CLI_EXIT_USAGE)
		cli_json_results_end(cli);
	cli_close(cli);
	free(names);
	free(items);
	free(files);
	return status;
}

const struct cli_command cli_cmd_put = {
    .name = "put",
    .summary = "store files",
    .usage = "FILE... [--as NAME] [--resume]",
    .help = "Store each FILE (any bytes, any size) under its base name, replacing any\n"
	    "file of that name atomically: readers see the whole old or the whole new\n"
	    "file. Each chunk goes to both of its servers; with one of them down the put\n"
	    "still succeeds, with a warning. One failed FILE does not stop the others;\n"
	    "the exit status is 1 if any failed. Nothing is printed on success (with\n"
	    "-v a line per file).\n"
	    "\n"
	    "Options:\n"
	    "      --as NAME   store the single FILE as NAME\n"
	    "      --resume    continue an interrupted put of the same unchanged FILE:\n"
	    "                  what the servers already hold is not sent again\n"
	    "      --json      print a JSON array with one object per FILE: file,\n"
	    "                  name, ok, and error when ok is false",
    .longopts = put_longopts,
    .run = put_main,
};
