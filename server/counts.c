/* counts.c: what a server stores, per user and in all, kept at every change of a record. */
#include "counts.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 256

struct user_counts {
	struct user_counts *next;
	struct count_totals t;
	char user[];
};

struct counts {
	pthread_mutex_t lock;
	struct count_totals all;
	struct user_counts *buckets[BUCKETS];
};

int counts_new(struct counts **out)
{
	struct counts *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void counts_free(struct counts *c)
{
	if (!c)
		return;
	for (unsigned b = 0; b < BUCKETS; b++) {
		while (c->buckets[b]) {
			struct user_counts *u = c->buckets[b];

			c->buckets[b] = u->next;
			free(u);
		}
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static unsigned bucket_of(const char *user)
{
	unsigned h = 5381;

	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		h = h * 33 + *p;
	return h % BUCKETS;
}

/* The user's entry, created if add; NULL if absent (or out of memory). */
static struct user_counts *find(struct counts *c, const char *user, bool add)
{
	unsigned b = bucket_of(user);
	struct user_counts *u;
	size_t len;

	for (u = c->buckets[b]; u; u = u->next)
		if (strcmp(u->user, user) == 0)
			return u;
	if (!add)
		return NULL;
	len = strlen(user);
	u = calloc(1, sizeof(*u) + len + 1);
	if (!u)
		return NULL;
	memcpy(u->user, user, len + 1);
	u->next = c->buckets[b];
	c->buckets[b] = u;
	return u;
}

/* What one current record adds to the totals. */
static struct count_totals contribution(const dfs_file_info *info)
{
	struct count_totals t = {0, 0, 0, 0, 0};

	if (!info)
		return t;
	if (info->deleted) {
		/* A delete some server missed: one repair item. */
		t.chunks_need_repair = info->lacking.lacking_len > 0;
		return t;
	}
	t.files = 1;
	t.logical_bytes = info->size;
	t.chunks = info->chunks.chunks_len;
	for (u_int i = 0; i < info->chunks.chunks_len; i++)
		t.bytes += info->chunks.chunks_val[i].size;
	if (info->lacking.lacking_len > 0)
		t.chunks_need_repair = t.chunks;
	return t;
}

/* t += add - sub, field by field (the sums never go below zero). */
static void apply(struct count_totals *t, const struct count_totals *add,
		  const struct count_totals *sub)
{
	t->files = t->files + add->files - sub->files;
	t->chunks = t->chunks + add->chunks - sub->chunks;
	t->bytes = t->bytes + add->bytes - sub->bytes;
	t->logical_bytes = t->logical_bytes + add->logical_bytes - sub->logical_bytes;
	t->chunks_need_repair =
	    t->chunks_need_repair + add->chunks_need_repair - sub->chunks_need_repair;
}

int counts_replace(struct counts *c, const char *user, const dfs_file_info *old,
		   const dfs_file_info *new_info)
{
	struct count_totals add = contribution(new_info), sub = contribution(old);
	struct user_counts *u;

	pthread_mutex_lock(&c->lock);
	u = find(c, user, true);
	if (u) {
		apply(&u->t, &add, &sub);
		apply(&c->all, &add, &sub);
	}
	pthread_mutex_unlock(&c->lock);
	return u ? 0 : -ENOMEM;
}

int counts_set(struct counts *c, const char *user, const struct count_totals *t)
{
	struct user_counts *u;

	pthread_mutex_lock(&c->lock);
	u = find(c, user, true);
	if (u) {
		apply(&c->all, t, &u->t);
		u->t = *t;
	}
	pthread_mutex_unlock(&c->lock);
	return u ? 0 : -ENOMEM;
}

int counts_each(struct counts *c,
		int (*fn)(const char *user, const struct count_totals *t, void *arg), void *arg)
{
	static const struct count_totals none;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (unsigned b = 0; b < BUCKETS && rc >= 0; b++)
		for (struct user_counts *u = c->buckets[b]; u && rc >= 0; u = u->next)
			if (memcmp(&u->t, &none, sizeof(none)) != 0)
				rc = fn(u->user, &u->t, arg);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void counts_user(struct counts *c, const char *user, struct count_totals *out)
{
	struct user_counts *u;

	pthread_mutex_lock(&c->lock);
	u = find(c, user, false);
	if (u)
		*out = u->t;
	else
		memset(out, 0, sizeof(*out));
	pthread_mutex_unlock(&c->lock);
}

void counts_all(struct counts *c, struct count_totals *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->all;
	pthread_mutex_unlock(&c->lock);
}
