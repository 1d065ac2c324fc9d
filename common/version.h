/* version.h: version numbers that order the writes of one name without trusting clocks.
 *
 * A version is a 64-bit number; larger is newer. Its high bits are a time in
 * nanoseconds (a hybrid logical clock): a writer takes the later of its own clock
 * and one tick past the newest version it has seen of the name, so a write that
 * starts after another has finished is numbered above it whatever the clocks say.
 * The low VERSION_NOISE_BITS are random, so two writers that pick the same time
 * still pick different versions.
 */
#ifndef DFS_VERSION_H
#define DFS_VERSION_H

#include <stdbool.h>
#include <stdint.h>

#define VERSION_NOISE_BITS 20
#define VERSION_TICK	   (UINT64_C(1) << VERSION_NOISE_BITS) /* about 1 ms */

/* A new version above both now_ns (this host's clock) and newest_seen (the
 * newest version of the name that any server reported; 0 if none), with
 * noise in its low bits. 0 if no larger version exists (newest_seen is within
 * a tick of the largest number). */
uint64_t version_next(uint64_t now_ns, uint64_t newest_seen, uint64_t noise);

/* Whether a version is further than max_ahead_ns beyond the clock now_ns. */
bool version_too_far_ahead(uint64_t ver, uint64_t now_ns, uint64_t max_ahead_ns);

/* The server sets that order writes (chained declustering: the holders of
 * every chunk are two neighbouring servers, s and s mod n + 1).
 *
 * A write succeeds only if the servers that took it hold every chunk between
 * them (version_covers: no two neighbours both missing). A writer picks its
 * version from the answers of servers that include two neighbours
 * (version_vouches): those two hold some chunk, so one of them took every
 * earlier write that succeeded, and the new version is numbered above it.
 * in[s-1] says whether server s is in the set; n >= 1. */
bool version_covers(const bool *in, unsigned n);
bool version_vouches(const bool *in, unsigned n);

#endif
