/* cli_common.c: option parsing, login, password, events and progress for the dfs tool. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char cli_global_shortopts[] = "c:u:qvh";

const struct option cli_global_longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"user", required_argument, NULL, 'u'},
    {"password-file", required_argument, NULL, CLI_OPT_PASSWORD_FILE},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"json", no_argument, NULL, CLI_OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_global_option(struct cli *cli, int opt, const char *arg)
{
	switch (opt) {
	case 'c':
		cli->config = arg;
		return 1;
	case 'u':
		cli->user = arg;
		return 1;
	case CLI_OPT_PASSWORD_FILE:
		cli->password_file = arg;
		return 1;
	case 'q':
		cli->quiet = true;
		return 1;
	case 'v':
		cli->verbose++;
		return 1;
	case CLI_OPT_JSON:
		cli->json = true;
		return 1;
	case 'h':
		cli->help = true;
		return 1;
	default:
		return 0;
	}
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("dfs: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry 'dfs %s --help'.\n", cmd->name);
	else
		fputs("\nTry 'dfs --help'.\n", stderr);
	return CLI_EXIT_USAGE;
}

void cli_print_command_help(const struct cli_command *cmd, FILE *f)
{
	fprintf(f, "Usage: dfs %s [OPTIONS] %s\n\n%s\n", cmd->name, cmd->usage, cmd->help);
	fputs("\nGlobal options (before or after the command):\n"
	      "  -c, --config FILE         client configuration file\n"
	      "  -u, --user USER           user name (default: $DFS_USER)\n"
	      "      --password-file FILE  read the password from the first line of FILE\n"
	      "  -q, --quiet               no warnings, progress or chatter\n"
	      "  -v, --verbose             more detail\n"
	      "      --json                JSON output\n"
	      "  -h, --help                show this help\n"
	      "\nExit status: 0 ok, 1 failure, 2 usage error, 3 degraded, 4 unavailable.\n"
	      "See 'dfs --help' and dfs(1).\n",
	      f);
}

/* Names the option getopt just refused, for an error message. */
static void bad_option_text(char **argv, char *buf, size_t len)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	if (optopt > 0 && optopt < 0x100 && !(arg[0] == '-' && arg[1] == '-'))
		snprintf(buf, len, "-%c", optopt);
	else
		snprintf(buf, len, "%s", arg);
}

int cli_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
	      cli_opt_fn opt_fn, void *ctx, char ***operands, int *noperands)
{
	size_t nglobal = sizeof(cli_global_longopts) / sizeof(cli_global_longopts[0]) - 1;
	size_t ncmd = 0, i;
	struct option *longopts = NULL;
	char shortopts[64];
	char **ops = NULL;
	char what[64];
	int nops = 0, opt, rc = 0;

	*operands = NULL;
	*noperands = 0;
	while (cmd->longopts && cmd->longopts[ncmd].name)
		ncmd++;
	longopts = calloc(nglobal + ncmd + 1, sizeof(*longopts));
	ops = calloc((size_t)argc + 1, sizeof(*ops));
	if (!longopts || !ops) {
		cli_error(cli, "out of memory");
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < nglobal; i++)
		longopts[i] = cli_global_longopts[i];
	for (i = 0; i < ncmd; i++)
		longopts[nglobal + i] = cmd->longopts[i];
	/* "-" returns operands in place (code 1) so options may follow them
	 * whatever POSIXLY_CORRECT says; ":" reports a missing argument apart. */
	snprintf(shortopts, sizeof(shortopts), "-:%s%s", cli_global_shortopts,
		 cmd->shortopts ? cmd->shortopts : "");
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == 1) {
			ops[nops++] = optarg;
		} else if (opt == '?') {
			bad_option_text(argv, what, sizeof(what));
			rc = cli_usage_error(cmd, "unknown option '%s'", what);
			goto out;
		} else if (opt == ':') {
			bad_option_text(argv, what, sizeof(what));
			rc = cli_usage_error(cmd, "option '%s' needs an argument", what);
			goto out;
		} else if (!cli_global_option(cli, opt, optarg)) {
			rc = opt_fn ? opt_fn(cli, ctx, opt, optarg) : CLI_EXIT_USAGE;
			if (rc)
				goto out;
		}
	}
	while (optind < argc)
		ops[nops++] = argv[optind++];
	if (cli->help) {
		cli_print_command_help(cmd, stdout);
		rc = -1;
		goto out;
	}
	*operands = ops;
	*noperands = nops;
	ops = NULL;
out:
	free(longopts);
	free(ops);
	return rc;
}

static double monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_clear(struct cli *cli)
{
	if (cli->progress.shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		cli->progress.shown = false;
	}
}

