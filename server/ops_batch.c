/* ops_batch.c: STORE_MANY and LOOKUP_READ_MANY, the calls that carry several small
 * files, and the bounded decoding of STORE_MANY's arguments. */
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "store.h"

bool_t xdr_store_many_bounded(XDR *x, dfs_store_many_args *a)
{
	dfs_store_item *items;
	u_int n, budget = DFS_BLOCK_MAX;

	if (x->x_op != XDR_DECODE)
		return xdr_dfs_store_many_args(x, a);
	if (!xdr_dfs_cred(x, &a->cred) || !xdr_u_int(x, &n) || n > DFS_BATCH_MAX)
		return FALSE;
	items = calloc(n ? n : 1, sizeof(*items));
	if (items == NULL)
		return FALSE;
	a->items.items_val = items;
	for (u_int i = 0; i < n; i++) {
		dfs_store_item *it = &items[i];

		/* Counted before decoding, so that a failure frees what was decoded. */
		a->items.items_len = i + 1;
		if (!xdr_dfs_file_info(x, &it->info) ||
		    !xdr_bytes(x, &it->data.data_val, &it->data.data_len, budget))
			return FALSE;
		budget -= it->data.data_len;
	}
	a->items.items_len = n;
	return TRUE;
}

void op_store_many(struct conn *cn, dfs_store_many_args *a, dfs_store_many_res *r)
{
	u_int n = a->items.items_len, k = 0;
	struct store_whole *files;
	struct store_quota quota;
	dfs_stat *results;
	char user[65];
	int *errs, err;

	r->status = op_authenticate_writer(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	err = op_user_quota(cn, user, &quota);
	if (err) {
		r->status = op_stat_from_errno(err);
		return;
	}
	results = calloc(n ? n : 1, sizeof(*results));
	files = calloc(n ? n : 1, sizeof(*files));
	errs = calloc(n ? n : 1, sizeof(*errs));
	if (!results || !files || !errs) {
		free(results);
		free(files);
		free(errs);
		r->status = DFS_ENOMEM;
		return;
	}
	/* The items that pass STORE's checks are stored together, in order. */
	for (u_int i = 0; i < n; i++) {
		const dfs_store_item *it = &a->items.items_val[i];

		results[i] = op_store_check(cn, &it->info);
		if (results[i] == DFS_OK)
			files[k++] = (struct store_whole){
			    .info = &it->info, .data = it->data.data_val, .len = it->data.data_len};
	}
	store_put_whole_many(cn->srv->store, user, files, k, &quota, errs);
	k = 0;
	for (u_int i = 0; i < n; i++) {
		const dfs_store_item *it = &a->items.items_val[i];

		if (results[i] == DFS_OK)
			results[i] =
			    op_store_done(cn, user, &it->info, it->data.data_len, errs[k++]);
	}
	free(files);
	free(errs);
	r->dfs_store_many_res_u.results.results_val = results;
	r->dfs_store_many_res_u.results.results_len = n;
}

void op_lookup_read_many(struct conn *cn, dfs_lookup_read_many_args *a, dfs_lookup_read_many_res *r)
{
	u_int n = a->items.items_len;
	dfs_lookup_read_res *results;
	size_t budget = DFS_BLOCK_MAX;
	char user[65];

	r->status = op_authenticate(cn, &a->cred, user);
	if (r->status != DFS_OK)
		return;
	results = calloc(n ? n : 1, sizeof(*results));
	if (results == NULL) {
		r->status = DFS_ENOMEM;
		return;
	}
	for (u_int i = 0; i < n; i++) {
		const dfs_lookup_read_item *it = &a->items.items_val[i];
		unsigned max = it->max < budget ? it->max : (unsigned)budget;

		budget -= op_lookup_read_file(cn, user, &it->name, it->index, max, &results[i]);
	}
	r->dfs_lookup_read_many_res_u.results.results_val = results;
	r->dfs_lookup_read_many_res_u.results.results_len = n;
}
