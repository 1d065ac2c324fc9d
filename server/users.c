/* users.c: the user database, one LMDB file of versioned SCRAM verifier records. */
#include "users.h"
#include "names.h"
#include "user_record.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define MAP_SIZE       (64u << 20)
#define USER_MAX       64
#define RECORD_VERSION 1
/* version, salt_len, salt, iterations (BE32), stored_key, server_key, and
 * for a user with a quota: quota bytes (BE64), quota files (BE64). A record
 * without the quota (every record written before quotas) means no limit. */
#define QUOTA_LEN  16
#define RECORD_MAX (2 + SCRAM_SALT_MAX + 4 + 2 * SCRAM_KEY_LEN + QUOTA_LEN)
/* The database's settings live under a key no user name can take (user
 * names never begin with '.'): version, fake-verifier key, iterations (BE32). */
#define SETTINGS_KEY	 ".settings"
#define SETTINGS_VERSION 1
#define SETTINGS_LEN	 (1 + 32 + 4)
/* Distinct iteration counts remembered when finding the most common one. */
#define COUNTS_MAX 16

struct user_db {
	struct user_db_redis *redis; /* the Redis backend; NULL for a file */
	MDB_env *env;
	MDB_dbi dbi;
	bool writable;
	/* Stand-ins when the file has no settings (an older database opened
	 * read-only): fixed at open. */
	struct user_db_settings fallback;
	char error[320]; /* user_db_error's text */
};

/* LMDB's own codes as -errno; plain errno values pass through negated. */
static int mdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
		return -EAGAIN;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* Puts val under key in txn and commits txn, which is ended either way. 0 or -errno. */
static int put_and_commit(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags)
{
	int rc = mdb_errno(mdb_put(txn, dbi, key, val, flags));

	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_errno(mdb_txn_commit(txn));
}

