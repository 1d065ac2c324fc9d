/* dfs.c: the dfs tool's entry point: global options and the table of subcommands. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const struct cli_command *const cli_commands[] = {
    &cli_cmd_put,    &cli_cmd_get,    &cli_cmd_list,   &cli_cmd_delete,
    &cli_cmd_status, &cli_cmd_locate, &cli_cmd_repair, &cli_cmd_scrub,
    &cli_cmd_stat,   &cli_cmd_passwd, &cli_cmd_shell,  &cli_cmd_mount,
};
#define NCOMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))
const size_t cli_ncommands = NCOMMANDS;

const struct cli_command *cli_find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(cli_commands[i]->name, name) == 0)
			return cli_commands[i];
	return NULL;
}

void cli_print_help(FILE *f)
{
	char left[96];
	size_t i;

	fputs("Usage: dfs [OPTIONS] COMMAND [ARGS...]\n"
	      "       dfs [OPTIONS]             (at a terminal: the interactive shell)\n"
	      "\n"
	      "Store files on a cluster of dfs servers; each file is cut into one chunk per\n"
	      "server and every chunk is kept on two neighbouring servers.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (i = 0; i < NCOMMANDS; i++) {
		snprintf(left, sizeof(left), "%s %s", cli_commands[i]->name,
			 cli_commands[i]->usage);
		fprintf(f, "  %-33s %s\n", left, cli_commands[i]->summary);
	}
	fprintf(f, "  %-33s %s\n", "help [COMMAND]", "show the usage of COMMAND");
	fputs("\n"
	      "Options (before or after the command):\n"
	      "  -c, --config FILE         client configuration file\n"
	      "  -u, --user USER           user name (default: $DFS_USER)\n"
	      "      --password-file FILE  read the password from the first line of FILE\n"
	      "  -q, --quiet               no warnings, progress or chatter\n"
	      "  -v, --verbose             more detail (e.g. which server served each chunk)\n"
	      "      --json                JSON output (every command that prints data;\n"
	      "                            put, get and delete print one result per file)\n"
	      "  -h, --help                show this help, or a command's with a command\n"
	      "      --version             show the version\n"
	      "  --                        end of options (for names beginning with '-')\n"
	      "\n"
	      "Environment:\n"
	      "  DFS_CONFIG    configuration file when -c is not given; otherwise\n"
	      "                ~/.config/dfs/dfs.conf, then /etc/dfs/dfs.conf\n"
	      "  DFS_USER      user name when -u is not given\n"
	      "  DFS_PASSWORD  the password; otherwise --password-file, otherwise a\n"
	      "                prompt without echo when standard input is a terminal\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  failure (some FILE or NAME failed; the reason is on stderr)\n"
	      "  2  usage error (bad options, no user, no password)\n"
	      "  3  degraded: 'dfs status' found some servers down\n"
	      "  4  unavailable: no server answered\n"
	      "\n"
	      "Output has no colours, so NO_COLOR changes nothing.\n"
	      "\n"
	      "'dfs COMMAND --help' or 'dfs help COMMAND' shows a command's usage; see dfs(1).\n",
	      f);
}

static int help_main(struct cli *cli, int argc, char **argv)
{
	const struct cli_command *cmd;

	(void)cli;
	if (argc < 2) {
		cli_print_help(stdout);
		return CLI_EXIT_OK;
	}
	cmd = cli_find_command(argv[1]);
	if (!cmd)
		return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
	cli_print_command_help(cmd, stdout);
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"user", required_argument, NULL, 'u'},
	    {"password-file", required_argument, NULL, CLI_OPT_PASSWORD_FILE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"json", no_argument, NULL, CLI_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, CLI_OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = {0};
	const struct cli_command *cmd;
	char shortopts[32];
	int opt;

	/* "+": stop at the command; its own parser takes the rest. */
	snprintf(shortopts, sizeof(shortopts), "+:%s", cli_global_shortopts);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == CLI_OPT_VERSION) {
			printf("dfs %s\n", dfs_version());
			return CLI_EXIT_OK;
		}
		if (opt == '?' || opt == ':') {
			const char *arg = argv[optind - 1];

			if (optopt > 0 && optopt < 0x100 && strncmp(arg, "--", 2) != 0)
				return cli_usage_error(
				    NULL, "%s option '-%c'",
				    opt == ':' ? "missing argument for" : "unknown", optopt);
			return cli_usage_error(NULL, "%s option '%s'",
					       opt == ':' ? "missing argument for" : "unknown",
					       arg);
		}
		cli_global_option(&cli, opt, optarg);
	}
	if (optind >= argc) {
		if (cli.help) {
			cli_print_help(stdout);
			return CLI_EXIT_OK;
		}
		/* At a terminal, no command means the interactive shell. */
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
			char *shell_argv[] = {(char *)"shell", NULL};

			return cli_cmd_shell.run(&cli, 1, shell_argv);
		}
		return cli_usage_error(NULL, "no command given");
	}
	if (strcmp(argv[optind], "help") == 0)
		return help_main(&cli, argc - optind, argv + optind);
	cmd = cli_find_command(argv[optind]);
	if (!cmd)
		return cli_usage_error(NULL, "unknown command '%s'", argv[optind]);
	return cmd->run(&cli, argc - optind, argv + optind);
}
