/* version.c: version numbers that order the writes of one name without trusting clocks. */
#include "version.h"

uint64_t version_next(uint64_t now_ns, uint64_t newest_seen, uint64_t noise)
{
	uint64_t base = now_ns;

	if (newest_seen > UINT64_MAX - VERSION_TICK)
		return 0;
	/* One tick past newest_seen, rounded down to a tick, is still above it. */
	if (newest_seen + VERSION_TICK > base)
		base = newest_seen + VERSION_TICK;
	base &= ~(VERSION_TICK - 1);
	/* The low bit is always set: 0 means "no version" on the wire. */
	return base | (noise & (VERSION_TICK - 1)) | 1;
}

bool version_too_far_ahead(uint64_t ver, uint64_t now_ns, uint64_t max_ahead_ns)
{
	return ver > now_ns && ver - now_ns > max_ahead_ns;
}

bool version_covers(const bool *in, unsigned n)
{
	if (n == 0)
		return false;
	for (unsigned s = 1; s <= n; s++)
		if (!in[s - 1] && !in[s % n])
			return false;
	return true;
}

bool version_vouches(const bool *in, unsigned n)
{
	if (n == 1)
		return in[0];
	for (unsigned s = 1; s <= n; s++)
		if (in[s - 1] && in[s % n])
			return true;
	return false;
}