/* Creates path with mode 0600 exactly (whatever the umask) if it is missing. */
static int create_private(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	if (fchmod(fd, 0600) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int unpack(const unsigned char *rec, size_t len, struct scram_verifier *v,
		  struct user_quota *q);

/* 0 and *out, -ENOENT if the file has no settings, -EBADMSG if unreadable. */
static int settings_get(MDB_txn *txn, MDB_dbi dbi, struct user_db_settings *out)
{
	MDB_val key = {strlen(SETTINGS_KEY), (void *)SETTINGS_KEY}, val;
	const unsigned char *p;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mdb_errno(mdb_get(txn, dbi, &key, &val));
	if (rc < 0)
		return rc;
	p = val.mv_data;
	if (val.mv_size != SETTINGS_LEN || p[0] != SETTINGS_VERSION)
		return -EBADMSG;
	memcpy(out->fake_key, p + 1, sizeof(out->fake_key));
	out->iterations = user_record_settings_iterations(get_be32(p + 1 + sizeof(out->fake_key)));
	return 0;
}

static int settings_put(MDB_txn *txn, MDB_dbi dbi, const struct user_db_settings *st)
{
	unsigned char rec[SETTINGS_LEN];
	MDB_val key = {strlen(SETTINGS_KEY), (void *)SETTINGS_KEY}, val = {sizeof(rec), rec};
	int rc;

	rec[0] = SETTINGS_VERSION;
	memcpy(rec + 1, st->fake_key, sizeof(st->fake_key));
	put_be32(rec + 1 + sizeof(st->fake_key), st->iterations);
	rc = mdb_errno(mdb_put(txn, dbi, &key, &val, 0));
	OPENSSL_cleanse(rec, sizeof(rec));
	return rc;
}

/* The iteration count most users have (the larger one on a tie), or
 * SCRAM_DEFAULT_ITERATIONS for a database without users. */
static uint32_t common_iterations(MDB_txn *txn, MDB_dbi dbi)
{
	struct {
		uint32_t iterations;
		unsigned users;
	} counts[COUNTS_MAX];
	size_t n = 0, best = 0;
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	MDB_cursor_op op = MDB_FIRST;
	struct scram_verifier v;

	if (mdb_cursor_open(txn, dbi, &cur) != 0)
		return SCRAM_DEFAULT_ITERATIONS;
	for (; mdb_cursor_get(cur, &key, &val, op) == 0; op = MDB_NEXT) {
		size_t i;

		if (key.mv_size == 0 || ((const char *)key.mv_data)[0] == '.' ||
		    unpack(val.mv_data, val.mv_size, &v, NULL) < 0)
			continue;
		for (i = 0; i < n && counts[i].iterations != v.iterations; i++)
			;
		if (i == n && n < COUNTS_MAX) {
			counts[n].iterations = v.iterations;
			counts[n++].users = 0;
		}
		if (i < n)
			counts[i].users++;
	}
	mdb_cursor_close(cur);
	OPENSSL_cleanse(&v, sizeof(v));
	if (n == 0)
		return SCRAM_DEFAULT_ITERATIONS;
	for (size_t i = 1; i < n; i++)
		if (counts[i].users > counts[best].users ||
		    (counts[i].users == counts[best].users &&
		     counts[i].iterations > counts[best].iterations))
			best = i;
	return counts[best].iterations;
}

/* Creates the settings in a write transaction if the file has none. */
static int settings_ensure(MDB_txn *txn, MDB_dbi dbi)
{
	struct user_db_settings st;
	int rc = settings_get(txn, dbi, &st);

	if (rc != -ENOENT)
		goto out;
	if (RAND_bytes(st.fake_key, sizeof(st.fake_key)) != 1) {
		rc = -EIO;
		goto out;
	}
	st.iterations = common_iterations(txn, dbi);
	rc = settings_put(txn, dbi, &st);
out:
	OPENSSL_cleanse(&st, sizeof(st));
	return rc;
}

int user_db_open(struct user_db **out, const char *path, bool writable, char *err, size_t errlen)
{
	struct user_db *db = NULL;
	MDB_txn *txn = NULL;
	char lockpath[4096];
	struct stat st;
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
	int rc, dead = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!path || !*path) {
		rc = -EINVAL;
		snprintf(err, errlen, "no user database path given");
		goto out;
	}
	if (user_db_is_url(path)) {
		db = calloc(1, sizeof(*db));
		if (!db) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		db->writable = writable;
		db->fallback.iterations = SCRAM_DEFAULT_ITERATIONS;
		rc = RAND_bytes(db->fallback.fake_key, sizeof(db->fallback.fake_key)) == 1 ? 0
											   : -EIO;
		if (rc == 0)
			rc = user_db_redis_open(&db->redis, path, writable, err, errlen);
		if (rc < 0)
			goto out;
		*out = db;
		db = NULL;
		goto out;
	}
	if ((size_t)snprintf(lockpath, sizeof(lockpath), "%s-lock", path) >= sizeof(lockpath)) {
		rc = -ENAMETOOLONG;
		snprintf(err, errlen, "user database path too long");
		goto out;
	}
	if (writable) {
		rc = create_private(path);
		if (rc == 0)
			rc = create_private(lockpath);
		if (rc < 0) {
			snprintf(err, errlen, "cannot create user database %s: %s", path,
				 strerror(-rc));
			goto out;
		}
	} else {
		/* Opening would create a stray lock file; say clearly what is missing. */
		if (stat(path, &st) < 0) {
			rc = -errno;
			if (rc == -ENOENT)
				snprintf(
				    err, errlen,
				    "user database %s does not exist (create it with dfsadm add)",
				    path);
			else
				snprintf(err, errlen, "cannot access user database %s: %s", path,
					 strerror(-rc));
			goto out;
		}
		flags |= MDB_RDONLY;
	}
	db = calloc(1, sizeof(*db));
	if (!db) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	db->writable = writable;
	rc = mdb_errno(mdb_env_create(&db->env));
	if (rc == 0)
		rc = mdb_errno(mdb_env_set_mapsize(db->env, MAP_SIZE));
	if (rc == 0)
		rc = mdb_errno(mdb_env_open(db->env, path, flags, 0600));
	if (rc < 0) {
		snprintf(err, errlen, "cannot open user database %s: %s", path, strerror(-rc));
		goto out;
	}
	/* Reader slots left by crashed processes would otherwise pin old pages. */
	mdb_reader_check(db->env, &dead);
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, writable ? 0 : MDB_RDONLY, &txn));
	if (rc == 0)
		rc = mdb_errno(mdb_dbi_open(txn, NULL, 0, &db->dbi));
	/* Several servers opening one new file at once: LMDB runs their write
	 * transactions one after the other, so only the first creates these. */
	if (rc == 0 && writable)
		rc = settings_ensure(txn, db->dbi);
	if (rc == 0 && RAND_bytes(db->fallback.fake_key, sizeof(db->fallback.fake_key)) != 1)
		rc = -EIO;
	if (rc == 0)
		db->fallback.iterations = common_iterations(txn, db->dbi);
	if (rc == 0) {
		rc = mdb_errno(mdb_txn_commit(txn));
		txn = NULL;
	}
	if (rc < 0) {
		snprintf(err, errlen, "cannot read user database %s: %s", path, strerror(-rc));
		goto out;
	}
	*out = db;
	db = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	user_db_close(db);
	return rc;
}

