/* dfs_session_hold.c: test helper: logs in with libdfs, waits for a line on
 * stdin, then lists the user's files with the same session.
 *
 * Usage: DFS_PASSWORD=... dfs-session-hold CONFIG USER
 * Prints "ready" once logged in; after each line read, "list rc=N files=M"
 * (N = 0 or -errno) and the library's last error; exits at end of input. */
#include <stdio.h>
#include <stdlib.h>

#include "dfs.h"

int main(int argc, char **argv)
{
	struct dfs_client *c = NULL;
	struct dfs_file_list *list = NULL;
	const char *pw = getenv("DFS_PASSWORD");
	char line[64];
	int rc;

	if (argc != 3 || !pw) {
		fprintf(stderr, "usage: DFS_PASSWORD=... %s CONFIG USER\n", argv[0]);
		return 2;
	}
	rc = dfs_client_new(&c, argv[1]);
	if (rc == 0)
		rc = dfs_login(c, argv[2], pw);
	if (rc < 0) {
		fprintf(stderr, "login: %s\n", dfs_last_error(c));
		dfs_client_free(c);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		rc = dfs_list(c, &list);
		printf("list rc=%d files=%zu %s\n", rc, rc == 0 ? list->count : 0,
		       rc == 0 ? "" : dfs_last_error(c));
		fflush(stdout);
		dfs_file_list_free(list);
		list = NULL;
	}
	dfs_client_free(c);
	return 0;
}
