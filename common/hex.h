/* hex.h: lower-case hexadecimal encoding. */
#ifndef DFS_HEX_H
#define DFS_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* Writes 2 * len hex digits and a NUL to out (room for 2 * len + 1). */
void hex_encode(const void *data, size_t len, char *out);
/* Decodes exactly 2 * len hex digits from text into out. Returns 0 or -EINVAL. */
int hex_decode(const char *text, void *out, size_t len);
/* Whether s is exactly len lower-case hex digits (as hex_encode writes). */
bool hex_is_lower(const char *s, size_t len);

#endif