void user_db_close(struct user_db *db)
{
	if (!db)
		return;
	user_db_redis_close(db->redis);
	if (db->env)
		mdb_env_close(db->env);
	OPENSSL_cleanse(&db->fallback, sizeof(db->fallback));
	free(db);
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* The quota trailer is written only for a user who has a limit, so records of
 * users without one stay as older servers read them. */
static size_t pack(const struct scram_verifier *v, const struct user_quota *q, unsigned char *rec)
{
	size_t n = 0;

	rec[n++] = RECORD_VERSION;
	rec[n++] = (unsigned char)v->salt_len;
	memcpy(rec + n, v->salt, v->salt_len);
	n += v->salt_len;
	put_be32(rec + n, v->iterations);
	n += 4;
	memcpy(rec + n, v->stored_key, SCRAM_KEY_LEN);
	n += SCRAM_KEY_LEN;
	memcpy(rec + n, v->server_key, SCRAM_KEY_LEN);
	n += SCRAM_KEY_LEN;
	if (q && (q->bytes || q->files)) {
		put_be64(rec + n, q->bytes);
		put_be64(rec + n + 8, q->files);
		n += QUOTA_LEN;
	}
	return n;
}

/* 0, or -EBADMSG for a record of an unknown version, a wrong size or a
 * field out of bounds. q (if not NULL) gets the quota, zero (no limit)
 * when the record has none. */
static int unpack(const unsigned char *rec, size_t len, struct scram_verifier *v,
		  struct user_quota *q)
{
	size_t salt_len, base;
	const unsigned char *keys;

	memset(v, 0, sizeof(*v));
	if (q)
		memset(q, 0, sizeof(*q));
	if (len < 2 || rec[0] != RECORD_VERSION)
		return -EBADMSG;
	salt_len = rec[1];
	base = 2 + salt_len + 4 + 2 * SCRAM_KEY_LEN;
	if (len != base && len != base + QUOTA_LEN)
		return -EBADMSG;
	keys = rec + 2 + salt_len + 4;
	if (user_record_verifier(v, rec + 2, salt_len, get_be32(rec + 2 + salt_len), keys,
				 SCRAM_KEY_LEN, keys + SCRAM_KEY_LEN, SCRAM_KEY_LEN) < 0)
		return -EBADMSG;
	if (q && len == base + QUOTA_LEN) {
		q->bytes = get_be64(rec + base);
		q->files = get_be64(rec + base + 8);
	}
	return 0;
}

int user_db_get(struct user_db *db, const char *user, struct scram_verifier *out)
{
	MDB_txn *txn = NULL;
	MDB_val key, val;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!db || user_name_check(user, NULL) != 0)
		return -EINVAL;
	if (db->redis)
		return user_db_redis_get(db->redis, user, out, NULL);
	key.mv_data = (void *)user;
	key.mv_size = strlen(user);
	/* A fresh read transaction each time sees dfsadm's latest commit. */
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn));
	if (rc < 0)
		return rc;
	rc = mdb_errno(mdb_get(txn, db->dbi, &key, &val));
	if (rc == 0)
		rc = unpack(val.mv_data, val.mv_size, out, NULL);
	mdb_txn_abort(txn);
	return rc;
}

