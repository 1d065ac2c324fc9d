/* cli.h: what the dfs tool's subcommands share (options, connection, output). */
#ifndef DFS_CLI_H
#define DFS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dfs.h"

/* Exit statuses of the tool. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_DEGRADED = 3,
	CLI_EXIT_UNAVAILABLE = 4,
};

/* Option codes above the character range for long-only options. */
enum {
	CLI_OPT_PASSWORD_FILE = 0x100,
	CLI_OPT_JSON,
	CLI_OPT_VERSION,
	CLI_OPT_AS,
	CLI_OPT_ALL,
	CLI_OPT_RESUME,
	CLI_OPT_NEW_PASSWORD_FILE,
	CLI_OPT_RECURSIVE,
	CLI_OPT_CACHE,
};

struct cli_progress {
	char name[DFS_NAME_MAX_BYTES + 1];
	double start, last_draw;
	uint64_t last_done;
	bool active, shown;
};

/* The state of one run of the tool. */
struct cli {
	const char *config;	   /* -c FILE, or NULL for the library's search */
	const char *user;	   /* -u USER */
	const char *password_file; /* --password-file FILE */
	int verbose;		   /* -v, repeatable */
	bool quiet;		   /* -q */
	bool json;		   /* --json */
	bool help;		   /* -h / --help seen */
	bool mute_server_down;	   /* the command reports servers itself */
	bool progress_ok;	   /* stderr is a terminal and not -q */
	double progress_delay;	   /* seconds before a transfer shows its progress */
	bool keep_client; /* in the shell: cli_open reuses the client, cli_close keeps it */
	/* Clients cli_parallel will start (cli_parallel_clients), set before
	 * cli_open so that their connections open during the login. */
	unsigned parallel_clients;
	size_t json_results; /* elements of a --json result array printed so far */
	struct dfs_client *client;
	/* Whose session cli_parallel's clients share: NULL for client itself (a
	 * command run by the shell in a child process works on a client sharing
	 * the shell's session, and shares that session, not the shared client). */
	struct dfs_client *session;
	struct cli_progress progress;
};

/* One subcommand: its name, what it does, its options and its entry point.
 * run() gets argv with argv[0] = the command's name and returns the exit status. */
struct cli_command {
	const char *name;
	const char *summary;
	const char *usage; /* "NAME... [-d DIR | -o LOCAL]" */
	const char *help;  /* the description and the command's own options */
	const char *shortopts;
	const struct option *longopts;
	int (*run)(struct cli *cli, int argc, char **argv);
};

extern const struct cli_command cli_cmd_put, cli_cmd_get, cli_cmd_list, cli_cmd_delete,
    cli_cmd_status, cli_cmd_locate, cli_cmd_repair, cli_cmd_scrub, cli_cmd_stat, cli_cmd_passwd,
    cli_cmd_shell, cli_cmd_mount;

/* The table of subcommands (dfs.c), and the one called name, or NULL. */
extern const struct cli_command *const cli_commands[];
extern const size_t cli_ncommands;
const struct cli_command *cli_find_command(const char *name);
/* Prints the general help of the tool on f. */
void cli_print_help(FILE *f);

/* Handles one option returned by getopt for a command (opt is the getopt
 * code, arg its argument); returns 0, or CLI_EXIT_USAGE after printing why. */
typedef int (*cli_opt_fn)(struct cli *cli, void *ctx, int opt, const char *arg);

/* Parses a command's argv: the global options and the command's own (passed
 * to opt_fn), in any order around the operands; "--" ends the options.
 * *operands (freed by the caller with free(); pointers into argv) receives
 * the operands in order. Returns 0, CLI_EXIT_USAGE after printing a usage
 * error, or -1 when --help was asked for and the usage has been printed. */
int cli_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
	      cli_opt_fn opt_fn, void *ctx, char ***operands, int *noperands);
/* Applies a global option (-c -u -q -v -h --password-file --json); returns 1
 * if opt was one, else 0. */
int cli_global_option(struct cli *cli, int opt, const char *arg);
/* The global options' getopt letters and long options (terminated). */
extern const char cli_global_shortopts[];
extern const struct option cli_global_longopts[];

/* Prints "dfs: CMD: MSG" and "Try 'dfs CMD --help'." on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the command's full help on f. */
void cli_print_command_help(const struct cli_command *cmd, FILE *f);

