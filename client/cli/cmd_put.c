/* cmd_put.c: dfs put FILE... [--as NAME] and put -r DIR... [--as PREFIX]: store local files. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct put_opts {
	const char *as;
	bool resume;
	bool recursive;
};

static const struct option put_longopts[] = {
    {"as", required_argument, NULL, CLI_OPT_AS},
    {"resume", no_argument, NULL, CLI_OPT_RESUME},
    {"recursive", no_argument, NULL, 'r'},
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
	if (opt == 'r') {
		o->recursive = true;
		return 0;
	}
	if (opt != CLI_OPT_AS)
		return cli_usage_error(&cli_cmd_put, "unexpected option");
	o->as = arg;
	return 0;
}

/* The files to store and their remote names, both malloc'd. */
struct put_list {
	char **files;
	char **names;
	int n, cap;
};

static void put_list_free(struct put_list *l)
{
	cli_free_names(l->files, l->n);
	cli_free_names(l->names, l->n);
}

/* a + sep + b in a malloc'd string (sep may be '\0' for none), or NULL. */
static char *join(const char *a, char sep, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);
	char *p = malloc(al + 1 + bl + 1);

	if (!p)
		return NULL;
	memcpy(p, a, al);
	if (sep)
		p[al++] = sep;
	memcpy(p + al, b, bl + 1);
	return p;
}

/* Adds file (taken over) as name (taken over). -ENOMEM, both freed, on failure. */
static int put_list_add(struct put_list *l, char *file, char *name)
{
	if (!file || !name)
		goto fail;
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		char **f, **m;

		/* Each array is kept as soon as it has grown: both stay valid. */
		f = realloc(l->files, (size_t)cap * sizeof(*f));
		if (!f)
			goto fail;
		l->files = f;
		m = realloc(l->names, (size_t)cap * sizeof(*m));
		if (!m)
			goto fail;
		l->names = m;
		l->cap = cap;
	}
	l->files[l->n] = file;
	l->names[l->n++] = name;
	return 0;
fail:
	free(file);
	free(name);
	return -ENOMEM;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of the folder at path, sorted, without "." and "..": a
 * malloc'd array of *n malloc'd names, or NULL with errno set. */
static char **read_folder(const char *path, int *n)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **v = NULL;
	int cap = 0, err = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			char **nv = realloc(v, (size_t)(cap = cap ? 2 * cap : 32) * sizeof(*v));

			if (!nv) {
				err = ENOMEM;
				break;
			}
			v = nv;
		}
		if (!(v[*n] = strdup(de->d_name))) {
			err = ENOMEM;
			break;
		}
		(*n)++;
	}
	if (!err && errno)
		err = errno;
	closedir(d);
	if (err) {
		cli_free_names(v, *n);
		*n = 0;
		errno = err;
		return NULL;
	}
	if (!v)
		v = malloc(sizeof(*v));
	if (v)
		qsort(v, (size_t)*n, sizeof(*v), by_name);
	return v;
}

/* Adds every regular file below the folder path, as name/relative/path.
 * Symbolic links, devices, FIFOs and sockets inside it are skipped with a
 * warning: dfs stores files only, and a link followed could lead out of the
 * folder or round in a circle. -ENOMEM, else 0 (*status records failures). */
static int walk(struct cli *cli, struct put_list *l, const char *path, const char *name,
		int *status)
{
	char **ents;
	int n, rc = 0;

	ents = read_folder(path, &n);
	if (!ents) {
		if (errno == ENOMEM)
			return -ENOMEM;
		cli_error(cli, "put %s: cannot read the folder: %s", path, strerror(errno));
		*status = CLI_EXIT_FAIL;
		return 0;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		char *sub = join(path, path[strlen(path) - 1] == '/' ? '\0' : '/', ents[i]);
		char *subname = join(name, '/', ents[i]);
		struct stat st;

		if (!sub || !subname) {
			rc = -ENOMEM;
		} else if (lstat(sub, &st) < 0) {
			cli_error(cli, "put %s: %s", sub, strerror(errno));
			*status = CLI_EXIT_FAIL;
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(cli, l, sub, subname, status);
		} else if (S_ISREG(st.st_mode)) {
			rc = put_list_add(l, sub, subname);
			sub = subname = NULL;
		} else if (!cli->quiet) {
			cli_error(cli, "put %s: skipped: %s", sub,
				  S_ISLNK(st.st_mode) ? "a symbolic link (dfs stores no links)"
						      : "not a regular file or folder");
		}
		free(sub);
		free(subname);
	}
	cli_free_names(ents, n);
	return rc;
}

