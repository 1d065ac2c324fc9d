/* listener.h: the accept loop; one thread per connection, with caps. */
#ifndef DFS_LISTENER_H
#define DFS_LISTENER_H

#include <signal.h>
#include <stdint.h>
#include "server.h"

/* Binds and listens on cfg.listen:cfg.port; the bound port in *port. 0 or -errno. */
int listener_open(struct server *srv, int *fd, uint16_t *port, char *err, size_t errlen);
/* Accepts until *stop becomes non-zero (checked at least every 200 ms),
 * serving each connection on its own detached thread through
 * rpcstream_serve and dispatch_call; refuses connections over the
 * per-address cap; keeps slots for logged-in clients (connections that have
 * not logged in get 3/4 of max_connections and login_timeout, the oldest
 * closed to make room; see listener.c); closes fd; then ends the
 * connections (calls already received are answered) and waits (up to 5 s,
 * then 1 s more after cutting them) for their threads. Returns 0, -ENOMEM,
 * or -EBUSY if threads are still running: srv must then stay allocated
 * until the process exits. */
int listener_run(struct server *srv, int fd, volatile sig_atomic_t *stop);

#endif
