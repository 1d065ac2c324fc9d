/* dfsadm.c: administers the dfs user database (add, passwd, remove, list, quota). */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "scram.h"
#include "store.h"
#include "users.h"

#define DEFAULT_DB     "/var/lib/dfs/users.db"
#define ITERATIONS_MAX SCRAM_MAX_ITERATIONS
#define PASSWORD_CAP   1024
#define USER_MAX       64

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct command {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(const char *db, int argc, char **argv);
};

static int cmd_add(const char *path, int argc, char **argv);
static int cmd_passwd(const char *path, int argc, char **argv);
static int cmd_remove(const char *path, int argc, char **argv);
static int cmd_list(const char *path, int argc, char **argv);
static int cmd_quota(const char *path, int argc, char **argv);

static const struct command commands[] = {
    {"add", "USER [--iterations N]", "add a user (asks for the password)", cmd_add},
    {"passwd", "USER [--iterations N]", "change a user's password", cmd_passwd},
    {"remove", "USER [--purge --data DIR...]",
     "remove a user; --purge also deletes their files in each data folder DIR", cmd_remove},
    {"list", "", "list the users, one a line, with their quotas", cmd_list},
    {"quota", "USER SIZE [FILES]",
     "limit USER to SIZE bytes (K, M, G, T: powers of 1024; 0: no limit) and FILES files",
     cmd_quota},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: dfsadm [-f DBFILE | -f redis[s]://[USER:PASSWORD@]HOST:PORT[/DB][?OPTIONS]] "
	       "COMMAND [ARGS]\n"
	       "       dfsadm --help | --version\n\n"
	       "Administers the dfs user database (default: $DFS_USERS_DB, otherwise\n" DEFAULT_DB
	       ").\nrediss:// OPTIONS, joined by '&': ca=FILE, cert=FILE, key=FILE.\nPasswords are "
	       "read from the terminal without echo, or from the first\n"
	       "line of standard input; never from the command line.\n\nCommands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-8s %-24s %s\n", c->name, c->args, c->help);
}

/* [A-Za-z0-9._-]{1,64}, not starting with '.'. */
static int user_name_ok(const char *u)
{
	size_t len = strnlen(u, USER_MAX + 1);

	if (len == 0 || len > USER_MAX || u[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
			    u[i]))
			return 0;
	return 1;
}

static int check_user(const char *u)
{
	if (user_name_ok(u))
		return 0;
	fprintf(stderr,
		"dfsadm: invalid user name '%s' (1 to 64 of A-Z a-z 0-9 . _ -, not starting "
		"with '.')\n",
		u);
	return -EINVAL;
}

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

/* Puts the terminal's echo back before dying of the signal. */
static void restore_tty_and_die(int sig)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line from fd into buf without stdio buffering (so nothing past
 * the line is consumed or left in memory). Length, -ENODATA at immediate end
 * of input, -E2BIG for an over-long line, or -errno. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	int rc;

	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0) {
			rc = n ? (int)n : -ENODATA;
			break;
		}
		if (ch == '\n') {
			rc = (int)n;
			break;
		}
		if (n + 1 >= cap) {
			rc = -E2BIG;
			break;
		}
		buf[n++] = ch;
	}
	if (n && buf[n - 1] == '\r' && rc > 0)
		rc = (int)--n;
	buf[rc > 0 ? n : 0] = '\0';
	return rc;
}

/* Prompts on the terminal with echo off; restores it on return or signal. */
static int prompt_no_echo(const char *prompt, char *buf, size_t cap)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa, old[4];
	struct termios tio;
	int rc;

	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_tty_and_die;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	tio_saved = 1;
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	tio.c_lflag |= ECHONL;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) < 0) {
		rc = -errno;
		goto out;
	}
	rc = read_line(STDIN_FILENO, buf, cap);
out:
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	tio_saved = 0;
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	return rc;
}

static int password_ok(const char *p)
{
	for (; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return 1;
}

/* Reads the new password for user into buf: twice from a terminal, else the
 * first line of stdin. 0, or -1 after printing why. */
static int read_password(const char *user, char *buf, size_t cap)
{
	char again[PASSWORD_CAP], prompt[128];
	int tty = isatty(STDIN_FILENO), rc;

	if (tty) {
		snprintf(prompt, sizeof(prompt), "New password for %s: ", user);
		rc = prompt_no_echo(prompt, buf, cap);
		if (rc >= 0 && buf[0]) {
			int rc2 = prompt_no_echo("Retype password: ", again, sizeof(again));

			if (rc2 < 0 || strcmp(buf, again) != 0) {
				OPENSSL_cleanse(again, sizeof(again));
				fprintf(stderr, "dfsadm: passwords do not match\n");
				return -1;
			}
			OPENSSL_cleanse(again, sizeof(again));
		}
	} else {
		rc = read_line(STDIN_FILENO, buf, cap);
	}
	if (rc == -E2BIG) {
		fprintf(stderr, "dfsadm: password too long (at most %d characters)\n",
			PASSWORD_CAP - 1);
		return -1;
	}
	if (rc == -ENODATA || (rc >= 0 && buf[0] == '\0')) {
		fprintf(stderr, "dfsadm: empty password refused\n");
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "dfsadm: cannot read password: %s\n", strerror(-rc));
		return -1;
	}
	if (!password_ok(buf)) {
		fprintf(stderr, "dfsadm: password must be printable ASCII characters\n");
		return -1;
	}
	return 0;
}

