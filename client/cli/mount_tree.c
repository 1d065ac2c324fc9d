/* mount_tree.c: dfs mount's view of the user's files as folders. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mount_fs.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct tree_file *)a)->name, ((const struct tree_file *)b)->name);
}

static void free_files(struct mount_state *m)
{
	for (size_t i = 0; i < m->nfiles; i++)
		free(m->files[i].name);
	free(m->files);
	m->files = NULL;
	m->nfiles = m->cap = 0;
}

/* A listing no older than MOUNT_LIST_TTL, with tree_lock held. */
static int fresh_list(struct mount_state *m)
{
	struct dfs_file_list *l = NULL;
	struct tree_file *files;
	struct dfs_client *c;
	int rc;

	if (m->list_time > 0 && now_s() - m->list_time < MOUNT_LIST_TTL)
		return 0;
	c = pool_get(m);
	rc = dfs_list(c, &l);
	if (rc < 0)
		mount_log(m, "listing the files: %s", dfs_last_error(c));
	pool_put(m, c);
	if (rc < 0)
		return rc;
	files = calloc(l->count + 1, sizeof(*files));
	if (!files) {
		dfs_file_list_free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->count; i++) {
		const struct dfs_file *f = l->files[i];

		files[i] = (struct tree_file){
		    .name = strdup(f->name), .size = f->size, .mtime_ns = f->mtime_ns};
		if (!files[i].name) {
			while (i > 0)
				free(files[--i].name);
			free(files);
			dfs_file_list_free(l);
			return -ENOMEM;
		}
	}
	/* Names sharing a prefix are neighbours in byte order: folders are ranges. */
	qsort(files, l->count, sizeof(*files), by_name);
	free_files(m);
	m->files = files;
	m->nfiles = l->count;
	m->cap = l->count + 1;
	m->list_time = now_s();
	dfs_file_list_free(l);
	return 0;
}

