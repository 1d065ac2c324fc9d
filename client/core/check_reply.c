/* check_reply.c: checks of what a server sends, made before the client uses any of it.
 *
 * A server is trusted with its copies of the user's chunks, not with the shape
 * of its answers: a record that claims chunks outside the server's pair, sizes
 * that do not add up, or more bytes than were asked for would otherwise steer
 * where the client writes and what it prints. */
#include "check_reply.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "layout.h"
#include "names.h"

static int bad(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EPROTO;
}

int check_file_info(const dfs_file_info *info, const char *name, size_t name_len, unsigned nservers,
		    unsigned server, const char **why)
{
	const dfs_chunk_sum *chunks = info->chunks.chunks_val;
	struct layout l;

	if (why)
		*why = NULL;
	if (nservers < 1 || nservers > DFS_SERVERS_MAX || server < 1 || server > nservers)
		return bad(why, "it is not a server of this cluster");
	if (name_check(info->name.dfs_name_val, info->name.dfs_name_len, NULL) != 0)
		return bad(why, "it sent an invalid name");
	if (name && (info->name.dfs_name_len != name_len ||
		     memcmp(info->name.dfs_name_val, name, name_len) != 0))
		return bad(why, "it sent a record of another name");
	if (info->ver == 0)
		return bad(why, "it sent a record without a version");
	if (info->deleted) {
		/* A tombstone for a name the server never held has no chunk count. */
		if (info->nchunks != 0 && info->nchunks != nservers)
			return bad(why, "it sent a tombstone with a wrong chunk count");
		if (info->chunks.chunks_len != 0)
			return bad(why, "it sent a tombstone with chunks");
		return 0;
	}
	if (info->nchunks != nservers)
		return bad(why, "it sent a record with a wrong chunk count");
	if (info->chunks.chunks_len > DFS_HELD_MAX)
		return bad(why, "it sent a record with too many chunks");
	layout_init(&l, info->name.dfs_name_val, info->name.dfs_name_len, nservers);
	for (u_int i = 0; i < info->chunks.chunks_len; i++) {
		uint64_t offset, size;

		if (layout_role(&l, server, chunks[i].index) < 0)
			return bad(why, "it sent a record of a chunk it does not hold");
		for (u_int j = 0; j < i; j++)
			if (chunks[j].index == chunks[i].index)
				return bad(why, "it sent a record listing a chunk twice");
		layout_range(&l, info->size, chunks[i].index, &offset, &size);
		if (chunks[i].size != size)
			return bad(why, "it sent a record whose chunk sizes do not add up");
	}
	return 0;
}

int check_lookup_ok(const dfs_lookup_ok *rec, const char *name, size_t name_len, unsigned nservers,
		    unsigned server, const char **why)
{
	int err = check_file_info(&rec->current, name, name_len, nservers, server, why);

	if (err)
		return err;
	if (rec->previous.previous_len > 1)
		return bad(why, "it sent more than one previous version");
	if (rec->previous.previous_len == 0)
		return 0;
	err =
	    check_file_info(&rec->previous.previous_val[0], name, name_len, nservers, server, why);
	if (err)
		return err;
	if (rec->previous.previous_val[0].ver >= rec->current.ver)
		return bad(why, "it sent a previous version newer than the current one");
	return 0;
}

int check_lookup_read_ok(const dfs_lookup_read_ok *ok, const char *name, size_t name_len,
			 unsigned nservers, unsigned server, unsigned index, unsigned max,
			 const char **why)
{
	const dfs_file_info *cur = &ok->rec.current;
	int err = check_lookup_ok(&ok->rec, name, name_len, nservers, server, why);

	if (err)
		return err;
	if (ok->data.data_len > max)
		return bad(why, "it sent more bytes than asked for");
	if (ok->data_ver == 0) {
		if (ok->data.data_len != 0)
			return bad(why, "it sent bytes of no version");
		return 0;
	}
	/* Only the current version's chunk `index` is ever sent. */
	if (ok->data_ver != cur->ver || cur->deleted)
		return bad(why, "it sent bytes of a version it does not hold");
	for (u_int i = 0; i < cur->chunks.chunks_len; i++)
		if (cur->chunks.chunks_val[i].index == index)
			return cur->chunks.chunks_val[i].size == ok->data.data_len
				   ? 0
				   : bad(why, "it sent a chunk of the wrong size");
	return bad(why, "it sent bytes of a chunk it does not hold");
}

