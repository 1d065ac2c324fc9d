/* records.c: the records database of a data folder (records_db.h): opening it, and
 * reading records, chunks, verifications and the keys in order. Changes are in
 * records_write.c. */
#include "records_db.h"
#include "lmdb_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define RECORDS_DIR "records"
/* Virtual size of the map; the file grows only as records are added. */
#define MAP_SIZE ((size_t)1 << 40)
/* Nanoseconds between two drops of the map's pages (records_used). */
#define UNMAP_EVERY_NS 1000000000
/* Keys read per read transaction by records_each, so that no reader stays open
 * long (LMDB cannot reuse pages a reader may still see). */
#define EACH_BATCH 256

/* Where LMDB mapped the database file at path: LMDB does not say (mdb_env_info
 * gives an address only for MDB_FIXEDMAP), the kernel does. */
static void find_map(struct records *r, const char *path)
{
	char line[PATH_BUF + 256];
	struct stat sb;
	FILE *f;

	if (stat(path, &sb) < 0 || (f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long from, to, ino;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &from, &to, &ino) == 3 &&
		    ino == (unsigned long)sb.st_ino && to - from >= MAP_SIZE) {
			r->map = (void *)from;
			r->map_len = to - from;
			break;
		}
	}
	fclose(f);
}

int records_open_env(struct records **out, const char *root, bool create)
{
	static const char *const names[4] = {"records", "lacking", "chunks", "verified"};
	struct records *r = calloc(1, sizeof(*r));
	char path[PATH_BUF + 16];
	MDB_txn *txn = NULL;
	MDB_dbi dbis[4];
	int rc;

	*out = NULL;
	if (r == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s", root, RECORDS_DIR);
	if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		free(r);
		return rc;
	}
	/* Synchronous commits: a change is on disk when its commit returns. */
	rc = lmdb_env_open(path, MAP_SIZE, MDB_NOTLS, names, dbis, 4, &r->env, &txn);
	if (rc == 0) {
		r->records = dbis[0];
		r->lacking = dbis[1];
		r->chunks = dbis[2];
		r->verified = dbis[3];
		rc = mdb_txn_commit(txn);
		if (rc != 0)
			mdb_env_close(r->env);
	}
	if (rc != 0) {
		free(r);
		return rc == ENOENT ? -ENOENT : lmdb_errno(rc);
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->flushed, NULL);
	r->tail = &r->queue;
	snprintf(path, sizeof(path), "%s/%s/data.mdb", root, RECORDS_DIR);
	find_map(r, path);
	*out = r;
	return 0;
}

int records_open(struct records **out, const char *root)
{
	return records_open_env(out, root, true);
}

