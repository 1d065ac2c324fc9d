/* placement.h: chained declustering, the rotating pair table of SPEC section 1. */
#ifndef DFS_PLACEMENT_H
#define DFS_PLACEMENT_H

#include <stddef.h>

/* The placement row of a name: first 8 bytes of SHA-256(name), big-endian,
 * modulo nservers. nservers >= 1. */
unsigned placement_row(const void *name, size_t len, unsigned nservers);

/* The chunk pair (first, second) that server `server` (1-based) holds in
 * row `row`: first = ((server - 1 - row) mod n) + 1, second = first mod n + 1. */
void placement_pair(unsigned row, unsigned server, unsigned nservers, unsigned *first,
		    unsigned *second);

/* The server holding chunk `chunk` (1-based): which = 0 gives the server for
 * which it is the first of its pair (the one a reader asks first; with all
 * servers up, each server is asked for exactly one chunk), which = 1 the other. */
unsigned placement_holder(unsigned row, unsigned chunk, unsigned nservers, int which);

#endif
