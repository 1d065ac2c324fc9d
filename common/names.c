/* names.c: validation of remote file names and user names. */
#include "names.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define NAME_MAX_BYTES	    4096
#define COMPONENT_MAX_BYTES 255
#define USER_MAX_BYTES	    64

/* Length of the well-formed UTF-8 sequence starting at p (at most `avail`
 * bytes), or 0 if it is malformed: overlong, a surrogate, above U+10FFFF,
 * truncated, or starting with a continuation byte. Follows the table of
 * well-formed byte sequences in Unicode chapter 3. */
static size_t utf8_sequence(const unsigned char *p, size_t avail)
{
	unsigned char b0 = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF;

	if (b0 < 0x80)
		return 1;
	if (b0 >= 0xC2 && b0 <= 0xDF) {
		n = 2;
	} else if (b0 >= 0xE0 && b0 <= 0xEF) {
		n = 3;
		if (b0 == 0xE0)
			lo = 0xA0; /* overlong below U+0800 */
		else if (b0 == 0xED)
			hi = 0x9F; /* surrogates U+D800..U+DFFF */
	} else if (b0 >= 0xF0 && b0 <= 0xF4) {
		n = 4;
		if (b0 == 0xF0)
			lo = 0x90; /* overlong below U+10000 */
		else if (b0 == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
	}
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	}
	return n;
}

static int fail(const char **why, const char *reason, int err)
{
	if (why)
		*why = reason;
	return err;
}

int name_check(const void *name, size_t len, const char **why)
{
	const unsigned char *p = name;
	bool bad_utf8 = false;
	size_t start = 0;

	if (why)
		*why = NULL;
	if (len == 0)
		return fail(why, "is empty", -EINVAL);
	if (len > NAME_MAX_BYTES)
		return fail(why, "is longer than 4096 bytes", -ENAMETOOLONG);
	/* Control bytes are reported ahead of the folder structure and of
	 * encoding errors: they are the most specific complaint, and being ASCII
	 * they are found even inside an otherwise malformed name. */
	for (size_t i = 0; i < len;) {
		size_t n;

		if (p[i] < 0x20 || p[i] == 0x7F)
			return fail(why, "contains a control character", -EINVAL);
		n = bad_utf8 ? 0 : utf8_sequence(p + i, len - i);
		if (n == 0) {
			bad_utf8 = true;
			n = 1;
		}
		i += n;
	}
	if (p[0] == '/')
		return fail(why, "begins with '/'", -EINVAL);
	if (p[len - 1] == '/')
		return fail(why, "ends with '/'", -EINVAL);
	for (size_t i = 0; i <= len; i++) {
		size_t n = i - start;

		if (i < len && p[i] != '/')
			continue;
		if (n == 0)
			return fail(why, "has an empty component ('//')", -EINVAL);
		if ((n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return fail(why,
				    n == len ? "is '.' or '..'" : "has a '.' or '..' component",
				    -EINVAL);
		if (n > COMPONENT_MAX_BYTES)
			return fail(why, "has a component longer than 255 bytes", -ENAMETOOLONG);
		start = i + 1;
	}
	if (bad_utf8)
		return fail(why, "is not valid UTF-8", -EINVAL);
	return 0;
}

int user_name_check(const char *user, const char **why)
{
	size_t len = 0;

	if (why)
		*why = NULL;
	if (!user || user[0] == '\0')
		return fail(why, "is empty", -EINVAL);
	if (user[0] == '.')
		return fail(why, "starts with '.'", -EINVAL);
	for (; user[len]; len++) {
		char c = user[len];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		if (len >= USER_MAX_BYTES)
			return fail(why, "is longer than 64 bytes", -EINVAL);
		if (!ok)
			return fail(why, "contains a character other than A-Z a-z 0-9 . _ -",
				    -EINVAL);
	}
	return 0;
}
