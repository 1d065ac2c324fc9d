/* cmd_shell.c: dfs shell: an interactive prompt that logs in once and runs commands. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <editline/readline.h>
#include <histedit.h>

#include "cli.h"

#define SHELL_HISTORY_LINES 1000

/* readline's completion callbacks take no context argument, so the shell
 * they complete for, and the remote names fetched for it, live here. */
static struct cli *completing;
static struct dfs_file_list *remote_names;
static bool remote_names_loaded;

static const char *const shell_words[] = {"help", "quit", "exit"};

/* Set by Ctrl-C (SIGINT) at an interactive prompt: the line being edited is
 * dropped, the shell goes on. */
static volatile sig_atomic_t interrupted;

/* A child that could not share the shell's session exits with this status,
 * having done nothing; the shell then runs the command itself. */
#define SHELL_CHILD_NO_SESSION 120

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static char *remote_names_prefix; /* what the names loaded begin with */

static void forget_remote_names(void)
{
	dfs_file_list_free(remote_names);
	remote_names = NULL;
	remote_names_loaded = false;
	free(remote_names_prefix);
	remote_names_prefix = NULL;
}

/* Fetches the user's names once per command line, without events: a
 * warning printed in the middle of the line being edited would garble it. */
static void load_remote_names(const char *prefix)
{
	if (remote_names_loaded && remote_names_prefix &&
	    strncmp(prefix, remote_names_prefix, strlen(remote_names_prefix)) == 0)
		return;
	forget_remote_names();
	if (!completing || !completing->client)
		return;
	remote_names_loaded = true;
	remote_names_prefix = strdup(prefix);
	/* Only the names that begin with what is typed: the servers send no more. */
	dfs_set_event_handler(completing->client, NULL, NULL);
	if (!remote_names_prefix ||
	    dfs_list_prefix(completing->client, prefix, 0, &remote_names) < 0)
		remote_names = NULL;
	cli_attach_events(completing);
}

/* Generator of command names for readline: state 0 starts anew. */
static char *command_generator(const char *text, int state)
{
	static size_t i;
	size_t len = strlen(text);

	if (state == 0)
		i = 0;
	while (i < cli_ncommands + sizeof(shell_words) / sizeof(shell_words[0])) {
		const char *w =
		    i < cli_ncommands ? cli_commands[i]->name : shell_words[i - cli_ncommands];

		i++;
		/* "shell" inside the shell would only nest it. */
		if (strcmp(w, "shell") != 0 && strncmp(w, text, len) == 0)
			return strdup(w);
	}
	return NULL;
}

/* The word being completed without its backslashes (names are offered
 * with spaces and quotes escaped by one), in a malloc'd string. */
