/* dirsync.h: folders by path: making their entries durable, opening them for reading. */
#ifndef DFS_DIRSYNC_H
#define DFS_DIRSYNC_H

#include <dirent.h>

/* fsync of the folder at path (relative to dirfd): 0 or -errno. */
int fsync_dir_at(int dirfd, const char *path);

/* The folder at path (relative to dirfd) opened for readdir, or NULL with errno set
 * (ENOENT if it does not exist). */
DIR *opendir_at(int dirfd, const char *path);

#endif
