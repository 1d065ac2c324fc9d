/* log.c: timestamped, levelled log lines on stderr, one write(2) each. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_TAG_MAX  64
#define LOG_LINE_MAX 4096

static atomic_int log_threshold = DFS_LOG_INFO;
static pthread_mutex_t log_tag_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_tag[LOG_TAG_MAX] = "dfs";

static const char *const level_words[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
	if ((int)level < DFS_LOG_ERROR)
		level = DFS_LOG_ERROR;
	if ((int)level > DFS_LOG_DEBUG)
		level = DFS_LOG_DEBUG;
	atomic_store(&log_threshold, (int)level);
}

void log_set_tag(const char *tag)
{
	size_t len = tag ? strnlen(tag, LOG_TAG_MAX - 1) : 0;

	pthread_mutex_lock(&log_tag_lock);
	memcpy(log_tag, tag ? tag : "", len);
	log_tag[len] = '\0';
	pthread_mutex_unlock(&log_tag_lock);
}

int log_parse_level(const char *text, enum log_level *out)
{
	for (int i = 0; i < (int)(sizeof(level_words) / sizeof(level_words[0])); i++) {
		if (text && strcmp(text, level_words[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&log_threshold);
}

/* Writes all of buf, retrying on EINTR and short writes. */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char ellipsis[] = "...";
	char line[LOG_LINE_MAX];
	char tag[LOG_TAG_MAX];
	struct timespec ts;
	struct tm tm;
	size_t len, head, room;
	int saved_errno = errno;
	int n;
	va_list ap;

	if (!log_enabled(level) || (int)level < DFS_LOG_ERROR)
		goto out;

	pthread_mutex_lock(&log_tag_lock);
	memcpy(tag, log_tag, sizeof(tag));
	pthread_mutex_unlock(&log_tag_lock);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000L, tag, level_words[level]);
	if (n < 0)
		goto out;
	head = (size_t)n;

	/* Keep one byte for the newline that replaces the terminating NUL. */
	room = sizeof(line) - head - 1;
	va_start(ap, fmt);
	errno = saved_errno; /* so %m reports the caller's errno */
	n = vsnprintf(line + head, room + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	len = (size_t)n;
	if (len > room) {
		len = room;
		memcpy(line + head + len - (sizeof(ellipsis) - 1), ellipsis, sizeof(ellipsis) - 1);
	}
	/* One event, one line: embedded line breaks would let a message forge
	 * further log lines. */
	for (size_t i = head; i < head + len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	while (len > 0 && line[head + len - 1] == ' ')
		len--;
	line[head + len] = '\n';
	write_all(STDERR_FILENO, line, head + len + 1);
out:
	errno = saved_errno;
}
