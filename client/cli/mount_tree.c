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
	free(m->list_dir);
	m->files = NULL;
	m->list_dir = NULL;
	m->nfiles = m->cap = 0;
}

/* Whether name lies under folder dir ("" holds everything). */
static bool under(const char *name, const char *dir)
{
	size_t n = strlen(dir);

	return n == 0 || (strncmp(name, dir, n) == 0 && name[n] == '/');
}

/* dir + "/" in buf, or "" for the root. */
static const char *folder_prefix(const char *dir, char *buf, size_t len)
{
	if (!*dir)
		return "";
	snprintf(buf, len, "%s/", dir);
	return buf;
}

/* Whether the listing kept is younger than MOUNT_LIST_TTL and holds every
 * file under dir (tree_lock held). */
static bool listing_covers(const struct mount_state *m, const char *dir)
{
	if (!m->list_dir || m->list_time <= 0 || now_s() - m->list_time >= MOUNT_LIST_TTL)
		return false;
	return strcmp(dir, m->list_dir) == 0 || under(dir, m->list_dir);
}

/* Keeps a listing of the files under folder dir, no older than MOUNT_LIST_TTL
 * (tree_lock held). Only that folder's part of the servers' name index is read:
 * a folder is a range of names. */
static int list_folder(struct mount_state *m, const char *dir)
{
	char prefix[DFS_NAME_MAX_BYTES + 2];
	struct dfs_file_list *l = NULL;
	struct tree_file *files;
	struct dfs_client *c;
	char *dir_copy;
	int rc;

	if (listing_covers(m, dir))
		return 0;
	c = pool_get(m);
	rc = dfs_list_prefix(c, folder_prefix(dir, prefix, sizeof(prefix)), 0, &l);
	if (rc < 0)
		mount_log(m, "listing the files: %s", dfs_last_error(c));
	pool_put(m, c);
	if (rc < 0)
		return rc;
	files = calloc(l->count + 1, sizeof(*files));
	dir_copy = strdup(dir);
	if (!files || !dir_copy) {
		free(files);
		free(dir_copy);
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
			free(dir_copy);
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
	m->list_dir = dir_copy;
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

static struct mount_file *open_file(struct mount_state *m, const char *name)
{
	for (struct mount_file *f = m->open_files; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* The first live file whose name begins with prefix: 1 and it in *e (a
 * file), 0 if there is none, or -errno. */
static int first_with_prefix(struct mount_state *m, const char *prefix, char **name,
			     struct tree_entry *e)
{
	struct dfs_file_list *l = NULL;
	struct dfs_client *c = pool_get(m);
	int rc;

	rc = dfs_list_prefix(c, prefix, 1, &l);
	if (rc < 0)
		mount_log(m, "looking up %s: %s", prefix, dfs_last_error(c));
	pool_put(m, c);
	if (rc < 0)
		return rc;
	rc = 0;
	if (l->count > 0) {
		*e = (struct tree_entry){.kind = TREE_FILE,
					 .size = l->files[0]->size,
					 .mtime_ns = l->files[0]->mtime_ns};
		*name = strdup(l->files[0]->name);
		rc = *name ? 1 : -ENOMEM;
	}
	dfs_file_list_free(l);
	return rc;
}

/* What name is, from the servers' name indexes: a file of that name, else a
 * folder when some file lies under it. Each server reads the index at name
 * only (and past the deleted names there), however many files there are. */
static int ask_servers(struct mount_state *m, const char *name, struct tree_entry *e)
{
	char prefix[DFS_NAME_MAX_BYTES + 2], *first = NULL;
	struct tree_entry found;
	int rc;

	rc = first_with_prefix(m, name, &first, &found);
	if (rc <= 0)
		return rc;
	if (strcmp(first, name) == 0) {
		*e = found;
	} else if (under(first, name)) {
		e->kind = TREE_DIR;
	} else {
		/* A name like "a.txt" sorts between "a" and "a/...". */
		free(first);
		first = NULL;
		rc = first_with_prefix(m, folder_prefix(name, prefix, sizeof(prefix)), &first,
				       &found);
		if (rc < 0)
			return rc;
		if (rc > 0)
			e->kind = TREE_DIR;
	}
	free(first);
	return 0;
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
	if (listing_covers(m, name) && strcmp(name, m->list_dir) != 0) {
		i = lower_bound(m, name);
		if (i < m->nfiles && strcmp(m->files[i].name, name) == 0) {
			e->kind = TREE_FILE;
			e->size = m->files[i].size;
			e->mtime_ns = m->files[i].mtime_ns;
		} else {
			i = lower_bound(m, folder_prefix(name, prefix, sizeof(prefix)));
			if (i < m->nfiles && under(m->files[i].name, name))
				e->kind = TREE_DIR;
		}
	} else {
		/* Not in the listing kept: one name asked of the servers, not the
		 * whole folder listed (folders may hold many files). */
		pthread_mutex_unlock(&m->tree_lock);
		rc = ask_servers(m, name, e);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&m->tree_lock);
	}
	for (size_t d = 0; d < m->ndirs && e->kind == TREE_NONE; d++)
		if (strcmp(m->dirs[d], name) == 0 || under(m->dirs[d], name))
			e->kind = TREE_DIR;
	for (f = m->open_files; f && e->kind == TREE_NONE; f = f->next)
		if (under(f->name, name))
			e->kind = TREE_DIR;
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
	rc = list_folder(m, dir);
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
	char prefix[DFS_NAME_MAX_BYTES + 2], *first = NULL;
	struct tree_entry e;
	int rc, found = 0;
	size_t i;

	pthread_mutex_lock(&m->tree_lock);
	for (size_t d = 0; d < m->ndirs && !found; d++)
		found = under(m->dirs[d], dir);
	for (struct mount_file *f = m->open_files; f && !found; f = f->next)
		found = under(f->name, dir);
	if (!found && listing_covers(m, dir)) {
		i = lower_bound(m, folder_prefix(dir, prefix, sizeof(prefix)));
		found = i < m->nfiles && under(m->files[i].name, dir);
	} else if (!found) {
		pthread_mutex_unlock(&m->tree_lock);
		rc = first_with_prefix(m, folder_prefix(dir, prefix, sizeof(prefix)), &first, &e);
		free(first);
		return rc;
	}
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
	if (!m->list_dir || !under(name, m->list_dir)) {
		/* Outside the listing kept: the servers are asked when it is looked up. */
		pthread_mutex_unlock(&m->tree_lock);
		return;
	}
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
