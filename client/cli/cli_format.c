/* cli_format.c: text formatting for the dfs tool (JSON, names, sizes, times, progress). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past U+10FFFF are invalid. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* The code point of the valid n-byte UTF-8 sequence at s. */
static unsigned utf8_code_point(const unsigned char *s, size_t n)
{
	unsigned cp = n == 1 ? s[0] : s[0] & (0x7f >> n);

	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

/* Characters a terminal acts on or that reorder the text around them: C0 and
 * C1 controls, DEL, the line and paragraph separators and the bidirectional
 * marks, embeddings, overrides and isolates. */
static bool hidden_code_point(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void cli_json_repair_report(const struct dfs_repair_report *r)
{
	printf("{\"files\": %u, \"verified\": %u, \"corrupt\": %u, \"repaired\": %u, "
	       "\"failed\": %u}\n",
	       r->files, r->verified, r->corrupt, r->rewritten, r->failed);
}

void cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n;

		if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p++, f);
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
			continue;
		}
		n = utf8_seq_len(p);
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		/* Valid in JSON as they are, but not harmless on a terminal. */
		if (hidden_code_point(utf8_code_point(p, n)))
			fprintf(f, "\\u%04x", utf8_code_point(p, n));
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

void cli_term_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8_seq_len(p);
		unsigned cp;

		if (n == 0) {
			fprintf(f, "\\x%02x", *p++);
			continue;
		}
		cp = utf8_code_point(p, n);
		if (!hidden_code_point(cp)) {
			fwrite(p, 1, n, f);
		} else if (cp < 0x100) {
			for (size_t i = 0; i < n; i++)
				fprintf(f, "\\x%02x", p[i]);
		} else {
			fprintf(f, "\\u%04x", cp);
		}
		p += n;
	}
}

void cli_print_name(FILE *f, const char *name)
{
	if (isatty(fileno(f)))
		cli_term_string(f, name);
	else
		fputs(name, f);
}

char *cli_human_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	v /= 1024.0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	/* Keep "1023.96 KiB" from printing as "1024.0 KiB". */
	if (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

char *cli_duration(uint64_t seconds, char *buf, size_t len)
{
	unsigned long long h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;

	if (h)
		snprintf(buf, len, "%llu:%02llu:%02llu", h, m, s);
	else
		snprintf(buf, len, "%llu:%02llu", m, s);
	return buf;
}

char *cli_iso_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns < 0 && ns % 1000000000)
		t--;
	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

char *cli_copies(const unsigned *copies, unsigned n, char *buf, size_t len)
{
	size_t off = 0;
	unsigned k;

	if (len)
		buf[0] = '\0';
	for (k = 0; k < n && off < len; k++) {
		int w = snprintf(buf + off, len - off, k ? ",%u" : "%u", copies[k]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}

/* The largest prefix of name no longer than max bytes that ends on a UTF-8 boundary. */
static size_t utf8_prefix(const char *name, size_t max)
{
	size_t n = strlen(name);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
		n--;
	return n;
}

char *cli_progress_line(const char *name, uint64_t done, uint64_t total, double elapsed,
			unsigned width, char *buf, size_t len)
{
	char sdone[32], stotal[32], srate[32], sleft[32];
	char tail[160];
	double rate = elapsed > 0 ? (double)done / elapsed : 0;
	size_t namelen, taillen;

	cli_human_bytes(done, sdone, sizeof(sdone));
	cli_human_bytes(total, stotal, sizeof(stotal));
	cli_human_bytes((uint64_t)rate, srate, sizeof(srate));
	if (rate >= 1 && total >= done)
		cli_duration((uint64_t)((double)(total - done) / rate + 0.5), sleft, sizeof(sleft));
	else
		snprintf(sleft, sizeof(sleft), "-:--");
	snprintf(tail, sizeof(tail), "  %s / %s  %s/s  %s left", sdone, stotal, srate, sleft);
	taillen = strlen(tail);
	namelen = strlen(name);
	if (width > 0) {
		size_t room = width > taillen ? width - taillen : 0;

		if (namelen > room) {
			size_t keep = utf8_prefix(name, room > 3 ? room - 3 : 0);

			snprintf(buf, len, "%.*s...%s", (int)keep, name, tail);
			return buf;
		}
	}
	snprintf(buf, len, "%s%s", name, tail);
	return buf;
}

int cli_basename(const char *path, char *buf, size_t len)
{
	size_t end = strlen(path), start;

	while (end > 0 && path[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (end - start >= len)
		return -ENAMETOOLONG;
	memcpy(buf, path + start, end - start);
	buf[end - start] = '\0';
	return 0;
}

uint64_t cli_survivable(const uint64_t *holders, unsigned nchunks, uint64_t *held_by)
{
	uint64_t any = 0, ok;
	unsigned k;

	for (k = 0; k < nchunks; k++)
		any |= holders[k];
	ok = any;
	/* Losing server s is survived when every chunk keeps a holder besides s:
	 * a chunk with a single holder rules that holder out, one with none
	 * rules out everyone. */
	for (k = 0; k < nchunks; k++) {
		if (holders[k] == 0)
			ok = 0;
		else if ((holders[k] & (holders[k] - 1)) == 0)
			ok &= ~holders[k];
	}
	if (held_by)
		*held_by = any;
	return ok;
}

char *cli_survives(const uint64_t *holders, unsigned nchunks, char *buf, size_t len)
{
	uint64_t any, ok = cli_survivable(holders, nchunks, &any);
	size_t off = 0;
	unsigned s;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (ok == 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	if (ok == any) {
		snprintf(buf, len, "any");
		return buf;
	}
	for (s = 0; s < 64 && off < len; s++) {
		int w;

		if (!(ok & (UINT64_C(1) << s)))
			continue;
		w = snprintf(buf + off, len - off, off ? ",%u" : "%u", s + 1);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}
