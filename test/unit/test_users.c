/* test_users.c: the LMDB user database, including a second process's writes. */
#include "check.h"
#include "users.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char path[128];
static char lockpath[160];

static void make_verifier(struct scram_verifier *v, unsigned char seed)
{
	memset(v, 0, sizeof(*v));
	v->salt_len = 16;
	for (size_t i = 0; i < v->salt_len; i++)
		v->salt[i] = (unsigned char)(seed + i);
	v->iterations = 4096u + seed;
	memset(v->stored_key, seed ^ 0x5a, sizeof(v->stored_key));
	memset(v->server_key, seed ^ 0xa5, sizeof(v->server_key));
	v->stored_key[0] = 0;
	v->server_key[31] = 0xff;
}

static int same(const struct scram_verifier *a, const struct scram_verifier *b)
{
	return a->salt_len == b->salt_len && memcmp(a->salt, b->salt, a->salt_len) == 0 &&
	       a->iterations == b->iterations &&
	       memcmp(a->stored_key, b->stored_key, SCRAM_KEY_LEN) == 0 &&
	       memcmp(a->server_key, b->server_key, SCRAM_KEY_LEN) == 0;
}

struct names {
	char buf[256];
	int stop_after;
	int seen;
};

static int collect(const char *user, void *arg)
{
	struct names *n = arg;
	size_t len = strlen(n->buf);

	snprintf(n->buf + len, sizeof(n->buf) - len, "%s%s", len ? " " : "", user);
	n->seen++;
	return n->seen == n->stop_after ? 42 : 0;
}

static void test_missing_read_only(void)
{
	struct user_db *db = (struct user_db *)&db;
	char err[256];
	struct stat st;

	CHECK_EQ(user_db_open(&db, path, false, err, sizeof(err)), -ENOENT);
	CHECK(db == NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "does not exist") != NULL);
	CHECK(stat(lockpath, &st) < 0 && errno == ENOENT);
}