/* Prints "dfs: " + the formatted message on stderr (clearing any progress line). */
void cli_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Creates the client, installs the event handler and logs in. Returns 0, or
 * the exit status after printing why. With tolerate_down, a login that fails
 * only because no server answered leaves the client usable and returns 0. */
int cli_open(struct cli *cli, bool tolerate_down);
/* Frees the client (if any) and clears the progress line; with keep_client
 * (in the shell) the client stays open for the next command. */
void cli_close(struct cli *cli);
/* Sends the client's events to cli's handler (the shell, after a command
 * ran on a copy of its state). */
void cli_attach_events(struct cli *cli);

/* With --json, prints one element of the result array of put, get or delete:
 * {"file": FILE, "name": NAME, "ok": true} or with "ok": false and "error":
 * REASON (file or name may be NULL to leave them out). The first call opens
 * the array. */
void cli_json_result(struct cli *cli, const char *file, const char *name, const char *error);
/* With --json, closes the result array ("[]" if empty). */
void cli_json_results_end(struct cli *cli);
/* The library's explanation of the client's last failure, or of err. */
const char *cli_reason(struct cli *cli, int err);
/* Exit status for a library error: 4 for -EHOSTDOWN, else 1. */
int cli_exit_for(int err);

/* Checks a remote name before any server is contacted; prints
 * "dfs: WHAT: ..." and returns -EINVAL / -ENAMETOOLONG if it is refused. */
int cli_check_name(struct cli *cli, const char *what, const char *name);

/* One operand of a command that works file by file (put, get, delete). */
struct cli_item {
	const char *operand; /* as given on the command line */
	const char *name;    /* its remote name; NULL if one could not be made (reported) */
	bool ok;	     /* still to be run */
};
/* Reports one item's failure before it runs (for --json). */
typedef void (*cli_item_report_fn)(struct cli *cli, const struct cli_item *item, const char *error);

/* Checks every item's remote name ("dfs: VERB OPERAND: ..." for a refused
 * one), then logs in once if any item is left. Items that fail are reported
 * through report and left with ok = false. Returns true when the client is
 * open and some item is left to run; *status becomes CLI_EXIT_FAIL if a name
 * was refused, or the login's exit status if the login failed. */
bool cli_items_open(struct cli *cli, const char *verb, struct cli_item *items, int n,
		    cli_item_report_fn report, int *status);

/* Strips the trailing '/'s of a folder operand in place ("/" stays). */
void cli_strip_slashes(char *s);
/* Whether name is prefix itself or a file in the folder prefix ("prefix/..."). */
bool cli_in_folder(const char *name, const char *prefix);
/* Frees an array of n malloc'd names and the array itself (NULL is fine). */
void cli_free_names(char **names, int n);
/* For -r: lists the user's files once and collects, sorted and each once, the
 * names of those that the name of a ready item (ok) is, or holds as a folder
 * (cli_in_folder). An item that matches nothing is reported ("dfs: VERB
 * OPERAND: no such file or folder", and with --json as a failed result) and
 * sets *status to CLI_EXIT_FAIL. *out (free with cli_free_names) receives
 * *nout names. 0, or -errno after printing why (and setting *status). */
int cli_folder_names(struct cli *cli, const char *verb, const struct cli_item *items, int n,
		     char ***out, int *nout, int *status);

/* The clients cli_parallel runs in groups (or items) of work: none for one,
 * else one per group up to a bound. */
unsigned cli_parallel_clients(int groups);

/* Runs one item of a command on client c; returns 0 or -errno. */
typedef int (*cli_parallel_run_fn)(struct dfs_client *c, int i, void *arg);
/* Reports item i's outcome; why is the client's explanation when rc < 0. */
typedef void (*cli_parallel_report_fn)(struct cli *cli, int i, int rc, const char *why, void *arg);
/* Runs items 0..n-1 several at a time, each on a client sharing cli->client's
 * session (or on cli->client itself when no other client can connect), and
 * reports each on this thread in order as soon as it is done. 0 or -ENOMEM. */
int cli_parallel(struct cli *cli, int n, cli_parallel_run_fn run, cli_parallel_report_fn report,
		 void *arg);

/* Runs items first..first+n-1 of a command on client c as one group, setting
 * rc[j] (0 or -errno) and why[j] (a malloc'd explanation when rc[j] < 0) for
 * each item j < n of it. */
