/* log.h: one line per event on stderr, with a level threshold. */
#ifndef DFS_LOG_H
#define DFS_LOG_H

enum log_level { DFS_LOG_ERROR, DFS_LOG_WARN, DFS_LOG_INFO, DFS_LOG_DEBUG };

/* Sets the threshold; events above it are dropped. Default: info. */
void log_set_level(enum log_level level);
/* Sets a tag printed on every line, e.g. "dfsd[3]". The string is copied. */
void log_set_tag(const char *tag);
/* Parses "error", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int log_parse_level(const char *text, enum log_level *out);
int log_enabled(enum log_level level);
/* Writes "2026-11-24T20:00:00.123Z dfsd[3] warn: message\n" in one write(2). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(DFS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(DFS_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(DFS_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(DFS_LOG_DEBUG))                                                    \
			log_msg(DFS_LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
