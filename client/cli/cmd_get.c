/* cmd_get.c: dfs get NAME... [-d DIR | -o LOCAL] and get -r PREFIX... [-d DIR]: fetch files. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "get_dest.h"

struct get_opts {
	const char *dir;
	const char *out;
	bool resume;
	bool recursive;
};

static const struct option get_longopts[] = {
    {"resume", no_argument, NULL, CLI_OPT_RESUME},
    {"recursive", no_argument, NULL, 'r'},
    {NULL, 0, NULL, 0},
};

static int get_option(struct cli *cli, void *ctx, int opt, const char *arg)
{
	struct get_opts *o = ctx;

	(void)cli;
	if (opt == 'd')
		o->dir = arg;
	else if (opt == 'o')
		o->out = arg;
	else if (opt == CLI_OPT_RESUME)
		o->resume = true;
	else if (opt == 'r')
		o->recursive = true;
	else
		return cli_usage_error(&cli_cmd_get, "unexpected option");
	return 0;
}

/* DIR/NAME in a malloc'd string, or NULL when out of memory. */
static char *join_path(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	bool slash = dl > 0 && dir[dl - 1] != '/';
	char *p = malloc(dl + slash + nl + 1);

	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	if (slash)
		p[dl] = '/';
	memcpy(p + dl + slash, name, nl + 1);
	return p;
}

/* One element of the --json result array: name, path, ok, error. */
static void json_result(struct cli *cli, const char *name, const char *path, const char *error)
{
	if (!cli->json)
		return;
	fputs(cli->json_results++ ? ",\n  {\"name\": " : "[\n  {\"name\": ", stdout);
	cli_json_string(stdout, name);
	fputs(", \"path\": ", stdout);
	cli_json_string(stdout, path ? path : "-");
	fputs(error ? ", \"ok\": false, \"error\": " : ", \"ok\": true", stdout);
	if (error)
		cli_json_string(stdout, error);
	fputs("}", stdout);
}

/* The names of one get that passed the checks: todo[i] indexes names. */
struct get_batch {
	const struct get_opts *o;
	char **names;
	char **paths; /* per name; NULL for standard output */
	int *todo;
	int status;
};

static int get_run(struct dfs_client *c, int i, void *arg)
{
	struct get_batch *b = arg;
	int k = b->todo[i];

	if (!b->paths[k])
		return dfs_get_fd(c, b->names[k], STDOUT_FILENO);
	return dfs_get(c, b->names[k], b->paths[k]);
}

static void get_done(struct cli *cli, int i, int rc, const char *why, void *arg)
{
	struct get_batch *b = arg;
	const char *name = b->names[b->todo[i]], *path = b->paths[b->todo[i]];
	/* With -o - standard output carries the file itself. */
	FILE *f = path ? stdout : stderr;
	struct stat st;

	cli_progress_done(cli);
	if (rc < 0) {
		cli_error(cli, "get %s: Transfer failed: %s", name, why);
		json_result(cli, name, path, why);
		b->status = CLI_EXIT_FAIL;
		return;
	}
	json_result(cli, name, path, NULL);
	if (!cli->verbose || cli->quiet || cli->json)
		return;
	if (!path)
		fprintf(f, "get %s to standard output\n", name);
	else if (stat(path, &st) == 0)
		fprintf(f, "get %s to %s (%lld bytes)\n", name, path, (long long)st.st_size);
	else
		fprintf(f, "get %s to %s\n", name, path);
}

/* Consecutive files per dfs_get_files call: the servers are asked about them
 * together, and several groups are fetched at once. */
#define GET_GROUP_MAX 32

/* Fetches todo items first..first+n-1 (n <= GET_GROUP_MAX) with one dfs_get_files. */
static void get_group(struct dfs_client *c, int first, int n, int *rc, char **why, void *arg)
{
	struct get_batch *b = arg;
	const char *names[GET_GROUP_MAX], *paths[GET_GROUP_MAX];
	struct cli_group_result g = {.rc = rc, .why = why};

	for (int j = 0; j < n; j++) {
		names[j] = b->names[b->todo[first + j]];
		paths[j] = b->paths[b->todo[first + j]];
	}
	dfs_get_files(c, (size_t)n, names, paths, cli_group_done, &g);
}

