/* layout.c: the data folder: its FORMAT, the IN-SERVICE marker, the folder and lock
 * of each file, chunk file names, and opening and closing the store. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rpc/rpc.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "counts.h"
#include "log.h"
#include "dirsync.h"
#include "hex.h"
#include "names.h"

/* The rules of names.h, checked here too so no path is ever built from a bad name. */
static int store_check_name(const void *name, size_t len)
{
	return name ? name_check(name, len, NULL) : -EINVAL;
}

int store_check_user(const char *user)
{
	return user ? user_name_check(user, NULL) : -EINVAL;
}

pthread_mutex_t *stripe(struct store *st, const char *user, const char *hash)
{
	uint64_t h = XXH3_64bits_withSeed(hash, HASH_HEX, XXH3_64bits(user, strlen(user)));

	return &st->locks[h % STORE_LOCKS];
}

int ref_init(struct store *st, const char *user, const char *hash, struct file_ref *ref)
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
int ref_for(struct store *st, const char *user, const void *name, size_t name_len,
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
int path_join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

void chunk_name(char *out, size_t outlen, uint64_t ver, unsigned index)
{
	snprintf(out, outlen, "%016" PRIx64 ".%u", ver, index);
}

/* Parses "VVVVVVVVVVVVVVVV.K"; false for anything else. */
bool parse_chunk_name(const char *s, uint64_t *ver, unsigned *index)
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

int format_write(int rootfd)
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

int format_check(int rootfd, const char *root, unsigned *format, char *err, size_t errlen)
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
		rc = format_write(rootfd);
		*format = STORE_FORMAT;
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
	*format = (unsigned)num;
	return 0;
bad:
	snprintf(err, errlen, "data folder %s: %s/%s is not a dfs format file", root, root,
		 FORMAT_NAME);
	return -EBADMSG;
}

/* Counts one record and, if the name index is being rebuilt, indexes its name. */
static int count_record(struct store *st, const char *user, const char *hash, void *arg)
{
	const bool *rebuild = arg;
	dfs_meta m;
	int rc;

	if (meta_read(st, user, hash, NULL, 0, &m) < 0)
		return 0;
	rc = counts_replace(st->counts, user, NULL, &m.current);
	if (rc == 0 && *rebuild)
		rc = name_index_add(st->names, user, m.current.name.dfs_name_val,
				    m.current.name.dfs_name_len, hash);
	xdr_free((xdrproc_t)xdr_dfs_meta, (char *)&m);
	return rc;
}

/* The counts at start: as saved at the last stop if it was clean (and the name
 * index trusted with them), else by reading every record once, refilling the name
 * index on the way if it was not trusted. Commits and deletes keep them after. */
static int load_or_count(struct store *st, bool rebuild)
{
	int rc = counts_new(&st->counts);

	if (rc < 0)
		return rc;
	if (!rebuild) {
		if (name_index_load_counts(st->names, st->counts) == 0)
			return 0;
		counts_free(st->counts);
		rc = counts_new(&st->counts);
		if (rc < 0)
			return rc;
	}
	rc = walk_records(st, count_record, &rebuild);
	if (rc >= 0 && rebuild)
		rc = name_index_refilled(st->names);
	if (rc >= 0 && rebuild) {
		struct count_totals t;

		counts_all(st->counts, &t);
		log_info("the name index was not closed cleanly: refilled from the records "
			 "(%" PRIu64 " live files)",
			 t.files);
	}
	return rc;
}

int store_open(struct store **out, const char *root, char *err, size_t errlen)
{
	struct store *st = NULL;
	int rootfd = -1, rc, nlocks = 0;
	unsigned format = 0;
	bool rebuild = true;

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
	rc = format_check(rootfd, root, &format, err, errlen);
	if (rc < 0)
		goto out;
	if (format < STORE_FORMAT) {
		snprintf(err, errlen,
			 "data folder %s has format %u; this dfsd reads format %d: convert it "
			 "first with dfsd --upgrade-data (with the server stopped)",
			 root, format, STORE_FORMAT);
		rc = -EPROTO;
		goto out;
	}
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
	st->inline_max = STORE_INLINE_MAX;
	rootfd = -1;
	rc = records_open(&st->records, root);
	if (rc < 0) {
		snprintf(err, errlen, "cannot open the records in %s/records: %s", root,
			 strerror(-rc));
		rootfd = st->rootfd;
		goto out;
	}
	rc = name_index_open(&st->names, st->rootfd, root, &rebuild);
	if (rc < 0) {
		snprintf(err, errlen, "cannot open the name index in %s/names: %s", root,
			 strerror(-rc));
		rootfd = st->rootfd;
		goto out;
	}
	rc = load_or_count(st, rebuild);
	if (rc < 0) {
		snprintf(err, errlen, "cannot count the files in %s: %s", root, strerror(-rc));
		rootfd = st->rootfd;
		goto out;
	}
	rc = trash_start(st);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start removing old chunk files: %s", strerror(-rc));
		rootfd = st->rootfd;
		goto out;
	}
	*out = st;
	st = NULL;
	rc = 0;
out:
	if (st) {
		name_index_close(st->names, st->rootfd, false);
		records_close(st->records);
		while (nlocks-- > 0)
			pthread_mutex_destroy(&st->locks[nlocks]);
		counts_free(st->counts);
		free(st);
	}
	if (rootfd >= 0)
		close(rootfd);
	return rc;
}

void store_set_inline_max(struct store *st, unsigned bytes)
{
	st->inline_max = bytes;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	trash_stop(st);
	mark_in_service(st->rootfd);
	name_index_close(st->names, st->rootfd, name_index_save_counts(st->names, st->counts) == 0);
	records_close(st->records);
	for (int i = 0; i < STORE_LOCKS; i++)
		pthread_mutex_destroy(&st->locks[i]);
	pthread_mutex_destroy(&st->quota_lock);
	counts_free(st->counts);
	close(st->rootfd);
	free(st);
}

/* Touches IN_SERVICE_NAME: its age tells how long ago this folder was last in service. */
void mark_in_service(int rootfd)
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