/* In a write transaction adding a user: when the database holds no user yet,
 * this first user's iteration count becomes the count for new users. */
static int first_user_sets_iterations(MDB_txn *txn, MDB_dbi dbi, uint32_t iterations)
{
	struct user_db_settings st;
	MDB_stat ms;
	int rc = settings_ensure(txn, dbi);

	if (rc == 0)
		rc = mdb_errno(mdb_stat(txn, dbi, &ms));
	if (rc == 0)
		rc = settings_get(txn, dbi, &st);
	/* The settings record is the one entry that is not a user. */
	if (rc == 0 && ms.ms_entries <= 1 && st.iterations != iterations) {
		st.iterations = iterations;
		rc = settings_put(txn, dbi, &st);
	}
	OPENSSL_cleanse(&st, sizeof(st));
	return rc;
}

int user_db_put(struct user_db *db, const char *user, const struct scram_verifier *v, bool replace)
{
	unsigned char rec[RECORD_MAX];
	struct scram_verifier cur;
	struct user_quota quota;
	MDB_txn *txn = NULL;
	MDB_val key, val;
	int rc;

	if (!db || user_name_check(user, NULL) != 0 || !v || v->salt_len == 0 ||
	    v->salt_len > SCRAM_SALT_MAX || v->iterations == 0)
		return -EINVAL;
	if (!db->writable)
		return -EROFS;
	if (db->redis)
		return user_db_redis_put(db->redis, user, v, replace);
	key.mv_data = (void *)user;
	key.mv_size = strlen(user);
	memset(&quota, 0, sizeof(quota));
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, 0, &txn));
	if (rc < 0)
		goto out;
	if (!replace)
		rc = first_user_sets_iterations(txn, db->dbi, v->iterations);
	else if (mdb_get(txn, db->dbi, &key, &val) == 0)
		/* A new password keeps the user's quota. */
		unpack(val.mv_data, val.mv_size, &cur, &quota);
	if (rc < 0)
		goto out;
	val.mv_data = rec;
	val.mv_size = pack(v, &quota, rec);
	rc = put_and_commit(txn, db->dbi, &key, &val, replace ? 0 : MDB_NOOVERWRITE);
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	OPENSSL_cleanse(rec, sizeof(rec));
	OPENSSL_cleanse(&cur, sizeof(cur));
	return rc;
}

int user_db_delete(struct user_db *db, const char *user)
{
	MDB_txn *txn = NULL;
	MDB_val key;
	int rc;

	if (!db || user_name_check(user, NULL) != 0)
		return -EINVAL;
	if (!db->writable)
		return -EROFS;
	if (db->redis)
		return user_db_redis_delete(db->redis, user);
	key.mv_data = (void *)user;
	key.mv_size = strlen(user);
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, 0, &txn));
	if (rc < 0)
		goto out;
	rc = mdb_errno(mdb_del(txn, db->dbi, &key, NULL));
	if (rc < 0)
		goto out;
	rc = mdb_errno(mdb_txn_commit(txn));
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

