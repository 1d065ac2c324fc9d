/* verify_state.c: the sidecar files that record each copy's last verification. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dfs_prot.h"
#include "verify_state.h"

#define STATE_MAGIC "dfs-verified 1 "
#define STATE_MAX   96
#define NAME_MAX_   64

int verify_state_format(const struct verify_state *vs, char *buf, size_t len)
{
	int n = snprintf(buf, len, STATE_MAGIC "%" PRId64 " %d %" PRIu64 "\n", vs->when_ns,
			 vs->result, vs->ino);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : n;
}

/* One decimal field ending at a space or newline; advances *p past it. */
static int field(const char **p, const char *end, char stop, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return -EBADMSG;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (s >= end || *s != stop)
		return -EBADMSG;
	*p = s + 1;
	*out = v;
	return 0;
}

int verify_state_parse(const char *text, size_t len, struct verify_state *out)
{
	const char *p = text, *end = text + len;
	uint64_t when, result, ino;

	if (len < strlen(STATE_MAGIC) || memcmp(text, STATE_MAGIC, strlen(STATE_MAGIC)) != 0)
		return -EBADMSG;
	p += strlen(STATE_MAGIC);
	if (field(&p, end, ' ', &when) < 0 || field(&p, end, ' ', &result) < 0 ||
	    field(&p, end, '\n', &ino) < 0 || p != end)
		return -EBADMSG;
	if (when > INT64_MAX || (result != DFS_OK && result != DFS_EBADMSG))
		return -EBADMSG;
	*out = (struct verify_state){(int64_t)when, (int)result, ino};
	return 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t *stem)
{
	size_t n = strlen(suffix);

	if (len <= n || memcmp(s + len - n, suffix, n) != 0)
		return false;
	*stem = len - n;
	return true;
}

bool verify_state_name(const char *name, char chunk[VERIFY_CHUNK_NAME], bool *is_tmp)
{
	size_t len = strlen(name), stem;
	char *dash;

	*is_tmp = ends_with(name, len, VERIFY_STATE_TMP, &stem);
	if (!*is_tmp && !ends_with(name, len, VERIFY_STATE_SUFFIX, &stem))
		return false;
	if (stem >= VERIFY_CHUNK_NAME)
		return false;
	memcpy(chunk, name, stem);
	chunk[stem] = '\0';
	dash = strchr(chunk, '-');
	if (dash == NULL)
		return false;
	*dash = '.';
	return true;
}

/* VVVV.K -> VVVV-K.verified (and its temporary). */
static int side_names(const char *chunk, char *final, char *tmp)
{
	char stem[VERIFY_CHUNK_NAME], *dot;
	int a, b;

	if (strlen(chunk) >= sizeof(stem))
		return -ENAMETOOLONG;
	memcpy(stem, chunk, strlen(chunk) + 1);
	dot = strchr(stem, '.');
	if (dot == NULL)
		return -EINVAL;
	*dot = '-';
	a = snprintf(final, NAME_MAX_, "%s" VERIFY_STATE_SUFFIX, stem);
	b = tmp ? snprintf(tmp, NAME_MAX_, "%s" VERIFY_STATE_TMP, stem) : 0;
	return (a < 0 || a >= NAME_MAX_ || b < 0 || b >= NAME_MAX_) ? -ENAMETOOLONG : 0;
}

int verify_state_write(int dirfd, const char *chunk, const struct verify_state *vs)
{
	char final[NAME_MAX_], tmp[NAME_MAX_], text[STATE_MAX];
	int fd, n, rc = 0;

	if (side_names(chunk, final, tmp) < 0)
		return -EINVAL;
	n = verify_state_format(vs, text, sizeof(text));
	if (n < 0)
		return n;
	/* The temporary name is fixed: it is only written under the folder's lock. */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n || fsync(fd) < 0)
		rc = -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && renameat(dirfd, tmp, dirfd, final) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(dirfd, tmp, 0);
	else if (fsync(dirfd) < 0)
		rc = -EIO;
	return rc;
}

int verify_state_read(int dirfd, const char *chunk, struct verify_state *out)
{
	char final[NAME_MAX_], text[STATE_MAX];
	ssize_t n;
	int fd;

	if (side_names(chunk, final, NULL) < 0)
		return -EINVAL;
	fd = openat(dirfd, final, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EBADMSG;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n <= 0 || (size_t)n >= sizeof(text))
		return -EBADMSG;
	return verify_state_parse(text, (size_t)n, out);
}
