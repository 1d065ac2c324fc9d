/* get_dest.h: the checks that keep a get into a folder inside that folder. */
#ifndef DFS_CLI_GET_DEST_H
#define DFS_CLI_GET_DEST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* One get's destination folder, with what earlier names already settled: its
 * resolved path, and the last folder (of a name) created and found inside it.
 * Names come sorted, so most share the folder of the name before. */
struct get_dest {
	const char *dir;
	char root[PATH_MAX]; /* dir resolved, once it could be */
	bool have_root;
	char folder[PATH_MAX]; /* the last checked folder part of a name */
	size_t folder_len;     /* its length; valid only when folder_ok */
	bool folder_ok;
};

void get_dest_init(struct get_dest *d, const char *dir);

/* Makes the folders name needs below d->dir and checks that path (DIR/NAME)
 * stays inside it. NULL when the get may go ahead, or why not (in buf). */
const char *get_dest_check(struct get_dest *d, const char *name, const char *path, char *buf,
			   size_t len);

#endif