/* Parses "--iterations N" / "--iterations=N" among args; the one other
 * argument is the user name. 0, or EXIT_USAGE after printing why. */
static int parse_user_args(const char *cmd, int argc, char **argv, const char **user,
			   uint32_t *iterations, int allow_iterations)
{
	*user = NULL;
	for (int i = 1; i < argc; i++) {
		const char *val = NULL;

		if (allow_iterations && strcmp(argv[i], "--iterations") == 0) {
			if (++i == argc) {
				fprintf(stderr, "dfsadm: --iterations needs a value\n");
				return EXIT_USAGE;
			}
			val = argv[i];
		} else if (allow_iterations && strncmp(argv[i], "--iterations=", 13) == 0) {
			val = argv[i] + 13;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "dfsadm: %s: unknown option '%s'\n", cmd, argv[i]);
			return EXIT_USAGE;
		} else if (*user) {
			fprintf(stderr, "dfsadm: %s: unexpected argument '%s'\n", cmd, argv[i]);
			return EXIT_USAGE;
		} else {
			*user = argv[i];
		}
		if (val) {
			char *end = NULL;
			unsigned long long n;

			errno = 0;
			n = strtoull(val, &end, 10);
			if (errno || end == val || *end || val[0] == '-' ||
			    n < SCRAM_MIN_ITERATIONS || n > ITERATIONS_MAX) {
				fprintf(stderr,
					"dfsadm: --iterations must be a number from %u to %u\n",
					(unsigned)SCRAM_MIN_ITERATIONS, (unsigned)ITERATIONS_MAX);
				return EXIT_USAGE;
			}
			*iterations = (uint32_t)n;
		}
	}
	if (!*user) {
		fprintf(stderr, "dfsadm: %s: missing user name\n", cmd);
		return EXIT_USAGE;
	}
	return 0;
}

static int open_db(const char *path, bool writable, struct user_db **db)
{
	char err[512];
	int rc = user_db_open(db, path, writable, err, sizeof(err));

	/* A Redis database is reached at first use: say now if it cannot be. */
	if (rc == 0) {
		rc = user_db_ping(*db, err, sizeof(err));
		if (rc < 0) {
			user_db_close(*db);
			*db = NULL;
		}
	}
	if (rc < 0)
		fprintf(stderr, "dfsadm: %s\n", err);
	return rc;
}

/* add and passwd: set a user's password, creating the user or requiring it. */
static int set_password(const char *path, int argc, char **argv, bool create)
{
	struct user_db *db = NULL;
	struct scram_verifier v;
	char password[PASSWORD_CAP];
	const char *user;
	struct user_db_settings settings;
	uint32_t iterations = 0;
	int rc, status = EXIT_FAIL;

	password[0] = '\0';
	memset(&v, 0, sizeof(v));
	rc = parse_user_args(argv[0], argc, argv, &user, &iterations, 1);
	if (rc)
		return rc;
	if (check_user(user) < 0)
		return EXIT_USAGE;
	if (open_db(path, true, &db) < 0)
		goto out;
	/* Ask for the password only once the change can succeed. */
	rc = user_db_get(db, user, &v);
	if (create && rc == 0) {
		fprintf(stderr, "dfsadm: user %s already exists (use passwd to change it)\n", user);
		goto out;
	}
	if (!create && rc == -ENOENT) {
		fprintf(stderr, "dfsadm: no such user: %s\n", user);
		goto out;
	}
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "dfsadm: cannot read user %s: %s\n", user, user_db_error(db, rc));
		goto out;
	}
	/* Without --iterations, the database's count for new users, which is
	 * also what unknown users appear to have: a different count would tell
	 * real users from made-up names. */
	if (iterations == 0) {
		iterations = user_db_settings(db, &settings) == 0 ? settings.iterations
								  : SCRAM_DEFAULT_ITERATIONS;
		OPENSSL_cleanse(&settings, sizeof(settings));
	}
	if (read_password(user, password, sizeof(password)) < 0)
		goto out;
	rc = scram_make_verifier(password, iterations, &v);
	if (rc < 0) {
		fprintf(stderr, "dfsadm: cannot derive the verifier: %s\n", strerror(-rc));
		goto out;
	}
	rc = user_db_put(db, user, &v, !create);
	if (rc == -EEXIST) {
		fprintf(stderr, "dfsadm: user %s already exists\n", user);
		goto out;
	}
	if (rc < 0) {
		fprintf(stderr, "dfsadm: cannot store user %s: %s\n", user, user_db_error(db, rc));
		goto out;
	}
	status = EXIT_OK;