/* Names are copied out first so fn runs with no transaction open (it may
 * itself change the database). */
int user_db_each(struct user_db *db, int (*fn)(const char *user, void *arg), void *arg)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	char(*names)[USER_MAX + 1] = NULL;
	size_t count = 0, cap = 0;
	MDB_cursor_op op = MDB_FIRST;
	int rc;

	if (!db || !fn)
		return -EINVAL;
	if (db->redis)
		return user_db_redis_each(db->redis, fn, arg);
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn));
	if (rc == 0)
		rc = mdb_errno(mdb_cursor_open(txn, db->dbi, &cur));
	if (rc < 0)
		goto out;
	for (; (rc = mdb_cursor_get(cur, &key, &val, op)) == 0; op = MDB_NEXT) {
		if (key.mv_size == 0 || key.mv_size > USER_MAX ||
		    ((const char *)key.mv_data)[0] == '.')
			continue; /* not a user record: skip rather than fail the listing */
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *p = realloc(names, ncap * sizeof(*names));

			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			names = p;
			cap = ncap;
		}
		memcpy(names[count], key.mv_data, key.mv_size);
		names[count][key.mv_size] = '\0';
		count++;
	}
	rc = rc == MDB_NOTFOUND ? 0 : mdb_errno(rc);
	if (rc < 0)
		goto out;
	mdb_cursor_close(cur);
	cur = NULL;
	mdb_txn_abort(txn);
	txn = NULL;
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = fn(names[i], arg);
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	free(names);
	return rc;
}

int user_db_change(struct user_db *db, const char *user,
		   const unsigned char old_stored_key[SCRAM_KEY_LEN],
		   const struct scram_verifier *v)
{
	unsigned char rec[RECORD_MAX];
	struct scram_verifier cur;
	struct user_quota quota;
	MDB_txn *txn = NULL;
	MDB_val key, val;
	int rc;

	memset(&cur, 0, sizeof(cur));
	if (!db || user_name_check(user, NULL) != 0 || !old_stored_key || !v || v->salt_len == 0 ||
	    v->salt_len > SCRAM_SALT_MAX || v->iterations == 0)
		return -EINVAL;
	if (db->redis)
		return user_db_redis_change(db->redis, user, old_stored_key, v);
	key.mv_data = (void *)user;
	key.mv_size = strlen(user);
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, db->writable ? 0 : MDB_RDONLY, &txn));
	if (rc < 0)
		goto out;
	rc = mdb_errno(mdb_get(txn, db->dbi, &key, &val));
	if (rc == 0)
		rc = unpack(val.mv_data, val.mv_size, &cur, &quota);
	if (rc < 0)
		goto out;
	if (user_record_same(&cur, v))
		goto out;
	if (CRYPTO_memcmp(cur.stored_key, old_stored_key, SCRAM_KEY_LEN) != 0) {
		rc = -ESTALE;
		goto out;
	}
	if (!db->writable) {
		rc = -EROFS;
		goto out;
	}
	val.mv_data = rec;
	val.mv_size = pack(v, &quota, rec);
	rc = put_and_commit(txn, db->dbi, &key, &val, 0);
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	OPENSSL_cleanse(rec, sizeof(rec));
	OPENSSL_cleanse(&cur, sizeof(cur));
	return rc;
}

int user_db_settings(struct user_db *db, struct user_db_settings *out)
{
	MDB_txn *txn = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!db)
		return -EINVAL;
	if (db->redis)
		return user_db_redis_settings(db->redis, out);
	/* A fresh read transaction sees settings dfsadm added since the open. */
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn));
	if (rc < 0)
		return rc;
	rc = settings_get(txn, db->dbi, out);
	mdb_txn_abort(txn);
	return rc;
}

