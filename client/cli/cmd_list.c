/* cmd_list.c: dfs list [PREFIX] [-l] [--limit N] [--json]: the user's files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The getopt code of --limit, above the CLI_OPT_ codes of cli.h. */
enum { LIST_OPT_LIMIT = 0x1000 };

static const struct option list_longopts[] = {
    {"limit", required_argument, NULL, LIST_OPT_LIMIT},
    {NULL, 0, NULL, 0},
};

struct list_opts {
	bool longfmt;
	size_t limit; /* 0: all */
};

static int list_option(struct cli *cli, void *ctx, int opt, const char *arg)
{
	struct list_opts *o = ctx;
	unsigned long long n;
	char *end;

	(void)cli;
	if (opt == 'l') {
		o->longfmt = true;
		return 0;
	}
	if (opt != LIST_OPT_LIMIT)
		return cli_usage_error(&cli_cmd_list, "unexpected option");
	errno = 0;
	n = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end || errno || n == 0 || n > SIZE_MAX)
		return cli_usage_error(&cli_cmd_list,
				       "--limit wants a whole number of files, 1 or more, not '%s'",
				       arg);
	o->limit = (size_t)n;
	return 0;
}

static unsigned chunk_count(const struct dfs_file *f)
{
	unsigned n = f->nchunks;

	return n > DFS_SERVERS_MAX ? DFS_SERVERS_MAX : n;
}

/* Prints before, the server numbers set in mask as "1, 3", then after. */
static void print_servers(const char *before, uint64_t mask, const char *after)
{
	unsigned s, n = 0;

	fputs(before, stdout);
	for (s = 0; s < DFS_SERVERS_MAX; s++)
		if (mask & (UINT64_C(1) << s))
			printf(n++ ? ", %u" : "%u", s + 1);
	fputs(after, stdout);
}

static void print_json(const struct dfs_file_list *l)
{
	char when[64];
	size_t i;
	unsigned k;

	fputs("[", stdout);
	for (i = 0; i < l->count; i++) {
		const struct dfs_file *f = l->files[i];

		fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", stdout);
		cli_json_string(stdout, f->name);
		printf(
		    ", \"size\": %llu, \"version\": %llu, \"mtime\": \"%s\", \"mtime_ns\": %lld, "
		    "\"copies\": [",
		    (unsigned long long)f->size, (unsigned long long)f->version,
		    cli_iso_time(f->mtime_ns, when, sizeof(when)), (long long)f->mtime_ns);
		for (k = 0; k < chunk_count(f); k++)
			printf(k ? ", %u" : "%u", f->copies[k]);
		fputs("], \"holders\": [", stdout);
		for (k = 0; k < chunk_count(f); k++)
			print_servers(k ? ", [" : "[", f->holders[k], "]");
		print_servers("], \"survives\": [",
			      cli_survivable(f->holders, chunk_count(f), NULL), "]");
		printf(", \"readable\": %s, \"degraded\": %s}", f->readable ? "true" : "false",
		       f->degraded ? "true" : "false");
	}
	fputs(l->count ? "\n]\n" : "]\n", stdout);
}

/* "survives:any", "survives:none" or "survives:1,3": which single server
 * failures the file would still be readable after. */
static char *long_survives(const struct dfs_file *f, char *buf, size_t len)
{
	char list[DFS_SERVERS_MAX * 3 + 1];

	snprintf(buf, len, "survives:%s",
		 cli_survives(f->holders, chunk_count(f), list, sizeof(list)));
	return buf;
}

