/* name_index.c: the name index, every record's name in byte order per user, so that a
 * listing by prefix reads only the part of the index it returns.
 *
 * The index is an LMDB database in DATA/names/, derived from the records: it is
 * written without flushing, and trusted at start only if the previous dfsd closed
 * it cleanly (the CLEAN file, naming the IN-SERVICE time of that close, which any
 * dfsd touches at start); otherwise it is emptied and rebuilt from the records
 * while the store counts them. An entry is added before the record it names is
 * first written and removed after the record is, so the index never lacks a
 * record; listings read each entry's record and skip entries that have none.
 *
 * Key: USER NUL NAME. A name too long for an LMDB key is cut to fit and followed
 * by its 32-byte hash; the entries sharing such a cut are sorted by their whole
 * names while they are read. Value: the 32-byte hash, then the whole name. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "counts.h"
#include "dirsync.h"
#include "lmdb_env.h"

#define NAMES_DIR  "names"
#define CLEAN_NAME "names/CLEAN"
#define HASH_BYTES 32
/* Virtual size of the map; the file grows only as entries are added. */
#define MAP_SIZE ((size_t)1 << 36)

struct name_index {
	MDB_env *env;
	MDB_dbi dbi;	/* the names */
	MDB_dbi counts; /* USER -> its count_totals, saved at a clean stop */
	size_t key_max;
	MDB_txn *refill; /* while it is refilled at open: one transaction per batch */
	unsigned refill_count;
};

/* Entries per transaction while refilling: few commits, bounded memory. */
#define REFILL_BATCH 8192