/* Runs the ntodo files of b, GET_GROUP_MAX per dfs_get_files call. 0 or -ENOMEM. */
static int get_grouped(struct cli *cli, struct get_batch *b, int ntodo)
{
	int *group = calloc((size_t)ntodo, sizeof(*group));
	int rc;

	if (!group)
		return -ENOMEM;
	for (int i = 0; i < ntodo; i += GET_GROUP_MAX)
		group[i] = GET_GROUP_MAX;
	rc = cli_parallel_groups(cli, ntodo, group, get_group, get_done, b);
	free(group);
	return rc;
}

/* Where each name goes: NULL for standard output. -ENOMEM after printing why. */
static int get_paths(struct cli *cli, struct get_batch *b, int n)
{
	bool to_stdout = b->o->out && strcmp(b->o->out, "-") == 0;

	for (int k = 0; k < n; k++) {
		if (to_stdout)
			continue;
		b->paths[k] = b->o->out ? strdup(b->o->out)
					: join_path(b->o->dir ? b->o->dir : ".", b->names[k]);
		if (!b->paths[k]) {
			cli_error(cli, "get %s: Transfer failed: out of memory", b->names[k]);
			return -ENOMEM;
		}
	}
	return 0;
}

static void get_report(struct cli *cli, const struct cli_item *item, const char *error)
{
	json_result(cli, item->name, NULL, error);
}

static int get_main(struct cli *cli, int argc, char **argv)
{
	struct get_opts o = {0};
	char **names = NULL;
	struct cli_item *items = NULL;
	struct get_batch batch;
	bool owned = false;
	int n = 0, ntodo = 0, i, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_get, argc, argv, get_option, &o, &names, &n);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (n == 0) {
		status = cli_usage_error(&cli_cmd_get, "no NAME given");
		goto out;
	}
	if (o.dir && o.out) {
		status = cli_usage_error(&cli_cmd_get, "-d DIR and -o LOCAL exclude each other");
		goto out;
	}
	if (o.out && n > 1) {
		status = cli_usage_error(&cli_cmd_get, "-o LOCAL needs a single NAME");
		goto out;
	}
	if (cli->json && o.out && strcmp(o.out, "-") == 0) {
		status =
		    cli_usage_error(&cli_cmd_get, "--json and '-o -' both need standard output");
		goto out;
	}
	if ((o.out && !*o.out) || (o.dir && !*o.dir)) {
		status = cli_usage_error(&cli_cmd_get, "an empty path was given");
		goto out;
	}
	if (o.recursive && o.out) {
		status = cli_usage_error(&cli_cmd_get, "-r and -o LOCAL exclude each other");
		goto out;
	}
	items = calloc((size_t)n, sizeof(*items));
	if (!items) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	/* The name becomes a local file name, so it is checked first. A folder
	 * given with -r may end in '/', as completion leaves it. */
	for (i = 0; i < n; i++) {
		if (o.recursive)
			cli_strip_slashes(names[i]);
		items[i] = (struct cli_item){.operand = names[i], .name = names[i]};
	}
	cli->parallel_clients =
	    cli_parallel_clients(o.recursive ? INT_MAX
				 : o.out     ? 1
					     : (n + GET_GROUP_MAX - 1) / GET_GROUP_MAX);
	if (!cli_items_open(cli, "get", items, n, get_report, &status))
		goto out;
	if (o.recursive) {
		char **found = NULL;
		int nfound = 0;

		if (cli_folder_names(cli, "get", items, n, &found, &nfound, &status) < 0)
			goto out;
		free(items);
		items = calloc((size_t)nfound + 1, sizeof(*items));
		if (!items) {
			cli_free_names(found, nfound);
			cli_error(cli, "out of memory");
			status = CLI_EXIT_FAIL;
			goto out;
		}
		free(names);
		names = found;
		n = nfound;
		/* Like cp -r, into a folder that may not exist yet (its parent must). */
		if (o.dir && nfound > 0 && mkdir(o.dir, 0777) < 0 && errno != EEXIST) {
			cli_error(cli, "get: Transfer failed: cannot create the folder %s: %s",
				  o.dir, strerror(errno));
			status = CLI_EXIT_FAIL;
			owned = true;
			goto out;
		}
		for (i = 0; i < n; i++)
			items[i] =
			    (struct cli_item){.operand = names[i], .name = names[i], .ok = true};
		/* The names now own their strings. */
		owned = true;
	}
	dfs_set_resume(cli->client, o.resume);
	batch = (struct get_batch){.o = &o, .names = names, .status = status};
	batch.paths = calloc((size_t)n, sizeof(*batch.paths));
	batch.todo = calloc((size_t)n, sizeof(*batch.todo));
	if (!batch.paths || !batch.todo || get_paths(cli, &batch, n) < 0) {
		if (!batch.paths || !batch.todo)
			cli_error(cli, "out of memory");
		batch.status = CLI_EXIT_FAIL;
	} else {
		struct get_dest dest;

		get_dest_init(&dest, o.dir ? o.dir : ".");
		for (i = 0; i < n; i++) {
			const char *why = NULL;
			char buf[2 * PATH_MAX];

			if (!items[i].ok)
				continue;
			/* -d DIR (or the current folder) receives only files inside it,
			 * in the folders their names give. */
			if (!o.out)
				why = get_dest_check(&dest, names[i], batch.paths[i], buf,
						     sizeof(buf));
			if (why) {
				cli_error(cli, "get %s: Transfer failed: %s", names[i], why);
				json_result(cli, names[i], batch.paths[i], why);
				batch.status = CLI_EXIT_FAIL;
				continue;
			}
			batch.todo[ntodo++] = i;
		}
		/* Many files into a folder share their lookups; one file, or a
		 * file to standard output, is fetched on its own. */
		if ((o.out || ntodo < 2 ? cli_parallel(cli, ntodo, get_run, get_done, &batch)
					: get_grouped(cli, &batch, ntodo)) < 0) {
			cli_error(cli, "out of memory");
			batch.status = CLI_EXIT_FAIL;
		}
	}
	status = batch.status;
	for (i = 0; batch.paths && i < n; i++)
		free(batch.paths[i]);
	free(batch.paths);
	free(batch.todo);
