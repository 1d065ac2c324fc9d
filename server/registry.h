/* registry.h: registration with the local rpcbind. */
#ifndef DFS_REGISTRY_H
#define DFS_REGISTRY_H

#include <stdint.h>
#include <stddef.h>

/* Registers (prog, vers) over TCP at port with the local rpcbind. If the
 * program is already registered, asks that port's NULL procedure: a live
 * owner makes this fail with -EADDRINUSE; a stale entry (its server was
 * killed) is replaced. 0 or -errno with the reason in err. */
int registry_register(uint32_t prog, uint32_t vers, uint16_t port, char *err, size_t errlen);
/* Removes the registration. */
void registry_unregister(uint32_t prog, uint32_t vers);

#endif