/* The first listed file whose name is not below prefix in byte order. */
static size_t lower_bound(const struct mount_state *m, const char *prefix)
{
	size_t lo = 0, hi = m->nfiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(m->files[mid].name, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether name lies under folder dir ("" holds everything). */
static bool under(const char *name, const char *dir)
{
	size_t n = strlen(dir);

	return n == 0 || (strncmp(name, dir, n) == 0 && name[n] == '/');
}

static struct mount_file *open_file(struct mount_state *m, const char *name)
{
	for (struct mount_file *f = m->open_files; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* dir + "/" in buf, or "" for the root. */
static const char *folder_prefix(const char *dir, char *buf, size_t len)
{
	if (!*dir)
		return "";
	snprintf(buf, len, "%s/", dir);
	return buf;
}

int tree_lookup(struct mount_state *m, const char *name, struct tree_entry *e)
{
	char prefix[DFS_NAME_MAX_BYTES + 2];
	struct mount_file *f;
	size_t i;
	int rc;

	memset(e, 0, sizeof(*e));
	if (!*name) {
		e->kind = TREE_DIR;
		return 0;
	}
	pthread_mutex_lock(&m->tree_lock);
	f = open_file(m, name);
	if (f) {
		struct stat sb;

		/* A file being written is as big as its staged copy. */
		if (fstat(f->fd, &sb) == 0) {
			e->kind = TREE_FILE;
			e->size = (uint64_t)sb.st_size;
			e->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
			pthread_mutex_unlock(&m->tree_lock);
			return 0;
		}
	}
	rc = fresh_list(m);
	if (rc < 0) {
		pthread_mutex_unlock(&m->tree_lock);
		return rc;
	}
	i = lower_bound(m, name);
	if (i < m->nfiles && strcmp(m->files[i].name, name) == 0) {
		e->kind = TREE_FILE;
		e->size = m->files[i].size;
		e->mtime_ns = m->files[i].mtime_ns;
	} else {
		folder_prefix(name, prefix, sizeof(prefix));
		i = lower_bound(m, prefix);
		if (i < m->nfiles && under(m->files[i].name, name))
			e->kind = TREE_DIR;
		for (size_t d = 0; d < m->ndirs && e->kind == TREE_NONE; d++)
			if (strcmp(m->dirs[d], name) == 0 || under(m->dirs[d], name))
				e->kind = TREE_DIR;
		for (f = m->open_files; f && e->kind == TREE_NONE; f = f->next)
			if (under(f->name, name))
				e->kind = TREE_DIR;
	}
	pthread_mutex_unlock(&m->tree_lock);
	return 0;
}

/* The component of name right below dir, in buf; whether it is a folder. */
static bool child_of(const char *name, const char *dir, char *buf, size_t len)
{
	const char *rest = *dir ? name + strlen(dir) + 1 : name;
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

	if (n >= len)
		n = len - 1;
	memcpy(buf, rest, n);
	buf[n] = '\0';
	return slash != NULL;
}

/* The names already given to fn, so each appears once. */
struct seen {
	char **names;
	size_t n, cap;
};

static bool seen_add(struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return false;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **p = realloc(s->names, cap * sizeof(*p));

		if (!p)
			return true;
		s->names = p;
		s->cap = cap;
	}
	s->names[s->n] = strdup(name);
	if (s->names[s->n])
		s->n++;
	return true;
}

int tree_readdir(struct mount_state *m, const char *dir,
		 void (*fn)(void *arg, const char *child, const struct tree_entry *e), void *arg)
{
	char prefix[DFS_NAME_MAX_BYTES + 2], child[256];
	struct seen seen = {0};
	const char *p;
	int rc;

	pthread_mutex_lock(&m->tree_lock);
	rc = fresh_list(m);
	if (rc < 0) {
		pthread_mutex_unlock(&m->tree_lock);
		return rc;
	}
	p = folder_prefix(dir, prefix, sizeof(prefix));
	for (size_t i = lower_bound(m, p); i < m->nfiles; i++) {
		const struct tree_file *f = &m->files[i];
		struct tree_entry e = {.kind = TREE_FILE, .size = f->size, .mtime_ns = f->mtime_ns};

		if (!under(f->name, dir))
			break;
		if (child_of(f->name, dir, child, sizeof(child)))
			e = (struct tree_entry){.kind = TREE_DIR};
		if (seen_add(&seen, child))
			fn(arg, child, &e);
	}
	for (size_t d = 0; d < m->ndirs; d++) {
		struct tree_entry e = {.kind = TREE_DIR};

		if (under(m->dirs[d], dir)) {
			child_of(m->dirs[d], dir, child, sizeof(child));
			if (seen_add(&seen, child))
				fn(arg, child, &e);
		}
	}
	for (struct mount_file *f = m->open_files; f; f = f->next) {
		struct tree_entry e = {.kind = TREE_FILE};
		struct stat sb;

		if (!under(f->name, dir))
			continue;
		if (child_of(f->name, dir, child, sizeof(child)))
			e.kind = TREE_DIR;
		else if (fstat(f->fd, &sb) == 0)
			e.size = (uint64_t)sb.st_size;
		if (seen_add(&seen, child))
			fn(arg, child, &e);
	}
	pthread_mutex_unlock(&m->tree_lock);
	for (size_t i = 0; i < seen.n; i++)
		free(seen.names[i]);
	free(seen.names);
	return 0;
}

int tree_has_children(struct mount_state *m, const char *dir)
{
	char prefix[DFS_NAME_MAX_BYTES + 2];
	int rc, found = 0;
	size_t i;

	pthread_mutex_lock(&m->tree_lock);
	rc = fresh_list(m);
	if (rc < 0) {
		pthread_mutex_unlock(&m->tree_lock);
		return rc;
	}
	i = lower_bound(m, folder_prefix(dir, prefix, sizeof(prefix)));
	found = i < m->nfiles && under(m->files[i].name, dir);
	for (size_t d = 0; d < m->ndirs && !found; d++)
		found = under(m->dirs[d], dir);
	for (struct mount_file *f = m->open_files; f && !found; f = f->next)
		found = under(f->name, dir);
	pthread_mutex_unlock(&m->tree_lock);
	return found;
}

void tree_invalidate(struct mount_state *m)
{
	pthread_mutex_lock(&m->tree_lock);
	m->list_time = 0;
	pthread_mutex_unlock(&m->tree_lock);
}

void tree_stored(struct mount_state *m, const char *name, uint64_t size, int64_t mtime_ns)
{
	size_t i;

	pthread_mutex_lock(&m->tree_lock);
	i = lower_bound(m, name);
	if (i < m->nfiles && strcmp(m->files[i].name, name) == 0) {
		m->files[i].size = size;
		m->files[i].mtime_ns = mtime_ns;
	} else {
		char *copy = strdup(name);
		struct tree_file *p = m->files;

		if (copy && m->nfiles == m->cap) {
			p = realloc(m->files, (m->cap * 2 + 16) * sizeof(*p));
			if (p) {
				m->files = p;
				m->cap = m->cap * 2 + 16;
			}
		}
		if (!copy || !p) {
			/* Out of memory: list again instead. */
			free(copy);
			m->list_time = 0;
		} else {
			memmove(&m->files[i + 1], &m->files[i],
				(m->nfiles - i) * sizeof(*m->files));
			m->files[i] =
			    (struct tree_file){.name = copy, .size = size, .mtime_ns = mtime_ns};
			m->nfiles++;
		}
	}
	pthread_mutex_unlock(&m->tree_lock);
}

void tree_deleted(struct mount_state *m, const char *name)
{
	size_t i;

	pthread_mutex_lock(&m->tree_lock);
	i = lower_bound(m, name);
	if (i < m->nfiles && strcmp(m->files[i].name, name) == 0) {
		free(m->files[i].name);
		memmove(&m->files[i], &m->files[i + 1], (m->nfiles - i - 1) * sizeof(*m->files));
		m->nfiles--;
	}
	pthread_mutex_unlock(&m->tree_lock);
}

int tree_add_dir(struct mount_state *m, const char *name)
{
	char **p, *copy = strdup(name);

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&m->tree_lock);
	p = realloc(m->dirs, (m->ndirs + 1) * sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&m->tree_lock);
		free(copy);
		return -ENOMEM;
	}
	m->dirs = p;
	m->dirs[m->ndirs++] = copy;
	pthread_mutex_unlock(&m->tree_lock);
	return 0;
}

bool tree_remove_dir(struct mount_state *m, const char *name)
{
	bool found = false;

	pthread_mutex_lock(&m->tree_lock);
	for (size_t d = 0; d < m->ndirs; d++)
		if (strcmp(m->dirs[d], name) == 0) {
			free(m->dirs[d]);
			m->dirs[d] = m->dirs[--m->ndirs];
			found = true;
			break;
		}
	pthread_mutex_unlock(&m->tree_lock);
	return found;
}

void tree_add_open(struct mount_state *m, struct mount_file *f)
{
	pthread_mutex_lock(&m->tree_lock);
	f->next = m->open_files;
	m->open_files = f;
	pthread_mutex_unlock(&m->tree_lock);
}

void tree_remove_open(struct mount_state *m, struct mount_file *f)
{
	pthread_mutex_lock(&m->tree_lock);
	for (struct mount_file **p = &m->open_files; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	pthread_mutex_unlock(&m->tree_lock);
}

void tree_free(struct mount_state *m)
{
	free_files(m);
	for (size_t d = 0; d < m->ndirs; d++)
		free(m->dirs[d]);
	free(m->dirs);
	m->dirs = NULL;
	m->ndirs = 0;
}
