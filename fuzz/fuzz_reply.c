/* fuzz_reply.c: libFuzzer target for the client's side of every reply: the XDR
 * decoding of each result type a client receives, then the checks the client
 * makes before using one (check_reply.h), and the escaping of server-sent
 * names for messages and terminals.
 *
 * Input: byte 0 picks the result type; byte 1 the cluster size (1..64), byte 2
 * the answering server, byte 3 a chunk index, bytes 4..7 a count or limit
 * (big-endian); byte 8 the length L of a name or cookie that follows; the
 * rest is the XDR-encoded result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_reply.h"
#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct params {
	unsigned nservers, server, index;
	uint32_t count;
	const char *name; /* the name or cookie the client sent */
	size_t name_len;
};

/* What cli_term_string writes must hold no byte a terminal acts on. */
static void check_term(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		abort();
	cli_term_string(f, s);
	fclose(f);
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)out[i];

		if (b < 0x20 || b == 0x7f ||
		    (b == 0xc2 && i + 1 < len && (unsigned char)out[i + 1] >= 0x80 &&
		     (unsigned char)out[i + 1] < 0xa0))
			abort();
	}
	free(out);
}

/* A server-sent name, shown in a message and on a terminal. */
static void show_name(const dfs_name *name)
{
	char buf[96], *s;

	check_escape(name->dfs_name_val, name->dfs_name_len, buf, sizeof(buf));
	if (strlen(buf) >= sizeof(buf))
		abort();
	for (const char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	s = strndup(name->dfs_name_val ? name->dfs_name_val : "", name->dfs_name_len);
	if (!s)
		abort();
	check_term(s);
	free(s);
}

static void on_file_info(const dfs_file_info *info, const struct params *p)
{
	const char *why = NULL;

	show_name(&info->name);
	if (check_file_info(info, NULL, 0, p->nservers, p->server, &why) != 0 && !why)
		abort();
	if (check_file_info(info, p->name, p->name_len, p->nservers, p->server, &why) != 0 && !why)
		abort();
}

static void on_lookup(const dfs_lookup_ok *rec, const struct params *p)
{
	const char *why = NULL;

	on_file_info(&rec->current, p);
	for (u_int i = 0; i < rec->previous.previous_len; i++)
		on_file_info(&rec->previous.previous_val[i], p);
	if (check_lookup_ok(rec, p->name, p->name_len, p->nservers, p->server, &why) != 0 && !why)
		abort();
}

static void on_lookup_read(const dfs_lookup_read_ok *ok, const struct params *p)
{
	const char *why = NULL;

	on_lookup(&ok->rec, p);
	if (check_lookup_read_ok(ok, p->name, p->name_len, p->nservers, p->server, p->index,
				 p->count, &why) != 0) {
		if (!why)
			abort();
		return;
	}
	/* Accepted bytes fit the limit, and belong to a chunk of the record. */
	if (ok->data.data_len > p->count || (ok->data_ver == 0 && ok->data.data_len != 0))
		abort();
}

static void on_list(const dfs_list_ok *page, const struct params *p)
{
	struct list_guard g = {0};
	const char *why = NULL;

	for (u_int i = 0; i < page->entries.entries_len; i++)
		on_file_info(&page->entries.entries_val[i], p);
	if (check_list_page(&g, page, p->name, (u_int)p->name_len, &why) == 0) {
		/* An accepted page that is not the last names a new position. */
		if (!page->eof && (page->cookie.cookie_len == 0 ||
				   (page->cookie.cookie_len == p->name_len &&
				    memcmp(page->cookie.cookie_val, p->name, p->name_len) == 0)))
			abort();
	} else if (!why) {
		abort();
	}
	/* The same page over and over ends within the bounds. */
	if (page->eof)
		return;
	g = (struct list_guard){0};
	for (unsigned i = 0; i <= LIST_PAGES_MAX; i++)
		if (check_list_page(&g, page, page->cookie.cookie_val, page->cookie.cookie_len,
				    &why) != 0)
			return;
	if (!page->eof)
		abort();
}

/* The result types a client decodes, in the order byte 0 picks them. */
enum kind {
	K_LOOKUP,
	K_LOOKUP_READ,
	K_READ,
	K_LIST,
	K_STATUS,
	K_VERIFY,
	K_HINTS,
	K_LOGIN_BEGIN,
	K_LOGIN_FINISH,
	K_PUT_BEGIN,
	K_STAT,
	K_COUNT
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union {
		dfs_lookup_res lookup;
		dfs_lookup_read_res lookup_read;
		dfs_read_res read;
		dfs_list_res list;
		dfs_status_res status;
		dfs_verify_res verify;
		dfs_hints_res hints;
		dfs_login_begin_res login_begin;
		dfs_login_finish_res login_finish;
		dfs_put_begin_res put_begin;
		dfs_stat stat;
	} res;
	static const xdrproc_t procs[K_COUNT] = {
	    (xdrproc_t)xdr_dfs_lookup_res,
	    (xdrproc_t)xdr_dfs_lookup_read_res,
	    (xdrproc_t)xdr_dfs_read_res,
	    (xdrproc_t)xdr_dfs_list_res,
	    (xdrproc_t)xdr_dfs_status_res,
	    (xdrproc_t)xdr_dfs_verify_res,
	    (xdrproc_t)xdr_dfs_hints_res,
	    (xdrproc_t)xdr_dfs_login_begin_res,
	    (xdrproc_t)xdr_dfs_login_finish_res,
	    (xdrproc_t)xdr_dfs_put_begin_res,
	    (xdrproc_t)xdr_dfs_stat,
	};
	struct params p;
	enum kind kind;
	size_t head;
	XDR in;

	if (size < 9)
		return 0;
	kind = (enum kind)(data[0] % K_COUNT);
	p.nservers = data[1] % DFS_SERVERS_MAX + 1;
	p.server = data[2] % p.nservers + 1;
	p.index = data[3] % p.nservers + 1;
	p.count =
	    (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7];
	p.name_len = data[8];
	head = 9 + p.name_len;
	if (head > size)
		return 0;
	p.name = (const char *)data + 9;

	memset(&res, 0, sizeof(res));
	xdrmem_create(&in, (char *)data + head, (u_int)(size - head), XDR_DECODE);
	if (procs[kind](&in, &res)) {
		switch (kind) {
		case K_LOOKUP:
			if (res.lookup.status == DFS_OK)
				on_lookup(&res.lookup.dfs_lookup_res_u.ok, &p);
			break;
		case K_LOOKUP_READ:
			if (res.lookup_read.status == DFS_OK)
				on_lookup_read(&res.lookup_read.dfs_lookup_read_res_u.ok, &p);
			break;
		case K_READ:
			if (res.read.status == DFS_OK) {
				u_int len = res.read.dfs_read_res_u.data.data_len;
				int err = check_read_data(len, p.count, NULL);

				if ((err == 0) != (len == p.count))
					abort();
			}
			break;
		case K_LIST:
			if (res.list.status == DFS_OK)
				on_list(&res.list.dfs_list_res_u.ok, &p);
			break;
		case K_STATUS:
			if (res.status.status == DFS_OK)
				check_term(res.status.dfs_status_res_u.ok.software);
			break;
		default:
			break;
		}
	}
	xdr_free(procs[kind], (char *)&res);
	return 0;
}