int user_db_fake_verifier(struct user_db *db, const char *user, struct scram_verifier *out)
{
	struct user_db_settings st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!db || !user)
		return -EINVAL;
	rc = user_db_settings(db, &st);
	if (rc == -ENOENT || rc == -EBADMSG) {
		st = db->fallback;
		rc = 0;
	}
	if (rc == 0)
		scram_fake_verifier(user, st.fake_key, st.iterations, out);
	OPENSSL_cleanse(&st, sizeof(st));
	return rc;
}

int user_db_quota(struct user_db *db, const char *user, struct user_quota *out)
{
	struct scram_verifier v;
	MDB_txn *txn = NULL;
	MDB_val key, val;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!db || user_name_check(user, NULL) != 0)
		return -EINVAL;
	if (db->redis) {
		rc = user_db_redis_get(db->redis, user, &v, out);
		OPENSSL_cleanse(&v, sizeof(v));
		return rc;
	}
	key.mv_data = (void *)user;
	key.mv_size = strlen(user);
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn));
	if (rc < 0)
		return rc;
	rc = mdb_errno(mdb_get(txn, db->dbi, &key, &val));
	if (rc == 0)
		rc = unpack(val.mv_data, val.mv_size, &v, out);
	mdb_txn_abort(txn);
	OPENSSL_cleanse(&v, sizeof(v));
	return rc;
}

int user_db_set_quota(struct user_db *db, const char *user, const struct user_quota *q)
{
	unsigned char rec[RECORD_MAX];
	struct scram_verifier v;
	MDB_txn *txn = NULL;
	MDB_val key, val;
	int rc;

	memset(&v, 0, sizeof(v));
	if (!db || !q || user_name_check(user, NULL) != 0)
		return -EINVAL;
	if (!db->writable)
		return -EROFS;
	if (db->redis)
		return user_db_redis_set_quota(db->redis, user, q);
	key.mv_data = (void *)user;
	key.mv_size = strlen(user);
	rc = mdb_errno(mdb_txn_begin(db->env, NULL, 0, &txn));
	if (rc == 0)
		rc = mdb_errno(mdb_get(txn, db->dbi, &key, &val));
	if (rc == 0)
		rc = unpack(val.mv_data, val.mv_size, &v, NULL);
	if (rc < 0)
		goto out;
	val.mv_data = rec;
	val.mv_size = pack(&v, q, rec);
	rc = put_and_commit(txn, db->dbi, &key, &val, 0);
	txn = NULL;
out:
	if (txn)
		mdb_txn_abort(txn);
	OPENSSL_cleanse(rec, sizeof(rec));
	OPENSSL_cleanse(&v, sizeof(v));
	return rc;
}

int user_quota_parse(const char *text, bool size, uint64_t *out)
{
	static const char suffixes[] = "KMGT";
	const char *p = text;
	uint64_t v = 0;
	unsigned shift = 0;

	*out = 0;
	if (!text || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p && size) {
		const char *s = strchr(suffixes, *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);

		if (!s || !*s)
			return -EINVAL;
		shift = 10 * (unsigned)(s - suffixes + 1);
		p++;
		/* "KB", "KiB" and the like read as the bare suffix. */
		if (*p == 'i' || *p == 'I')
			p++;
		if (*p == 'b' || *p == 'B')
			p++;
	}
	if (*p)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int user_db_ping(struct user_db *db, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!db)
		return -EINVAL;
	return db->redis ? user_db_redis_ping(db->redis, err, errlen) : 0;
}

const char *user_db_strerror(int err)
{
	return err == -ENOTCONN ? "user database unreachable" : strerror(-err);
}

const char *user_db_error(struct user_db *db, int err)
{
	const char *replica =
	    db && db->redis && err == -EROFS ? user_db_redis_replica(db->redis) : NULL;

	if (!replica)
		return user_db_strerror(err);
	snprintf(db->error, sizeof(db->error),
		 "the Redis database at %s is a read-only replica: give dfsadm the primary",
		 replica);
	return db->error;
}
