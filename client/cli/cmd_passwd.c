/* cmd_passwd.c: dfs passwd: change the user's own password on every server. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

struct passwd_opts {
	const char *file;
};

static const struct option passwd_longopts[] = {
    {"new-password-file", required_argument, NULL, CLI_OPT_NEW_PASSWORD_FILE},
    {NULL, 0, NULL, 0},
};

static int passwd_option(struct cli *cli, void *ctx, int opt, const char *arg)
{
	struct passwd_opts *o = ctx;

	(void)cli;
	if (opt != CLI_OPT_NEW_PASSWORD_FILE)
		return cli_usage_error(&cli_cmd_passwd, "unexpected option");
	o->file = arg;
	return 0;
}

/* The first line of file, without its line ending, in a malloc'd string. */
static int read_first_line(const char *file, char **out)
{
	FILE *f = fopen(file, "re");
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	*out = NULL;
	if (!f)
		return -errno;
	n = getline(out, &cap, f);
	if (n < 0) {
		rc = -ENODATA;
		free(*out);
		*out = NULL;
	} else {
		while (n > 0 && ((*out)[n - 1] == '\n' || (*out)[n - 1] == '\r'))
			(*out)[--n] = '\0';
	}
	fclose(f);
	return rc;
}

static struct termios tty_saved;
static int tty_fd = -1;

static void restore_and_die(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSANOW, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Asks on /dev/tty without echo. */
static int ask(const char *prompt, char *buf, size_t cap)
{
	struct sigaction sa, old_int, old_term;
	struct termios quiet;
	size_t len = 0;
	int fd, rc = 0;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &tty_saved) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_and_die;
	sigemptyset(&sa.sa_mask);
	tty_fd = fd;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	quiet = tty_saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	tcsetattr(fd, TCSANOW, &quiet);
	if (write(fd, prompt, strlen(prompt)) < 0)
		rc = -errno;
	while (rc == 0) {
		char ch;
		ssize_t n = read(fd, &ch, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0 || ch == '\n')
			break;
		if (len + 1 >= cap) {
			rc = -E2BIG;
			break;
		}
		buf[len++] = ch;
	}
	buf[len] = '\0';
	tcsetattr(fd, TCSANOW, &tty_saved);
	if (write(fd, "\n", 1) < 0) {
		/* Only cosmetic. */
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	tty_fd = -1;
	close(fd);
	return rc;
}

/* The new password: $DFS_NEW_PASSWORD, else --new-password-file, else asked
 * twice on the terminal. 0, or an exit status after printing why. */
static int new_password(struct cli *cli, const struct passwd_opts *o, char **out)
{
	const char *env = getenv("DFS_NEW_PASSWORD");
	char a[1024], b[1024];
	int rc;

	*out = NULL;
	if (env) {
		*out = strdup(env);
	} else if (o->file) {
		rc = read_first_line(o->file, out);
		if (rc < 0) {
			cli_error(cli, "passwd: cannot read %s: %s", o->file,
				  rc == -ENODATA ? "it is empty" : strerror(-rc));
			return CLI_EXIT_FAIL;
		}
	} else if (isatty(STDIN_FILENO)) {
		rc = ask("New password: ", a, sizeof(a));
		if (rc == 0)
			rc = ask("Retype new password: ", b, sizeof(b));
		if (rc < 0) {
			cli_error(cli, "passwd: cannot read the new password: %s", strerror(-rc));
			return CLI_EXIT_FAIL;
		}
		if (strcmp(a, b) != 0) {
			explicit_bzero(a, sizeof(a));
			explicit_bzero(b, sizeof(b));
			cli_error(cli, "passwd: the passwords do not match; nothing was changed");
			return CLI_EXIT_FAIL;
		}
		*out = strdup(a);
		explicit_bzero(a, sizeof(a));
		explicit_bzero(b, sizeof(b));
	} else {
		cli_error(cli, "passwd: no new password: set DFS_NEW_PASSWORD, pass "
			       "--new-password-file FILE, or run from a terminal to be asked");
		return CLI_EXIT_USAGE;
	}
	if (!*out) {
		cli_error(cli, "out of memory");
		return CLI_EXIT_FAIL;
	}
	if (!**out) {
		free(*out);
		*out = NULL;
		cli_error(cli, "passwd: an empty password is refused");
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Logs in as cli_open does, but with the current password read here: the
 * servers want it again as proof for the change. 0, or an exit status after
 * printing why. */
static int open_with(struct cli *cli, char **current)
{
	const char *user = cli->user ? cli->user : getenv("DFS_USER");
	int rc;

	*current = NULL;
	if (!user || !*user) {
		cli_error(cli, "no user: pass -u USER or set DFS_USER");
		return CLI_EXIT_USAGE;
	}
	rc = cli_read_password(user, cli->password_file, current);
	if (rc < 0)
		return rc == -ENOKEY ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	/* In the shell the client is logged in already. */
	if (cli->client && cli->keep_client)
		return cli_open(cli, false);
	rc = dfs_client_new(&cli->client, cli->config);
	if (rc < 0) {
		cli_error(cli, "%s", cli_reason(NULL, rc));
		return CLI_EXIT_FAIL;
	}
	cli_attach_events(cli);
	rc = dfs_login(cli->client, user, *current);
	if (rc < 0) {
		cli_error(cli, "login as %s: %s", user, cli_reason(cli, rc));
		return cli_exit_for(rc);
	}
	return 0;
}

static int passwd_main(struct cli *cli, int argc, char **argv)
{
	struct passwd_opts o = {0};
	char **ops = NULL, *pw = NULL, *current = NULL;
	int nops = 0, rc, status = CLI_EXIT_OK;
	unsigned missed = 0;

	rc = cli_parse(cli, &cli_cmd_passwd, argc, argv, passwd_option, &o, &ops, &nops);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops) {
		status = cli_usage_error(&cli_cmd_passwd, "takes no operands");
		goto out;
	}
	/* The current password first: a typo there should not cost the new one. */
	rc = open_with(cli, &current);
	if (rc) {
		status = rc;
		goto out;
	}
	status = new_password(cli, &o, &pw);
	if (status)
		goto out;
	rc = dfs_change_password(cli->client, current, pw, &missed);
	if (rc == -EIO && missed < dfs_server_count(cli->client)) {
		cli_error(cli,
			  "passwd: the password was changed on the servers that answered; "
			  "%u did not get it (see above)",
			  missed);
		status = CLI_EXIT_DEGRADED;
	} else if (rc < 0) {
		cli_error(cli, "passwd: %s", cli_reason(cli, rc));
		status = cli_exit_for(rc);
	} else if (!cli->quiet) {
		printf("password changed on every server\n");
	}
out:
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (current) {
		explicit_bzero(current, strlen(current));
		free(current);
	}
	cli_close(cli);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_passwd = {
    .name = "passwd",
    .summary = "change your password",
    .usage = "[--new-password-file FILE]",
    .help = "Change the password of the user on every server. The current password is\n"
	    "needed as for any command (the servers check a proof of it); the new one is\n"
	    "asked twice without echo (or read from $DFS_NEW_PASSWORD or the first line\n"
	    "of FILE). Only a salted verifier computed here is sent, inside TLS. Every\n"
	    "session opened with the old password ends. A server that is down keeps the\n"
	    "old password: run 'dfs passwd' again when it is back (exit status 3 until\n"
	    "then).\n"
	    "\n"
	    "Options:\n"
	    "      --new-password-file FILE   read the new password from FILE",
    .longopts = passwd_longopts,
    .run = passwd_main,
};
