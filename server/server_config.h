/* server_config.h: dfsd's settings from its configuration file and command line. */
#ifndef DFS_SERVER_CONFIG_H
#define DFS_SERVER_CONFIG_H

#include <stddef.h>
#include "server.h"

/* Fills cfg from defaults, then the file given by -c/--config (if any),
 * then the other command-line options, which win. Returns 0, 1 if --help or
 * --version was printed (exit 0), or -EINVAL with the reason in err
 * ("FILE:LINE: problem" for file errors). */
int server_config_load(struct server_config *cfg, int argc, char **argv, char *err, size_t errlen);

#endif
