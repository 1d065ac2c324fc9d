/* check_reply.h: checks of what a server sends, made before the client uses any of it. */
#ifndef DFS_CLIENT_CHECK_REPLY_H
#define DFS_CLIENT_CHECK_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dfs_prot.h"
#include "layout.h"

/* Bounds on one server's answer to a listing: a server whose pages never
 * end is treated as failing rather than followed forever. */
#define LIST_PAGES_MAX	 10000
#define LIST_ENTRIES_MAX 1000000

/* Checks one record (a version of a file) sent by server `server` (1-based)
 * of a cluster of nservers: its name is valid (name_check) and, when name is
 * non-NULL, is the name asked for (name_len bytes); a live record has
 * nchunks == nservers and lists only chunks of the server's pair, once each,
 * each of the size chunk_range gives for the record's size; a tombstone has
 * nchunks 0 or nservers. Returns 0, or -EPROTO with *why set to a static
 * English phrase. */
int check_file_info(const dfs_file_info *info, const char *name, size_t name_len, unsigned nservers,
		    unsigned server, const char **why);

/* check_file_info on the current and the previous version of a LOOKUP answer,
 * whose previous version must be older than the current one. */
int check_lookup_ok(const dfs_lookup_ok *rec, const char *name, size_t name_len, unsigned nservers,
		    unsigned server, const char **why);

/* check_lookup_ok on a LOOKUP_READ answer, whose data is at most max bytes
 * (the caller's limit) and, when it belongs to a version the record lists
 * with the chunk index asked for, exactly that chunk's size. */
int check_lookup_read_ok(const dfs_lookup_read_ok *ok, const char *name, size_t name_len,
			 unsigned nservers, unsigned server, unsigned index, unsigned max,
			 const char **why);

/* Checks the bytes of a READ reply against the count asked for: 0 when they
 * are exactly that many; -EBADMSG when fewer (a short copy), -EPROTO when
 * more. *why is set on failure. */
int check_read_data(u_int len, u_int asked, const char **why);

/* Checks a VERIFIED answer of server `server` (1-based) about a file of
 * layout l: at most DFS_HELD_MAX entries, each about a chunk of the server's
 * pair, once, with a time and a result of DFS_OK or DFS_EBADMSG. 0, or
 * -EPROTO with *why set. */
int check_verified_ok(const dfs_verified_res *res, const struct layout *l, unsigned server,
		      const char **why);

/* The pages of one server's listing so far. Zero it before the first page. */
struct list_guard {
	unsigned pages;
	uint64_t entries;
};
/* Checks one LIST page, answering a call that sent cookie (cookie_len bytes):
 * a page that is not the last must name a position, and a different one from
 * the position asked for, and no server sends more than LIST_PAGES_MAX pages
 * or LIST_ENTRIES_MAX records. 0, or -EPROTO with *why set. */
int check_list_page(struct list_guard *g, const dfs_list_ok *page, const char *cookie,
		    u_int cookie_len, const char **why);

/* Checks one LIST_NAMES page, answering a call with prefix, after and max:
 * at most max records, their names strictly ascending, each beginning with
 * prefix and after `after` (when not empty); a page that is not the last
 * lists some name (else the list would not advance); and no server sends more
 * than LIST_PAGES_MAX pages or LIST_ENTRIES_MAX records. 0, or -EPROTO with
 * *why set. */
int check_names_page(struct list_guard *g, const dfs_list_names_ok *page, const char *prefix,
		     u_int prefix_len, const char *after, u_int after_len, unsigned max,
		     const char **why);

/* Writes name (len bytes) into buf for a message, with every byte that is not
 * printable ASCII or part of valid UTF-8, and every control character, shown
 * as \xNN; cut with "..." to fit len bytes (at least 4). Returns buf. */
char *check_escape(const void *name, size_t len, char *buf, size_t buflen);

#endif
