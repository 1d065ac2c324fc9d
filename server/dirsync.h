/* dirsync.h: making a folder's entries durable. */
#ifndef DFS_DIRSYNC_H
#define DFS_DIRSYNC_H

/* fsync of the folder at path (relative to dirfd): 0 or -errno. */
int fsync_dir_at(int dirfd, const char *path);

#endif
