/* store.c: chunk files, versioned metadata and housekeeping in a server's data folder. */
#include "store.h"
#include "counts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rpc/rpc.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "dirsync.h"
#include "hex.h"
#include "log.h"
#include "names.h"
#include "repair_index.h"
#include "verify_state.h"

#define STORE_LOCKS  256
#define HASH_HEX     64
#define USER_MAX     64
#define META_BUF     16384 /* a record: two versions with names of up to 4 KiB */
#define READ_BUF     (1024 * 1024)
#define PATH_BUF     512
#define FORMAT_MAGIC "dfs-data "
#define FORMAT_NAME  "FORMAT"
#define META_NAME    "meta"
/* Temporary files in a file's folder; written only under the folder's lock, so one
 * seen under that lock is a crash leftover. */
#define META_TMP_PREFIX "meta.tmp."
#define IN_SERVICE_NAME "IN-SERVICE"

struct store {
	int rootfd;
	pthread_mutex_t locks[STORE_LOCKS];
	struct counts *counts; /* built at open, kept at every change of a record */
	/* Held from the quota check to the count update of a commit under a
	 * limit, so that two commits of one user cannot both pass the check. */
	pthread_mutex_t quota_lock;
};

/* Bytes of an upload between two starts of writeback. */
#define WRITEBACK_STEP (8u << 20)

/* Alignment that O_DIRECT accepts on any block device: buffer address, file offset
 * and length must all be multiples of it. */
#define DIRECT_ALIGN 4096u

struct store_upload {
	struct store *st;
	int fd;
	int direct_fd; /* the same file opened O_DIRECT, or -1 */
	uint64_t size, done;
	uint64_t reserved; /* disk space is preallocated up to here */
	uint64_t flushed;  /* bytes handed to writeback so far */
	uint64_t ver;
	unsigned index;
	XXH3_state_t *xs;
	char user[USER_MAX + 1];
	char hash[HASH_HEX + 1];
	char tmpname[PATH_BUF];
};

/* Everything a per-file operation needs to find and lock a file's folder. */
struct file_ref {
	char user[USER_MAX + 1];
	char hash[HASH_HEX + 1];
	char dir[PATH_BUF]; /* relative to the root: u/USER/HH/HASH */
	pthread_mutex_t *lock;
};

