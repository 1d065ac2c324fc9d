/* cmd_mount.c: dfs mount MOUNTPOINT [-f] [--cache DIR]: the user's files through FUSE. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mount_fs.h"

struct mount_opts {
	bool foreground;
	const char *cache;
};

static const struct option mount_longopts[] = {
    {"foreground", no_argument, NULL, 'f'},
    {"cache", required_argument, NULL, CLI_OPT_CACHE},
    {NULL, 0, NULL, 0},
};

static int mount_option(struct cli *cli, void *ctx, int opt, const char *arg)
{
	struct mount_opts *o = ctx;

	(void)cli;
	if (opt == 'f')
		o->foreground = true;
	else if (opt == CLI_OPT_CACHE)
		o->cache = arg;
	else
		return cli_usage_error(&cli_cmd_mount, "unexpected option");
	return 0;
}

/* Creates path and the folders above it that are missing, each mode 0700. */
static int make_path(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

/* A new private folder for this mount's staged files below the cache folder:
 * --cache DIR, else $XDG_CACHE_HOME/dfs, else ~/.cache/dfs. */
static int make_cache(struct cli *cli, const char *opt, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char base[PATH_MAX], real[PATH_MAX];
	int rc;

	if (opt)
		rc = snprintf(base, sizeof(base), "%s", opt);
	else if (xdg && xdg[0] == '/')
		rc = snprintf(base, sizeof(base), "%s/dfs", xdg);
	else if (home && home[0] == '/')
		rc = snprintf(base, sizeof(base), "%s/.cache/dfs", home);
	else {
		cli_error(cli,
			  "mount: no cache folder: set HOME or XDG_CACHE_HOME, or pass --cache");
		return -ENOENT;
	}
	if (rc >= (int)sizeof(base) || !base[0]) {
		cli_error(cli, "mount: cache folder: path too long");
		return -ENAMETOOLONG;
	}
	rc = base[0] == '/' ? make_path(base)
			    : (mkdir(base, 0700) < 0 && errno != EEXIST ? -errno : 0);
	if (rc < 0 || !realpath(base, real)) {
		cli_error(cli, "mount: cannot create the cache folder %s: %s", base,
			  strerror(rc < 0 ? -rc : errno));
		return rc < 0 ? rc : -errno;
	}
	if (snprintf(out, len, "%s/mount-XXXXXX", real) >= (int)len || !mkdtemp(out)) {
		cli_error(cli, "mount: cannot create a folder in %s: %s", real, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* Removes the staged files left in the cache folder, then the folder. */
static void remove_cache(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

/* Mounts, daemonizes unless foreground, serves until unmounted. */
static int serve(struct cli *cli, struct mount_state *m, const char *mountpoint)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *lc;
	struct fuse *f;
	int rc = CLI_EXIT_FAIL;

	if (fuse_opt_add_arg(&args, "dfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "fsname=dfs,subtype=dfs")) {
		cli_error(cli, "mount: out of memory");
		fuse_opt_free_args(&args);
		return CLI_EXIT_FAIL;
	}
	f = fuse_new(&args, &mount_operations, sizeof(mount_operations), m);
	fuse_opt_free_args(&args);
	if (!f) {
		cli_error(cli, "mount: cannot set up FUSE");
		return CLI_EXIT_FAIL;
	}
	if (fuse_mount(f, mountpoint) != 0) {
		cli_error(cli, "mount: cannot mount on %s (is /dev/fuse there, and fusermount3?)",
			  mountpoint);
		fuse_destroy(f);
		return CLI_EXIT_FAIL;
	}
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
		cli_error(cli, "mount: cannot install signal handlers");
		goto out;
	}
	/* The mount is ready: only now does the caller get its exit status. */
	if (fuse_daemonize(m->foreground) != 0) {
		cli_error(cli, "mount: cannot go to the background");
		goto signals;
	}
	lc = fuse_loop_cfg_create();
	if (!lc)
		goto signals;
	fuse_loop_cfg_set_max_threads(lc, 4 * MOUNT_CLIENTS);
	/* Unmounted (0) or ended by SIGTERM, SIGINT or SIGHUP (the signal): done. */
	rc = fuse_loop_mt(f, lc) >= 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	fuse_loop_cfg_destroy(lc);
      signals:
	fuse_remove_signal_handlers(fuse_get_session(f));
out:
	fuse_unmount(f);
	fuse_destroy(f);
	return rc;
}

static int mount_main(struct cli *cli, int argc, char **argv)
{
	struct mount_opts o = {0};
	struct mount_state m = {0};
	struct dfs_client *owner;
	char config[PATH_MAX];
	struct timespec now;
	struct stat sb;
	char **ops = NULL;
	int n = 0, rc, status;

	rc = cli_parse(cli, &cli_cmd_mount, argc, argv, mount_option, &o, &ops, &n);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (cli->keep_client) {
		/* The shell's client serves one command at a time; a mount outlives it. */
		cli_error(cli, "mount: run 'dfs mount' from the command line, not in the shell");
		free(ops);
		return CLI_EXIT_USAGE;
	}
	if (n != 1) {
		status = n == 0
			     ? cli_usage_error(&cli_cmd_mount, "no MOUNTPOINT given")
			     : cli_usage_error(&cli_cmd_mount, "unexpected operand '%s'", ops[1]);
		free(ops);
		return status;
	}
	rc = stat(ops[0], &sb);
	if (rc < 0 || !S_ISDIR(sb.st_mode)) {
		cli_error(cli, "mount: %s: %s", ops[0], rc < 0 ? strerror(errno) : "not a folder");
		free(ops);
		return CLI_EXIT_FAIL;
	}
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		cli_error(cli, "mount: /dev/fuse: %s (FUSE is needed)", strerror(errno));
		free(ops);
		return CLI_EXIT_FAIL;
	}
	/* Logging in again happens after the daemon moved to "/": an absolute path. */
	m.config = cli->config ? cli->config : getenv("DFS_CONFIG");
	if (m.config && !*m.config)
		m.config = NULL;
	if (m.config && !realpath(m.config, config)) {
		cli_error(cli, "mount: %s: %s", m.config, strerror(errno));
		free(ops);
		return CLI_EXIT_FAIL;
	}
	if (m.config)
		m.config = config;
	m.user = cli->user ? cli->user : getenv("DFS_USER");
	if (!m.user || !*m.user) {
		cli_error(cli, "no user: pass -u USER or set DFS_USER");
		free(ops);
		return CLI_EXIT_USAGE;
	}
	rc = cli_read_password(m.user, cli->password_file, &m.password);
	if (rc < 0) {
		free(ops);
		return rc == -ENOKEY ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	m.started_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	m.uid = getuid();
	m.gid = getgid();
	pthread_mutex_init(&m.pool_lock, NULL);
	pthread_cond_init(&m.pool_free, NULL);
	pthread_mutex_init(&m.tree_lock, NULL);
	/* Log in first, so a bad password is reported here and not by a daemon;
	 * until the mount is up, the login's warnings go to the terminal. */
	m.foreground = true;
	rc = pool_login(&m, &owner);
	m.foreground = o.foreground;
	if (rc < 0) {
		cli_error(cli, "%s", m.login_error);
		status = cli_exit_for(rc);
		goto out;
	}
	pool_start(&m, owner);
	if (!realpath(ops[0], m.mountpoint))
		m.mountpoint[0] = '\0';
	if (make_cache(cli, o.cache, m.cache_dir, sizeof(m.cache_dir)) < 0) {
		status = CLI_EXIT_FAIL;
	} else {
		status = serve(cli, &m, ops[0]);
		mount_forget_recent(&m);
		remove_cache(m.cache_dir);
	}
	pool_stop(&m);
	tree_free(&m);
out:
	explicit_bzero(m.password, strlen(m.password));
	free(m.password);
	free(ops);
	return status;
}

const struct cli_command cli_cmd_mount = {
    .name = "mount",
    .summary = "show your files as a folder tree (FUSE)",
    .usage = "MOUNTPOINT [-f] [--cache DIR]",
    .help = "Mount your files on the empty folder MOUNTPOINT through FUSE; '/' in names\n"
	    "separates folders. Logs in first (a bad password fails here), then goes to\n"
	    "the background once the mount is ready; 'fusermount3 -u MOUNTPOINT' unmounts.\n"
	    "Reads fetch only the ranges read, in windows of 4 MiB; a file read in order\n"
	    "has its next window fetched ahead. A file opened for writing is kept in\n"
	    "the cache folder and stored when it is closed or fsync'ed: close() and\n"
	    "fsync() return the store's error (EDQUOT over quota, EIO otherwise).\n"
	    "A rename stores the file under the new name, then deletes\n"
	    "the old one: it is not atomic. A folder made with mkdir lasts as long as\n"
	    "the mount unless a file is stored in it. See docs/mount.md.\n"
	    "\n"
	    "Options:\n"
	    "  -f, --foreground  stay in the foreground, errors on stderr (else syslog)\n"
	    "  --cache DIR       where files being written are kept (default:\n"
	    "                    $XDG_CACHE_HOME/dfs, else ~/.cache/dfs; mode 0700)",
    .shortopts = "f",
    .longopts = mount_longopts,
    .run = mount_main,
};
