/* resume.c: what an interrupted put leaves behind so that a later put can continue it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "internal.h"

#define STATE_MAGIC "dfs-put-resume 1"
#define STATE_MAX   8192

void dfs_set_resume(struct dfs_client *c, bool on)
{
	c->resume = on;
}

/* Creates each missing folder of path (mode 0700). */
static int make_dirs(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			int err = -errno;

			*p = saved;
			return err;
		}
		*p = saved;
		if (!saved)
			return 0;
	}
}

/* The state file of (user, servers, remote name): a hash names it, so
 * neither names nor paths need escaping. */
static int state_path(const struct dfs_client *c, const char *remote_name, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	unsigned char md[32];
	char dir[PATH_MAX], hex[2 * sizeof(md) + 1];
	EVP_MD_CTX *h;
	int n;

	if (xdg && *xdg == '/')
		n = snprintf(dir, sizeof(dir), "%s/dfs/resume", xdg);
	else if (home && *home == '/')
		n = snprintf(dir, sizeof(dir), "%s/.cache/dfs/resume", home);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	h = EVP_MD_CTX_new();
	if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h);
		return -ENOMEM;
	}
	EVP_DigestUpdate(h, c->user, strlen(c->user) + 1);
	for (unsigned i = 0; i < c->conf.nservers; i++) {
		char srv[300];

		n = snprintf(srv, sizeof(srv), "%s:%" PRIu32 ";", c->conf.servers[i].host,
			     c->conf.servers[i].program);
		EVP_DigestUpdate(h, srv, (size_t)n);
	}
	EVP_DigestUpdate(h, remote_name, strlen(remote_name));
	n = EVP_DigestFinal_ex(h, md, NULL) == 1 ? 0 : -EIO;
	EVP_MD_CTX_free(h);
	if (n < 0)
		return n;
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	n = make_dirs(dir);
	if (n < 0)
		return n;
	n = snprintf(out, len, "%s/%s", dir, hex);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Parses a state file; true if it describes the source sb. */
static bool parse_state(const char *text, const struct stat *sb, uint64_t *ver,
			bool done[DFS_SERVERS_MAX][DFS_SERVERS_MAX])
{
	unsigned long long v = 0, size = 0, dev = 0, ino = 0, sec = 0, nsec = 0;
	const char *line;

	if (sscanf(text, STATE_MAGIC "\nversion %llx\nsize %llu\nmtime %llu.%llu\nfile %llu:%llu\n",
		   &v, &size, &sec, &nsec, &dev, &ino) != 6)
		return false;
	if (v == 0 || size != (unsigned long long)sb->st_size ||
	    sec != (unsigned long long)sb->st_mtim.tv_sec ||
	    nsec != (unsigned long long)sb->st_mtim.tv_nsec ||
	    dev != (unsigned long long)sb->st_dev || ino != (unsigned long long)sb->st_ino)
		return false;
	*ver = v;
	for (line = strstr(text, "\nstored "); line; line = strstr(line + 1, "\nstored ")) {
		unsigned s, k;

		if (sscanf(line, "\nstored %u %u", &s, &k) == 2 && s >= 1 && s <= DFS_SERVERS_MAX &&
		    k >= 1 && k <= DFS_SERVERS_MAX)
			done[s - 1][k - 1] = true;
	}
	return true;
}

int resume_put_open(struct dfs_client *c, const char *remote_name, const struct stat *sb,
		    uint64_t newest_seen, uint64_t fresh, uint64_t *ver,
		    bool done[DFS_SERVERS_MAX][DFS_SERVERS_MAX], struct put_resume *out)
{
	char text[STATE_MAX], tmp[PATH_MAX + 8];
	uint64_t saved = 0;
	ssize_t got = 0;
	int fd, n;

	memset(done, 0, sizeof(bool) * DFS_SERVERS_MAX * DFS_SERVERS_MAX);
	out->fd = -1;
	*ver = fresh;
	if (*ver == 0)
		return client_fail(c, -ERANGE, "%s: no version is left above the newest one",
				   remote_name);
	/* Without a cache folder a put still works; it just cannot be resumed. */
	if (state_path(c, remote_name, out->path, sizeof(out->path)) < 0)
		return 0;
	if (c->resume) {
		fd = open(out->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			got = read(fd, text, sizeof(text) - 1);
			close(fd);
		}
		text[got > 0 ? got : 0] = '\0';
		if (got > 0 && parse_state(text, sb, &saved, done)) {
			/* A write that finished since the interruption is newer: this
			 * put must land above it, so it starts again. */
			if (saved >= newest_seen) {
				*ver = saved;
				out->resumed = true;
				out->fd =
				    open(out->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
				return 0;
			}
			memset(done, 0, sizeof(bool) * DFS_SERVERS_MAX * DFS_SERVERS_MAX);
			client_warn(c, 0,
				    "%s was written by another put since this one was interrupted; "
				    "starting over",
				    remote_name);
		}
	}
	n = snprintf(text, sizeof(text),
		     STATE_MAGIC "\nversion %016" PRIx64 "\nsize %llu\nmtime %llu.%09llu\n"
				 "file %llu:%llu\nname %s\n",
		     *ver, (unsigned long long)sb->st_size, (unsigned long long)sb->st_mtim.tv_sec,
		     (unsigned long long)sb->st_mtim.tv_nsec, (unsigned long long)sb->st_dev,
		     (unsigned long long)sb->st_ino, remote_name);
	snprintf(tmp, sizeof(tmp), "%s.new", out->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return 0;
	if (n < 0 || (size_t)n >= sizeof(text) || write(fd, text, (size_t)n) != n ||
	    rename(tmp, out->path) < 0) {
		close(fd);
		unlink(tmp);
		return 0;
	}
	out->fd = fd;
	return 0;
}

void resume_put_stored(struct put_resume *r, unsigned server, unsigned chunk)
{
	char line[64];
	int n;

	if (r->fd < 0)
		return;
	/* One short O_APPEND write per record: chunk threads never interleave. */
	n = snprintf(line, sizeof(line), "stored %u %u\n", server, chunk);
	if (write(r->fd, line, (size_t)n) != n) {
		/* A lost record only means that chunk is sent again. */
	}
}

void resume_put_close(struct put_resume *r, bool keep)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (!keep && r->path[0])
		unlink(r->path);
}
