/* layout.c: the pair table and chunk ranges of one file, computed once. */
#include "layout.h"

#include <string.h>

#include "chunk.h"
#include "placement.h"

static unsigned clamp(unsigned nservers)
{
	return nservers < 1 ? 1 : nservers > DFS_SERVERS_MAX ? DFS_SERVERS_MAX : nservers;
}

void layout_init(struct layout *l, const void *name, size_t len, unsigned nservers)
{
	layout_init_row(l, placement_row(name, len, clamp(nservers)), nservers);
}

void layout_init_row(struct layout *l, unsigned row, unsigned nservers)
{
	unsigned n = clamp(nservers);

	memset(l, 0, sizeof(*l));
	l->nservers = n;
	l->row = row % n;
	for (unsigned s = 1; s <= n; s++)
		placement_pair(l->row, s, n, &l->pair[s - 1][0], &l->pair[s - 1][1]);
	for (unsigned k = 1; k <= n; k++)
		for (int which = 0; which < 2; which++)
			l->holder[k - 1][which] = placement_holder(l->row, k, n, which);
}

int layout_role(const struct layout *l, unsigned server, unsigned chunk)
{
	if (server < 1 || server > l->nservers)
		return -1;
	if (l->pair[server - 1][0] == chunk)
		return 0;
	return l->pair[server - 1][1] == chunk ? 1 : -1;
}

void layout_range(const struct layout *l, uint64_t size, unsigned chunk, uint64_t *offset,
		  uint64_t *len)
{
	chunk_range(size, l->nservers, chunk, offset, len);
}