/* The base name a folder operand is stored under: its last component, or
 * for "." and ".." (and paths ending in them) that of the folder they name. */
static int folder_base(const char *dir, char *buf, size_t len)
{
	char real[PATH_MAX];
	int rc = cli_basename(dir, buf, len);

	if (rc < 0 || (strcmp(buf, ".") != 0 && strcmp(buf, "..") != 0 && buf[0]))
		return rc;
	if (!realpath(dir, real))
		return -errno;
	return cli_basename(real, buf, len);
}

/* Adds one operand: a FILE, or with -r a DIR walked whole. */
static int add_operand(struct cli *cli, const struct put_opts *o, struct put_list *l,
		       const char *file, int *status)
{
	char base[DFS_NAME_MAX_BYTES + 2];
	struct stat st;
	int rc;

	if (o->recursive && stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (o->as) {
			snprintf(base, sizeof(base), "%s", o->as);
		} else if ((rc = folder_base(file, base, sizeof(base))) < 0 || !base[0]) {
			cli_error(cli, "put %s: %s", file,
				  rc == -ENAMETOOLONG ? "the name is too long"
						      : "no folder name to store it under; "
							"give one with --as PREFIX");
			*status = CLI_EXIT_FAIL;
			return 0;
		}
		return walk(cli, l, file, base, status);
	}
	if (o->as)
		snprintf(base, sizeof(base), "%s", o->as);
	else if (cli_basename(file, base, sizeof(base)) < 0)
		base[0] = '\0';
	if (strlen(base) > DFS_NAME_MAX_BYTES) {
		cli_error(cli, "put %s: the name is longer than %d bytes", file,
			  DFS_NAME_MAX_BYTES);
		*status = CLI_EXIT_FAIL;
		return 0;
	}
	return put_list_add(l, strdup(file), strdup(base));
}

/* A refused name leaves the name out of the result; a failed login keeps it. */
static void put_report(struct cli *cli, const struct cli_item *item, const char *error)
{
	cli_json_result(cli, item->operand, item->ok ? item->name : NULL, error);
}

/* The files of one put that passed the checks: todo[i] indexes files and names. */
struct put_batch {
	char **files;
	char **names;
	int *todo;
	int *group; /* per todo item: see cli_parallel_groups */
	int status;
};

/* Files at most this large go to the library in groups, which it stores several
 * per call to each server; larger ones go one per worker. */
#define GROUP_FILE_MAX (256 * 1024)
#define GROUP_FILES    64

static void put_run(struct dfs_client *c, int first, int n, int *rc, char **why, void *arg)
{
	struct put_batch *b = arg;
	const char *files[GROUP_FILES], *names[GROUP_FILES];
	struct cli_group_result g = {.rc = rc, .why = why};

	for (int j = 0; j < n; j++) {
		files[j] = b->files[b->todo[first + j]];
		names[j] = b->names[b->todo[first + j]];
	}
	dfs_put_files(c, (size_t)n, files, names, cli_group_done, &g);
}

/* Sets group[i] for each group of small files that begins at item i. */
static void make_groups(const struct put_batch *b, int ntodo, int *group)
{
	struct stat st;
	int start = -1;

	for (int i = 0; i < ntodo; i++) {
		bool small = stat(b->files[b->todo[i]], &st) == 0 && S_ISREG(st.st_mode) &&
			     st.st_size <= GROUP_FILE_MAX;

		group[i] = 1;
		if (small && start >= 0 && group[start] < GROUP_FILES) {
			group[start]++;
			continue;
		}
		start = small ? i : -1;
	}
}

