/* hex.c: lower-case hexadecimal encoding and strict decoding. */
#include "hex.h"

#include <errno.h>
#include <string.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void hex_encode(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

int hex_decode(const char *text, void *out, size_t len)
{
	unsigned char *p = out;

	/* Validate everything first so out is untouched on error, and stop at the
	 * first NUL so a short string is never read past its end. */
	for (size_t i = 0; i < 2 * len; i++) {
		if (hex_digit(text[i]) < 0)
			return -EINVAL;
	}
	if (text[2 * len] != '\0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(hex_digit(text[2 * i]) << 4 | hex_digit(text[2 * i + 1]));
	return 0;
}

bool hex_is_lower(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}