typedef void (*cli_parallel_group_fn)(struct dfs_client *c, int first, int n, int *rc, char **why,
				      void *arg);
/* Where a group's library call (dfs_put_files, dfs_get_files) reports its files:
 * cli_group_done, as its dfs_file_done_fn, fills rc[j] and why[j] (malloc'd). */
struct cli_group_result {
	int *rc;
	char **why;
};
void cli_group_done(size_t j, int err, const char *why, void *arg);
/* cli_parallel with items in groups: group[i] items (at least 1) go together
 * from item i, for every i that begins a group (0, then i + group[i]...). */
int cli_parallel_groups(struct cli *cli, int n, const int *group, cli_parallel_group_fn run,
			cli_parallel_report_fn report, void *arg);

/* Clears the progress line if one is shown. */
void cli_progress_clear(struct cli *cli);
/* Ends the current transfer's progress (after each file): the next report starts anew. */
void cli_progress_done(struct cli *cli);

/* Reads the password: $DFS_PASSWORD, else the first line of file, else a
 * no-echo prompt on /dev/tty when stdin is a terminal. *out is a malloc'd
 * string for the caller to wipe and free. Returns 0 or -errno (-ENOKEY when
 * there is no source), with a message printed. */
int cli_read_password(const char *user, const char *file, char **out);

/* Writes a name to f as it is, or escaped with cli_term_string when f is a
 * terminal: names come from servers, and a terminal acts on what it prints. */
void cli_print_name(FILE *f, const char *name);

/* --- Pure formatting helpers (cli_format.c) --- */

/* Writes s to f for a terminal: control characters (C0, DEL, C1) and bytes
 * that are not valid UTF-8 as \xNN, one per byte; the line and paragraph
 * separators and bidirectional controls (U+061C, U+200E, U+200F,
 * U+2028..U+202E, U+2066..U+2069) as \uNNNN; everything else as it is. */
void cli_term_string(FILE *f, const char *s);

/* Writes s as a JSON string literal (with quotes) to f: quote and backslash
 * escaped, control characters (C0, DEL, C1) and the invisible characters
 * cli_term_string escapes as \uXXXX, other valid UTF-8 passed through, each
 * byte of an invalid sequence as \ufffd. */
void cli_json_string(FILE *f, const char *s);
/* Prints a repair or scrub report as one JSON object line. */
void cli_json_repair_report(const struct dfs_repair_report *r);
/* Formats n bytes as "512 B", "45.2 MiB", ... into buf. Returns buf. */
char *cli_human_bytes(uint64_t n, char *buf, size_t len);
/* Formats seconds as "M:SS" or "H:MM:SS" into buf. Returns buf. */
char *cli_duration(uint64_t seconds, char *buf, size_t len);
/* Formats a time in nanoseconds since the epoch as ISO 8601 UTC
 * ("2024-05-01T12:34:56Z") into buf. Returns buf. */
char *cli_iso_time(int64_t ns, char *buf, size_t len);
/* Formats the first n copy counts as "2,2,1,2" into buf. Returns buf. */
char *cli_copies(const unsigned *copies, unsigned n, char *buf, size_t len);
/* The servers (bit s-1 for server s) whose loss alone a file with these
 * chunk holders (bit s-1 of holders[k]: server s has chunk k+1) would
 * survive, among the servers holding any of its chunks (*held_by, if
 * non-NULL, receives those). 0 when some chunk has no holder. */
uint64_t cli_survivable(const uint64_t *holders, unsigned nchunks, uint64_t *held_by);
/* Formats cli_survivable() as "any" (every holder may fail), "none", or the
 * server numbers "1,3" into buf. Returns buf. */
char *cli_survives(const uint64_t *holders, unsigned nchunks, char *buf, size_t len);
/* Formats one progress line (without the leading \r) into buf: "NAME  DONE /
 * TOTAL  RATE/s  M:SS left", the name cut to keep the line within width. */
char *cli_progress_line(const char *name, uint64_t done, uint64_t total, double elapsed,
			unsigned width, char *buf, size_t len);
/* Copies the last path component of path, without trailing slashes, into
 * buf ("/" and "" give ""). Returns 0, or -ENAMETOOLONG if it does not fit. */
int cli_basename(const char *path, char *buf, size_t len);

#endif
