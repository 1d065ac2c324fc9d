/* dfs_session_hold.c: test helper: logs in with libdfs, waits for a line on
 * stdin, then lists the user's files with the same session.
 *
 * Usage: DFS_PASSWORD=... [DFS_HOLD_SHARES=N] dfs-session-hold CONFIG USER
 * Prints "ready" once logged in; after each line read, "list rc=N files=M"
 * (N = 0 or -errno) and the library's last error; exits at end of input.
 * With DFS_HOLD_SHARES=N, N clients are prepared (dfs_prepare_shares) before
 * the login, and N + 1 are made right after it, each listing the files; it
 * first prints "shares: S0 S1 ... SN+1 listed=K": the sockets this process
 * holds after the login and after each client, and how many listed. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "dfs.h"

static int sockets_held(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	struct stat st;
	int n = 0;

	while (d && (e = readdir(d)))
		n += fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISSOCK(st.st_mode);
	if (d)
		closedir(d);
	return n;
}

/* Makes n clients sharing c's session, one after another, each listing once. */
static void make_shares(struct dfs_client *c, unsigned n)
{
	struct dfs_client *shared[DFS_SHARES_PREPARED_MAX + 1] = {NULL};
	struct dfs_file_list *list = NULL;
	unsigned listed = 0;

	printf("shares: %d", sockets_held());
	for (unsigned i = 0; i < n; i++) {
		if (dfs_client_share(c, &shared[i]) == 0 && dfs_list(shared[i], &list) == 0)
			listed++;
		dfs_file_list_free(list);
		list = NULL;
		printf(" %d", sockets_held());
	}
	printf(" listed=%u\n", listed);
	for (unsigned i = 0; i < n; i++)
		dfs_client_free(shared[i]);
}

int main(int argc, char **argv)
{
	struct dfs_client *c = NULL;
	struct dfs_file_list *list = NULL;
	const char *pw = getenv("DFS_PASSWORD");
	const char *shares = getenv("DFS_HOLD_SHARES");
	unsigned nshares = shares ? (unsigned)atoi(shares) : 0;
	char line[64];
	int rc;

	if (argc != 3 || !pw) {
		fprintf(stderr, "usage: DFS_PASSWORD=... %s CONFIG USER\n", argv[0]);
		return 2;
	}
	if (nshares > DFS_SHARES_PREPARED_MAX)
		nshares = DFS_SHARES_PREPARED_MAX;
	rc = dfs_client_new(&c, argv[1]);
	if (rc == 0)
		rc = dfs_prepare_shares(c, nshares);
	if (rc == 0)
		rc = dfs_login(c, argv[2], pw);
	if (rc < 0) {
		fprintf(stderr, "login: %s\n", dfs_last_error(c));
		dfs_client_free(c);
		return 1;
	}
	if (nshares)
		make_shares(c, nshares + 1);
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
