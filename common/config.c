/* config.c: the parser for dfs configuration files and typed access to their values. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_MAX_LINE 4096
#define CFG_MAX_SIZE (1024 * 1024)

/* Parser state for one text. All strings handed out point into `arena`, a
 * private copy of the text that lives in the same allocation as cfg->path. */
struct parser {
	struct cfg *cfg;
	size_t cap;
	const char *section;
	const char *arg;
	char *err;
	size_t errlen;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_key_char(char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

static int is_section_char(char c)
{
	return is_alnum(c) || c == '_' || c == '-';
}

static int is_arg_char(char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-' || c == ':';
}

/* Skips blanks from s; returns the first non-blank position. */
static char *skip_blanks(char *s)
{
	while (is_blank(*s))
		s++;
	return s;
}

/* True if nothing but blanks and an optional comment follows s. */
static int only_comment_left(const char *s)
{
	while (is_blank(*s))
		s++;
	return *s == '\0' || *s == '#';
}

static int add_entry(struct parser *p, const char *key, const char *value, int line)
{
	struct cfg *cfg = p->cfg;
	struct cfg_entry *e;

	if (cfg->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct cfg_entry *grown = realloc(cfg->entries, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		cfg->entries = grown;
		p->cap = cap;
	}
	e = &cfg->entries[cfg->count++];
	e->section = p->section;
	e->arg = p->arg;
	e->key = key;
	e->value = value;
	e->line = line;
	return 0;
}

/* "[name]" or "[name argument]", optionally followed by a comment. s points
 * at the '['. */
static int parse_section(struct parser *p, char *s, int line)
{
	const char *path = p->cfg->path;
	char *name, *name_end, *arg = NULL, *arg_end = NULL;

	s = skip_blanks(s + 1);
	name = s;
	while (is_section_char(*s))
		s++;
	name_end = s;
	if (name_end == name) {
		set_err(p->err, p->errlen, "%s:%d: expected a section name after '['", path, line);
		return -EINVAL;
	}
	s = skip_blanks(s);
	if (s != name_end && is_arg_char(*s)) {
		arg = s;
		while (is_arg_char(*s))
			s++;
		arg_end = s;
		s = skip_blanks(s);
	}
	if (*s != ']') {
		set_err(p->err, p->errlen, "%s:%d: expected '[name]' or '[name argument]'", path,
			line);
		return -EINVAL;
	}
	if (!only_comment_left(s + 1)) {
		set_err(p->err, p->errlen, "%s:%d: unexpected text after ']'", path, line);
		return -EINVAL;
	}
	*name_end = '\0';
	if (arg)
		*arg_end = '\0';
	p->section = name;
	p->arg = arg ? arg : "";
	return 0;
}

/* "key = value" with an optional comment; s points at the first non-blank. */
static int parse_pair(struct parser *p, char *s, int line)
{
	const char *path = p->cfg->path;
	char *key = s, *key_end, *value, *value_end;

	while (is_key_char(*s))
		s++;
	key_end = s;
	s = skip_blanks(s);
	if (key_end == key || *s != '=') {
		set_err(p->err, p->errlen, "%s:%d: expected 'key = value'", path, line);
		return -EINVAL;
	}
	s = skip_blanks(s + 1);
	if (*s == '"') {
		value = s + 1;
		value_end = strchr(value, '"');
		if (!value_end) {
			set_err(p->err, p->errlen, "%s:%d: missing closing quote", path, line);
			return -EINVAL;
		}
		if (!only_comment_left(value_end + 1)) {
			set_err(p->err, p->errlen, "%s:%d: unexpected text after closing quote",
				path, line);
			return -EINVAL;
		}
	} else {
		value = s;
		value_end = s;
		/* An unquoted '#' starts a comment; trailing blanks are not part of
		 * the value. */
		while (*s && *s != '#') {
			s++;
			if (!is_blank(s[-1]))
				value_end = s;
		}
	}
	*key_end = '\0';
	*value_end = '\0';
	return add_entry(p, key, value, line);
}

/* Parses one line (NUL-terminated, without its newline). */
static int parse_line(struct parser *p, char *s, size_t len, int line)
{
	const char *path = p->cfg->path;

	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	if (len > CFG_MAX_LINE) {
		set_err(p->err, p->errlen, "%s:%d: line is longer than %d bytes", path, line,
			CFG_MAX_LINE);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			set_err(p->err, p->errlen, "%s:%d: contains a control character", path,
				line);
			return -EINVAL;
		}
	}
	s = skip_blanks(s);
	if (*s == '\0' || *s == '#')
		return 0;
	if (*s == '[')
		return parse_section(p, s, line);
	return parse_pair(p, s, line);
}

static int entry_order(const void *a, const void *b)
{
	const struct cfg_entry *x = *(const struct cfg_entry *const *)a;
	const struct cfg_entry *y = *(const struct cfg_entry *const *)b;
	int c = strcmp(x->section, y->section);

	if (!c)
		c = strcmp(x->arg, y->arg);
	if (!c)
		c = strcmp(x->key, y->key);
	if (!c)
		c = (x->line > y->line) - (x->line < y->line);
	return c;
}

/* Finds the first line (in file order) that repeats a key of its section.
 * Sorting keeps this O(n log n) for the largest files the parser accepts. */
static int check_duplicates(struct parser *p)
{
	struct cfg *cfg = p->cfg;
	const struct cfg_entry **sorted = NULL;
	const struct cfg_entry *first = NULL, *dup = NULL;
	int ret = 0;

	if (cfg->count < 2)
		goto out;
	sorted = malloc(cfg->count * sizeof(*sorted));
	if (!sorted) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->count; i++)
		sorted[i] = &cfg->entries[i];
	qsort(sorted, cfg->count, sizeof(*sorted), entry_order);
	for (size_t i = 0; i < cfg->count;) {
		size_t j = i + 1;

		while (j < cfg->count && strcmp(sorted[i]->section, sorted[j]->section) == 0 &&
		       strcmp(sorted[i]->arg, sorted[j]->arg) == 0 &&
		       strcmp(sorted[i]->key, sorted[j]->key) == 0)
			j++;
		if (j - i > 1 && (!dup || sorted[i + 1]->line < dup->line)) {
			first = sorted[i];
			dup = sorted[i + 1];
		}
		i = j;
	}
	if (dup) {
		set_err(p->err, p->errlen, "%s:%d: duplicate key '%s' (first set on line %d)",
			cfg->path, dup->line, dup->key, first->line);
		ret = -EINVAL;
	}
out:
	free(sorted);
	return ret;
}

int cfg_parse_text(const char *text, size_t len, const char *path, struct cfg **out, char *err,
		   size_t errlen)
{
	struct parser p = {.section = "", .arg = "", .err = err, .errlen = errlen};
	struct cfg *cfg = NULL;
	size_t pathlen;
	char *arena, *s, *end;
	int line = 0;
	int ret;

	*out = NULL;
	set_err(err, errlen, "%s", "");
	if (!path)
		path = "(config)";
	if (len > CFG_MAX_SIZE) {
		set_err(err, errlen, "%s: file is larger than 1 MiB", path);
		ret = -EFBIG;
		goto out;
	}
	pathlen = strlen(path);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = malloc(pathlen + 1 + len + 1))) {
		set_err(err, errlen, "%s: out of memory", path);
		ret = -ENOMEM;
		goto out;
	}
	memcpy(cfg->path, path, pathlen + 1);
	arena = cfg->path + pathlen + 1;
	if (len)
		memcpy(arena, text, len);
	arena[len] = '\0';
	p.cfg = cfg;

	s = arena;
	end = arena + len;
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t linelen = nl ? (size_t)(nl - s) : (size_t)(end - s);

		line++;
		s[linelen] = '\0';
		ret = parse_line(&p, s, linelen, line);
		if (ret < 0)
			goto out;
		s += linelen + 1;
	}
	ret = check_duplicates(&p);
	if (ret < 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	if (ret == -ENOMEM)
		set_err(err, errlen, "%s: out of memory", path);
	cfg_free(cfg);
	return ret;
}

