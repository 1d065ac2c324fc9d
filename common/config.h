/* config.h: the one configuration format of dfs, for servers and clients.
 *
 *     # comment
 *     key = value
 *     [server 1]
 *     host = 127.0.0.1
 *
 * Keys before any section belong to section "" (empty). A section header is
 * "[name]" or "[name argument]". Values run to the end of the line, with
 * surrounding blanks removed; a value may be wrapped in double quotes to keep
 * blanks or '#'. Errors name the file, the line and the problem.
 */
#ifndef DFS_CONFIG_H
#define DFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_entry {
	const char *section; /* "" before any header, e.g. "server" */
	const char *arg;     /* section argument, e.g. "1"; "" if none */
	const char *key;
	const char *value;
	int line;
};

struct cfg {
	char *path; /* as given, for messages */
	struct cfg_entry *entries;
	size_t count;
};

/* Parses a file. On error returns -errno (-ENOENT, -EINVAL...) and writes
 * "PATH:LINE: problem" (or "PATH: problem") into err. *out is NULL on error;
 * free it with cfg_free(). */
int cfg_parse_file(const char *path, struct cfg **out, char *err, size_t errlen);
/* The same for text in memory; `path` only names it in messages. */
int cfg_parse_text(const char *text, size_t len, const char *path, struct cfg **out, char *err,
		   size_t errlen);
void cfg_free(struct cfg *cfg);

/* Typed values. Each returns 0, or -EINVAL and writes
 * "PATH:LINE: KEY: problem" into err. */
int cfg_u64(const struct cfg *cfg, const struct cfg_entry *e, uint64_t min, uint64_t max,
	    uint64_t *out, char *err, size_t errlen); /* decimal or 0x hex */
int cfg_bool(const struct cfg *cfg, const struct cfg_entry *e, bool *out, char *err,
	     size_t errlen); /* yes/no, true/false, on/off, 1/0 */
/* One of a NULL-terminated list of words; *out is its index. */
int cfg_choice(const struct cfg *cfg, const struct cfg_entry *e, const char *const *words, int *out,
	       char *err, size_t errlen);
/* Formats "PATH:LINE: KEY: <message>" into err and returns -EINVAL. */
int cfg_error(const struct cfg *cfg, const struct cfg_entry *e, char *err, size_t errlen,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