out:
	if (status != CLI_EXIT_USAGE)
		cli_json_results_end(cli);
	cli_close(cli);
	free(items);
	if (owned)
		cli_free_names(names, n);
	else
		free(names);
	return status;
}

const struct cli_command cli_cmd_get = {
    .name = "get",
    .summary = "fetch files",
    .usage = "NAME... [-d DIR | -o LOCAL] | -r PREFIX... [-d DIR]",
    .help = "Fetch each NAME into DIR (default: the current folder) under its name;\n"
	    "a name with folders (photos/2024/a.jpg) goes to DIR/photos/2024/a.jpg,\n"
	    "the folders created as needed (never through a symbolic link).\n"
	    "A file appears only once complete and verified; on failure a line with\n"
	    "'Transfer failed' and the reason goes to stderr, no file is created and an\n"
	    "existing file of that name is left untouched. The exit status is 1 if any\n"
	    "NAME failed.\n"
	    "\n"
	    "With -r, each PREFIX is a folder (a trailing '/' is allowed): every file\n"
	    "whose name is PREFIX or begins with PREFIX/ is fetched into DIR under its\n"
	    "whole name, recreating PREFIX/relative/path below DIR (DIR itself is\n"
	    "created if missing). A PREFIX that names no file is an error.\n"
	    "\n"
	    "Options:\n"
	    "  -r, --recursive\n"
	    "              fetch every file below each folder PREFIX\n"
	    "  -d DIR      write into DIR (never outside it: a symbolic link in DIR\n"
	    "              that leads out of it is refused)\n"
	    "  -o LOCAL    write the single NAME to LOCAL; '-o -' writes it to standard\n"
	    "              output once it is verified. A device, FIFO or socket is\n"
	    "              written into the same way, never replaced; a symbolic link\n"
	    "              is followed and the file it names replaced\n"
	    "  --resume    on failure keep the partial file (.NAME.dfs-part beside the\n"
	    "              target); a later get --resume of the same version fetches\n"
	    "              only the missing bytes. The modification time is kept.\n"
	    "  --json      print a JSON array with one object per NAME: name, path,\n"
	    "              ok, and error when ok is false (not with '-o -')",
    .shortopts = "d:o:r",
    .longopts = get_longopts,
    .run = get_main,
};