static char *unescape_word(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;

	if (!out)
		return NULL;
	for (const char *p = text; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* name[0..len) with a backslash before each character a shell would split
 * or interpret, in a malloc'd string. */
static char *escape_name(const char *name, size_t len)
{
	char *out = malloc(2 * len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (strchr(" \t\\\"'`$&|;<>()*?[]{}!#~", name[i]))
			*o++ = '\\';
		*o++ = name[i];
	}
	*o = '\0';
	return out;
}

/* Generator of the user's remote names for readline, one folder at a time:
 * a name is offered up to the '/' after the typed part ("photos/" for
 * "photos/2024/a.jpg"), each folder once, and escaped as a shell word. */
static char *name_generator(const char *text, int state)
{
	static size_t i;
	static char *typed, *last;
	size_t len;

	if (state == 0) {
		i = 0;
		free(typed);
		free(last);
		last = NULL;
		typed = unescape_word(text);
		if (typed)
			load_remote_names(typed);
	}
	if (!typed)
		return NULL;
	len = strlen(typed);
	while (remote_names && i < remote_names->count) {
		const char *n = remote_names->files[i++]->name;
		const char *slash;
		size_t upto;

		if (strncmp(n, typed, len) != 0)
			continue;
		slash = strchr(n + len, '/');
		upto = slash ? (size_t)(slash - n) + 1 : strlen(n);
		/* The list is sorted: a folder's names are next to each other. */
		if (last && strlen(last) == upto && strncmp(last, n, upto) == 0)
			continue;
		free(last);
		last = strndup(n, upto);
		return last ? escape_name(n, upto) : NULL;
	}
	return NULL;
}

/* Completes the word at start: a command first, then remote names (local
 * files for put). */
static char **complete(const char *text, int start, int end)
{
	char first[32];
	char **matches;
	int i = 0, n = 0;

	(void)end;
	rl_completion_append_character = ' ';
	while (i < start && (rl_line_buffer[i] == ' ' || rl_line_buffer[i] == '\t'))
		i++;
	if (i >= start) {
		rl_attempted_completion_over = 1;
		return rl_completion_matches(text, command_generator);
	}
	while (i < start && rl_line_buffer[i] != ' ' && rl_line_buffer[i] != '\t' &&
	       n + 1 < (int)sizeof(first))
		first[n++] = rl_line_buffer[i++];
	first[n] = '\0';
	if (strcmp(first, "put") == 0)
		return NULL; /* readline's own file name completion */
	rl_attempted_completion_over = 1;
	if (strcmp(first, "help") == 0)
		return rl_completion_matches(text, command_generator);
	if (strcmp(first, "get") != 0 && strcmp(first, "delete") != 0 &&
	    strcmp(first, "list") != 0 && strcmp(first, "locate") != 0 &&
	    strcmp(first, "repair") != 0 && strcmp(first, "scrub") != 0 &&
	    strcmp(first, "stat") != 0)
		return NULL;
	matches = rl_completion_matches(text, name_generator);
	/* A folder completed alone is continued, not ended with a space. */
	if (matches && matches[0] && (!matches[1] || !matches[2]) && *matches[0] &&
	    matches[0][strlen(matches[0]) - 1] == '/')
		rl_completion_append_character = '\0';
	return matches;
}

/* The history file: $XDG_STATE_HOME/dfs/history or ~/.local/state/dfs/history,
 * its folders created (mode 0700) if missing. Returns 0 or -errno. */
static int history_path(char *buf, size_t len)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *p;
	int n;

	if (state && *state)
		n = snprintf(buf, len, "%s/dfs/history", state);
	else if (home && *home)
		n = snprintf(buf, len, "%s/.local/state/dfs/history", home);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	/* mkdir -p of every folder above the file. */
	for (p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			int err = -errno;

			*p = '/';
			return err;
		}
		*p = '/';
	}
	return 0;
}

static void shell_help(void)
{
	size_t i;
	char left[96];

	puts("Commands (options as for 'dfs COMMAND'; you are logged in already):");
	for (i = 0; i < cli_ncommands; i++) {
		if (cli_commands[i] == &cli_cmd_shell)
			continue;
		snprintf(left, sizeof(left), "%s %s", cli_commands[i]->name,
			 cli_commands[i]->usage);
		printf("  %-33s %s\n", left, cli_commands[i]->summary);
	}
	printf("  %-33s %s\n", "help [COMMAND]", "this list, or a command's usage");
	printf("  %-33s %s\n", "quit, exit, Ctrl-D", "leave the shell");
	puts("Quote names with spaces (\"my file\"); Tab completes commands and names.");
}

/* Runs cmd on a copy of the shell's state, over the shell's client. */
static int run_here(struct cli *shell, const struct cli_command *cmd, int argc, char **argv)
{
	struct cli sub = *shell;

	/* Each command gets the shell's options afresh and may add its own. */
	sub.help = false;
	sub.json_results = 0;
	memset(&sub.progress, 0, sizeof(sub.progress));
	return cmd->run(&sub, argc, argv);
}

