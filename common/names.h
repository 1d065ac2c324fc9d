/* names.h: the rules for remote file names and user names. */
#ifndef DFS_NAMES_H
#define DFS_NAMES_H

#include <stddef.h>

/* Checks a remote file name (raw bytes, not NUL-terminated): 1..4096 bytes of
 * valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF)
 * without control bytes 0x00-0x1F or 0x7F, made of components joined by
 * single '/'s (folders), each 1..255 bytes and not "." or "..": no leading,
 * trailing or doubled '/'. The name is whole: nothing else is built from it.
 * Returns 0, or -EINVAL / -ENAMETOOLONG (the whole name or one component too
 * long) with *why (if non-NULL) set to a static English phrase such as
 * "ends with '/'". */
int name_check(const void *name, size_t len, const char **why);

/* Checks a user name: 1..64 bytes of [A-Za-z0-9._-], not starting with '.'.
 * Returns 0 or -EINVAL with *why set as above. */
int user_name_check(const char *user, const char **why);

#endif