void records_close(struct records *r)
{
	if (r == NULL)
		return;
	if (r->import)
		mdb_txn_abort(r->import);
	mdb_env_close(r->env);
	pthread_cond_destroy(&r->flushed);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void records_used(struct records *r)
{
	long long now = now_ns(), last = atomic_load(&r->unmapped_ns);

	if (r->map == NULL || now - last < UNMAP_EVERY_NS ||
	    !atomic_compare_exchange_strong(&r->unmapped_ns, &last, now))
		return;
	madvise(r->map, r->map_len, MADV_DONTNEED);
}

/* Reads the value of key in dbi (WHEN, then bytes): up to count bytes from offset
 * into buf; out gets the whole size, WHEN and the count copied. -ENOENT if absent. */
static int read_value(struct records *r, MDB_dbi dbi, const unsigned char *key, size_t klen,
		      uint64_t offset, void *buf, size_t count, struct inline_chunk *out)
{
	MDB_val k = {klen, (void *)key}, v;
	MDB_txn *txn;
	int rc;

	records_used(r);
	rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return lmdb_errno(rc);
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = -ENOENT;
	} else if (rc != 0) {
		rc = lmdb_errno(rc);
	} else if (v.mv_size < 8) {
		rc = -EIO;
	} else {
		out->size = v.mv_size - 8;
		out->written_ns = (int64_t)get_le64(v.mv_data);
		out->got = 0;
		if (offset < out->size && count > 0) {
			out->got =
			    out->size - offset < count ? (size_t)(out->size - offset) : count;
			memcpy(buf, (const unsigned char *)v.mv_data + 8 + offset, out->got);
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

int records_get(struct records *r, const char *user, const char *hash, void *buf, size_t cap,
		size_t *len, int64_t *written_ns)
{
	unsigned char key[KEY_MAX];
	struct inline_chunk v;
	int rc = read_value(r, r->records, key, file_key(user, hash, key), 0, buf, cap, &v);

	if (rc < 0)
		return rc;
	if (v.size > cap)
		return -EBADMSG;
	*len = v.got;
	if (written_ns)
		*written_ns = v.written_ns;
	return 0;
}

int records_chunk_read(struct records *r, const char *user, const char *hash, uint64_t ver,
		       unsigned index, uint64_t offset, void *buf, size_t count,
		       struct inline_chunk *out)
{
	unsigned char key[KEY_MAX];

	return read_value(r, r->chunks, key, chunk_key(user, hash, ver, index, key), offset, buf,
			  count, out);
}

int records_verified_each(struct records *r, const char *user, const char *hash, uint64_t ver,
			  verified_fn fn, void *arg)
{
	unsigned char prefix[KEY_MAX];
	size_t plen = chunk_key(user, hash, ver, 0, prefix) - 1;
	struct {
		unsigned index;
		struct verify_state vs;
	} found[DFS_SERVERS_MAX];
	unsigned n = 0;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k = {plen, prefix}, v;
	int rc;

	rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return lmdb_errno(rc);
	rc = mdb_cursor_open(txn, r->verified, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && n < DFS_SERVERS_MAX && k.mv_size == plen + 1 &&
	       memcmp(k.mv_data, prefix, plen) == 0) {
		if (v.mv_size == 24) {
			const unsigned char *p = v.mv_data;

			found[n].index = ((const unsigned char *)k.mv_data)[plen];
			found[n].vs.ino = get_le64(p);
			found[n].vs.when_ns = (int64_t)get_le64(p + 8);
			found[n].vs.result = (int)get_le64(p + 16);
			n++;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_errno(rc);
	/* Called outside the transaction: fn may read the database. */
	for (unsigned i = 0; i < n; i++)
		fn(found[i].index, &found[i].vs, arg);
	return 0;
}

/* Splits a key into user and hash; false for a key that is not USER NUL HASH. */
static bool parse_key(const MDB_val *k, char user[USER_MAX + 1], char hash[HASH_HEX + 1])
{
	const char *p = k->mv_data;
	const char *nul = memchr(p, '\0', k->mv_size);
	size_t ulen;

	if (nul == NULL)
		return false;
	ulen = (size_t)(nul - p);
	if (ulen == 0 || ulen > USER_MAX || k->mv_size != ulen + 1 + HASH_HEX)
		return false;
	memcpy(user, p, ulen + 1);
	memcpy(hash, nul + 1, HASH_HEX);
	hash[HASH_HEX] = '\0';
	return true;
}

struct key_batch {
	char user[EACH_BATCH][USER_MAX + 1];
	char hash[EACH_BATCH][HASH_HEX + 1];
	unsigned count;
};

/* Where a read of keys starts: at the first key >= start (or after it, with
 * exclusive); from the first key when start_len is 0. */
struct key_start {
	unsigned char start[KEY_MAX];
	size_t start_len;
	bool exclusive;
};

/* Reads up to EACH_BATCH keys from ks of user (NULL: all users) into b. */
static int read_keys(struct records *r, MDB_dbi dbi, const char *user, const struct key_start *ks,
		     struct key_batch *b, bool *end)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur;
	MDB_val k = {ks->start_len, (void *)ks->start}, v;
	int rc;

	b->count = 0;
	*end = false;
	records_used(r);
	rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		if (txn)
			mdb_txn_abort(txn);
		return lmdb_errno(rc);
	}
	rc = mdb_cursor_get(cur, &k, &v, ks->start_len ? MDB_SET_RANGE : MDB_FIRST);
	if (rc == 0 && ks->exclusive && k.mv_size == ks->start_len &&
	    memcmp(k.mv_data, ks->start, ks->start_len) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	while (rc == 0 && b->count < EACH_BATCH) {
		if (parse_key(&k, b->user[b->count], b->hash[b->count])) {
			if (user && strcmp(user, b->user[b->count]) != 0) {
				rc = MDB_NOTFOUND;
				break;
			}
			b->count++;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND) {
		*end = true;
		rc = 0;
	}
	return rc == 0 ? 0 : lmdb_errno(rc);
}

/* Calls fn for the keys of dbi of user (NULL: all) from ks on, batch by batch. */
static int each_key(struct records *r, MDB_dbi dbi, const char *user, struct key_start *ks,
		    records_fn fn, void *arg)
{
	struct key_batch *b = malloc(sizeof(*b));
	bool end = false;
	int rc = 0;

	if (b == NULL)
		return -ENOMEM;
	while (rc >= 0 && !end) {
		rc = read_keys(r, dbi, user, ks, b, &end);
		for (unsigned i = 0; rc >= 0 && i < b->count; i++) {
			rc = fn(b->user[i], b->hash[i], arg);
			if (rc > 0) {
				end = true;
				rc = 0;
				break;
			}
		}
		if (b->count > 0) {
			ks->start_len =
			    file_key(b->user[b->count - 1], b->hash[b->count - 1], ks->start);
			ks->exclusive = true;
		}
	}
	free(b);
	return rc;
}

int records_each(struct records *r, const char *user, const char *after_hash, records_fn fn,
		 void *arg)
{
	struct key_start ks = {.start_len = 0, .exclusive = false};

	if (user && after_hash && after_hash[0]) {
		ks.start_len = file_key(user, after_hash, ks.start);
		ks.exclusive = true;
	} else if (user) {
		memcpy(ks.start, user, strlen(user) + 1);
		ks.start_len = strlen(user) + 1;
	}
	return each_key(r, r->records, user, &ks, fn, arg);
}

int records_each_from(struct records *r, const char *from_user, records_fn fn, void *arg)
{
	struct key_start ks = {.start_len = strlen(from_user), .exclusive = false};

	memcpy(ks.start, from_user, ks.start_len);
	return each_key(r, r->records, NULL, &ks, fn, arg);
}

int records_lacking_each(struct records *r, const char *user, records_fn fn, void *arg)
{
	struct key_start ks = {.start_len = strlen(user) + 1, .exclusive = false};

	memcpy(ks.start, user, ks.start_len);
	return each_key(r, r->lacking, user, &ks, fn, arg);
}