static void print_long(const struct dfs_file_list *l)
{
	char when[64], copies[DFS_SERVERS_MAX * 4], survives[DFS_SERVERS_MAX * 3 + 16];
	int wver = 1, wsize = 1, wcopies = 1, wsurv = 1;
	size_t i;

	for (i = 0; i < l->count; i++) {
		const struct dfs_file *f = l->files[i];
		int w;

		w = snprintf(NULL, 0, "%llu", (unsigned long long)f->version);
		wver = w > wver ? w : wver;
		w = snprintf(NULL, 0, "%llu", (unsigned long long)f->size);
		wsize = w > wsize ? w : wsize;
		w = (int)strlen(cli_copies(f->copies, chunk_count(f), copies, sizeof(copies)));
		wcopies = w > wcopies ? w : wcopies;
		w = (int)strlen(long_survives(f, survives, sizeof(survives)));
		wsurv = w > wsurv ? w : wsurv;
	}
	for (i = 0; i < l->count; i++) {
		const struct dfs_file *f = l->files[i];

		printf("%*llu %s %*llu %-*s %-*s ", wver, (unsigned long long)f->version,
		       cli_iso_time(f->mtime_ns, when, sizeof(when)), wsize,
		       (unsigned long long)f->size, wcopies,
		       cli_copies(f->copies, chunk_count(f), copies, sizeof(copies)), wsurv,
		       long_survives(f, survives, sizeof(survives)));
		cli_print_name(stdout, f->name);
		putchar('\n');
	}
}

static void print_plain(const struct dfs_file_list *l)
{
	size_t i;

	for (i = 0; i < l->count; i++) {
		const struct dfs_file *f = l->files[i];
		const char *mark = !f->readable	 ? " (unreadable)"
				   : f->degraded ? " (degraded)"
						 : "";

		cli_print_name(stdout, f->name);
		printf(" %llu%s\n", (unsigned long long)f->size, mark);
	}
}

static int list_main(struct cli *cli, int argc, char **argv)
{
	struct list_opts o = {0};
	struct dfs_file_list *l = NULL;
	char **ops = NULL;
	int n = 0, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_list, argc, argv, list_option, &o, &ops, &n);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (n > 1) {
		status = cli_usage_error(&cli_cmd_list, "unexpected operand '%s'", ops[1]);
		goto out;
	}
	rc = cli_open(cli, false);
	if (rc) {
		status = rc;
		goto out;
	}
	rc = dfs_list_prefix(cli->client, n == 1 ? ops[0] : NULL, o.limit, &l);
	cli_progress_done(cli);
	if (rc < 0) {
		cli_error(cli, "list: %s", cli_reason(cli, rc));
		status = cli_exit_for(rc);
		goto out;
	}
	if (cli->json)
		print_json(l);
	else if (o.longfmt)
		print_long(l);
	else
		print_plain(l);
out:
	dfs_file_list_free(l);
	cli_close(cli);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_list = {
    .name = "list",
    .summary = "list your files",
    .usage = "[PREFIX] [-l] [--limit N] [--json]",
    .help = "List your files, merged from every server that answers, one a line: the\n"
	    "name, a space, the size in bytes; ' (degraded)' follows when some chunk has\n"
	    "fewer than two good copies and ' (unreadable)' when some chunk has none on\n"
	    "a server that answered. With PREFIX, only the files whose names begin with\n"
	    "it ('photos/' for the folder photos); names are always printed whole.\n"
	    "\n"
	    "Options:\n"
	    "  -l        long format: VERSION MTIME SIZE COPIES SURVIVES NAME, with MTIME\n"
	    "            in ISO 8601 UTC, COPIES the good copies of each chunk on the\n"
	    "            servers that answered (2,2,2,2), and SURVIVES the single server\n"
	    "            failures after which the file stays readable: 'survives:any',\n"
	    "            'survives:4' (only the loss of server 4), or 'survives:none'\n"
	    "  --json    a JSON array of objects: name, size, version, mtime, mtime_ns,\n"
	    "            copies, holders (the servers holding each chunk), survives\n"
	    "            (the servers whose loss it survives), readable, degraded\n"
	    "  --limit N only the first N files in name order",
    .shortopts = "l",
    .longopts = list_longopts,
    .run = list_main,
};
