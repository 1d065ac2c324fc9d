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

static int put_main(struct cli *cli, int argc, char **argv)
{
	struct put_opts o = {0};
	char(*names)[DFS_NAME_MAX_BYTES + 2] = NULL;
	struct cli_item *items = NULL;
	char **files = NULL;
	int nfiles = 0, i, rc, status = CLI_EXIT_OK;

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
	for (i = 0; i < nfiles; i++) {
		struct stat st;

		if (!items[i].ok)
			continue;
		rc = dfs_put(cli->client, files[i], names[i]);
		cli_progress_done(cli);
		if (rc < 0) {
			cli_error(cli, "put %s: %s", files[i], cli_reason(cli, rc));
			cli_json_result(cli, files[i], names[i], cli_reason(cli, rc));
			status = CLI_EXIT_FAIL;
			continue;
		}
		cli_json_result(cli, files[i], names[i], NULL);
		if (cli->json)
			continue;
		if (cli->verbose && !cli->quiet) {
			if (stat(files[i], &st) == 0)
				printf("put %s as %s (%lld bytes)\n", files[i], names[i],
				       (long long)st.st_size);
			else
				printf("put %s as %s\n", files[i], names[i]);
		}
	}
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