/* Runs cmd in a child process on a client sharing the shell's session (its
 * own connections: the shell's stay as they are), so that Ctrl-C ends the
 * command, transfers included, and not the shell. The shell ignores the
 * interrupt meanwhile. Returns the command's exit status, 130 when it was
 * interrupted, or -1 when the child could not start or share the session
 * (nothing was run). */
static int run_in_child(struct cli *shell, const struct cli_command *cmd, int argc, char **argv)
{
	int wstatus;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct dfs_client *shared = NULL;
		struct cli sub = *shell;
		int status;

		signal(SIGINT, SIG_DFL);
		if (dfs_client_share(shell->client, &shared) < 0)
			_exit(SHELL_CHILD_NO_SESSION);
		sub.help = false;
		sub.json_results = 0;
		memset(&sub.progress, 0, sizeof(sub.progress));
		/* Events of a shared client go to its owner's handler. */
		cli_attach_events(&sub);
		sub.session = shell->client;
		sub.client = shared;
		status = cmd->run(&sub, argc, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(status);
	}
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			return -1;
	interrupted = 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == SHELL_CHILD_NO_SESSION)
		return -1;
	if (WIFSIGNALED(wstatus)) {
		fputc('\n', stderr);
		if (WTERMSIG(wstatus) == SIGINT) {
			cli_error(shell, "%s: interrupted", cmd->name);
			return 130;
		}
		cli_error(shell, "%s: ended by signal %d", cmd->name, WTERMSIG(wstatus));
		return CLI_EXIT_FAIL;
	}
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : CLI_EXIT_FAIL;
}

/* Runs one command line already split into words; returns its exit status.
 * At a terminal, commands run in a child process (see run_in_child), except
 * passwd, which changes the shell's own session. */
static int run_words(struct cli *shell, int argc, char **argv, bool interactive)
{
	const struct cli_command *cmd;
	int status = -1;

	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "?") == 0) {
		if (argc < 2) {
			shell_help();
			return CLI_EXIT_OK;
		}
		cmd = cli_find_command(argv[1]);
		if (!cmd || cmd == &cli_cmd_shell) {
			cli_error(shell, "unknown command '%s'; 'help' lists them", argv[1]);
			return CLI_EXIT_USAGE;
		}
		cli_print_command_help(cmd, stdout);
		return CLI_EXIT_OK;
	}
	cmd = cli_find_command(argv[0]);
	if (!cmd || cmd == &cli_cmd_shell) {
		cli_error(shell, "unknown command '%s'; 'help' lists them", argv[0]);
		return CLI_EXIT_USAGE;
	}
	if (interactive && cmd != &cli_cmd_passwd)
		status = run_in_child(shell, cmd, argc, argv);
	if (status < 0)
		status = run_here(shell, cmd, argc, argv);
	fflush(stdout);
	cli_attach_events(shell);
	/* A put or delete changes the names to complete. */
	forget_remote_names();
	return status;
}

/* Splits line into words as a shell would (quotes, backslashes) and runs
 * them; an empty line does nothing. Sets *quit for quit/exit. */
static int run_line(struct cli *shell, Tokenizer *tok, const char *line, bool interactive,
		    bool *quit)
{
	const char **words = NULL;
	char **argv = NULL;
	int argc = 0, i, rc, status = CLI_EXIT_OK;

	tok_reset(tok);
	rc = tok_str(tok, line, &argc, &words);
	if (rc != 0) {
		cli_error(shell, rc > 0 ? "unmatched quote" : "cannot split the line");
		return CLI_EXIT_USAGE;
	}
	if (argc == 0)
		return CLI_EXIT_OK;
	if (strcmp(words[0], "quit") == 0 || strcmp(words[0], "exit") == 0) {
		*quit = true;
		return CLI_EXIT_OK;
	}
	/* getopt wants writable argv; the tokenizer's words are its own. */
	argv = calloc((size_t)argc + 1, sizeof(*argv));
	if (!argv) {
		cli_error(shell, "out of memory");
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < argc; i++) {
		argv[i] = strdup(words[i]);
		if (!argv[i]) {
			cli_error(shell, "out of memory");
			status = CLI_EXIT_FAIL;
			goto out;
		}
	}
	status = run_words(shell, argc, argv, interactive);
out:
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return status;
}

