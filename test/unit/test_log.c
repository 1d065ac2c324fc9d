/* test_log.c: log line format, threshold, tag, truncation and whole lines from many threads. */
#include "check.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREADS	   8
#define PER_THREAD 500

static char path[] = "/tmp/dfs-test-log-XXXXXX";
static int saved_stderr = -1;

/* Sends fd 2 to a fresh, empty temporary file. */
static void capture(void)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_APPEND);

	CHECK(fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Restores fd 2 and returns what was logged (caller frees). */
static char *captured(void)
{
	struct stat st;
	char *buf = NULL;
	int fd;

	dup2(saved_stderr, STDERR_FILENO);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	buf = calloc(1, (size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	CHECK(buf != NULL);
	return buf;
}

static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ " and returns what follows, or NULL. */
static const char *after_stamp(const char *line)
{
	if (!digits(line, 4) || line[4] != '-' || !digits(line + 5, 2) || line[7] != '-' ||
	    !digits(line + 8, 2) || line[10] != 'T' || !digits(line + 11, 2) || line[13] != ':' ||
	    !digits(line + 14, 2) || line[16] != ':' || !digits(line + 17, 2) || line[19] != '.' ||
	    !digits(line + 20, 3) || line[23] != 'Z' || line[24] != ' ')
		return NULL;
	return line + 25;
}

static void test_format(void)
{
	char *out, *second;
	const char *rest;

	log_set_tag("dfs");
	log_set_level(DFS_LOG_INFO);
	capture();
	errno = ENOENT;
	log_info("hello %d %s", 42, "world");
	CHECK_EQ(errno, ENOENT);
	log_set_tag("dfsd[3]");
	log_warn("open: %m");
	log_debug("hidden");
	log_msg(DFS_LOG_DEBUG, "hidden too");
	log_error("two\nlines\n");
	out = captured();
	if (!out)
		return;
	rest = after_stamp(out);
	CHECK(rest != NULL);
	if (rest)
		CHECK(strncmp(rest, "dfs info: hello 42 world\n", 25) == 0);
	second = strchr(out, '\n');
	CHECK(second != NULL);
	if (second) {
		rest = after_stamp(second + 1);
		CHECK(rest != NULL);
		if (rest)
			CHECK(strncmp(rest, "dfsd[3] warn: open: No such file or directory\n",
				      46) == 0);
		second = strchr(second + 1, '\n');
	}
	if (second) {
		rest = after_stamp(second + 1);
		CHECK(rest != NULL);
		if (rest)
			CHECK_STR(rest, "dfsd[3] error: two lines\n");
	}
	free(out);
	log_set_tag("dfs");
}

static void test_levels(void)
{
	enum log_level l = DFS_LOG_ERROR;
	char *out;

	CHECK_EQ(log_parse_level("debug", &l), 0);
	CHECK_EQ(l, DFS_LOG_DEBUG);
	CHECK_EQ(log_parse_level("warn", &l), 0);
	CHECK_EQ(l, DFS_LOG_WARN);
	CHECK_EQ(log_parse_level("error", &l), 0);
	CHECK_EQ(l, DFS_LOG_ERROR);
	CHECK_EQ(log_parse_level("info", &l), 0);
	CHECK_EQ(l, DFS_LOG_INFO);
	CHECK_EQ(log_parse_level("warning", &l), -EINVAL);
	CHECK_EQ(log_parse_level("INFO", &l), -EINVAL);
	CHECK_EQ(log_parse_level("", &l), -EINVAL);

	CHECK(log_enabled(DFS_LOG_INFO));
	CHECK(!log_enabled(DFS_LOG_DEBUG));
	log_set_level(DFS_LOG_ERROR);
	CHECK(!log_enabled(DFS_LOG_WARN));
	capture();
	log_warn("dropped");
	log_info("dropped");
	log_error("kept");
	log_set_level(DFS_LOG_DEBUG);
	log_debug("debug kept");
	out = captured();
	if (out) {
		CHECK(strstr(out, "dropped") == NULL);
		CHECK(strstr(out, "dfs error: kept\n") != NULL);
		CHECK(strstr(out, "dfs debug: debug kept\n") != NULL);
	}
	free(out);
	log_set_level(DFS_LOG_INFO);
}

static void test_truncation(void)
{
	char *big = malloc(10000), *out;

	if (!big)
		return;
	memset(big, 'x', 9999);
	big[9999] = '\0';
	capture();
	log_info("%s", big);
	out = captured();
	if (out) {
		size_t len = strlen(out);

		CHECK(len <= 4096);
		CHECK(len > 4000);
		CHECK_EQ(strchr(out, '\n') - out, (long long)len - 1);
		CHECK(len >= 4 && strcmp(out + len - 4, "...\n") == 0);
	}
	free(out);
	free(big);
}

static void *writer(void *arg)
{
	long id = (long)arg;

	for (int i = 0; i < PER_THREAD; i++)
		log_info("thread %ld line %d %s", id, i,
			 "padding padding padding padding padding padding padding padding");
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[THREADS];
	int count[THREADS] = {0};
	char *out, *line;
	int lines = 0;

	capture();
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, writer, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	out = captured();
	if (!out)
		return;
	for (line = out; *line; lines++) {
		char *nl = strchr(line, '\n');
		const char *rest = after_stamp(line);
		long id = -1;
		int n = -1;

		CHECK(nl != NULL);
		if (!nl)
			break;
		*nl = '\0';
		CHECK(rest != NULL);
		if (rest && sscanf(rest, "dfs info: thread %ld line %d padding", &id, &n) == 2 &&
		    id >= 0 && id < THREADS && n == count[id])
			count[id]++;
		else
			CHECK(!"malformed or out-of-order line");
		line = nl + 1;
	}
	CHECK_EQ(lines, THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(count[i], PER_THREAD);
	free(out);
}

int main(void)
{
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return CHECK_DONE();
	close(fd);
	saved_stderr = dup(STDERR_FILENO);
	test_format();
	test_levels();
	test_truncation();
	test_threads();
	unlink(path);
	return CHECK_DONE();
}