int check_verified_ok(const dfs_verified_res *res, const struct layout *l, unsigned server,
		      const char **why)
{
	const dfs_copy_verified *v = res->dfs_verified_res_u.copies.copies_val;
	u_int n = res->dfs_verified_res_u.copies.copies_len;

	if (n > DFS_HELD_MAX)
		return bad(why, "it sent more verifications than it holds copies");
	for (u_int i = 0; i < n; i++) {
		if (layout_role(l, server, v[i].index) < 0)
			return bad(why, "it sent a verification of a chunk it does not hold");
		if (v[i].verified_ns <= 0)
			return bad(why, "it sent a verification without a time");
		if (v[i].result != DFS_OK && v[i].result != DFS_EBADMSG)
			return bad(why, "it sent a verification with an unknown result");
		for (u_int j = 0; j < i; j++)
			if (v[j].index == v[i].index)
				return bad(why, "it sent two verifications of one chunk");
	}
	return 0;
}

int check_read_data(u_int len, u_int asked, const char **why)
{
	if (len == asked)
		return 0;
	if (why)
		*why = len > asked ? "it sent more bytes than asked for"
				   : "it sent fewer bytes than its copy should hold";
	return len > asked ? -EPROTO : -EBADMSG;
}

int check_list_page(struct list_guard *g, const dfs_list_ok *page, const char *cookie,
		    u_int cookie_len, const char **why)
{
	if (why)
		*why = NULL;
	g->pages++;
	g->entries += page->entries.entries_len;
	if (g->pages > LIST_PAGES_MAX)
		return bad(why, "its list did not end after 10000 pages");
	if (g->entries > LIST_ENTRIES_MAX)
		return bad(why, "its list did not end after 1000000 records");
	if (page->eof)
		return 0;
	if (page->cookie.cookie_len == 0)
		return bad(why, "its list stopped before the end without saying where");
	if (page->cookie.cookie_len == cookie_len &&
	    memcmp(page->cookie.cookie_val, cookie, cookie_len) == 0)
		return bad(why, "its list does not advance");
	return 0;
}

/* Bytewise order of two names, the shorter first when one begins the other. */
static int name_order(const char *a, u_int alen, const char *b, u_int blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);

	if (d)
		return d;
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

int check_names_page(struct list_guard *g, const dfs_list_names_ok *page, const char *prefix,
		     u_int prefix_len, const char *after, u_int after_len, unsigned max,
		     const char **why)
{
	const dfs_file_info *v = page->entries.entries_val;
	u_int n = page->entries.entries_len;

	if (why)
		*why = NULL;
	g->pages++;
	g->entries += n;
	if (g->pages > LIST_PAGES_MAX)
		return bad(why, "its list did not end after 10000 pages");
	if (g->entries > LIST_ENTRIES_MAX)
		return bad(why, "its list did not end after 1000000 records");
	if (n > max)
		return bad(why, "its list sent more records than asked for");
	if (n == 0 && !page->eof)
		return bad(why, "its list does not advance");
	for (u_int i = 0; i < n; i++) {
		const dfs_name *name = &v[i].name;

		if (name->dfs_name_len < prefix_len ||
		    memcmp(name->dfs_name_val, prefix, prefix_len) != 0)
			return bad(why, "its list sent a name without the prefix asked for");
		if (i == 0 && after_len &&
		    name_order(name->dfs_name_val, name->dfs_name_len, after, after_len) <= 0)
			return bad(why, "its list does not advance");
		if (i > 0 && name_order(v[i - 1].name.dfs_name_val, v[i - 1].name.dfs_name_len,
					name->dfs_name_val, name->dfs_name_len) >= 0)
			return bad(why, "its list is not in name order");
	}
	return 0;
}

/* Length of the well-formed UTF-8 sequence at p (at most avail bytes) that is
 * not a control character, or 0. */
static size_t printable_utf8(const unsigned char *p, size_t avail)
{
	size_t n;

	if (p[0] < 0x80)
		return p[0] >= 0x20 && p[0] != 0x7f ? 1 : 0;
	n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	if (n > avail || name_check(p, n, NULL) != 0)
		return 0;
	/* C1 controls, U+0080..U+009F. */
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return n;
}

char *check_escape(const void *name, size_t len, char *buf, size_t buflen)
{
	const unsigned char *p = name;
	size_t out = 0, whole = 0;

	if (buflen < 4) {
		if (buflen)
			buf[0] = '\0';
		return buf;
	}
	for (size_t i = 0; i < len;) {
		size_t n = printable_utf8(p + i, len - i);

		whole += n ? n : 4;
		i += n ? n : 1;
	}
	for (size_t i = 0; i < len;) {
		size_t n = printable_utf8(p + i, len - i);

		/* Cut short, keep room for "..." after the last piece. */
		if (whole >= buflen && out + (n ? n : 4) + 3 >= buflen) {
			memcpy(buf + out, "...", 3);
			out += 3;
			break;
		}
		if (n) {
			memcpy(buf + out, p + i, n);
			out += n;
			i += n;
		} else {
			snprintf(buf + out, 5, "\\x%02x", p[i]);
			out += 4;
			i++;
		}
	}
	buf[out] = '\0';
	return buf;
}