void cli_progress_done(struct cli *cli)
{
	cli_progress_clear(cli);
	cli->progress.active = false;
}

void cli_error(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (cli)
		cli_progress_clear(cli);
	fputs("dfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static unsigned terminal_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

static void on_progress(struct cli *cli, const struct dfs_event *ev)
{
	struct cli_progress *p = &cli->progress;
	const char *name = ev->name ? ev->name : "";
	double now = monotonic_now();
	char line[512];
	unsigned width;

	if (!p->active || strcmp(p->name, name) != 0) {
		cli_progress_clear(cli);
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->start = now;
		p->last_draw = 0;
		p->last_done = 0;
		p->active = true;
	}
	/* Chunks are moved in parallel, so reports may come slightly out of order. */
	if (ev->done < p->last_done)
		return;
	p->last_done = ev->done;
	if (ev->done >= ev->total) {
		cli_progress_clear(cli);
		p->active = false;
		return;
	}
	/* Short transfers finish without a line; redraw at most ten times a second. */
	if (now - p->start < cli->progress_delay || (p->shown && now - p->last_draw < 0.1))
		return;
	width = terminal_width();
	cli_progress_line(name, ev->done, ev->total, now - p->start, width > 1 ? width - 1 : 0,
			  line, sizeof(line));
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->shown = true;
	p->last_draw = now;
}

static void on_event(const struct dfs_event *ev, void *arg)
{
	struct cli *cli = arg;
	const char *text = ev->text ? ev->text : "";

	switch (ev->kind) {
	case DFS_EVENT_SERVER_DOWN:
		if (cli->mute_server_down)
			break;
		/* fall through */
	case DFS_EVENT_WARNING:
	case DFS_EVENT_CERT_EXPIRING:
		if (!cli->quiet)
			cli_error(cli, "warning: %s", text);
		break;
	case DFS_EVENT_REPAIRED:
		if (!cli->quiet)
			cli_error(cli, "repaired: %s", text);
		break;
	case DFS_EVENT_CHUNK_SERVED:
		if (cli->verbose && !cli->quiet)
			cli_error(cli, "%s chunk %u via server %u", ev->name ? ev->name : "?",
				  ev->chunk, ev->server);
		break;
	case DFS_EVENT_PROGRESS:
		if (cli->progress_ok)
			on_progress(cli, ev);
		break;
	}
}

static int tty_fd = -1;
static struct termios tty_saved;

/* Puts the terminal's echo back before dying of a signal taken at the prompt. */
static void tty_restore_and_die(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSANOW, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line from /dev/tty with echo off. */
static int prompt_password(const char *user, char **out)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
	struct sigaction sa, old[sizeof(sigs) / sizeof(sigs[0])];
	struct termios quiet;
	char *buf = NULL;
	size_t len = 0, cap = 0, i;
	bool echo_off = false;
	int rc = 0, fd;
	char prompt[320];

	*out = NULL;
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "dfs: cannot open the terminal for a password: %s\n",
			strerror(errno));
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_restore_and_die;
	sigemptyset(&sa.sa_mask);
	if (tcgetattr(fd, &tty_saved) == 0) {
		tty_fd = fd;
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaction(sigs[i], &sa, &old[i]);
		quiet = tty_saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		echo_off = tcsetattr(fd, TCSANOW, &quiet) == 0;
	}
	snprintf(prompt, sizeof(prompt), "Password for %s: ", user);
	if (write(fd, prompt, strlen(prompt)) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0 || ch == '\n')
			break;
		if (len + 2 > cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char *nbuf = malloc(ncap);

			if (!nbuf) {
				rc = -ENOMEM;
				goto out;
			}
			if (buf) {
				memcpy(nbuf, buf, len);
				explicit_bzero(buf, cap);
				free(buf);
			}
			buf = nbuf;
			cap = ncap;
		}
		buf[len++] = ch;
	}
	if (!buf) {
		buf = calloc(1, 1);
		if (!buf) {
			rc = -ENOMEM;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (echo_off) {
		tcsetattr(fd, TCSANOW, &tty_saved);
		if (write(fd, "\n", 1) < 0) {
			/* The password is read; a lost newline is only cosmetic. */
		}
	}
	if (tty_fd >= 0) {
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaction(sigs[i], &old[i], NULL);
		tty_fd = -1;
	}
	close(fd);
	if (buf) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	if (rc < 0)
		fprintf(stderr, "dfs: cannot read the password: %s\n", strerror(-rc));
	return rc;
}

/* The first line of file, without its line ending. */
static int password_from_file(const char *file, char **out)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	*out = NULL;
	f = fopen(file, "re");
	if (!f) {
		rc = -errno;
		fprintf(stderr, "dfs: cannot read the password file %s: %s\n", file,
			strerror(errno));
		return rc;
	}
	errno = 0;
	n = getline(&line, &cap, f);
	if (n < 0) {
		rc = errno ? -errno : -ENODATA;
		fprintf(stderr, "dfs: the password file %s is %s\n", file,
			errno ? strerror(errno) : "empty");
		goto out;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	*out = line;
	line = NULL;
out:
	if (line) {
		explicit_bzero(line, cap);
		free(line);
	}
	fclose(f);
	return rc;
}

int cli_read_password(const char *user, const char *file, char **out)
{
	const char *env = getenv("DFS_PASSWORD");

	*out = NULL;
	if (env) {
		*out = strdup(env);
		return *out ? 0 : -ENOMEM;
	}
	if (file)
		return password_from_file(file, out);
	if (isatty(STDIN_FILENO))
		return prompt_password(user, out);
	fputs("dfs: no password: set DFS_PASSWORD, pass --password-file FILE, "
	      "or run dfs from a terminal to be asked\n",
	      stderr);
	return -ENOKEY;
}

const char *cli_reason(struct cli *cli, int err)
{
	const char *s = dfs_last_error(cli ? cli->client : NULL);

	return s && *s ? s : dfs_strerror(err);
}

int cli_exit_for(int err)
{
	return err == -EHOSTDOWN ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_FAIL;
}

/* Seconds a transfer runs before its progress line appears: $DFS_PROGRESS_DELAY, else 1. */
static double progress_delay(void)
{
	const char *env = getenv("DFS_PROGRESS_DELAY");
	char *end;
	double d;

	if (!env || !*env)
		return 1.0;
	errno = 0;
	d = strtod(env, &end);
	if (errno || *end || d < 0 || d > 86400)
		return 1.0;
	return d;
}

int cli_open(struct cli *cli, bool tolerate_down)
{
	const char *user = cli->user ? cli->user : getenv("DFS_USER");
	char *password = NULL;
	int rc;

	cli->progress_ok = !cli->quiet && isatty(STDERR_FILENO);
	cli->progress_delay = progress_delay();
	if (cli->client && cli->keep_client) {
		cli_attach_events(cli);
		return 0;
	}
	if (!user || !*user) {
		cli_error(cli, "no user: pass -u USER or set DFS_USER");
		return CLI_EXIT_USAGE;
	}
	rc = cli_read_password(user, cli->password_file, &password);
	if (rc < 0)
		return rc == -ENOKEY ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	rc = dfs_client_new(&cli->client, cli->config);
	if (rc < 0) {
		cli_error(cli, "%s", cli_reason(NULL, rc));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	cli_attach_events(cli);
	/* A hint: without it the clients connect after the login. */
	(void)dfs_prepare_shares(cli->client, cli->parallel_clients);
	rc = dfs_login(cli->client, user, password);
	if (rc < 0) {
		if (tolerate_down && rc == -EHOSTDOWN) {
			rc = 0;
			goto out;
		}
		cli_error(cli, "login as %s: %s", user, cli_reason(cli, rc));
		rc = cli_exit_for(rc);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(password, password ? strlen(password) : 0);
	free(password);
	return rc;
}

void cli_close(struct cli *cli)
{
	cli_progress_done(cli);
	if (cli->keep_client)
		return;
	dfs_client_free(cli->client);
	cli->client = NULL;
}

void cli_attach_events(struct cli *cli)
{
	if (cli->client)
		dfs_set_event_handler(cli->client, on_event, cli);
}

void cli_json_result(struct cli *cli, const char *file, const char *name, const char *error)
{
	if (!cli->json)
		return;
	fputs(cli->json_results++ ? ",\n  {" : "[\n  {", stdout);
	if (file) {
		fputs("\"file\": ", stdout);
		cli_json_string(stdout, file);
		fputs(", ", stdout);
	}
	if (name) {
		fputs("\"name\": ", stdout);
		cli_json_string(stdout, name);
		fputs(", ", stdout);
	}
	fputs(error ? "\"ok\": false, \"error\": " : "\"ok\": true", stdout);
	if (error)
		cli_json_string(stdout, error);
	fputs("}", stdout);
}

void cli_json_results_end(struct cli *cli)
{
	if (cli->json)
		fputs(cli->json_results ? "\n]\n" : "[]\n", stdout);
	fflush(stdout);
}

/* Why dfs_name_check refused name, as far as the folder structure tells
 * (the library decides; this only words the message), or NULL. */
static const char *name_structure_why(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return "it is empty";
	if (len > DFS_NAME_MAX_BYTES)
		return NULL;
	if (name[0] == '/')
		return "it begins with '/'";
	if (name[len - 1] == '/')
		return "it ends with '/'";
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 0)
			return "it has an empty folder ('//')";
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return "it has a '.' or '..' component";
		if (n > 255)
			return "a component is longer than 255 bytes";
		p += n;
		if (*p)
			p++;
	}
	return NULL;
}

int cli_check_name(struct cli *cli, const char *what, const char *name)
{
	int rc = dfs_name_check(name);
	const char *why;

	if (rc == 0)
		return 0;
	cli_progress_clear(cli);
	if (strlen(name) > DFS_NAME_MAX_BYTES) {
		fprintf(stderr, "dfs: %s: the name is longer than %d bytes\n", what,
			DFS_NAME_MAX_BYTES);
		return rc;
	}
	why = name_structure_why(name);
	fprintf(stderr, "dfs: %s: invalid name ", what);
	cli_json_string(stderr, name);
	if (why)
		fprintf(stderr, " (%s)", why);
	fputs(": a name is at most 4096 bytes of UTF-8 without control characters; '/' "
	      "separates folders, each 1 to 255 bytes and not '.' or '..', with no '/' at "
	      "either end\n",
	      stderr);
	return rc;
}

bool cli_items_open(struct cli *cli, const char *verb, struct cli_item *items, int n,
		    cli_item_report_fn report, int *status)
{
	int todo = 0, rc;

	/* Every name is checked before any server is contacted. */
	for (int i = 0; i < n; i++) {
		char what[64 + DFS_NAME_MAX_BYTES];

		snprintf(what, sizeof(what), "%s %s", verb, items[i].operand);
		items[i].ok = items[i].name && cli_check_name(cli, what, items[i].name) == 0;
		if (items[i].ok) {
			todo++;
		} else {
			report(cli, &items[i], "invalid name");
			*status = CLI_EXIT_FAIL;
		}
	}
	if (todo == 0)
		return false;
	rc = cli_open(cli, false);
	if (rc == 0)
		return true;
	*status = rc;
	for (int i = 0; i < n; i++)
		if (items[i].ok)
			report(cli, &items[i], "not logged in");
	return false;
}

void cli_strip_slashes(char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

bool cli_in_folder(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(name, prefix, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

void cli_free_names(char **names, int n)
{
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* The longest start that every item's name shares (allocated; "" when none do),
 * so that one listing by prefix covers them all. NULL when out of memory. */
static char *common_start(const struct cli_item *items, int n)
{
	const char *first = NULL;
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		size_t k = 0;

		if (!items[i].ok)
			continue;
		if (!first) {
			first = items[i].name;
			len = strlen(first);
			continue;
		}
		while (k < len && items[i].name[k] == first[k])
			k++;
		len = k;
	}
	return strndup(first ? first : "", len);
}

int cli_folder_names(struct cli *cli, const char *verb, const struct cli_item *items, int n,
		     char ***out, int *nout, int *status)
{
	struct dfs_file_list *l = NULL;
	bool *found = NULL;
	char **names = NULL, *start;
	int rc, count = 0;

	*out = NULL;
	*nout = 0;
	start = common_start(items, n);
	/* The servers send only the names under the folders' common start. */
	rc = start ? dfs_list_prefix(cli->client, start, 0, &l) : -ENOMEM;
	free(start);
	cli_progress_done(cli);
	if (rc < 0) {
		cli_error(cli, "%s: cannot list the files: %s", verb, cli_reason(cli, rc));
		*status = cli_exit_for(rc);
		return rc;
	}
	found = calloc((size_t)n + 1, sizeof(*found));
	names = calloc(l->count + 1, sizeof(*names));
	if (!found || !names) {
		rc = -ENOMEM;
		goto fail;
	}
	/* The list is sorted by name: each file once, in order, even when the
	 * folders given overlap. */
	for (size_t k = 0; k < l->count; k++) {
		bool take = false;

		for (int i = 0; i < n; i++) {
			if (items[i].ok && cli_in_folder(l->files[k]->name, items[i].name)) {
				found[i] = true;
				take = true;
			}
		}
		if (take && !(names[count++] = strdup(l->files[k]->name))) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (int i = 0; i < n; i++) {
		if (items[i].ok && !found[i]) {
			cli_error(cli, "%s %s: no such file or folder", verb, items[i].operand);
			if (cli->json)
				cli_json_result(cli, NULL, items[i].name, "no such file or folder");
			*status = CLI_EXIT_FAIL;
		}
	}
	free(found);
	dfs_file_list_free(l);
	*out = names;
	*nout = count;
	return 0;
fail:
	cli_error(cli, "%s: out of memory", verb);
	*status = CLI_EXIT_FAIL;
	cli_free_names(names, count);
	free(found);
	dfs_file_list_free(l);
	return rc;
}