/* One line from a non-terminal input (a script piped in), without its newline. */
static char *read_plain_line(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);

	if (n < 0) {
		free(line);
		return NULL;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	return line;
}

static int shell_main(struct cli *cli, int argc, char **argv)
{
	char history[PATH_MAX];
	bool interactive = isatty(STDIN_FILENO), quit = false, have_history = false;
	Tokenizer *tok = NULL;
	char **ops = NULL;
	int nops = 0, rc, status = CLI_EXIT_OK;

	rc = cli_parse(cli, &cli_cmd_shell, argc, argv, NULL, NULL, &ops, &nops);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops > 0) {
		status = cli_usage_error(&cli_cmd_shell, "unexpected operand '%s'", ops[0]);
		goto out;
	}
	tok = tok_init(NULL);
	if (!tok) {
		cli_error(cli, "out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	rc = cli_open(cli, false);
	if (rc) {
		status = rc;
		goto out;
	}
	cli->keep_client = true;
	completing = cli;
	if (interactive) {
		struct sigaction sa;

		/* Ctrl-C drops the line being edited, or ends the running command
		 * (run in a child), never the shell: the handler interrupts the
		 * terminal read, and libedit must not re-raise the signal. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigint;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		rl_catch_signals = 0;
		rl_readline_name = "dfs";
		rl_attempted_completion_function = complete;
		stifle_history(SHELL_HISTORY_LINES);
		have_history = history_path(history, sizeof(history)) == 0;
		if (have_history)
			read_history(history);
		if (!cli->quiet)
			printf(
			    "dfs %s: %s on a cluster of %u servers; 'help' lists the commands.\n",
			    dfs_version(), cli->user ? cli->user : getenv("DFS_USER"),
			    dfs_server_count(cli->client));
	}
	while (!quit) {
		char *line;

		interrupted = 0;
		line = interactive ? readline("dfs> ") : read_plain_line();
		if (!line) {
			if (interactive)
				putchar('\n');
			if (interactive && interrupted) {
				status = 130;
				continue;
			}
			break;
		}
		if (interactive && line[strspn(line, " \t")] != '\0')
			add_history(line);
		status = run_line(cli, tok, line, interactive, &quit);
		free(line);
	}
	if (have_history && write_history(history) != 0 && !cli->quiet)
		cli_error(cli, "warning: cannot save the history in %s", history);
out:
	forget_remote_names();
	if (interactive)
		signal(SIGINT, SIG_DFL);
	completing = NULL;
	cli->keep_client = false;
	cli_close(cli);
	if (tok)
		tok_end(tok);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_shell = {
    .name = "shell",
    .summary = "an interactive prompt (logs in once)",
    .usage = "",
    .help = "Log in once and read commands at a 'dfs> ' prompt, with line editing,\n"
	    "history (kept in $XDG_STATE_HOME/dfs/history, by default\n"
	    "~/.local/state/dfs/history) and Tab completion of commands and remote\n"
	    "names: list, put, get, delete, status, locate, repair, scrub take the\n"
	    "same operands and options as on the command line and run on the same\n"
	    "session; 'help' lists them; 'quit', 'exit' or Ctrl-D leaves. Names with\n"
	    "spaces are quoted as in a shell; Tab completes remote names a folder at a\n"
	    "time. Ctrl-C drops the line being edited or ends the running command (at a\n"
	    "terminal each command runs in a child process), never the shell. 'dfs'\n"
	    "with no command at a terminal opens the shell. With standard input not a\n"
	    "terminal, commands are read one a line without a prompt, and the exit\n"
	    "status is that of the last command.",
    .run = shell_main,
};