static bool is_hex_name(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The rules of names.h, checked here too so no path is ever built from a bad name. */
static int store_check_name(const void *name, size_t len)
{
	return name ? name_check(name, len, NULL) : -EINVAL;
}

static int store_check_user(const char *user)
{
	return user ? user_name_check(user, NULL) : -EINVAL;
}

static pthread_mutex_t *stripe(struct store *st, const char *user, const char *hash)
{
	uint64_t h = XXH3_64bits_withSeed(hash, HASH_HEX, XXH3_64bits(user, strlen(user)));

	return &st->locks[h % STORE_LOCKS];
}

static int ref_init(struct store *st, const char *user, const char *hash, struct file_ref *ref)
{
	int n;

	memcpy(ref->user, user, strlen(user) + 1);
	memcpy(ref->hash, hash, HASH_HEX + 1);
	n = snprintf(ref->dir, sizeof(ref->dir), "u/%s/%.2s/%s", user, hash, hash);
	if (n < 0 || (size_t)n >= sizeof(ref->dir))
		return -ENAMETOOLONG;
	ref->lock = stripe(st, user, hash);
	return 0;
}

/* Checks user and name and fills ref with the file's folder and lock. */
static int ref_for(struct store *st, const char *user, const void *name, size_t name_len,
		   struct file_ref *ref)
{
	unsigned char md[32];
	char hash[HASH_HEX + 1];
	int rc;

	rc = store_check_user(user);
	if (rc < 0)
		return rc;
	rc = store_check_name(name, name_len);
	if (rc < 0)
		return rc;
	if (!EVP_Digest(name, name_len, md, NULL, EVP_sha256(), NULL))
		return -EIO;
	hex_encode(md, sizeof(md), hash);
	return ref_init(st, user, hash, ref);
}

/* out = a/b; -ENAMETOOLONG if it does not fit. */
static int path_join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int write_all(int fd, const void *data, size_t len, uint64_t off)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (errno == ENOSPC || errno == EDQUOT) ? -ENOSPC : -EIO;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static ssize_t read_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Makes the entry of path (relative to dirfd) in its parent folder durable. */
static int sync_parent(int dirfd, const char *path)
{
	char parent[PATH_BUF];
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return fsync_dir_at(dirfd, ".");
	if (slash == path)
		return fsync_dir_at(dirfd, "/");
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	return fsync_dir_at(dirfd, parent);
}

/* Creates every missing folder of path (relative to dirfd); with durable, makes
 * each new entry durable at once (else the caller runs sync_new_folders later
 * with *new_from: the length of the outermost folder created, 0 if none). */
static int mkdirs_at(int dirfd, const char *path, bool durable, size_t *new_from)
{
	char buf[PATH_BUF];
	size_t len = strlen(path);

	if (new_from)
		*new_from = 0;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	/* The usual cases in one call: the folder exists, or only it is missing. */
	if (mkdirat(dirfd, path, 0700) == 0) {
		if (new_from)
			*new_from = len;
		return durable ? sync_parent(dirfd, path) : 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		int rc = 0;

		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdirat(dirfd, buf, 0700) < 0) {
			if (errno != EEXIST)
				return -errno;
		} else {
			if (new_from && *new_from == 0)
				*new_from = i;
			if (durable)
				rc = sync_parent(dirfd, buf);
		}
		if (rc < 0)
			return rc;
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

/* Makes durable the entries of the folders mkdirs_at created in path (those at
 * least new_from long): each one's parent is flushed, the innermost one's own
 * entries being the caller's. Folders above them did not change. */
static int sync_new_folders(int dirfd, const char *path, size_t new_from)
{
	char buf[PATH_BUF];
	char *slash;

	if (new_from == 0)
		return 0;
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", path);
	while (strlen(buf) >= new_from) {
		int rc;

		slash = strrchr(buf, '/');
		if (slash == NULL)
			return fsync_dir_at(dirfd, ".");
		*slash = '\0';
		rc = fsync_dir_at(dirfd, buf);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void chunk_name(char *out, size_t outlen, uint64_t ver, unsigned index)
{
	snprintf(out, outlen, "%016" PRIx64 ".%u", ver, index);
}

/* Parses "VVVVVVVVVVVVVVVV.K"; false for anything else. */
static bool parse_chunk_name(const char *s, uint64_t *ver, unsigned *index)
{
	char *end;
	unsigned long k;

	if (strlen(s) < 18 || s[16] != '.')
		return false;
	for (int i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	if (s[17] < '1' || s[17] > '9')
		return false;
	errno = 0;
	k = strtoul(s + 17, &end, 10);
	if (errno || *end != '\0' || k == 0 || k > DFS_SERVERS_MAX)
		return false;
	*ver = strtoull(s, NULL, 16);
	*index = (unsigned)k;
	return true;
}

static bool name_equal(const dfs_name *n, const void *name, size_t len)
{
	return n->dfs_name_len == len && memcmp(n->dfs_name_val, name, len) == 0;
}

static bool name_hashes_to(const dfs_name *n, const char *hash)
{
	unsigned char md[32];
	char hex[HASH_HEX + 1];

	if (!EVP_Digest(n->dfs_name_val, n->dfs_name_len, md, NULL, EVP_sha256(), NULL))
		return false;
	hex_encode(md, sizeof(md), hex);
	return memcmp(hex, hash, HASH_HEX) == 0;
}

/* Reads dir/meta. With name, the record must be that name's; otherwise (name NULL) its
 * name must hash to hash. 0, -ENOENT (no record) or -EBADMSG/-EIO. */
static int meta_read(int rootfd, const char *dir, const void *name, size_t name_len,
		     const char *hash, dfs_meta *out)
{
	char path[PATH_BUF], buf[META_BUF + 1];
	ssize_t n;
	XDR xdr;
	int fd, rc = 0;

	memset(out, 0, sizeof(*out));
	if (path_join(path, sizeof(path), dir, META_NAME) < 0)
		return -ENOENT;
	fd = openat(rootfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (errno == ENOENT || errno == ENOTDIR) ? -ENOENT : -EIO;
	n = read_full(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	if (n > META_BUF)
		return -EBADMSG;
	xdrmem_create(&xdr, buf, (u_int)n, XDR_DECODE);
	if (!xdr_dfs_meta(&xdr, out)) {
		rc = -EBADMSG;
	} else if (out->format != STORE_FORMAT) {
		rc = -EBADMSG;
	} else if (name ? !name_equal(&out->current.name, name, name_len)
			: !name_hashes_to(&out->current.name, hash)) {
		rc = -EBADMSG;
	}
	xdr_destroy(&xdr);
	if (rc < 0) {
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)out);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

/* Replaces dir/meta atomically and durably. */
/* A file written in a folder that appears there under its final name in one step:
 * unnamed (O_TMPFILE) until placed where the file system allows, else under a
 * temporary name. An unnamed file needs no entry in the folder until it is
 * placed, so writers in one folder do not queue behind each other's creation. */
struct new_file {
	int dirfd, fd;
	bool unnamed;
	char tmp[32];
};

static int random_tmp_name(char *out, size_t len)
{
	unsigned char rnd[8];
	char hex[17];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(out, len, "%s%s", META_TMP_PREFIX, hex);
	return 0;
}

static int new_file_open(struct new_file *nf, int dirfd)
{
	int rc;

	nf->dirfd = dirfd;
	nf->tmp[0] = '\0';
	nf->fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	nf->unnamed = nf->fd >= 0;
	if (nf->unnamed)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	rc = random_tmp_name(nf->tmp, sizeof(nf->tmp));
	if (rc < 0)
		return rc;
	nf->fd = openat(dirfd, nf->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return nf->fd < 0 ? -errno : 0;
}

/* Names an unnamed file tmp (a fresh temporary name). */
static int new_file_link(struct new_file *nf, const char *name)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", nf->fd);
	return linkat(AT_FDCWD, proc, nf->dirfd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

/* Gives the file its final name and closes it. With replace an existing file of that
 * name is replaced atomically; without, it is kept and -EEXIST returned. */
static int new_file_place(struct new_file *nf, const char *final, bool replace)
{
	int rc = 0;

	if (nf->unnamed) {
		rc = new_file_link(nf, final);
		if (rc == -EEXIST && replace) {
			rc = random_tmp_name(nf->tmp, sizeof(nf->tmp));
			if (rc == 0)
				rc = new_file_link(nf, nf->tmp);
		}
	}
	if (rc == 0 && nf->tmp[0]) {
		if (replace)
			rc = renameat(nf->dirfd, nf->tmp, nf->dirfd, final) < 0 ? -errno : 0;
		else
			rc = linkat(nf->dirfd, nf->tmp, nf->dirfd, final, 0) < 0 ? -errno : 0;
		if (rc < 0 || !replace)
			unlinkat(nf->dirfd, nf->tmp, 0);
		nf->tmp[0] = '\0';
	}
	close(nf->fd);
	nf->fd = -1;
	return rc;
}

static void new_file_discard(struct new_file *nf)
{
	if (nf->fd >= 0)
		close(nf->fd);
	if (nf->tmp[0])
		unlinkat(nf->dirfd, nf->tmp, 0);
	nf->fd = -1;
}

/* Writes a file's record durably: a temporary file, flushed together with the
 * files in flush_too (the chunks it names), then renamed over the record. */
static int meta_write_with(int rootfd, const char *dir, const dfs_meta *meta, const int *flush_too,
			   int nflush)
{
	char buf[META_BUF];
	struct new_file nf = {.fd = -1};
	XDR xdr;
	u_int len;
	int dirfd, rc;

	xdrmem_create(&xdr, buf, sizeof(buf), XDR_ENCODE);
	if (!xdr_dfs_meta(&xdr, (dfs_meta *)meta)) {
		xdr_destroy(&xdr);
		return -EINVAL;
	}
	len = xdr_getpos(&xdr);
	xdr_destroy(&xdr);
	dirfd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	rc = new_file_open(&nf, dirfd);
	if (rc == 0)
		rc = write_all(nf.fd, buf, len, 0);
	if (rc == 0 && meta->current.lacking.lacking_len > 0)
		rc = repair_index_set(rootfd, dir, true);
	/* Writeback of everything starts before the first wait, so all of it
	 * shares one journal commit. */
	for (int i = 0; rc == 0 && i < nflush; i++)
		sync_file_range(flush_too[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (int i = 0; rc == 0 && i < nflush; i++)
		if (fdatasync(flush_too[i]) < 0)
			rc = -EIO;
	if (rc == 0 && fsync(nf.fd) < 0)
		rc = -EIO;
	if (rc == 0)
		rc = new_file_place(&nf, META_NAME, true);
	new_file_discard(&nf);
	if (rc == 0 && fsync(dirfd) < 0)
		rc = -EIO;
	if (rc == 0 && meta->current.lacking.lacking_len == 0)
		repair_index_set(rootfd, dir, false); /* a stale marker costs one check */
	close(dirfd);
	return rc;
}

static int meta_write(int rootfd, const char *dir, const dfs_meta *meta)
{
	return meta_write_with(rootfd, dir, meta, NULL, 0);
}

/* Which version of meta (if any) is committed as ver: current (live) or previous. */
static const dfs_file_info *meta_version(const dfs_meta *m, uint64_t ver)
{
	if (m->current.ver == ver && !m->current.deleted)
		return &m->current;
	if (m->previous.previous_len == 1 && m->previous.previous_val[0].ver == ver)
		return &m->previous.previous_val[0];
	return NULL;
}

/* Whether chunk files of version v are still needed per meta (m NULL = no record). */
static bool version_kept(const dfs_meta *m, uint64_t v)
{
	if (m == NULL)
		return false;
	return meta_version(m, v) != NULL;
}

/* Removes chunk files in dir that satisfy: version below `below` and not kept by m.
 * Returns the count removed. */
static int remove_old_chunks(int rootfd, const char *dir, const dfs_meta *m, uint64_t below)
{
	DIR *d;
	struct dirent *de;
	int dir_fd, removed = 0;

	d = opendir_at(rootfd, dir);
	if (d == NULL)
		return 0;
	dir_fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t v;
		unsigned k;

		if (!parse_chunk_name(de->d_name, &v, &k))
			continue;
		if (v >= below || version_kept(m, v))
			continue;
		if (unlinkat(dir_fd, de->d_name, 0) == 0)
			removed++;
	}
	if (removed > 0)
		fsync(dir_fd);
	closedir(d);
	return removed;
}

static int write_format(int rootfd)
{
	char text[32];
	int fd, n, rc = 0;

	n = snprintf(text, sizeof(text), "%s%d\n", FORMAT_MAGIC, STORE_FORMAT);
	fd = openat(rootfd, FORMAT_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, text, (size_t)n, 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = -EIO;
	close(fd);
	if (rc == 0 && renameat(rootfd, FORMAT_NAME ".tmp", rootfd, FORMAT_NAME) < 0)
		rc = -errno;
	if (rc == 0 && fsync(rootfd) < 0)
		rc = -EIO;
	return rc;
}

/* 1 if the folder holds nothing but lost+found or our own half-written FORMAT, else 0. */
static int folder_is_empty(int rootfd)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(rootfd), empty = 1;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "lost+found") == 0 ||
		    strcmp(de->d_name, FORMAT_NAME ".tmp") == 0)
			continue;
		empty = 0;
		break;
	}
	closedir(d);
	return empty;
}

static int check_format(int rootfd, const char *root, char *err, size_t errlen)
{
	char text[64];
	unsigned long long num;
	char *end;
	ssize_t n;
	int fd, rc;

	fd = openat(rootfd, FORMAT_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "cannot read %s/%s: %s", root, FORMAT_NAME, strerror(-rc));
		return rc;
	}
	if (fd < 0) {
		rc = folder_is_empty(rootfd);
		if (rc < 0) {
			snprintf(err, errlen, "cannot read data folder %s: %s", root,
				 strerror(-rc));
			return rc;
		}
		if (!rc) {
			snprintf(err, errlen,
				 "data folder %s is not empty and has no %s file: not a dfs data "
				 "folder",
				 root, FORMAT_NAME);
			return -ENOTEMPTY;
		}
		rc = write_format(rootfd);
		if (rc < 0)
			snprintf(err, errlen, "cannot write %s/%s: %s", root, FORMAT_NAME,
				 strerror(-rc));
		return rc;
	}
	n = read_full(fd, text, sizeof(text) - 1, 0);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s/%s", root, FORMAT_NAME);
		return -EIO;
	}
	text[n] = '\0';
	if (strncmp(text, FORMAT_MAGIC, strlen(FORMAT_MAGIC)) != 0 ||
	    text[strlen(FORMAT_MAGIC)] < '0' || text[strlen(FORMAT_MAGIC)] > '9')
		goto bad;
	errno = 0;
	num = strtoull(text + strlen(FORMAT_MAGIC), &end, 10);
	if (errno || (*end != '\n' && *end != '\0') || num == 0)
		goto bad;
	if (num > STORE_FORMAT) {
		snprintf(err, errlen,
			 "data folder %s has format %llu, written by a newer dfsd; this dfsd "
			 "reads format %d only: run the dfsd that wrote it (or newer)",
			 root, num, STORE_FORMAT);
		return -EPROTONOSUPPORT;
	}
	return 0;
bad:
	snprintf(err, errlen, "data folder %s: %s/%s is not a dfs format file", root, root,
		 FORMAT_NAME);
	return -EBADMSG;
}

/* Removes regular files in tmp/ (all, or those older than max_age_s that no upload holds). */
static int clean_tmp(int rootfd, bool all, unsigned max_age_s)
{
	DIR *d;
	struct dirent *de;
	int dir_fd, removed = 0;
	time_t now = time(NULL);

	d = opendir_at(rootfd, "tmp");
	if (d == NULL)
		return -errno;
	dir_fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dir_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!all && (!S_ISREG(sb.st_mode) || now - sb.st_mtime < (time_t)max_age_s))
			continue;
		if (all) {
			if (unlinkat(dir_fd, de->d_name, S_ISDIR(sb.st_mode) ? AT_REMOVEDIR : 0) ==
			    0)
				removed++;
			continue;
		}
		/* An upload in progress holds a lock on its file: leave it. */
		fd = openat(dir_fd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dir_fd, de->d_name, 0) == 0)
			removed++;
		close(fd);
	}
	closedir(d);
	return removed;
}

typedef int (*folder_fn)(struct store *st, const char *user, const char *hash, const char *dir,
			 void *arg);
static int walk_folders(struct store *st, folder_fn fn, void *arg);

static int count_folder(struct store *st, const char *user, const char *hash, const char *dir,
			void *arg)
{
	dfs_meta m;
	int rc;

	(void)arg;
	if (meta_read(st->rootfd, dir, NULL, 0, hash, &m) < 0)
		return 0;
	rc = counts_replace(st->counts, user, NULL, &m.current);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

/* Counts every record once, at start; commits and deletes keep the counts after. */
static int count_all_records(struct store *st)
{
	int rc = counts_new(&st->counts);

	return rc < 0 ? rc : walk_folders(st, count_folder, NULL);
}

/* The users whose folders were written before the repair index existed. */
struct unindexed {
	char (*users)[USER_MAX + 1];
	size_t count;
};

static int index_folder(struct store *st, const char *user, const char *hash, const char *dir,
			void *arg)
{
	const struct unindexed *ui = arg;
	dfs_meta m;
	bool wanted = false;
	int rc = 0;

	for (size_t i = 0; i < ui->count && !wanted; i++)
		wanted = strcmp(ui->users[i], user) == 0;
	if (!wanted || meta_read(st->rootfd, dir, NULL, 0, hash, &m) < 0)
		return 0;
	if (m.current.lacking.lacking_len > 0)
		rc = repair_index_build_add(st->rootfd, user, hash);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

/* Builds the repair index of every user folder that has none: one walk of their
 * records, once. */
static int index_old_users(struct store *st)
{
	struct unindexed ui = {NULL, 0};
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir_at(st->rootfd, "u");
	if (d == NULL)
		return -errno;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		void *grown;

		if (store_check_user(de->d_name) < 0 || repair_index_exists(st->rootfd, de->d_name))
			continue;
		grown = realloc(ui.users, (ui.count + 1) * sizeof(*ui.users));
		if (grown == NULL) {
			rc = -ENOMEM;
			break;
		}
		ui.users = grown;
		memcpy(ui.users[ui.count++], de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	for (size_t i = 0; rc == 0 && i < ui.count; i++)
		rc = repair_index_build_start(st->rootfd, ui.users[i]);
	if (rc == 0 && ui.count > 0)
		rc = walk_folders(st, index_folder, &ui);
	for (size_t i = 0; rc >= 0 && i < ui.count; i++)
		rc = repair_index_build_publish(st->rootfd, ui.users[i]);
	free(ui.users);
	return rc < 0 ? rc : 0;
}

int store_open(struct store **out, const char *root, char *err, size_t errlen)
{
	struct store *st = NULL;
	int rootfd = -1, rc, nlocks = 0;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	rc = mkdirs_at(AT_FDCWD, root, true, NULL);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create data folder %s: %s", root, strerror(-rc));
		goto out;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open data folder %s: %s", root, strerror(-rc));
		goto out;
	}
	if (flock(rootfd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "data folder %s is in use by another dfsd", root);
		goto out;
	}
	rc = check_format(rootfd, root, err, errlen);
	if (rc < 0)
		goto out;
	if ((mkdirat(rootfd, "tmp", 0700) < 0 && errno != EEXIST) ||
	    (mkdirat(rootfd, "u", 0700) < 0 && errno != EEXIST)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create folders in %s: %s", root, strerror(-rc));
		goto out;
	}
	rc = clean_tmp(rootfd, true, 0);
	if (rc < 0) {
		snprintf(err, errlen, "cannot empty %s/tmp: %s", root, strerror(-rc));
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (; nlocks < STORE_LOCKS; nlocks++) {
		if (pthread_mutex_init(&st->locks[nlocks], NULL) != 0) {
			rc = -ENOMEM;
			snprintf(err, errlen, "cannot create locks");
			goto out;
		}
	}
	pthread_mutex_init(&st->quota_lock, NULL);
	st->rootfd = rootfd;
	rootfd = -1;
	rc = index_old_users(st);
	if (rc < 0) {
		snprintf(err, errlen, "cannot index the files that need repair in %s: %s", root,
			 strerror(-rc));
		rootfd = st->rootfd;
		goto out;
	}
	rc = count_all_records(st);
	if (rc < 0) {
		snprintf(err, errlen, "cannot count the files in %s: %s", root, strerror(-rc));
		rootfd = st->rootfd;
		goto out;
	}
	*out = st;
	st = NULL;
	rc = 0;
out:
	if (st) {
		while (nlocks-- > 0)
			pthread_mutex_destroy(&st->locks[nlocks]);
		counts_free(st->counts);
		free(st);
	}
	if (rootfd >= 0)
		close(rootfd);
	return rc;
}

static void mark_in_service(int rootfd);

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	mark_in_service(st->rootfd);
	for (int i = 0; i < STORE_LOCKS; i++)
		pthread_mutex_destroy(&st->locks[i]);
	pthread_mutex_destroy(&st->quota_lock);
	counts_free(st->counts);
	close(st->rootfd);
	free(st);
}

static void upload_free(struct store_upload *up)
{
	if (up->fd >= 0)
		close(up->fd);
	if (up->direct_fd >= 0)
		close(up->direct_fd);
	XXH3_freeState(up->xs);
	free(up);
}

/* Opens the staged file a second time with O_DIRECT: the aligned bulk of a chunk then
 * goes from the call's buffer straight to the disk, skipping a copy into the page
 * cache that the fdatasync would have to write back anyway. Where the file system
 * refuses O_DIRECT, every write stays buffered. */
static void open_direct(struct store_upload *up, const struct stat *staged)
{
	struct stat sb;
	int fd = openat(up->st->rootfd, up->tmpname, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	if (fstat(fd, &sb) < 0 || sb.st_ino != staged->st_ino || sb.st_dev != staged->st_dev) {
		close(fd);
		return;
	}
	up->direct_fd = fd;
}

/* Feeds the bytes already staged in a resumed upload to its checksum state. */
static int rehash_staged(struct store_upload *up)
{
	char *buf = malloc(READ_BUF);
	uint64_t off = 0;
	int rc = 0;

	if (buf == NULL)
		return -ENOMEM;
	while (off < up->done) {
		size_t want = up->done - off < READ_BUF ? (size_t)(up->done - off) : READ_BUF;
		ssize_t n = read_full(up->fd, buf, want, off);

		if (n <= 0) {
			rc = -EIO;
			break;
		}
		XXH3_64bits_update(up->xs, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/* Disk space is preallocated at most this far ahead of the bytes received: an
 * upload that announces a large size and sends nothing holds no more. */
#define RESERVE_AHEAD (32ull << 20)

/* Whether the rest of an upload, [done, size), fits in the free space now: a
 * full disk is reported before any data is sent. */
static int check_space(int fd, uint64_t done, uint64_t size)
{
	struct statvfs vfs;

	if (size > done && fstatvfs(fd, &vfs) == 0 &&
	    size - done > (uint64_t)vfs.f_bavail * vfs.f_frsize)
		return -ENOSPC;
	return 0;
}

/* Preallocates bytes [done, end) of an upload. Asking the filesystem for more
 * than the free space would fill the disk for everyone else before it gave up,
 * so that is refused outright. */
static int reserve_space(int fd, uint64_t done, uint64_t end)
{
	int err;

	if (end <= done)
		return 0;
	err = check_space(fd, done, end);
	if (err < 0)
		return err;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)done, (off_t)(end - done)) == 0)
		return 0;
	err = errno;
	/* Filesystems without preallocation simply get no early warning. */
	if (err == EOPNOTSUPP || err == ENOSYS || err == EINVAL)
		return 0;
	/* Give back whatever part of the reservation was made. */
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)done, (off_t)(end - done));
	if (err == ENOSPC || err == EDQUOT)
		return -ENOSPC;
	return err == EFBIG ? -EFBIG : -EIO;
}

int store_upload_begin(struct store *st, const char *user, const void *name, size_t name_len,
		       uint64_t ver, unsigned index, uint64_t size, struct store_upload **out,
		       uint64_t *offset)
{
	struct store_upload *up = NULL;
	struct file_ref ref;
	struct stat sb, sp;
	bool created = false;
	int rc, n;

	*out = NULL;
	*offset = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (index == 0 || index > DFS_SERVERS_MAX || ver == 0 || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	up = calloc(1, sizeof(*up));
	if (up == NULL)
		return -ENOMEM;
	up->fd = -1;
	up->direct_fd = -1;
	up->st = st;
	up->size = size;
	up->ver = ver;
	up->index = index;
	memcpy(up->user, ref.user, sizeof(up->user));
	memcpy(up->hash, ref.hash, sizeof(up->hash));
	n = snprintf(up->tmpname, sizeof(up->tmpname), "tmp/%s.%s.%016" PRIx64 ".%u.%016" PRIx64,
		     user, ref.hash, ver, index, size);
	if (n < 0 || (size_t)n >= sizeof(up->tmpname)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	up->xs = XXH3_createState();
	if (up->xs == NULL || XXH3_64bits_reset(up->xs) != XXH_OK) {
		rc = -ENOMEM;
		goto out;
	}
	/* Housekeeping may unlink the file between our open and our lock: then try again. */
	for (int attempt = 0; attempt < 3; attempt++) {
		if (up->fd >= 0)
			close(up->fd);
		up->fd = openat(st->rootfd, up->tmpname, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
				0600);
		if (up->fd < 0) {
			rc = -errno;
			goto out;
		}
		/* The same chunk may be arriving on another connection (a client retrying
		 * while the old connection is not yet gone): only one may write it. */
		if (flock(up->fd, LOCK_EX | LOCK_NB) < 0) {
			rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
			goto out;
		}
		if (fstat(up->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			rc = -EIO;
			goto out;
		}
		rc = -EAGAIN;
		if (fstatat(st->rootfd, up->tmpname, &sp, AT_SYMLINK_NOFOLLOW) == 0 &&
		    sb.st_ino == sp.st_ino && sb.st_dev == sp.st_dev) {
			rc = 0;
			break;
		}
	}
	if (rc < 0)
		goto out;
	created = sb.st_size == 0;
	if ((uint64_t)sb.st_size > size) {
		if (ftruncate(up->fd, 0) < 0) {
			rc = -EIO;
			goto out;
		}
		sb.st_size = 0;
	}
	up->done = (uint64_t)sb.st_size;
	rc = rehash_staged(up);
	if (rc < 0)
		goto out;
	rc = check_space(up->fd, up->done, size);
	if (rc == 0) {
		up->reserved = size - up->done > RESERVE_AHEAD ? up->done + RESERVE_AHEAD : size;
		rc = reserve_space(up->fd, up->done, up->reserved);
	}
	if (rc < 0)
		goto out;
	open_direct(up, &sb);
	*offset = up->done;
	*out = up;
	up = NULL;
	rc = 0;
out:
	if (up) {
		if (up->fd >= 0) {
			if (created && rc != -EBUSY)
				unlinkat(st->rootfd, up->tmpname, 0);
			else if ((rc == -ENOSPC || rc == -EFBIG) &&
				 ftruncate(up->fd, (off_t)up->done) < 0)
				rc = -EIO;
		}
		upload_free(up);
	}
	return rc;
}

int store_upload_write(struct store_upload *up, uint64_t offset, const void *data, size_t len)
{
	size_t direct = 0;
	int rc = 0;

	if (offset != up->done)
		return -EINVAL;
	if (len > up->size - up->done)
		return -EFBIG;
	if (len == 0)
		return 0;
	if (up->done + len > up->reserved) {
		uint64_t end = up->done + len + RESERVE_AHEAD;

		rc = reserve_space(up->fd, up->reserved, end < up->size ? end : up->size);
		if (rc < 0)
			return rc;
		up->reserved = end < up->size ? end : up->size;
	}
	if (up->direct_fd >= 0 && offset % DIRECT_ALIGN == 0 && (uintptr_t)data % DIRECT_ALIGN == 0)
		direct = len - len % DIRECT_ALIGN;
	if (direct > 0) {
		rc = write_all(up->direct_fd, data, direct, offset);
		if (rc == -EIO && errno == EINVAL) {
			/* This file system opens O_DIRECT but refuses the write. */
			close(up->direct_fd);
			up->direct_fd = -1;
			direct = 0;
			rc = 0;
		}
	}
	if (rc == 0 && direct < len)
		rc = write_all(up->fd, (const char *)data + direct, len - direct, offset + direct);
	if (rc < 0)
		return rc;
	XXH3_64bits_update(up->xs, data, len);
	up->done += len;
	/* Start writeback while the rest streams in, so the fdatasync at the
	 * end waits for the last few MiB rather than the whole chunk. */
	if (up->done - up->flushed >= WRITEBACK_STEP) {
		sync_file_range(up->fd, (off_t)up->flushed, (off_t)(up->done - up->flushed),
				SYNC_FILE_RANGE_WRITE);
		up->flushed = up->done;
	}
	return 0;
}

int store_upload_finish(struct store_upload *up, uint64_t checksum)
{
	struct file_ref ref;
	char final[PATH_BUF];
	int dirfd = -1, rc;
	bool locked = false;

	if (up->done != up->size || XXH3_64bits_digest(up->xs) != checksum) {
		rc = -EBADMSG;
		goto out;
	}
	if (fdatasync(up->fd) < 0) {
		rc = -EIO;
		goto out;
	}
	rc = ref_init(up->st, up->user, up->hash, &ref);
	if (rc < 0)
		goto out;
	chunk_name(final, sizeof(final), up->ver, up->index);
	/* Under the file's lock: housekeeping may remove an empty folder, and commit and
	 * delete look at the chunk files. */
	pthread_mutex_lock(ref.lock);
	locked = true;
	rc = mkdirs_at(up->st->rootfd, ref.dir, true, NULL);
	if (rc < 0)
		goto out;
	dirfd = openat(up->st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = -errno;
		goto out;
	}
	if (renameat(up->st->rootfd, up->tmpname, dirfd, final) < 0) {
		rc = -errno;
		goto out;
	}
	if (fsync(dirfd) < 0)
		rc = -EIO;
	pthread_mutex_unlock(ref.lock);
	locked = false;
	upload_free(up);
	close(dirfd);
	return rc;
out:
	if (locked)
		pthread_mutex_unlock(ref.lock);
	if (dirfd >= 0)
		close(dirfd);
	unlinkat(up->st->rootfd, up->tmpname, 0);
	upload_free(up);
	return rc;
}

/* Places one chunk of a whole small file in its folder (open as dirfd). A chunk
 * file of that version already there holds the same bytes: it is kept. */
static int place_chunk(int dirfd, uint64_t ver, const dfs_chunk_sum *c, const char *data)
{
	struct new_file nf = {.fd = -1};
	char final[32];
	int rc;

	if (XXH3_64bits(data, (size_t)c->size) != c->checksum)
		return -EBADMSG;
	chunk_name(final, sizeof(final), ver, c->index);
	rc = new_file_open(&nf, dirfd);
	if (rc == 0)
		rc = write_all(nf.fd, data, (size_t)c->size, 0);
	if (rc == 0) {
		rc = new_file_place(&nf, final, false);
		if (rc == -EEXIST)
			rc = 0;
	}
	new_file_discard(&nf);
	return rc;
}

int store_put_whole(struct store *st, const char *user, const dfs_file_info *info, const void *data,
		    size_t len)
{
	return store_put_whole_quota(st, user, info, data, len, NULL);
}

static bool quota_limited(const struct store_quota *q)
{
	return q && (q->bytes || q->files);
}

/* -EDQUOT if replacing old (NULL or a tombstone: none) by info would take
 * the user's live bytes or files, from t, above q. A change that does not
 * add bytes (or files) is allowed even over the limit. */
static int quota_check(const struct count_totals *t, const dfs_file_info *old,
		       const dfs_file_info *info, const struct store_quota *q)
{
	bool old_live = old && !old->deleted;
	uint64_t old_size = old_live ? old->size : 0;
	uint64_t bytes = t->logical_bytes - old_size + info->size;
	uint64_t files = t->files - (old_live ? 1 : 0) + 1;

	if (!quota_limited(q))
		return 0;
	if (q->bytes && info->size > old_size && bytes > q->bytes)
		return -EDQUOT;
	if (q->files && !old_live && files > q->files)
		return -EDQUOT;
	return 0;
}

int store_quota_precheck(struct store *st, const char *user, const struct store_quota *q,
			 uint64_t size)
{
	struct count_totals t;

	if (!quota_limited(q))
		return 0;
	if (q->bytes && size > q->bytes)
		return -EDQUOT;
	counts_user(st->counts, user, &t);
	/* Nothing could be added: already at the limit of files and over that of bytes. */
	if (q->files && t.files >= q->files && q->bytes && t.logical_bytes >= q->bytes && size > 0)
		return -EDQUOT;
	return 0;
}

int store_put_whole_quota(struct store *st, const char *user, const dfs_file_info *info,
			  const void *data, size_t len, const struct store_quota *q)
{
	struct file_ref ref;
	struct statvfs vfs;
	/* XDR decodes an empty opaque to NULL, and NULL + 0 is undefined. */
	const char *bytes = len == 0 ? "" : data;
	uint64_t total = 0;
	size_t new_from = 0;
	int dirfd, rc;

	if (info == NULL || info->chunks.chunks_len < 1 || info->chunks.chunks_len > DFS_HELD_MAX)
		return -EINVAL;
	for (u_int i = 0; i < info->chunks.chunks_len; i++) {
		const dfs_chunk_sum *c = &info->chunks.chunks_val[i];

		if (c->index < 1 || c->index > DFS_SERVERS_MAX || c->size > len)
			return -EINVAL;
		total += c->size;
	}
	if (total != len)
		return -EINVAL;
	rc = ref_for(st, user, info->name.dfs_name_val, info->name.dfs_name_len, &ref);
	if (rc < 0)
		return rc;
	/* Refused before anything is written when the file alone is too large. */
	if (quota_limited(q) && q->bytes && info->size > q->bytes)
		return -EDQUOT;
	if (fstatvfs(st->rootfd, &vfs) == 0 && len > (uint64_t)vfs.f_bavail * vfs.f_frsize)
		return -ENOSPC;
	/* Under the file's lock: housekeeping may remove an empty folder. The folder
	 * and the chunks reach the disk with the record, in store_commit. */
	pthread_mutex_lock(ref.lock);
	rc = mkdirs_at(st->rootfd, ref.dir, false, &new_from);
	dirfd = rc < 0 ? -1 : openat(st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc == 0 && dirfd < 0)
		rc = -errno;
	for (u_int i = 0; rc == 0 && i < info->chunks.chunks_len; i++) {
		rc = place_chunk(dirfd, info->ver, &info->chunks.chunks_val[i], bytes);
		bytes += info->chunks.chunks_val[i].size;
	}
	if (dirfd >= 0)
		close(dirfd);
	pthread_mutex_unlock(ref.lock);
	if (rc == 0)
		rc = store_commit_quota(st, user, info, q);
	if (rc == -EDQUOT) {
		pthread_mutex_lock(ref.lock);
		dirfd = openat(st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (u_int i = 0; dirfd >= 0 && i < info->chunks.chunks_len; i++) {
			char file[32];

			chunk_name(file, sizeof(file), info->ver, info->chunks.chunks_val[i].index);
			unlinkat(dirfd, file, 0);
		}
		if (dirfd >= 0)
			close(dirfd);
		pthread_mutex_unlock(ref.lock);
		return rc;
	}
	/* Folders made above without a flush reach the disk before the caller hears
	 * of success. */
	if (rc == 0)
		rc = sync_new_folders(st->rootfd, ref.dir, new_from);
	return rc;
}

void store_upload_abort(struct store_upload *up)
{
	if (up == NULL)
		return;
	unlinkat(up->st->rootfd, up->tmpname, 0);
	upload_free(up);
}

void store_upload_suspend(struct store_upload *up)
{
	if (up == NULL)
		return;
	/* A failed write may have left bytes past what was accepted; resume trusts the length. */
	if (ftruncate(up->fd, (off_t)up->done) < 0)
		unlinkat(up->st->rootfd, up->tmpname, 0);
	upload_free(up);
}

/* Opens every chunk of info after checking it is in place with its size:
 * fds[0..*nfds) are left open either way. */
static int open_chunks_present(struct store *st, const struct file_ref *ref,
			       const dfs_file_info *info, int fds[DFS_HELD_MAX], int *nfds)
{
	*nfds = 0;
	for (u_int i = 0; i < info->chunks.chunks_len; i++) {
		const dfs_chunk_sum *c = &info->chunks.chunks_val[i];
		char path[PATH_BUF], file[32];
		struct stat sb;
		int fd;

		if (c->index == 0 || c->index > DFS_SERVERS_MAX)
			return -EINVAL;
		chunk_name(file, sizeof(file), info->ver, c->index);
		if (path_join(path, sizeof(path), ref->dir, file) < 0)
			return -ENOENT;
		fd = openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? -ENOENT
										     : -EIO;
		fds[(*nfds)++] = fd;
		if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != c->size)
			return -ENOENT;
	}
	return 0;
}

int store_commit(struct store *st, const char *user, const dfs_file_info *info)
{
	return store_commit_quota(st, user, info, NULL);
}

int store_commit_quota(struct store *st, const char *user, const dfs_file_info *info,
		       const struct store_quota *q)
{
	struct file_ref ref;
	dfs_meta old, m;
	bool have_old = false, quota_held = false;
	int chunk_fds[DFS_HELD_MAX], nchunk_fds = 0, rc;

	if (info == NULL)
		return -EINVAL;
	rc = ref_for(st, user, info->name.dfs_name_val, info->name.dfs_name_len, &ref);
	if (rc < 0)
		return rc;
	if (info->deleted || info->ver == 0 || info->chunks.chunks_len > DFS_HELD_MAX ||
	    info->lacking.lacking_len > DFS_SERVERS_MAX)
		return -EINVAL;
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st->rootfd, ref.dir, info->name.dfs_name_val, info->name.dfs_name_len, NULL,
		       &old);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	have_old = rc == 0;
	if (have_old && (old.current.ver > info->ver ||
			 (old.current.deleted && old.current.ver == info->ver))) {
		rc = -ESTALE;
		goto out;
	}
	/* Two writers that picked the same version: the first one's file stays. */
	if (have_old && old.current.ver == info->ver &&
	    (old.current.size != info->size || old.current.nchunks != info->nchunks ||
	     old.current.digest != info->digest)) {
		rc = -EEXIST;
		goto out;
	}
	rc = open_chunks_present(st, &ref, info, chunk_fds, &nchunk_fds);
	if (rc < 0)
		goto out;
	if (quota_limited(q)) {
		struct count_totals t;

		pthread_mutex_lock(&st->quota_lock);
		quota_held = true;
		counts_user(st->counts, ref.user, &t);
		rc = quota_check(&t, have_old ? &old.current : NULL, info, q);
		if (rc < 0)
			goto out;
	}
	memset(&m, 0, sizeof(m));
	m.format = STORE_FORMAT;
	m.current = *info;
	if (have_old) {
		if (old.current.ver == info->ver) {
			/* Same version again: refresh it and keep what it replaced. */
			m.previous.previous_len = old.previous.previous_len;
			m.previous.previous_val = old.previous.previous_val;
		} else if (!old.current.deleted) {
			m.previous.previous_len = 1;
			m.previous.previous_val = &old.current;
		}
	}
	/* The chunks reach the disk with the record that names them (they were
	 * staged without a flush by STORE; after PUT_END this costs nothing). */
	rc = meta_write_with(st->rootfd, ref.dir, &m, chunk_fds, nchunk_fds);
	if (rc < 0)
		goto out;
	counts_replace(st->counts, ref.user, have_old ? &old.current : NULL, &m.current);
	remove_old_chunks(st->rootfd, ref.dir, &m, info->ver);
out:
	if (quota_held)
		pthread_mutex_unlock(&st->quota_lock);
	for (int i = 0; i < nchunk_fds; i++)
		close(chunk_fds[i]);
	pthread_mutex_unlock(ref.lock);
	if (have_old)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&old);
	return rc;
}

/* Removes tmp/ files of (user, hash, ver) that no upload holds. */
static void abort_tmp(struct store *st, const char *user, const char *hash, uint64_t ver)
{
	char prefix[PATH_BUF];
	DIR *d;
	struct dirent *de;
	int dir_fd;
	size_t plen;

	snprintf(prefix, sizeof(prefix), "%s.%s.%016" PRIx64 ".", user, hash, ver);
	plen = strlen(prefix);
	d = opendir_at(st->rootfd, "tmp");
	if (d == NULL)
		return;
	dir_fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		int fd;

		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		fd = openat(dir_fd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlinkat(dir_fd, de->d_name, 0);
		close(fd);
	}
	closedir(d);
}

/* Undoes the commit of m's current version (its put failed elsewhere): the
 * version it replaced becomes current again, or, when it replaced nothing
 * live, a tombstone at its version, which no older copy outranks. */
static int rollback(struct store *st, const struct file_ref *ref, const dfs_meta *m)
{
	dfs_meta back;
	int rc;

	memset(&back, 0, sizeof(back));
	back.format = STORE_FORMAT;
	if (m->previous.previous_len > 0 && !m->previous.previous_val[0].deleted) {
		back.current = m->previous.previous_val[0];
	} else {
		back.current.name = m->current.name;
		back.current.ver = m->current.ver;
		back.current.deleted = TRUE;
		back.current.mtime_ns = now_ns();
		back.current.nchunks = m->current.nchunks;
	}
	rc = meta_write(st->rootfd, ref->dir, &back);
	if (rc < 0)
		return rc;
	counts_replace(st->counts, ref->user, &m->current, &back.current);
	return 0;
}

int store_abort(struct store *st, const char *user, const void *name, size_t name_len, uint64_t ver)
{
	struct file_ref ref;
	dfs_meta m;
	bool have = false;
	int rc, dirfd = -1;

	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (ver == 0)
		return -EINVAL;
	abort_tmp(st, ref.user, ref.hash, ver);
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st->rootfd, ref.dir, name, name_len, NULL, &m);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	have = rc == 0;
	rc = 0;
	if (have && !m.current.deleted && m.current.ver == ver) {
		rc = rollback(st, &ref, &m);
		if (rc < 0)
			goto out;
	} else if (have && meta_version(&m, ver) != NULL) {
		goto out;
	}
	dirfd = openat(st->rootfd, ref.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		goto out;
	for (unsigned k = 1; k <= DFS_SERVERS_MAX; k++) {
		char file[32];

		chunk_name(file, sizeof(file), ver, k);
		unlinkat(dirfd, file, 0);
	}
out:
	pthread_mutex_unlock(ref.lock);
	if (dirfd >= 0)
		close(dirfd);
	if (have)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

int store_lookup(struct store *st, const char *user, const void *name, size_t name_len,
		 dfs_meta *out)
{
	struct file_ref ref;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	/* meta is only ever replaced by rename, so reading it needs no lock. */
	return meta_read(st->rootfd, ref.dir, name, name_len, NULL, out);
}

/* Why ver cannot be served according to m: -ESTALE if it is older than what is kept (or
 * the file was deleted since), -ENOENT if this server never committed it. */
static int missing_version(const dfs_meta *m, uint64_t ver)
{
	if (ver < m->current.ver || (m->current.deleted && ver == m->current.ver))
		return -ESTALE;
	return -ENOENT;
}

int store_read(struct store *st, const char *user, const void *name, size_t name_len, uint64_t ver,
	       unsigned index, uint64_t offset, void *buf, size_t count, size_t *got)
{
	struct file_ref ref;
	char path[PATH_BUF], file[32];
	dfs_meta m;
	ssize_t n;
	int fd, rc;

	*got = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (index == 0 || index > DFS_SERVERS_MAX || offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	/* A chunk file is named by its version and never changes: if it is here it
	 * is the bytes asked for (and the reader checks them). The record is only
	 * read to explain a chunk that is not. */
	chunk_name(file, sizeof(file), ver, index);
	if (path_join(path, sizeof(path), ref.dir, file) == 0) {
		fd = openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			n = read_full(fd, buf, count, offset);
			close(fd);
			if (n < 0)
				return (int)n;
			*got = (size_t)n;
			return 0;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			return -EIO;
	}
	/* Not held here, or removed by a commit or delete meanwhile. */
	rc = meta_read(st->rootfd, ref.dir, name, name_len, NULL, &m);
	if (rc < 0)
		return rc;
	rc = meta_version(&m, ver) ? -ENOENT : missing_version(&m, ver);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

/* Whether two server lists name the same servers (each without repeats). */
static bool same_servers(const unsigned *a, unsigned na, const unsigned *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++) {
		bool found = false;

		for (unsigned j = 0; j < nb && !found; j++)
			found = a[i] == b[j];
		if (!found)
			return false;
	}
	return true;
}

int store_delete(struct store *st, const char *user, const void *name, size_t name_len,
		 uint64_t ver, const unsigned *lacking, unsigned nlacking)
{
	struct file_ref ref;
	dfs_meta old, m;
	bool have_old = false, was_live;
	int rc;

	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	if (ver == 0)
		return -EINVAL;
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st->rootfd, ref.dir, name, name_len, NULL, &old);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	have_old = rc == 0;
	was_live = have_old && !old.current.deleted;
	if (was_live && old.current.ver > ver) {
		rc = -ESTALE;
		goto out;
	}
	if (have_old && old.current.deleted && old.current.ver > ver) {
		rc = -ENOENT;
		goto out;
	}
	if (have_old && old.current.deleted && old.current.ver == ver) {
		/* The same delete again: only its list of servers that miss it can change
		 * (repair shrinks it once they have the tombstone). */
		if (!same_servers(old.current.lacking.lacking_val, old.current.lacking.lacking_len,
				  lacking, nlacking)) {
			m = old;
			m.current.lacking.lacking_val = (unsigned *)lacking;
			m.current.lacking.lacking_len =
			    nlacking <= DFS_SERVERS_MAX ? nlacking : DFS_SERVERS_MAX;
			rc = meta_write(st->rootfd, ref.dir, &m);
			if (rc < 0)
				goto out;
			counts_replace(st->counts, ref.user, &old.current, &m.current);
		}
		rc = -ENOENT;
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.format = STORE_FORMAT;
	m.current.name.dfs_name_len = (u_int)name_len;
	m.current.name.dfs_name_val = (char *)name;
	m.current.ver = ver;
	m.current.deleted = TRUE;
	m.current.mtime_ns = now_ns();
	m.current.nchunks = have_old ? old.current.nchunks : 0;
	m.current.lacking.lacking_val = (unsigned *)lacking;
	m.current.lacking.lacking_len = nlacking <= DFS_SERVERS_MAX ? nlacking : DFS_SERVERS_MAX;
	rc = mkdirs_at(st->rootfd, ref.dir, true, NULL);
	if (rc < 0)
		goto out;
	rc = meta_write(st->rootfd, ref.dir, &m);
	if (rc < 0)
		goto out;
	counts_replace(st->counts, ref.user, have_old ? &old.current : NULL, &m.current);
	/* Staged chunks of a newer version belong to a put that may still commit after
	 * this delete; everything up to the tombstone goes. */
	remove_old_chunks(st->rootfd, ref.dir, &m, ver == UINT64_MAX ? ver : ver + 1);
	rc = was_live ? 0 : -ENOENT;
out:
	pthread_mutex_unlock(ref.lock);
	if (have_old)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&old);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the entries of dir (relative to dirfd) that are `len` hex digits and sort
 * after `after` (NULL: all), sorted. *out is freed by free_names. */
static int sorted_hex_names(int dirfd, const char *dir, size_t len, const char *after, char ***out,
			    size_t *count)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	d = opendir_at(dirfd, dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -EIO;
	while ((de = readdir(d)) != NULL) {
		if (!is_hex_name(de->d_name, len))
			continue;
		if (after && strncmp(de->d_name, after, len) <= 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (nn == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0) {
		while (n > 0)
			free(names[--n]);
		free(names);
		return rc;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*count = n;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int store_list(struct store *st, const char *user, const char *cookie, dfs_file_info *entries,
	       unsigned max, unsigned *count, char next_cookie[65], bool *eof)
{
	char udir[PATH_BUF], prefix_after[3] = "", hhdir[PATH_BUF];
	char **hh = NULL;
	size_t nhh = 0;
	unsigned got = 0;
	bool more = false;
	int rc;

	*count = 0;
	*eof = false;
	next_cookie[0] = '\0';
	rc = store_check_user(user);
	if (rc < 0)
		return rc;
	if (max == 0)
		return -EINVAL;
	if (cookie == NULL)
		cookie = "";
	if (cookie[0] != '\0' && !is_hex_name(cookie, HASH_HEX))
		return -EINVAL;
	memcpy(next_cookie, cookie, strlen(cookie) + 1);
	snprintf(udir, sizeof(udir), "u/%s", user);
	if (cookie[0]) {
		/* Folders before the cookie's own cannot hold anything after it. */
		prefix_after[0] = cookie[0];
		prefix_after[1] = cookie[1];
		prefix_after[2] = '\0';
	}
	rc = sorted_hex_names(st->rootfd, udir, 2, NULL, &hh, &nhh);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < nhh && !more; i++) {
		char **files = NULL;
		size_t nfiles = 0;

		if (cookie[0] && strcmp(hh[i], prefix_after) < 0)
			continue;
		if (path_join(hhdir, sizeof(hhdir), udir, hh[i]) < 0)
			continue;
		rc = sorted_hex_names(st->rootfd, hhdir, HASH_HEX, cookie[0] ? cookie : NULL,
				      &files, &nfiles);
		if (rc < 0)
			goto out;
		for (size_t j = 0; j < nfiles; j++) {
			char dir[PATH_BUF];
			dfs_meta m;

			if (strncmp(files[j], hh[i], 2) != 0 ||
			    path_join(dir, sizeof(dir), hhdir, files[j]) < 0)
				continue;
			if (meta_read(st->rootfd, dir, NULL, 0, files[j], &m) < 0)
				continue;
			if (got == max) {
				more = true;
				xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
				break;
			}
			entries[got++] = m.current;
			memset(&m.current, 0, sizeof(m.current));
			xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
			memcpy(next_cookie, files[j], HASH_HEX + 1);
		}
		free_names(files, nfiles);
	}
	*count = got;
	*eof = !more;
	rc = 0;
out:
	free_names(hh, nhh);
	if (rc < 0) {
		for (unsigned i = 0; i < got; i++)
			xdr_free((xdrproc_t)xdr_dfs_file_info, (char *)&entries[i]);
		*count = 0;
	}
	return rc;
}

/* Records, under the folder's lock, the result of reading the open copy fd of chunk
 * (ver, index). A failure only loses the record: the copy reads as never verified. */
static void record_verified(struct store *st, const struct file_ref *ref, uint64_t ver,
			    unsigned index, int fd, dfs_stat result)
{
	struct verify_state vs = {now_ns(), (int)result, 0};
	struct stat sb;
	char file[32];
	int dirfd;

	if (fstat(fd, &sb) < 0)
		return;
	vs.ino = (uint64_t)sb.st_ino;
	chunk_name(file, sizeof(file), ver, index);
	pthread_mutex_lock(ref->lock);
	dirfd = openat(st->rootfd, ref->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0) {
		if (verify_state_write(dirfd, file, &vs) < 0)
			log_debug("cannot record the verification of %s/%s", ref->dir, file);
		close(dirfd);
	}
	pthread_mutex_unlock(ref->lock);
}

/* Checksums the open chunk file: DFS_OK, DFS_EBADMSG, or DFS_ENOENT (shorter or unreadable). */
static dfs_stat verify_fd(int fd, const dfs_chunk_sum *c, char *buf, const struct store_pace *pace)
{
	XXH3_state_t *xs = XXH3_createState();
	uint64_t off = 0;
	struct stat sb;
	dfs_stat status = DFS_OK;

	if (xs == NULL || XXH3_64bits_reset(xs) != XXH_OK) {
		XXH3_freeState(xs);
		return DFS_EIO;
	}
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != c->size)
		status = DFS_EBADMSG;
	while (status == DFS_OK && off < c->size) {
		size_t want = c->size - off < READ_BUF ? (size_t)(c->size - off) : READ_BUF;
		ssize_t n = read_full(fd, buf, want, off);

		if (n <= 0) {
			status = n < 0 ? DFS_EIO : DFS_EBADMSG;
			break;
		}
		XXH3_64bits_update(xs, buf, (size_t)n);
		off += (uint64_t)n;
		if (pace && pace->fn(pace->arg, (size_t)n) < 0) {
			status = DFS_EAGAIN;
			break;
		}
	}
	if (status == DFS_OK && XXH3_64bits_digest(xs) != c->checksum)
		status = DFS_EBADMSG;
	XXH3_freeState(xs);
	return status;
}

int store_verify(struct store *st, const char *user, const void *name, size_t name_len,
		 uint64_t ver, dfs_chunk_check *checks, unsigned *count)
{
	struct file_ref ref;
	const dfs_file_info *fi;
	dfs_chunk_sum sums[DFS_HELD_MAX];
	int fds[DFS_HELD_MAX];
	unsigned n = 0;
	dfs_meta m;
	bool have = false;
	char *buf = NULL;
	int rc;

	*count = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	/* Open the files under the lock, read them without it: an open file stays readable
	 * even if a commit removes it meanwhile, and a long read blocks nobody. */
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st->rootfd, ref.dir, name, name_len, NULL, &m);
	if (rc < 0) {
		pthread_mutex_unlock(ref.lock);
		return rc;
	}
	have = true;
	fi = meta_version(&m, ver);
	if (fi == NULL) {
		rc = missing_version(&m, ver);
		pthread_mutex_unlock(ref.lock);
		goto out;
	}
	for (; n < fi->chunks.chunks_len && n < DFS_HELD_MAX; n++) {
		char path[PATH_BUF], file[32];

		sums[n] = fi->chunks.chunks_val[n];
		chunk_name(file, sizeof(file), ver, sums[n].index);
		fds[n] = path_join(path, sizeof(path), ref.dir, file) < 0
			     ? -1
			     : openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	pthread_mutex_unlock(ref.lock);
	buf = malloc(READ_BUF);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		checks[i].index = sums[i].index;
		checks[i].status = fds[i] < 0 ? DFS_ENOENT : verify_fd(fds[i], &sums[i], buf, NULL);
		if (checks[i].status == DFS_OK || checks[i].status == DFS_EBADMSG)
			record_verified(st, &ref, ver, sums[i].index, fds[i], checks[i].status);
	}
	*count = n;
	rc = 0;
out:
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(buf);
	if (have)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

/* The copies of one kept version that the scrub reads, opened under the lock. */
struct scrub_copy {
	uint64_t ver;
	dfs_chunk_sum sum;
	int fd;
};

/* Drops chunk index from version ver of m (in place, into held[]) and, if ver is
 * current, lists self as lacking it (into lacking[]); false if m does not hold it. */
static bool drop_from_record(dfs_meta *m, uint64_t ver, unsigned index, unsigned self,
			     dfs_chunk_sum held[DFS_HELD_MAX], unsigned lacking[DFS_SERVERS_MAX])
{
	dfs_file_info *fi =
	    m->current.ver == ver && !m->current.deleted ? &m->current
	    : m->previous.previous_len == 1 && m->previous.previous_val[0].ver == ver
		? &m->previous.previous_val[0]
		: NULL;
	unsigned n = 0;
	bool found = false, listed = false;

	if (fi == NULL)
		return false;
	for (u_int i = 0; i < fi->chunks.chunks_len && n < DFS_HELD_MAX; i++) {
		if (fi->chunks.chunks_val[i].index == index)
			found = true;
		else
			held[n++] = fi->chunks.chunks_val[i];
	}
	if (!found)
		return false;
	fi->chunks.chunks_val = held;
	fi->chunks.chunks_len = n;
	if (fi != &m->current || self == 0)
		return true;
	n = 0;
	for (u_int i = 0; i < fi->lacking.lacking_len && n < DFS_SERVERS_MAX; i++) {
		lacking[n++] = fi->lacking.lacking_val[i];
		listed = listed || fi->lacking.lacking_val[i] == self;
	}
	if (!listed && n < DFS_SERVERS_MAX)
		lacking[n++] = self;
	fi->lacking.lacking_val = lacking;
	fi->lacking.lacking_len = n;
	return true;
}

/* Moves the copy aside into quarantine/ and rewrites the record without it, so it is
 * no longer served and a client's repair rewrites it; unless the copy was replaced or
 * removed since it was read (another inode, or no file). With ino 0 the copy is one
 * the record lists but the folder lacks: only the record changes, if it still lists
 * it and the file is still absent. 0 or -errno. */
static int quarantine(struct store *st, const struct file_ref *ref, uint64_t ver, unsigned index,
		      uint64_t ino, unsigned self)
{
	dfs_chunk_sum held[DFS_HELD_MAX];
	unsigned lacking[DFS_SERVERS_MAX];
	char path[PATH_BUF], file[32], aside[PATH_BUF];
	dfs_meta m, saved;
	dfs_file_info saved_prev;
	struct stat sb;
	int rc;

	chunk_name(file, sizeof(file), ver, index);
	if (path_join(path, sizeof(path), ref->dir, file) < 0 ||
	    snprintf(aside, sizeof(aside), "quarantine/%s-%s-%s", ref->user, ref->hash, file) >=
		(int)sizeof(aside))
		return -ENAMETOOLONG;
	pthread_mutex_lock(ref->lock);
	rc = meta_read(st->rootfd, ref->dir, NULL, 0, ref->hash, &m);
	if (rc < 0)
		goto unlock;
	if (ino == 0) {
		if (fstatat(st->rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
			rc = -EEXIST;
			goto out;
		}
	} else if (fstatat(st->rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		   (uint64_t)sb.st_ino != ino) {
		rc = -ENOENT;
		goto out;
	} else {
		if (mkdirat(st->rootfd, "quarantine", 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		if (renameat(st->rootfd, path, st->rootfd, aside) < 0) {
			rc = -errno;
			goto out;
		}
		fsync_dir_at(st->rootfd, "quarantine");
		fsync_dir_at(st->rootfd, ref->dir);
	}
	/* drop_from_record points into held[] and lacking[]: keep what xdr_free must
	 * release, and the current record as the counts know it. */
	saved = m;
	if (m.previous.previous_len == 1)
		saved_prev = m.previous.previous_val[0];
	if (drop_from_record(&m, ver, index, self, held, lacking)) {
		rc = meta_write(st->rootfd, ref->dir, &m);
		if (rc == 0)
			counts_replace(st->counts, ref->user, &saved.current, &m.current);
	} else if (ino == 0) {
		rc = -ENOENT; /* no longer listed: nothing is missing */
	}
	m = saved;
	if (m.previous.previous_len == 1)
		m.previous.previous_val[0] = saved_prev;
out:
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
unlock:
	pthread_mutex_unlock(ref->lock);
	return rc;
}

int store_scrub_file(struct store *st, const char *user, const char *hash, unsigned self,
		     const struct store_pace *pace, struct store_scrub_tally *t)
{
	struct scrub_copy copies[2 * DFS_HELD_MAX];
	const dfs_file_info *kept[2];
	struct file_ref ref;
	unsigned n = 0;
	dfs_meta m;
	char *buf;
	int rc;

	if (store_check_user(user) < 0 || !is_hex_name(hash, HASH_HEX))
		return -EINVAL;
	rc = ref_init(st, user, hash, &ref);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(ref.lock);
	rc = meta_read(st->rootfd, ref.dir, NULL, 0, hash, &m);
	if (rc < 0) {
		pthread_mutex_unlock(ref.lock);
		return rc == -ENOENT ? 0 : rc;
	}
	kept[0] = m.current.deleted ? NULL : &m.current;
	kept[1] = m.previous.previous_len == 1 ? &m.previous.previous_val[0] : NULL;
	for (int v = 0; v < 2; v++) {
		for (u_int i = 0; kept[v] && i < kept[v]->chunks.chunks_len && i < DFS_HELD_MAX;
		     i++) {
			char path[PATH_BUF], file[32];
			struct scrub_copy *c = &copies[n];

			c->ver = kept[v]->ver;
			c->sum = kept[v]->chunks.chunks_val[i];
			chunk_name(file, sizeof(file), c->ver, c->sum.index);
			c->fd = path_join(path, sizeof(path), ref.dir, file) < 0
				    ? -2
				    : openat(st->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (c->fd == -1 && errno != ENOENT)
				c->fd = -2; /* unreadable: left for a human */
			n++;
		}
	}
	pthread_mutex_unlock(ref.lock);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	buf = malloc(READ_BUF);
	rc = buf ? 0 : -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < n; i++) {
		struct scrub_copy *c = &copies[i];
		dfs_stat result;
		struct stat sb;

		if (c->fd == -2)
			continue;
		if (c->fd < 0) {
			/* Listed but absent: unless a commit removed it meanwhile (the record
			 * no longer lists it), the record stops claiming it, for repair. */
			if (quarantine(st, &ref, c->ver, c->sum.index, 0, self) == 0) {
				t->missing++;
				log_warn("scrub: user %s: chunk %u of version %016" PRIx64
					 " (%s) is missing; marked for repair",
					 user, c->sum.index, c->ver, hash);
			}
			continue;
		}
		result = verify_fd(c->fd, &c->sum, buf, pace);
		if (result == DFS_EAGAIN) {
			rc = -EINTR;
			break;
		}
		t->copies++;
		t->bytes += c->sum.size;
		if (result != DFS_OK && result != DFS_EBADMSG)
			continue;
		record_verified(st, &ref, c->ver, c->sum.index, c->fd, result);
		if (result == DFS_EBADMSG && fstat(c->fd, &sb) == 0) {
			t->corrupt++;
			log_warn("scrub: user %s: chunk %u of version %016" PRIx64
				 " (%s) fails its checksum; moved to quarantine",
				 user, c->sum.index, c->ver, hash);
			if (quarantine(st, &ref, c->ver, c->sum.index, (uint64_t)sb.st_ino, self) <
			    0)
				log_warn("scrub: cannot quarantine %s/%016" PRIx64 ".%u", ref.dir,
					 c->ver, c->sum.index);
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (copies[i].fd >= 0)
			close(copies[i].fd);
	free(buf);
	return rc;
}

int store_verified(struct store *st, const char *user, const void *name, size_t name_len,
		   uint64_t ver, struct store_verified *out, unsigned *count)
{
	char prefix[20];
	struct file_ref ref;
	struct dirent *de;
	dfs_meta m;
	DIR *d;
	int rc, dfd;

	*count = 0;
	rc = ref_for(st, user, name, name_len, &ref);
	if (rc < 0)
		return rc;
	rc = meta_read(st->rootfd, ref.dir, name, name_len, NULL, &m);
	if (rc < 0)
		return rc;
	rc = meta_version(&m, ver) ? 0 : missing_version(&m, ver);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	if (rc < 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "%016" PRIx64 "-", ver);
	pthread_mutex_lock(ref.lock);
	d = opendir_at(st->rootfd, ref.dir);
	if (d == NULL) {
		pthread_mutex_unlock(ref.lock);
		return 0;
	}
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL && *count < DFS_HELD_MAX) {
		char chunk[VERIFY_CHUNK_NAME];
		struct verify_state vs;
		struct stat sb;
		uint64_t v;
		unsigned k;
		bool tmp, present;

		if (strncmp(de->d_name, prefix, 17) != 0 ||
		    !verify_state_name(de->d_name, chunk, &tmp) || tmp ||
		    !parse_chunk_name(chunk, &v, &k) || verify_state_read(dfd, chunk, &vs) < 0)
			continue;
		present = fstatat(dfd, chunk, &sb, AT_SYMLINK_NOFOLLOW) == 0;
		/* A rewritten copy was never verified; a copy gone for another reason than
		 * its quarantine is simply not held. */
		if (present ? (uint64_t)sb.st_ino != vs.ino : vs.result != DFS_EBADMSG)
			continue;
		out[*count] = (struct store_verified){k, vs.when_ns, vs.result};
		(*count)++;
	}
	closedir(d);
	pthread_mutex_unlock(ref.lock);
	return 0;
}

struct lacking_count {
	struct store *st;
	const char *user;
	uint64_t files;
};

/* Counts a marked file if its record still names a lacking server; else drops the
 * marker, under the file's lock so a commit setting it meanwhile is not undone. */
static int count_marked(const char *hash, void *arg)
{
	struct lacking_count *lc = arg;
	struct file_ref ref;
	dfs_meta m;
	int rc;

	if (ref_init(lc->st, lc->user, hash, &ref) < 0)
		return 0;
	pthread_mutex_lock(ref.lock);
	rc = meta_read(lc->st->rootfd, ref.dir, NULL, 0, hash, &m);
	if (rc == 0 && m.current.lacking.lacking_len > 0)
		lc->files++;
	else if (rc == 0 || rc == -ENOENT)
		repair_index_set(lc->st->rootfd, ref.dir, false);
	if (rc == 0)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	pthread_mutex_unlock(ref.lock);
	return 0;
}

int store_lacking_files(struct store *st, const char *user, uint64_t *files)
{
	struct lacking_count lc = {st, user, 0};
	int rc;

	*files = 0;
	rc = store_check_user(user);
	if (rc < 0)
		return rc;
	rc = repair_index_each(st->rootfd, user, count_marked, &lc);
	*files = lc.files;
	return rc;
}

/* Calls fn for each file folder u/USER/HH/HASH, stopping at a negative return. */

static int walk_folders(struct store *st, folder_fn fn, void *arg)
{
	DIR *ud;
	struct dirent *ue;
	int rc = 0;

	ud = opendir_at(st->rootfd, "u");
	if (ud == NULL)
		return errno == ENOENT ? 0 : -EIO;
	while (rc >= 0 && (ue = readdir(ud)) != NULL) {
		char udir[PATH_BUF], hhdir[PATH_BUF], dir[PATH_BUF];
		char **hh = NULL;
		size_t nhh = 0;

		if (store_check_user(ue->d_name) < 0)
			continue;
		snprintf(udir, sizeof(udir), "u/%s", ue->d_name);
		rc = sorted_hex_names(st->rootfd, udir, 2, NULL, &hh, &nhh);
		for (size_t i = 0; rc >= 0 && i < nhh; i++) {
			char **files = NULL;
			size_t nfiles = 0;

			if (path_join(hhdir, sizeof(hhdir), udir, hh[i]) < 0)
				continue;
			rc = sorted_hex_names(st->rootfd, hhdir, HASH_HEX, NULL, &files, &nfiles);
			for (size_t j = 0; rc >= 0 && j < nfiles; j++) {
				if (strncmp(files[j], hh[i], 2) != 0 ||
				    path_join(dir, sizeof(dir), hhdir, files[j]) < 0)
					continue;
				rc = fn(st, ue->d_name, files[j], dir, arg);
			}
			free_names(files, nfiles);
		}
		free_names(hh, nhh);
	}
	closedir(ud);
	return rc;
}

static int stats_folder(struct store *st, const char *user, const char *hash, const char *dir,
			void *arg)
{
	struct store_stats *s = arg;
	dfs_meta m;

	(void)user;
	if (meta_read(st->rootfd, dir, NULL, 0, hash, &m) < 0)
		return 0;
	if (!m.current.deleted) {
		s->files++;
		s->logical_bytes += m.current.size;
		s->chunks += m.current.chunks.chunks_len;
		for (u_int i = 0; i < m.current.chunks.chunks_len; i++)
			s->bytes += m.current.chunks.chunks_val[i].size;
		if (m.current.lacking.lacking_len > 0)
			s->chunks_need_repair += m.current.chunks.chunks_len;
	} else if (m.current.lacking.lacking_len > 0) {
		/* A delete some server missed: one repair item. */
		s->chunks_need_repair++;
	}
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return 0;
}

int store_stats_walk(struct store *st, struct store_stats *out)
{
	struct statvfs vfs;
	int rc;

	memset(out, 0, sizeof(*out));
	if (fstatvfs(st->rootfd, &vfs) < 0)
		return -errno;
	out->space_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	out->space_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	rc = walk_folders(st, stats_folder, out);
	return rc < 0 ? rc : 0;
}

/* Fills out from kept totals and the filesystem's space. */
static int stats_from(struct store *st, const struct count_totals *t, struct store_stats *out)
{
	struct statvfs vfs;

	memset(out, 0, sizeof(*out));
	if (fstatvfs(st->rootfd, &vfs) < 0)
		return -errno;
	out->space_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	out->space_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	out->files = t->files;
	out->chunks = t->chunks;
	out->bytes = t->bytes;
	out->logical_bytes = t->logical_bytes;
	out->chunks_need_repair = t->chunks_need_repair;
	return 0;
}

int store_stats(struct store *st, struct store_stats *out)
{
	struct count_totals t;

	counts_all(st->counts, &t);
	return stats_from(st, &t, out);
}

int store_user_stats(struct store *st, const char *user, struct store_stats *out)
{
	struct count_totals t;

	counts_user(st->counts, user, &t);
	return stats_from(st, &t, out);
}

struct housekeep {
	time_t now;
	unsigned max_tmp_age_s;
	int64_t tombstone_before_ns;
	time_t previous_before; /* previous versions replaced before this go */
	int removed;
};

/* Drops m's previous version from the record on disk when the record (rewritten at
 * every commit) is older than hk->previous_before; its chunk files are then no longer
 * kept. True if it was dropped. */
static bool drop_previous(struct store *st, const char *dir, int dirfd, dfs_meta *m,
			  const struct housekeep *hk)
{
	struct stat sb;
	dfs_meta gone;

	if (m->current.deleted || m->previous.previous_len == 0)
		return false;
	if (fstatat(dirfd, META_NAME, &sb, 0) < 0 || sb.st_mtime > hk->previous_before)
		return false;
	memset(&gone, 0, sizeof(gone));
	gone.previous = m->previous;
	m->previous.previous_len = 0;
	m->previous.previous_val = NULL;
	if (meta_write(st->rootfd, dir, m) < 0) {
		m->previous = gone.previous;
		return false;
	}
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&gone);
	return true;
}

/* Cleans one file folder under its lock: expired tombstone, unneeded chunk files, stale
 * meta temporaries, and the folder itself once empty. */
static int housekeep_folder(struct store *st, const char *user, const char *hash, const char *dir,
			    void *arg)
{
	struct housekeep *hk = arg;
	pthread_mutex_t *lock = stripe(st, user, hash);
	dfs_meta m;
	bool have = false, empty = true;
	DIR *d = NULL;
	struct dirent *de;
	int dirfd, rc, removed = 0;

	pthread_mutex_lock(lock);
	rc = meta_read(st->rootfd, dir, NULL, 0, hash, &m);
	have = rc == 0;
	if (rc < 0 && rc != -ENOENT)
		goto out; /* an unreadable record is kept for a human to look at */
	dirfd = openat(st->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		goto out;
	/* A tombstone that names servers which missed the delete stays until repair has
	 * told them: expiring it earlier could let their copy come back. */
	if (have && m.current.deleted && m.current.lacking.lacking_len == 0 &&
	    m.current.mtime_ns <= hk->tombstone_before_ns) {
		if (unlinkat(dirfd, META_NAME, 0) == 0) {
			counts_replace(st->counts, user, &m.current, NULL);
			removed++;
			xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
			have = false;
		}
	}
	if (have)
		drop_previous(st, dir, dirfd, &m, hk);
	d = fdopendir(dirfd);
	if (d == NULL) {
		close(dirfd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		uint64_t v;
		unsigned k;
		char side_chunk[VERIFY_CHUNK_NAME];
		bool drop, side_tmp;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			empty = false;
			continue;
		}
		if (strncmp(de->d_name, META_TMP_PREFIX, strlen(META_TMP_PREFIX)) == 0) {
			/* meta is only written under this lock: this is a crash leftover. */
			drop = true;
		} else if (parse_chunk_name(de->d_name, &v, &k)) {
			if (have && version_kept(&m, v))
				drop = false;
			else if (!have || v > m.current.ver)
				/* Staged for a put that has not committed yet, unless abandoned. */
				drop = hk->now - sb.st_mtime >= (time_t)hk->max_tmp_age_s;
			else
				drop = true;
		} else if (verify_state_name(de->d_name, side_chunk, &side_tmp)) {
			/* A record of a version no longer kept goes with the version. */
			drop = side_tmp || !parse_chunk_name(side_chunk, &v, &k) || !have ||
			       (!version_kept(&m, v) && v <= m.current.ver);
		} else {
			drop = false;
		}
		if (drop && unlinkat(dirfd, de->d_name, 0) == 0)
			removed++;
		else
			empty = false;
	}
	if (removed > 0)
		fsync(dirfd);
	closedir(d);
	if (empty && unlinkat(st->rootfd, dir, AT_REMOVEDIR) == 0) {
		char parent[PATH_BUF];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (slash) {
			*slash = '\0';
			fsync_dir_at(st->rootfd, parent);
		}
	}
out:
	pthread_mutex_unlock(lock);
	if (have)
		xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	hk->removed += removed;
	return 0;
}

int store_housekeep(struct store *st, unsigned max_tmp_age_s, unsigned tombstone_ttl_s)
{
	struct store_retention r = {
	    .max_tmp_age_s = max_tmp_age_s,
	    .tombstone_ttl_s = tombstone_ttl_s,
	    .previous_ttl_s = UINT_MAX,
	};

	return store_housekeep_retention(st, &r);
}

/* Touches IN_SERVICE_NAME: its age tells how long ago this folder was last in service. */
static void mark_in_service(int rootfd)
{
	int fd = openat(rootfd, IN_SERVICE_NAME, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return;
	futimens(fd, NULL);
	close(fd);
}

int store_check_in_service(struct store *st, unsigned max_age_s, char *when, size_t whenlen)
{
	struct stat sb;
	struct tm tm;

	if (fstatat(st->rootfd, IN_SERVICE_NAME, &sb, 0) < 0) {
		/* A new folder, or one from before the marker existed. */
		mark_in_service(st->rootfd);
		return 0;
	}
	if (time(NULL) - sb.st_mtime <= (time_t)max_age_s) {
		mark_in_service(st->rootfd);
		return 0;
	}
	if (gmtime_r(&sb.st_mtime, &tm) == NULL ||
	    strftime(when, whenlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(when, whenlen, "long ago");
	return -ESTALE;
}

int store_housekeep_retention(struct store *st, const struct store_retention *r)
{
	struct housekeep hk;
	int rc;

	hk.now = time(NULL);
	hk.max_tmp_age_s = r->max_tmp_age_s;
	hk.tombstone_before_ns = now_ns() - (int64_t)r->tombstone_ttl_s * 1000000000;
	hk.previous_before =
	    r->previous_ttl_s >= (unsigned)hk.now ? 0 : hk.now - (time_t)r->previous_ttl_s;
	hk.removed = 0;
	mark_in_service(st->rootfd);
	rc = clean_tmp(st->rootfd, false, r->max_tmp_age_s);
	if (rc < 0)
		return rc;
	hk.removed += rc;
	rc = walk_folders(st, housekeep_folder, &hk);
	if (rc < 0)
		return rc;
	return hk.removed;
}