out:
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(&v, sizeof(v));
	user_db_close(db);
	return status;
}

static int cmd_add(const char *path, int argc, char **argv)
{
	return set_password(path, argc, argv, true);
}

static int cmd_passwd(const char *path, int argc, char **argv)
{
	return set_password(path, argc, argv, false);
}

static unsigned long purged_files;

static int purge_entry(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(fpath) < 0 ? -errno : 0;
	purged_files++;
	return unlink(fpath) < 0 ? -errno : 0;
}

/* Deletes DATA/u/USER and USER's staged uploads in DATA/tmp. Refuses a
 * folder that is not a dfs data folder. 0, or -1 after printing why. */
static int purge_data(const char *data, const char *user)
{
	char path[PATH_MAX], magic[16] = "";
	FILE *f;
	DIR *d;
	struct dirent *e;
	size_t ulen = strlen(user);
	unsigned long records = 0;
	int rc;

	if (snprintf(path, sizeof(path), "%s/FORMAT", data) >= (int)sizeof(path))
		goto toolong;
	f = fopen(path, "re");
	if (!f || !fgets(magic, sizeof(magic), f) || strncmp(magic, "dfs-data ", 9) != 0) {
		fprintf(stderr,
			"dfsadm: %s is not a dfs data folder (no FORMAT file); not touched\n",
			data);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	purged_files = 0;
	if (snprintf(path, sizeof(path), "%s/u/%s", data, user) >= (int)sizeof(path))
		goto toolong;
	errno = 0;
	rc = nftw(path, purge_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0 && errno != ENOENT) {
		fprintf(stderr, "dfsadm: cannot delete %s: %s\n", path,
			strerror(rc < 0 ? errno : -rc));
		return -1;
	}
	/* Staged uploads are named "USER.HASH.VERSION.INDEX.SIZE". */
	if (snprintf(path, sizeof(path), "%s/tmp", data) >= (int)sizeof(path))
		goto toolong;
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, user, ulen) == 0 && e->d_name[ulen] == '.' &&
		    unlinkat(dirfd(d), e->d_name, 0) == 0)
			purged_files++;
	}
	if (d)
		closedir(d);
	/* The records (format 2 on) are in the folder's records database. */
	rc = store_purge_records(data, user, &records);
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "dfsadm: cannot delete %s's records in %s/records: %s\n", user,
			data, strerror(-rc));
		return -1;
	}
	printf("deleted %s/u/%s (%lu files, %lu records)\n", data, user, purged_files, records);
	return 0;
toolong:
	fprintf(stderr, "dfsadm: path too long: %s\n", data);
	return -1;
}

static int cmd_remove(const char *path, int argc, char **argv)
{
	struct user_db *db = NULL;
	const char *user = NULL;
	const char **data = NULL;
	int ndata = 0, rc, status = EXIT_FAIL;
	bool purge = false;

	data = calloc((size_t)argc, sizeof(*data));
	if (!data) {
		fprintf(stderr, "dfsadm: out of memory\n");
		return EXIT_FAIL;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--purge") == 0) {
			purge = true;
		} else if (strcmp(argv[i], "--data") == 0 || strncmp(argv[i], "--data=", 7) == 0) {
			const char *v =
			    argv[i][6] == '=' ? argv[i] + 7 : (i + 1 < argc ? argv[++i] : NULL);

			if (!v || !*v) {
				fprintf(stderr, "dfsadm: remove: --data needs a data folder\n");
				status = EXIT_USAGE;
				goto out;
			}
			data[ndata++] = v;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "dfsadm: remove: unknown option '%s'\n", argv[i]);
			status = EXIT_USAGE;
			goto out;
		} else if (user) {
			fprintf(stderr, "dfsadm: remove: unexpected argument '%s'\n", argv[i]);
			status = EXIT_USAGE;
			goto out;
		} else {
			user = argv[i];
		}
	}
	if (!user) {
		fprintf(stderr, "dfsadm: remove: missing user name\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (purge != (ndata > 0)) {
		fprintf(stderr, "dfsadm: remove: --purge needs --data DIR (each data folder whose "
				"files to delete), and --data goes with --purge\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (check_user(user) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	if (open_db(path, true, &db) < 0)
		goto out;
	rc = user_db_delete(db, user);
	if (rc == -ENOENT && !purge) {
		fprintf(stderr, "dfsadm: no such user: %s\n", user);
		goto out;
	}
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "dfsadm: cannot remove user %s: %s\n", user, user_db_error(db, rc));
		goto out;
	}
	if (rc == -ENOENT)
		printf("user %s was not in the database\n", user);
	else if (purge)
		printf("user %s removed; they can no longer log in, and a session still open "
		       "ends at its next request\n",
		       user);
	else
		printf("user %s removed; their files stay in the data folders (use --purge --data "
		       "DIR... to delete them); a session still open ends at its next request\n",
		       user);
	status = EXIT_OK;
	/* The user is gone from the database first, so no new call of theirs
	 * can write while their folders are deleted. */
	for (int i = 0; i < ndata; i++)
		if (purge_data(data[i], user) < 0)
			status = EXIT_FAIL;
out:
	free(data);
	user_db_close(db);
	return status;
}

