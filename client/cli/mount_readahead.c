/* mount_readahead.c: raising the kernel's read-ahead for the mount.
 *
 * FUSE starts a mount's read-ahead at the system default (128 KiB) and lets
 * the file system only lower it. Reads of one file are served one at a time,
 * so each request is a round trip: a sequential read in 128 KiB requests
 * runs at about half the speed of one in 1 MiB requests. Root can raise it through
 * the mount's backing device, /sys/class/bdi/MAJ:MIN/read_ahead_kb, but only
 * once FUSE's start-up is done (it sets the value last), so the first open
 * does it. Finding the device reads /proc/self/mountinfo rather than
 * stat()ing the mount point, which would ask this very file system. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mount_fs.h"

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* The device ("MAJ:MIN") of the last FUSE mount on mountpoint. 0 or -1. */
static int find_device(const char *mountpoint, char *dev, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;

	if (!f)
		return -1;
	/* id parent MAJ:MIN root mountpoint options [optional...] - fstype ... */
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *field[5], *sep, *fstype;
		int i;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		fstype = sep + 3;
		if (strncmp(fstype, "fuse.", 5) != 0 && strncmp(fstype, "fuse ", 5) != 0)
			continue;
		*sep = '\0';
		for (i = 0; i < 5; i++) {
			field[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
			if (!field[i])
				break;
		}
		if (i < 5)
			continue;
		unescape(field[4]);
		if (strcmp(field[4], mountpoint) == 0 && strlen(field[2]) < len) {
			snprintf(dev, len, "%s", field[2]);
			rc = 0; /* keep reading: a later mount on the same point hides this one */
		}
	}
	free(line);
	fclose(f);
	return rc;
}

void mount_raise_readahead(struct mount_state *m)
{
	char dev[64], path[128];
	unsigned long kb = 0;
	FILE *f;

	if (atomic_exchange(&m->readahead_done, true) || !m->mountpoint[0])
		return;
	if (find_device(m->mountpoint, dev, sizeof(dev)) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fscanf(f, "%lu", &kb) != 1)
		kb = 0;
	fclose(f);
	if (kb >= MOUNT_READAHEAD_KB)
		return;
	/* Only root may write it; others keep the default, and a slower read. */
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%u\n", MOUNT_READAHEAD_KB);
	if (fclose(f) != 0)
		mount_log(m, "could not raise the read-ahead of %s to %u KiB", m->mountpoint,
			  MOUNT_READAHEAD_KB);
}