/* The groups make_groups made of n items. */
static int count_groups(const int *group, int n)
{
	int groups = 0;

	for (int i = 0; i < n; i += group[i])
		groups++;
	return groups;
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
	struct put_list l = {0};
	struct cli_item *items = NULL;
	struct put_batch batch = {0};
	char **files = NULL;
	int nfiles = 0, ntodo = 0, i, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_put, argc, argv, put_option, &o, &files, &nfiles);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nfiles == 0) {
		status =
		    cli_usage_error(&cli_cmd_put, o.recursive ? "no DIR given" : "no FILE given");
		goto out;
	}
	if (o.as && nfiles > 1) {
		status =
		    cli_usage_error(&cli_cmd_put, o.recursive ? "--as PREFIX needs a single DIR"
							      : "--as NAME needs a single FILE");
		goto out;
	}
	for (i = 0; i < nfiles; i++) {
		if (add_operand(cli, &o, &l, files[i], &status) < 0) {
			cli_error(cli, "out of memory");
			status = CLI_EXIT_FAIL;
			goto out;
		}
	}
	if (l.n == 0)
		goto out;
	items = calloc((size_t)l.n, sizeof(*items));
	if (!items) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	batch = (struct put_batch){.files = l.files, .names = l.names};
	batch.todo = calloc((size_t)l.n, sizeof(*batch.todo));
	batch.group = calloc((size_t)l.n, sizeof(*batch.group));
	if (!batch.todo || !batch.group) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	/* The groups are made before the login, which opens a connection for
	 * each client that will run them; they are made again only if some
	 * names turn out to be invalid. */
	for (i = 0; i < l.n; i++) {
		items[i] = (struct cli_item){.operand = l.files[i], .name = l.names[i]};
		batch.todo[i] = i;
	}
	make_groups(&batch, l.n, batch.group);
	cli->parallel_clients = cli_parallel_clients(count_groups(batch.group, l.n));
	if (!cli_items_open(cli, "put", items, l.n, put_report, &status))
		goto out;
	dfs_set_resume(cli->client, o.resume);
	batch.status = status;
	for (i = 0; i < l.n; i++)
		if (items[i].ok)
			batch.todo[ntodo++] = i;
	if (ntodo < l.n)
		make_groups(&batch, ntodo, batch.group);
	if (cli_parallel_groups(cli, ntodo, batch.group, put_run, put_done, &batch) < 0) {
		cli_error(cli, "out of memory");
		batch.status = CLI_EXIT_FAIL;
	}
	status = batch.status;
out:
	free(batch.todo);
	free(batch.group);
	if (status != CLI_EXIT_USAGE)
		cli_json_results_end(cli);
	cli_close(cli);
	put_list_free(&l);
	free(items);
	free(files);
	return status;
}

const struct cli_command cli_cmd_put = {
    .name = "put",
    .summary = "store files",
    .usage = "FILE... [--as NAME] | -r DIR... [--as PREFIX]",
    .help = "Store each FILE (any bytes, any size) under its base name, replacing any\n"
	    "file of that name atomically: readers see the whole old or the whole new\n"
	    "file. Each chunk goes to both of its servers; with one of them down the put\n"
	    "still succeeds, with a warning. One failed FILE does not stop the others;\n"
	    "the exit status is 1 if any failed. Nothing is printed on success (with\n"
	    "-v a line per file).\n"
	    "\n"
	    "With -r, each DIR is stored like cp -r: every regular file below it as\n"
	    "DIR's base name, '/', its path inside DIR (photos/2024/a.jpg); a FILE\n"
	    "operand as with no -r. Folders exist only through the names of the files\n"
	    "in them: an empty folder is not stored. Symbolic links, devices, FIFOs and\n"
	    "sockets inside DIR are skipped with a warning (a DIR given as a link is\n"
	    "followed).\n"
	    "\n"
	    "Options:\n"
	    "  -r, --recursive store each DIR and every file below it\n"
	    "      --as NAME   store the single FILE as NAME; with -r, the files of the\n"
	    "                  single DIR as NAME/relative/path\n"
	    "      --resume    continue an interrupted put of the same unchanged FILE:\n"
	    "                  what the servers already hold is not sent again\n"
	    "      --json      print a JSON array with one object per FILE: file,\n"
	    "                  name, ok, and error when ok is false",
    .shortopts = "r",
    .longopts = put_longopts,
    .run = put_main,
};