int cfg_parse_file(const char *path, struct cfg **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int fd = -1;
	int ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	/* Read one byte beyond the limit to tell "exactly 1 MiB" from "more". */
	buf = malloc(CFG_MAX_SIZE + 1);
	if (!buf) {
		ret = -ENOMEM;
		set_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (len < CFG_MAX_SIZE + 1) {
		ssize_t n = read(fd, buf + len, CFG_MAX_SIZE + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			set_err(err, errlen, "%s: %s", path, strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	ret = cfg_parse_text(buf, len, path, out, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->entries);
	free(cfg->path);
	free(cfg);
}

static int vcfg_error(const struct cfg *cfg, const struct cfg_entry *e, char *err, size_t errlen,
		      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static int vcfg_error(const struct cfg *cfg, const struct cfg_entry *e, char *err, size_t errlen,
		      const char *fmt, va_list ap)
{
	int n;

	if (!err || errlen == 0)
		return -EINVAL;
	n = snprintf(err, errlen, "%s:%d: %s: ", cfg && cfg->path ? cfg->path : "(config)",
		     e ? e->line : 0, e ? e->key : "");
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	return -EINVAL;
}

int cfg_error(const struct cfg *cfg, const struct cfg_entry *e, char *err, size_t errlen,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcfg_error(cfg, e, err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Strict unsigned parse: decimal digits, or 0x/0X and hex digits, nothing
 * else (no sign, no blanks, no suffix). Returns 0, -EINVAL or -ERANGE. */
static int parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	int d;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		d = hex_value(*s);
		if (d < 0 || (unsigned)d >= base)
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

int cfg_u64(const struct cfg *cfg, const struct cfg_entry *e, uint64_t min, uint64_t max,
	    uint64_t *out, char *err, size_t errlen)
{
	uint64_t v = 0;
	int ret = parse_u64(e->value, &v);

	if (ret == -EINVAL)
		return cfg_error(cfg, e, err, errlen, "'%s' is not a number", e->value);
	if (ret == -ERANGE || v < min || v > max)
		return cfg_error(cfg, e, err, errlen, "%s is out of range %llu..%llu", e->value,
				 (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

int cfg_bool(const struct cfg *cfg, const struct cfg_entry *e, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(e->value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(e->value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return cfg_error(cfg, e, err, errlen,
			 "expected yes/no, true/false, on/off or 1/0, got '%s'", e->value);
}

int cfg_choice(const struct cfg *cfg, const struct cfg_entry *e, const char *const *words, int *out,
	       char *err, size_t errlen)
{
	char list[256];
	size_t used = 0;

	for (int i = 0; words[i]; i++) {
		if (strcmp(e->value, words[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (int i = 0; words[i]; i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", words[i]);

		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	return cfg_error(cfg, e, err, errlen, "expected one of %s; got '%s'", list, e->value);
}
