/* redis_url.c: parsing the redis:// and rediss:// URLs of the Redis user database. */
#include "redis_url.h"
#include "hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies [s, s+len) into out, decoding %XX. -EINVAL if too long or malformed. */
static int url_part(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			char digits[3];
			unsigned char byte;

			if (i + 2 >= len)
				return -EINVAL;
			digits[0] = s[i + 1];
			digits[1] = s[i + 2];
			digits[2] = '\0';
			if (hex_decode(digits, &byte, 1) < 0)
				return -EINVAL;
			c = (char)byte;
			i += 2;
		}
		if (n + 1 >= cap || c == '\0')
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* HOST[:PORT] or [IPV6][:PORT] in [p, end) into host and port (default 6379). */
static int parse_hostport(const char *p, const char *end, char *host, size_t hostcap, char *port,
			  size_t portcap)
{
	size_t hostlen;

	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return -EINVAL;
		hostlen = (size_t)(close - p - 1);
		if (hostlen == 0 || hostlen >= hostcap)
			return -EINVAL;
		memcpy(host, p + 1, hostlen);
		host[hostlen] = '\0';
		p = close + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *stop = colon ? colon : end;

		hostlen = (size_t)(stop - p);
		if (hostlen == 0 || hostlen >= hostcap)
			return -EINVAL;
		memcpy(host, p, hostlen);
		host[hostlen] = '\0';
		p = stop;
	}
	snprintf(port, portcap, "6379");
	if (*p == ':') {
		size_t plen = (size_t)(end - p - 1);

		if (plen == 0 || plen >= portcap || strspn(p + 1, "0123456789") < plen)
			return -EINVAL;
		memcpy(port, p + 1, plen);
		port[plen] = '\0';
		p = end;
	}
	return p == end ? 0 : -EINVAL;
}

/* The options after '?': NAME=VALUE pairs joined by '&', values %XX-decoded. */
static int parse_options(struct redis_url *u, const char *q, char *err, size_t errlen)
{
	while (*q) {
		const char *amp = strchr(q, '&'), *eq;
		const char *stop = amp ? amp : q + strlen(q);
		char value[PATH_MAX];
		size_t nlen;

		eq = memchr(q, '=', (size_t)(stop - q));
		if (!eq || url_part(eq + 1, (size_t)(stop - eq - 1), value, sizeof(value)) < 0 ||
		    !value[0]) {
			snprintf(err, errlen, "user database URL: option '%.*s' is not NAME=VALUE",
				 (int)(stop - q), q);
			return -EINVAL;
		}
		nlen = (size_t)(eq - q);
		if (nlen == 2 && memcmp(q, "ca", 2) == 0) {
			memcpy(u->ca, value, sizeof(u->ca));
		} else if (nlen == 4 && memcmp(q, "cert", 4) == 0) {
			memcpy(u->cert, value, sizeof(u->cert));
		} else if (nlen == 3 && memcmp(q, "key", 3) == 0) {
			memcpy(u->key, value, sizeof(u->key));
		} else if (nlen == 7 && memcmp(q, "primary", 7) == 0) {
			if (parse_hostport(value, value + strlen(value), u->primary_host,
					   sizeof(u->primary_host), u->primary_port,
					   sizeof(u->primary_port)) < 0) {
				snprintf(err, errlen,
					 "user database URL: primary=%s is not HOST:PORT", value);
				return -EINVAL;
			}
		} else {
			snprintf(
			    err, errlen,
			    "user database URL: unknown option '%.*s' (ca, cert, key, primary)",
			    (int)nlen, q);
			return -EINVAL;
		}
		q = amp ? amp + 1 : stop;
	}
	if (!u->tls && (u->ca[0] || u->cert[0] || u->key[0])) {
		snprintf(err, errlen, "user database URL: ca, cert and key need rediss://");
		return -EINVAL;
	}
	if (!u->cert[0] != !u->key[0]) {
		snprintf(err, errlen, "user database URL: give both cert and key, or neither");
		return -EINVAL;
	}
	return 0;
}

/* redis[s]://[USER:PASSWORD@]HOST:PORT[/DB][?OPTIONS]; also [:PASSWORD@] alone, a
 * bracketed IPv6 host, and a missing port (6379). */
int redis_url_parse(struct redis_url *u, const char *url, char *err, size_t errlen)
{
	const char *p, *at, *host_end, *slash, *query;
	char base[PATH_MAX];
	size_t baselen;

	memset(u, 0, sizeof(*u));
	if (errlen)
		err[0] = '\0';
	if (strncmp(url, "rediss://", 9) == 0) {
		u->tls = true;
		url += 9;
	} else if (strncmp(url, "redis://", 8) == 0) {
		url += 8;
	} else {
		return -EINVAL;
	}
	/* Options may hold '/' and '@' (file names): cut them off first. */
	query = strchr(url, '?');
	baselen = query ? (size_t)(query - url) : strlen(url);
	if (baselen >= sizeof(base))
		return -EINVAL;
	memcpy(base, url, baselen);
	base[baselen] = '\0';
	p = base;
	slash = strchr(p, '/');
	at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		if (colon) {
			if (url_part(p, (size_t)(colon - p), u->user, sizeof(u->user)) < 0 ||
			    url_part(colon + 1, (size_t)(at - colon - 1), u->password,
				     sizeof(u->password)) < 0)
				return -EINVAL;
		} else if (url_part(p, (size_t)(at - p), u->password, sizeof(u->password)) < 0) {
			return -EINVAL;
		}
		p = at + 1;
	}
	host_end = slash ? slash : p + strlen(p);
	if (parse_hostport(p, host_end, u->host, sizeof(u->host), u->port, sizeof(u->port)) < 0)
		return -EINVAL;
	if (slash && slash[1]) {
		char *end;
		unsigned long n = strtoul(slash + 1, &end, 10);

		if (*end || n > 1000000 || slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		u->dbnum = (unsigned)n;
	}
	return query ? parse_options(u, query + 1, err, errlen) : 0;
}