/* The IN-SERVICE time in nanoseconds, or 0 if there is none. */
static int64_t in_service_ns(int rootfd)
{
	struct stat sb;

	if (fstatat(rootfd, IN_SERVICE_NAME, &sb, 0) < 0)
		return 0;
	return (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
}

/* Whether the index was closed cleanly and no dfsd ran on the folder since; the
 * mark is removed either way, so a crash from now on forces a rebuild. */
static bool take_clean_mark(int rootfd)
{
	char text[32];
	ssize_t n = -1;
	int fd = openat(rootfd, CLEAN_NAME, O_RDONLY | O_CLOEXEC);
	bool clean = false;

	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	if (n > 0) {
		text[n] = '\0';
		clean = strtoll(text, NULL, 10) == in_service_ns(rootfd);
	}
	if (unlinkat(rootfd, CLEAN_NAME, 0) == 0)
		fsync_dir_at(rootfd, NAMES_DIR);
	return clean;
}

static int lmdb_errno(int rc)
{
	if (rc == MDB_MAP_FULL)
		return -ENOSPC;
	if (rc == ENOMEM || rc == ENOSPC || rc == EACCES)
		return -rc;
	return -EIO;
}

int name_index_open(struct name_index **out, int rootfd, const char *root, bool *rebuild)
{
	static const char *const names[2] = {"names", "counts"};
	struct name_index *n = calloc(1, sizeof(*n));
	MDB_dbi dbis[2];
	char path[PATH_BUF + 16];
	MDB_txn *txn = NULL;
	int rc;

	*out = NULL;
	*rebuild = true;
	if (n == NULL)
		return -ENOMEM;
	if (mkdirat(rootfd, NAMES_DIR, 0700) < 0 && errno != EEXIST) {
		free(n);
		return -errno;
	}
	*rebuild = !take_clean_mark(rootfd);
	snprintf(path, sizeof(path), "%s/%s", root, NAMES_DIR);
	/* No flush: the index is rebuilt after any exit that was not clean. */
	rc = lmdb_env_open(path, MAP_SIZE, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS, names, dbis, 2,
			   &n->env, &txn);
	if (rc != 0) {
		free(n);
		return lmdb_errno(rc);
	}
	n->dbi = dbis[0];
	n->counts = dbis[1];
	/* Counts are good only until the first change: loaded once, then dropped. */
	if (rc == 0 && *rebuild)
		rc = mdb_drop(txn, n->counts, 0);
	if (rc == 0 && *rebuild) {
		rc = mdb_drop(txn, n->dbi, 0);
		if (rc == 0) {
			n->refill = txn; /* ended by name_index_refilled */
			txn = NULL;
		}
	}
	if (rc == 0 && txn) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (rc != 0) {
		mdb_env_close(n->env);
		free(n);
		return lmdb_errno(rc);
	}
	n->key_max = (size_t)mdb_env_get_maxkeysize(n->env);
	*out = n;
	return 0;
}

int name_index_refilled(struct name_index *n)
{
	int rc;

	if (n == NULL || n->refill == NULL)
		return 0;
	rc = mdb_txn_commit(n->refill);
	n->refill = NULL;
	return rc == 0 ? 0 : lmdb_errno(rc);
}

void name_index_close(struct name_index *n, int rootfd, bool clean)
{
	char text[32];
	int fd, len;

	if (n == NULL)
		return;
	if (n->refill) {
		mdb_txn_abort(n->refill);
		clean = false;
	}
	if (clean && mdb_env_sync(n->env, 1) == 0) {
		len = snprintf(text, sizeof(text), "%" PRId64 "\n", in_service_ns(rootfd));
		fd = openat(rootfd, CLEAN_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (write(fd, text, (size_t)len) == len && fsync(fd) == 0)
				fsync_dir_at(rootfd, NAMES_DIR);
			close(fd);
		}
	}
	mdb_env_close(n->env);
	free(n);
}

/* The length of the cut every name longer than it is reduced to, for user. */
static size_t cut_len(const struct name_index *n, size_t user_len)
{
	return n->key_max - user_len - 1 - HASH_BYTES;
}

/* Builds the key of (user, name, hash) in buf (key_max bytes). */
static size_t make_key(const struct name_index *n, const char *user, const void *name, size_t len,
		       const unsigned char hash[HASH_BYTES], unsigned char *buf)
{
	size_t ulen = strlen(user), cut = cut_len(n, ulen);

	memcpy(buf, user, ulen + 1);
	if (len <= cut) {
		memcpy(buf + ulen + 1, name, len);
		return ulen + 1 + len;
	}
	memcpy(buf + ulen + 1, name, cut);
	memcpy(buf + ulen + 1 + cut, hash, HASH_BYTES);
	return ulen + 1 + cut + HASH_BYTES;
}

static int hash_bytes(const char *hex, unsigned char out[HASH_BYTES])
{
	return hex_decode(hex, out, HASH_BYTES);
}

/* Adds (add) or removes the entry of (user, name) inside txn. An LMDB error. */
static int put_entry(struct name_index *n, MDB_txn *txn, const char *user, const void *name,
		     size_t len, const char *hash, bool add)
{
	unsigned char key[1024], hb[HASH_BYTES], *val;
	MDB_val k, v;
	int rc;

	if (n->key_max > sizeof(key) || strlen(user) > USER_MAX || hash_bytes(hash, hb) < 0)
		return EINVAL;
	k.mv_data = key;
	k.mv_size = make_key(n, user, name, len, hb, key);
	if (!add) {
		rc = mdb_del(txn, n->dbi, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	v.mv_size = HASH_BYTES + len;
	rc = mdb_put(txn, n->dbi, &k, &v, MDB_RESERVE);
	if (rc == 0) {
		val = v.mv_data;
		memcpy(val, hb, HASH_BYTES);
		memcpy(val + HASH_BYTES, name, len);
	}
	return rc;
}

/* Adds or removes entries, all in one transaction (or in the refill's). */
static int change(struct name_index *n, const char *user, const struct name_entry *e,
		  unsigned count, bool add)
{
	MDB_txn *txn;
	int rc = 0;

	if (n == NULL || count == 0)
		return 0;
	txn = n->refill;
	rc = txn ? 0 : mdb_txn_begin(n->env, NULL, 0, &txn);
	for (unsigned i = 0; rc == 0 && i < count; i++)
		rc = put_entry(n, txn, user, e[i].name, e[i].len, e[i].hash, add);
	if (txn == n->refill) {
		if (rc == 0 && ++n->refill_count % REFILL_BATCH == 0) {
			rc = mdb_txn_commit(txn);
			n->refill = NULL;
			if (rc == 0)
				rc = mdb_txn_begin(n->env, NULL, 0, &n->refill);
		}
		return rc == 0 ? 0 : lmdb_errno(rc);
	}
	if (rc != 0) {
		if (txn)
			mdb_txn_abort(txn);
		return lmdb_errno(rc);
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? 0 : lmdb_errno(rc);
}

int name_index_add(struct name_index *n, const char *user, const void *name, size_t len,
		   const char *hash)
{
	struct name_entry e = {.name = name, .len = len, .hash = hash};

	return change(n, user, &e, 1, true);
}

int name_index_add_many(struct name_index *n, const char *user, const struct name_entry *e,
			unsigned count)
{
	return change(n, user, e, count, true);
}

int name_index_remove(struct name_index *n, const char *user, const void *name, size_t len,
		      const char *hash)
{
	struct name_entry e = {.name = name, .len = len, .hash = hash};

	return change(n, user, &e, 1, false);
}
/* One entry read from the index. */
struct entry {
	char hash[HASH_HEX + 1];
	const unsigned char *name; /* into the map: valid while the read lasts */
	size_t len;
};

static int compare_names(const void *a, size_t alen, const void *b, size_t blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);

	if (d)
		return d;
	return alen < blen ? -1 : alen > blen;
}

static int by_name(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;

	return compare_names(a->name, a->len, b->name, b->len);
}

static bool entry_from(const MDB_val *v, struct entry *e)
{
	if (v->mv_size <= HASH_BYTES || v->mv_size > HASH_BYTES + DFS_NAME_MAX)
		return false;
	hex_encode(v->mv_data, HASH_BYTES, e->hash);
	e->name = (const unsigned char *)v->mv_data + HASH_BYTES;
	e->len = v->mv_size - HASH_BYTES;
	return true;
}

struct scan {
	const struct name_index_query *q;
	name_index_fn fn;
	void *arg;
	bool done; /* fn asked to stop */
};

/* Hands e to the caller if it is wanted: past `after` and under the prefix. */
static int offer(struct scan *s, const struct entry *e)
{
	const struct name_index_query *q = s->q;
	int rc;

	if (e->len < q->prefix_len || memcmp(e->name, q->prefix, q->prefix_len) != 0)
		return 0;
	if (q->after_len > 0 && compare_names(e->name, e->len, q->after, q->after_len) <= 0)
		return 0;
	rc = s->fn(e->hash, e->name, e->len, s->arg);
	if (rc > 0)
		s->done = true;
	return rc < 0 ? rc : 0;
}

/* Reads the entries whose keys share the cut of the long name under the cursor,
 * sorts them by whole name and offers them. Leaves the cursor on the last one. */
static int offer_group(struct scan *s, MDB_cursor *cur, MDB_val *k, MDB_val *v, size_t stem)
{
	struct entry *group = NULL;
	size_t count = 0, cap = 0;
	unsigned char first[1024];
	int rc = 0;

	memcpy(first, k->mv_data, stem);
	for (;;) {
		if (count == cap) {
			struct entry *grown =
			    realloc(group, (cap = cap ? cap * 2 : 8) * sizeof(*group));

			if (grown == NULL) {
				free(group);
				return -ENOMEM;
			}
			group = grown;
		}
		if (entry_from(v, &group[count]))
			count++;
		rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
		if (rc != 0 || k->mv_size != stem + HASH_BYTES || memcmp(k->mv_data, first, stem)) {
			if (rc == 0)
				rc = mdb_cursor_get(cur, k, v, MDB_PREV);
			break;
		}
	}
	rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_errno(rc);
	qsort(group, count, sizeof(*group), by_name);
	for (size_t i = 0; rc == 0 && i < count && !s->done; i++)
		rc = offer(s, &group[i]);
	free(group);
	return rc;
}

int name_index_scan(struct name_index *n, const char *user, const struct name_index_query *q,
		    name_index_fn fn, void *arg, bool *eof)
{
	unsigned char start[1024];
	size_t ulen = strlen(user), cut, stem, base, from_len;
	const void *from;
	struct scan s = {q, fn, arg, false};
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc;

	*eof = false;
	if (n->key_max > sizeof(start) || ulen > USER_MAX)
		return -EINVAL;
	cut = cut_len(n, ulen);
	base = ulen + 1;
	stem = base + cut;
	/* Seek to the later of the prefix and `after`, cut as keys are. */
	from = q->prefix;
	from_len = q->prefix_len;
	if (q->after_len > 0 &&
	    compare_names(q->after, q->after_len, q->prefix, q->prefix_len) > 0) {
		from = q->after;
		from_len = q->after_len;
	}
	memcpy(start, user, base);
	memcpy(start + base, from, from_len < cut ? from_len : cut);
	k.mv_data = start;
	k.mv_size = base + (from_len < cut ? from_len : cut);
	rc = mdb_txn_begin(n->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, n->dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && !s.done) {
		size_t pcut = q->prefix_len < cut ? q->prefix_len : cut;
		struct entry e;

		/* Past the user's keys, or past every name with the prefix. */
		if (k.mv_size < base || memcmp(k.mv_data, user, base) != 0 ||
		    k.mv_size - base < pcut ||
		    memcmp((const char *)k.mv_data + base, q->prefix, pcut) != 0)
			break;
		if (k.mv_size == stem + HASH_BYTES)
			rc = offer_group(&s, cur, &k, &v, stem);
		else if (entry_from(&v, &e))
			rc = offer(&s, &e);
		if (rc == 0 && !s.done)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND || (rc == 0 && !s.done)) {
		*eof = true;
		rc = 0;
	} else if (rc > 0) {
		rc = lmdb_errno(rc);
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

int name_index_users(struct name_index *n, const char *after, name_index_user_fn fn, void *arg,
		     bool *eof)
{
	unsigned char start[USER_MAX + 2];
	size_t alen = strlen(after);
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, stop = 0;

	*eof = false;
	if (alen > USER_MAX)
		return -EINVAL;
	/* Past every key of `after`: its name followed by a byte above the NUL. */
	memcpy(start, after, alen);
	start[alen] = 1;
	k.mv_data = start;
	k.mv_size = alen ? alen + 1 : 0;
	rc = mdb_txn_begin(n->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, n->dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, alen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && !stop) {
		const char *key = k.mv_data;
		size_t ulen = strnlen(key, k.mv_size);
		char user[USER_MAX + 1];

		if (ulen == 0 || ulen >= k.mv_size || ulen > USER_MAX) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		memcpy(user, key, ulen);
		user[ulen] = '\0';
		stop = fn(user, arg);
		if (stop < 0)
			break;
		memcpy(start, user, ulen);
		start[ulen] = 1;
		k.mv_data = start;
		k.mv_size = ulen + 1;
		if (!stop)
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	if (rc == MDB_NOTFOUND) {
		*eof = true;
		rc = 0;
	} else if (rc > 0) {
		rc = lmdb_errno(rc);
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return stop < 0 ? stop : rc;
}

/* A user's totals as stored: five 64-bit numbers in this host's byte order (the
 * file never leaves it, and is rebuilt when in doubt). */
#define TOTALS_FIELDS 5
/* The key whose presence says the counts were saved (no user name starts with '.'). */
static const char SAVED_KEY[] = ".saved";

static int save_one(const char *user, const struct count_totals *t, void *arg)
{
	MDB_txn *txn = ((void **)arg)[0];
	const struct name_index *n = ((void **)arg)[1];
	uint64_t v[TOTALS_FIELDS] = {t->files, t->chunks, t->bytes, t->chunks_need_repair,
				     t->logical_bytes};
	MDB_val k = {strlen(user), (void *)user}, d = {sizeof(v), v};
	int rc = mdb_put(txn, n->counts, &k, &d, 0);

	return rc == 0 ? 0 : lmdb_errno(rc);
}

int name_index_save_counts(struct name_index *n, struct counts *c)
{
	MDB_val k = {sizeof(SAVED_KEY) - 1, (void *)SAVED_KEY}, d = {1, "1"};
	void *arg[2];
	MDB_txn *txn;
	int rc = mdb_txn_begin(n->env, NULL, 0, &txn);

	if (rc != 0)
		return lmdb_errno(rc);
	arg[0] = txn;
	arg[1] = n;
	rc = mdb_drop(txn, n->counts, 0);
	rc = rc == 0 ? counts_each(c, save_one, arg) : lmdb_errno(rc);
	if (rc == 0)
		rc = mdb_put(txn, n->counts, &k, &d, 0) == 0 ? 0 : -EIO;
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? 0 : lmdb_errno(rc);
}

int name_index_load_counts(struct name_index *n, struct counts *c)
{
	MDB_val k = {sizeof(SAVED_KEY) - 1, (void *)SAVED_KEY}, d;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	int rc = mdb_txn_begin(n->env, NULL, 0, &txn);

	if (rc != 0)
		return lmdb_errno(rc);
	rc = mdb_get(txn, n->counts, &k, &d);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return -ENOENT;
	}
	if (rc == 0)
		rc = mdb_cursor_open(txn, n->counts, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (rc == 0) {
		char user[USER_MAX + 1];
		uint64_t v[TOTALS_FIELDS];

		if (((const char *)k.mv_data)[0] != '.') {
			if (k.mv_size > USER_MAX || d.mv_size != sizeof(v)) {
				rc = -EBADMSG;
				break;
			}
			memcpy(user, k.mv_data, k.mv_size);
			user[k.mv_size] = '\0';
			memcpy(v, d.mv_data, sizeof(v));
			rc = counts_set(c, user,
					&(struct count_totals){v[0], v[1], v[2], v[3], v[4]});
			if (rc < 0)
				break;
		}
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc > 0)
		rc = lmdb_errno(rc);
	/* Good for this start only: the next one recounts unless this stop is clean. */
	if (rc == 0)
		rc = mdb_drop(txn, n->counts, 0) == 0 ? 0 : -EIO;
	if (cur)
		mdb_cursor_close(cur);
	if (rc == 0)
		rc = mdb_txn_commit(txn) == 0 ? 0 : -EIO;
	else
		mdb_txn_abort(txn);
	return rc;
}
