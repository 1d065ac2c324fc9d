/* test_scrub_reply.c: the client's checks of a VERIFIED answer. */
#include "check.h"
#include "check_reply.h"
#include "dfs_prot.h"
#include "placement.h"

#include <errno.h>

static int check(dfs_copy_verified *v, u_int n, unsigned server)
{
	dfs_verified_res r = {.status = DFS_OK};
	const char *why = NULL;
	struct layout l;
	int err;

	layout_init_row(&l, 1, 4);
	r.dfs_verified_res_u.copies.copies_val = v;
	r.dfs_verified_res_u.copies.copies_len = n;
	err = check_verified_ok(&r, &l, server, &why);
	CHECK(err == 0 || why != NULL);
	return err;
}

int main(void)
{
	unsigned first, second, other = 0;
	dfs_copy_verified v[3];

	placement_pair(1, 2, 4, &first, &second);
	for (unsigned k = 1; k <= 4 && !other; k++)
		if (k != first && k != second)
			other = k;
	v[0] = (dfs_copy_verified){first, 1700000000000000000LL, DFS_OK};
	v[1] = (dfs_copy_verified){second, 1700000000000000001LL, DFS_EBADMSG};
	v[2] = v[0];
	CHECK_EQ(check(v, 0, 2), 0);
	CHECK_EQ(check(v, 2, 2), 0);
	CHECK_EQ(check(v, 3, 2), -EPROTO); /* more than a server holds */
	v[1].index = first;
	CHECK_EQ(check(v, 2, 2), -EPROTO); /* one chunk twice */
	v[1].index = other;
	CHECK_EQ(check(v, 2, 2), -EPROTO); /* not of the server's pair */
	v[1] = (dfs_copy_verified){second, 0, DFS_OK};
	CHECK_EQ(check(v, 2, 2), -EPROTO); /* no time */
	v[1] = (dfs_copy_verified){second, 1, DFS_EIO};
	CHECK_EQ(check(v, 2, 2), -EPROTO); /* a result no verification gives */
	return CHECK_DONE();
}