/* One user a line, name first, then the quota if the user has one. */
static int print_user(const char *user, void *arg)
{
	struct user_quota q;
	int rc = user_db_quota(arg, user, &q);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc < 0 || (!q.bytes && !q.files))
		return puts(user) < 0 ? -EIO : 0;
	if (printf("%s quota", user) < 0)
		return -EIO;
	if (q.bytes && printf(" %llu bytes%s", (unsigned long long)q.bytes, q.files ? "," : "") < 0)
		return -EIO;
	if (q.files && printf(" %llu files", (unsigned long long)q.files) < 0)
		return -EIO;
	return puts("") < 0 ? -EIO : 0;
}

static int cmd_list(const char *path, int argc, char **argv)
{
	struct user_db *db = NULL;
	int rc, status = EXIT_FAIL;

	if (argc > 1) {
		fprintf(stderr, "dfsadm: list: unexpected argument '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	if (open_db(path, false, &db) < 0)
		goto out;
	rc = user_db_each(db, print_user, db);
	if (rc == 0 && fflush(stdout) != 0)
		rc = -errno;
	if (rc < 0)
		fprintf(stderr, "dfsadm: cannot list users: %s\n", user_db_error(db, rc));
	else
		status = EXIT_OK;
out:
	user_db_close(db);
	return status;
}

static int cmd_quota(const char *path, int argc, char **argv)
{
	struct user_db *db = NULL;
	struct user_quota q = {0, 0};
	int rc, status = EXIT_FAIL;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "dfsadm: quota: usage: quota USER SIZE [FILES]\n");
		return EXIT_USAGE;
	}
	if (check_user(argv[1]) < 0)
		return EXIT_USAGE;
	if (user_quota_parse(argv[2], true, &q.bytes) < 0) {
		fprintf(stderr,
			"dfsadm: quota: invalid size '%s' (a number of bytes, with K, M, G or T "
			"for powers of 1024; 0 for no limit)\n",
			argv[2]);
		return EXIT_USAGE;
	}
	if (argc == 4 && user_quota_parse(argv[3], false, &q.files) < 0) {
		fprintf(stderr, "dfsadm: quota: invalid number of files '%s' (0 for no limit)\n",
			argv[3]);
		return EXIT_USAGE;
	}
	if (open_db(path, true, &db) < 0)
		goto out;
	rc = user_db_set_quota(db, argv[1], &q);
	if (rc == -ENOENT)
		fprintf(stderr, "dfsadm: quota: no such user '%s'\n", argv[1]);
	else if (rc < 0)
		fprintf(stderr, "dfsadm: cannot set the quota of %s: %s\n", argv[1],
			user_db_error(db, rc));
	else
		status = EXIT_OK;
out:
	user_db_close(db);
	return status;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("DFS_USERS_DB");
	int i = 1;

	if (!path || !*path)
		path = DEFAULT_DB;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("dfsadm %s\n", DFS_VERSION_STRING);
			return EXIT_OK;
		} else if (strcmp(argv[i], "-f") == 0) {
			if (i + 1 == argc || !argv[i + 1][0]) {
				fprintf(stderr, "dfsadm: -f needs a database file\n");
				return EXIT_USAGE;
			}
			path = argv[++i];
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr, "dfsadm: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		fprintf(stderr, "dfsadm: missing command\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	for (const struct command *c = commands; c->name; c++) {
		if (strcmp(argv[i], c->name) != 0)
			continue;
		if (wants_help(argc - i, argv + i)) {
			printf("Usage: dfsadm [-f DBFILE] %s %s\n  %s\n", c->name, c->args,
			       c->help);
			return EXIT_OK;
		}
		return c->run(path, argc - i, argv + i);
	}
	fprintf(stderr, "dfsadm: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
