/* redis_url.h: the parts of a redis:// or rediss:// URL naming a Redis
 * database, as dfs writes it:
 * redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB][?ca=&cert=&key=&primary=]. */
#ifndef DFS_REDIS_URL_H
#define DFS_REDIS_URL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define REDIS_URL_PART_MAX 256

struct redis_url {
	char host[REDIS_URL_PART_MAX];
	char port[16];
	char user[REDIS_URL_PART_MAX], password[REDIS_URL_PART_MAX];
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];	 /* PEM files for rediss:// */
	char primary_host[REDIS_URL_PART_MAX], primary_port[16]; /* primary=, or "" */
	unsigned dbnum;
	bool tls;
};

/* Fills *u from url (%XX decoded; port 6379 when missing). 0, or -EINVAL
 * with the reason in err when there is one to tell ("" otherwise). */
int redis_url_parse(struct redis_url *u, const char *url, char *err, size_t errlen);

#endif