static void test_crud(void)
{
	struct user_db *db = NULL;
	struct scram_verifier a, b, got;
	struct names n = {.stop_after = -1};
	char err[256];
	struct stat st;
	mode_t old = umask(0277); /* would leave the owner unable to write */

	CHECK_EQ(user_db_open(&db, path, true, err, sizeof(err)), 0);
	umask(old);
	CHECK(db != NULL);
	if (!db) {
		fprintf(stderr, "open: %s\n", err);
		return;
	}
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(stat(lockpath, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);

	make_verifier(&a, 1);
	make_verifier(&b, 2);
	CHECK_EQ(user_db_get(db, "AnujS", &got), -ENOENT);
	CHECK_EQ(user_db_put(db, "AnujS", &a, false), 0);
	CHECK_EQ(user_db_get(db, "AnujS", &got), 0);
	CHECK(same(&got, &a));
	CHECK_EQ(user_db_get(db, "anujs", &got), -ENOENT);
	CHECK_EQ(user_db_put(db, "AnujS", &b, false), -EEXIST);
	CHECK_EQ(user_db_get(db, "AnujS", &got), 0);
	CHECK(same(&got, &a));
	CHECK_EQ(user_db_put(db, "AnujS", &b, true), 0);
	CHECK_EQ(user_db_get(db, "AnujS", &got), 0);
	CHECK(same(&got, &b));

	CHECK_EQ(user_db_put(db, "b", &a, false), 0);
	CHECK_EQ(user_db_put(db, "a", &a, false), 0);
	CHECK_EQ(user_db_put(db, "A-z_0.9", &a, false), 0);
	CHECK_EQ(user_db_each(db, collect, &n), 0);
	CHECK_STR(n.buf, "A-z_0.9 AnujS a b");
	memset(&n, 0, sizeof(n));
	n.stop_after = 2;
	CHECK_EQ(user_db_each(db, collect, &n), 42);
	CHECK_STR(n.buf, "A-z_0.9 AnujS");

	CHECK_EQ(user_db_delete(db, "a"), 0);
	CHECK_EQ(user_db_delete(db, "a"), -ENOENT);
	CHECK_EQ(user_db_get(db, "a", &got), -ENOENT);
	memset(&n, 0, sizeof(n));
	n.stop_after = -1;
	CHECK_EQ(user_db_each(db, collect, &n), 0);
	CHECK_STR(n.buf, "A-z_0.9 AnujS b");

	/* Names outside the rule never reach the database. */
	CHECK_EQ(user_db_put(db, ".hidden", &a, false), -EINVAL);
	CHECK_EQ(user_db_put(db, "", &a, false), -EINVAL);
	CHECK_EQ(user_db_put(db, "a/b", &a, false), -EINVAL);
	CHECK_EQ(user_db_put(db,
			     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			     &a, false),
		 -EINVAL);
	CHECK_EQ(user_db_get(db, "a,b", &got), -EINVAL);
	got.salt_len = 0;
	CHECK_EQ(user_db_put(db, "x", &got, false), -EINVAL);
	user_db_close(db);
	user_db_close(NULL);
}

/* Writes or deletes in a separate process, as dfsadm does beside a server. */
static int child_change(const char *user, int del)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		struct user_db *db = NULL;
		struct scram_verifier v;
		char err[256];
		int rc = user_db_open(&db, path, true, err, sizeof(err));

		make_verifier(&v, 7);
		if (rc == 0)
			rc = del ? user_db_delete(db, user) : user_db_put(db, user, &v, false);
		user_db_close(db);
		_exit(rc == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_read_only_sees_other_process(void)
{
	struct user_db *db = NULL;
	struct scram_verifier got, want;
	char err[256];

	CHECK_EQ(user_db_open(&db, path, false, err, sizeof(err)), 0);
	if (!db) {
		fprintf(stderr, "open: %s\n", err);
		return;
	}
	make_verifier(&want, 7);
	CHECK_EQ(user_db_get(db, "late", &got), -ENOENT);
	CHECK_EQ(user_db_put(db, "late", &want, false), -EROFS);
	CHECK_EQ(user_db_delete(db, "b"), -EROFS);

	CHECK_EQ(child_change("late", 0), 0);
	CHECK_EQ(user_db_get(db, "late", &got), 0);
	CHECK(same(&got, &want));

	CHECK_EQ(child_change("late", 1), 0);
	CHECK_EQ(user_db_get(db, "late", &got), -ENOENT);
	CHECK_EQ(child_change("late", 1), 1); /* already gone */
	user_db_close(db);
}

/* A record this code did not write (other version, truncated) is refused. */
static void test_bad_record(void)
{
	char bad[160];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k1 = {2, "v2"}, v1 = {3, "\x02\x01x"};
	MDB_val k2 = {5, "short"}, v2 = {10, "\x01\x10xxxxxxxx"};
	struct user_db *db = NULL;
	struct scram_verifier got;
	char err[256];

	snprintf(bad, sizeof(bad), "%s/bad.db", dir);
	CHECK_EQ(mdb_env_create(&env), 0);
	CHECK_EQ(mdb_env_open(env, bad, MDB_NOSUBDIR, 0600), 0);
	CHECK_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_EQ(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	CHECK_EQ(mdb_put(txn, dbi, &k1, &v1, 0), 0);
	CHECK_EQ(mdb_put(txn, dbi, &k2, &v2, 0), 0);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	CHECK_EQ(user_db_open(&db, bad, false, err, sizeof(err)), 0);
	CHECK_EQ(user_db_get(db, "v2", &got), -EBADMSG);
	CHECK_EQ(user_db_get(db, "short", &got), -EBADMSG);
	user_db_close(db);
}

/* Writes an LMDB file as a dfs without database settings did: raw user
 * records (version 1, salt, iterations, keys). */
static void write_old_db(const char *file, const char *const *users, const uint32_t *iterations,
			 int n)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;

	CHECK_EQ(mdb_env_create(&env), 0);
	CHECK_EQ(mdb_env_open(env, file, MDB_NOSUBDIR, 0600), 0);
	CHECK_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_EQ(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	for (int i = 0; i < n; i++) {
		unsigned char rec[2 + 16 + 4 + 64];
		MDB_val k = {strlen(users[i]), (void *)users[i]}, v = {sizeof(rec), rec};

		memset(rec, i + 1, sizeof(rec));
		rec[0] = 1;
		rec[1] = 16;
		rec[18] = (unsigned char)(iterations[i] >> 24);
		rec[19] = (unsigned char)(iterations[i] >> 16);
		rec[20] = (unsigned char)(iterations[i] >> 8);
		rec[21] = (unsigned char)iterations[i];
		CHECK_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void remove_db(const char *file)
{
	char lock[200];

	snprintf(lock, sizeof(lock), "%s-lock", file);
	unlink(file);
	unlink(lock);
}

/* The database's own settings: created once, shared by every handle (every
 * server) on the file, never listed as a user; unknown users get the same
 * stand-in verifier from each handle, with the count for new users. */
static void test_settings(void)
{
	char file[160], err[256];
	struct user_db *w = NULL, *w2 = NULL, *r = NULL;
	struct user_db_settings st, st2;
	struct scram_verifier a, b, f1, f2, f3;
	struct names n = {"", 0, 0};

	snprintf(file, sizeof(file), "%s/settings.db", dir);
	CHECK_EQ(user_db_open(&w, file, true, err, sizeof(err)), 0);
	CHECK_EQ(user_db_settings(w, &st), 0);
	CHECK_EQ(st.iterations, SCRAM_DEFAULT_ITERATIONS);
	/* The first user's count becomes the count for new users. */
	make_verifier(&a, 1);
	make_verifier(&b, 2);
	CHECK_EQ(user_db_put(w, "first", &a, false), 0);
	CHECK_EQ(user_db_settings(w, &st), 0);
	CHECK_EQ(st.iterations, a.iterations);
	CHECK_EQ(user_db_put(w, "second", &b, false), 0);
	CHECK_EQ(user_db_settings(w, &st2), 0);
	CHECK_EQ(st2.iterations, a.iterations);
	CHECK(memcmp(st.fake_key, st2.fake_key, sizeof(st.fake_key)) == 0);
	CHECK_EQ(user_db_each(w, collect, &n), 0);
	CHECK_STR(n.buf, "first second");
	CHECK_EQ(user_db_get(w, ".settings", &f1), -EINVAL);

	/* Every handle, writable or not, now or after a restart, agrees. */
	CHECK_EQ(user_db_open(&w2, file, true, err, sizeof(err)), 0);
	CHECK_EQ(user_db_open(&r, file, false, err, sizeof(err)), 0);
	CHECK_EQ(user_db_fake_verifier(w, "ghost", &f1), 0);
	CHECK_EQ(user_db_fake_verifier(w2, "ghost", &f2), 0);
	CHECK_EQ(user_db_fake_verifier(r, "ghost", &f3), 0);
	CHECK(same(&f1, &f2) && same(&f1, &f3));
	CHECK_EQ(f1.iterations, a.iterations);
	CHECK_EQ(f1.salt_len, 16);
	CHECK_EQ(user_db_fake_verifier(r, "ghost2", &f2), 0);
	CHECK(memcmp(f1.salt, f2.salt, 16) != 0);
	user_db_close(w);
	user_db_close(w2);
	user_db_close(r);
	w = w2 = r = NULL;
	CHECK_EQ(user_db_open(&r, file, false, err, sizeof(err)), 0);
	CHECK_EQ(user_db_fake_verifier(r, "ghost", &f2), 0);
	CHECK(same(&f1, &f2));
	user_db_close(r);
	r = NULL;
	remove_db(file);

	/* A database written before the settings existed: read-only, each
	 * handle makes do with a key of its own and the most common count... */
	{
		const char *users[3] = {"u1", "u2", "u3"};
		const uint32_t iters[3] = {5000, 7000, 5000};

		write_old_db(file, users, iters, 3);
	}
	CHECK_EQ(user_db_open(&r, file, false, err, sizeof(err)), 0);
	CHECK_EQ(user_db_settings(r, &st), -ENOENT);
	CHECK_EQ(user_db_fake_verifier(r, "ghost", &f1), 0);
	CHECK_EQ(f1.iterations, 5000);
	/* ...until a writable open (dfsadm, or a server that may write) adds them. */
	CHECK_EQ(user_db_open(&w, file, true, err, sizeof(err)), 0);
	CHECK_EQ(user_db_settings(r, &st), 0);
	CHECK_EQ(st.iterations, 5000);
	CHECK_EQ(user_db_fake_verifier(r, "ghost", &f1), 0);
	CHECK_EQ(user_db_fake_verifier(w, "ghost", &f2), 0);
	CHECK(same(&f1, &f2));
	/* Adding a user to a database that has some leaves the count alone. */
	make_verifier(&a, 9);
	CHECK_EQ(user_db_put(w, "u4", &a, false), 0);
	CHECK_EQ(user_db_settings(w, &st), 0);
	CHECK_EQ(st.iterations, 5000);
	user_db_close(w);
	user_db_close(r);
	remove_db(file);
}

/* A password change through a session: only over the verifier the session
 * logged in with; repeating the same change is fine. */
static void test_change(void)
{
	char file[160], err[256];
	struct user_db *w = NULL, *r = NULL;
	struct scram_verifier a, b, c, got;

	snprintf(file, sizeof(file), "%s/change.db", dir);
	make_verifier(&a, 1);
	make_verifier(&b, 2);
	make_verifier(&c, 3);
	CHECK_EQ(user_db_open(&w, file, true, err, sizeof(err)), 0);
	CHECK_EQ(user_db_open(&r, file, false, err, sizeof(err)), 0);
	CHECK_EQ(user_db_put(w, "alice", &a, false), 0);
	CHECK_EQ(user_db_change(w, "alice", b.stored_key, &c), -ESTALE);
	CHECK_EQ(user_db_change(w, "nobody", a.stored_key, &c), -ENOENT);
	CHECK_EQ(user_db_change(r, "alice", a.stored_key, &b), -EROFS);
	CHECK_EQ(user_db_change(w, "alice", a.stored_key, &b), 0);
	CHECK_EQ(user_db_get(w, "alice", &got), 0);
	CHECK(same(&got, &b));
	/* The same change again (another server on the same file), even read-only. */
	CHECK_EQ(user_db_change(w, "alice", a.stored_key, &b), 0);
	CHECK_EQ(user_db_change(r, "alice", a.stored_key, &b), 0);
	/* A session of the old password cannot make another change. */
	CHECK_EQ(user_db_change(w, "alice", a.stored_key, &c), -ESTALE);
	CHECK_EQ(user_db_get(w, "alice", &got), 0);
	CHECK(same(&got, &b));
	user_db_close(w);
	user_db_close(r);
	remove_db(file);
}

/* Quotas: none for old records, kept across password changes, the record
 * without a quota is the old format again. */
static void test_quota(void)
{
	char file[160];
	const char *const users[] = {"old"};
	const uint32_t iters[] = {5000};
	struct user_db *db = NULL;
	struct user_quota q;
	struct scram_verifier v, got;
	unsigned char old_key[SCRAM_KEY_LEN];
	char err[256];

	snprintf(file, sizeof(file), "%s/quota.db", dir);
	write_old_db(file, users, iters, 1);
	CHECK_EQ(user_db_open(&db, file, true, err, sizeof(err)), 0);
	if (!db)
		return;
	q.bytes = 99;
	CHECK_EQ(user_db_quota(db, "old", &q), 0);
	CHECK_EQ_U64(q.bytes, 0);
	CHECK_EQ_U64(q.files, 0);
	CHECK_EQ(user_db_quota(db, "nobody", &q), -ENOENT);
	q = (struct user_quota){.bytes = 1ull << 40, .files = 7};
	CHECK_EQ(user_db_set_quota(db, "nobody", &q), -ENOENT);
	CHECK_EQ(user_db_set_quota(db, "old", &q), 0);
	memset(&q, 0, sizeof(q));
	CHECK_EQ(user_db_quota(db, "old", &q), 0);
	CHECK_EQ_U64(q.bytes, 1ull << 40);
	CHECK_EQ_U64(q.files, 7);
	CHECK_EQ(user_db_get(db, "old", &got), 0);
	CHECK_EQ(got.iterations, 5000);

	/* A new password, by dfsadm or by the user, keeps the quota. */
	make_verifier(&v, 9);
	CHECK_EQ(user_db_put(db, "old", &v, true), 0);
	CHECK_EQ(user_db_quota(db, "old", &q), 0);
	CHECK_EQ_U64(q.files, 7);
	memcpy(old_key, v.stored_key, sizeof(old_key));
	make_verifier(&v, 10);
	CHECK_EQ(user_db_change(db, "old", old_key, &v), 0);
	CHECK_EQ(user_db_get(db, "old", &got), 0);
	CHECK(same(&got, &v));
	CHECK_EQ(user_db_quota(db, "old", &q), 0);
	CHECK_EQ_U64(q.bytes, 1ull << 40);

	/* A new user starts without one; 0 0 removes one. */
	CHECK_EQ(user_db_put(db, "new", &v, false), 0);
	CHECK_EQ(user_db_quota(db, "new", &q), 0);
	CHECK_EQ_U64(q.bytes + q.files, 0);
	q = (struct user_quota){0, 0};
	CHECK_EQ(user_db_set_quota(db, "old", &q), 0);
	CHECK_EQ(user_db_quota(db, "old", &q), 0);
	CHECK_EQ_U64(q.bytes + q.files, 0);
	CHECK_EQ(user_db_get(db, "old", &got), 0);
	CHECK(same(&got, &v));
	user_db_close(db);
	remove_db(file);
}

static void test_quota_parse(void)
{
	uint64_t v = 1;

	CHECK_EQ(user_quota_parse("0", true, &v), 0);
	CHECK_EQ_U64(v, 0);
	CHECK_EQ(user_quota_parse("1234", true, &v), 0);
	CHECK_EQ_U64(v, 1234);
	CHECK_EQ(user_quota_parse("2K", true, &v), 0);
	CHECK_EQ_U64(v, 2048);
	CHECK_EQ(user_quota_parse("3m", true, &v), 0);
	CHECK_EQ_U64(v, 3ull << 20);
	CHECK_EQ(user_quota_parse("5G", true, &v), 0);
	CHECK_EQ_U64(v, 5ull << 30);
	CHECK_EQ(user_quota_parse("7T", true, &v), 0);
	CHECK_EQ_U64(v, 7ull << 40);
	CHECK_EQ(user_quota_parse("1KiB", true, &v), 0);
	CHECK_EQ_U64(v, 1024);
	CHECK_EQ(user_quota_parse("1MB", true, &v), 0);
	CHECK_EQ_U64(v, 1ull << 20);
	CHECK_EQ(user_quota_parse("18446744073709551615", true, &v), 0);
	CHECK_EQ_U64(v, UINT64_MAX);
	CHECK_EQ(user_quota_parse("18446744073709551616", true, &v), -ERANGE);
	CHECK_EQ(user_quota_parse("16777216T", true, &v), -ERANGE);
	CHECK_EQ(user_quota_parse("16777215T", true, &v), 0);
	CHECK_EQ(user_quota_parse("", true, &v), -EINVAL);
	CHECK_EQ(user_quota_parse("-1", true, &v), -EINVAL);
	CHECK_EQ(user_quota_parse("1X", true, &v), -EINVAL);
	CHECK_EQ(user_quota_parse("1KK", true, &v), -EINVAL);
	CHECK_EQ(user_quota_parse("1 K", true, &v), -EINVAL);
	CHECK_EQ(user_quota_parse("10K", false, &v), -EINVAL);
	CHECK_EQ(user_quota_parse("10", false, &v), 0);
	CHECK_EQ_U64(v, 10);
}

/* Redis URLs are recognised and checked at open, without connecting. */
static void test_redis_urls(void)
{
	static const char *const good[] = {
	    "redis://127.0.0.1:6379",
	    "redis://localhost",
	    "redis://h:1/2",
	    "redis://u:p%40ss@h:6380/0",
	    "rediss://:secret@h.example:6390",
	    "redis://[::1]:6379/3",
	};
	static const char *const bad[] = {
	    "redis://",	       "redis://:6379",	    "redis://h:port", "redis://h:1/x",
	    "redis://u:p%4@h", "redis://[::1:6379", "redis://h:1:2",  "redis://u:%00@h",
	};
	struct user_db *db = NULL;
	char err[256];

	CHECK(user_db_is_url("redis://h:1"));
	CHECK(user_db_is_url("rediss://h:1"));
	CHECK(!user_db_is_url("/var/lib/dfs/users.db"));
	CHECK(!user_db_is_url("redis.db"));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_EQ(user_db_open(&db, good[i], true, err, sizeof(err)), 0);
		CHECK(db != NULL);
		user_db_close(db);
		db = NULL;
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(user_db_open(&db, bad[i], true, err, sizeof(err)), -EINVAL);
		CHECK(db == NULL);
		CHECK(strstr(err, "URL") != NULL);
	}
	/* Nothing listens there: unreachable, said clearly, and quickly. */
	CHECK_EQ(user_db_open(&db, "redis://127.0.0.1:1", true, err, sizeof(err)), 0);
	if (db) {
		struct scram_verifier v;

		CHECK_EQ(user_db_ping(db, err, sizeof(err)), -ENOTCONN);
		CHECK(strstr(err, "user database unreachable") != NULL);
		CHECK_EQ(user_db_get(db, "AnujS", &v), -ENOTCONN);
		CHECK_STR(user_db_strerror(-ENOTCONN), "user database unreachable");
		user_db_close(db);
	}
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/test_users.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/users.db", dir);
	snprintf(lockpath, sizeof(lockpath), "%s-lock", path);

	test_missing_read_only();
	test_crud();
	test_read_only_sees_other_process();
	test_bad_record();
	test_settings();
	test_change();
	test_quota();
	test_quota_parse();
	test_redis_urls();

	snprintf(cmd, sizeof(cmd), "%s/bad.db", dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/bad.db-lock", dir);
	unlink(cmd);
	unlink(path);
	unlink(lockpath);
	rmdir(dir);
	return CHECK_DONE();
}
