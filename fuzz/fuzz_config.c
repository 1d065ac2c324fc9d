/* fuzz_config.c: libFuzzer target for the configuration parser and its typed accessors. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s)
{
	if (!s)
		abort();
	/* Reading every byte lets ASan catch pointers outside the arena. */
	(void)strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const words[] = {"required", "optional", "off", NULL};
	struct cfg *cfg = NULL;
	char err[256];
	char tiny[5];
	int last_line = 0;
	int ret;

	ret = cfg_parse_text((const char *)data, size, "fuzz.conf", &cfg, err, sizeof(err));
	if (ret < 0) {
		/* Failure leaves no result and always explains itself. */
		if (cfg || strncmp(err, "fuzz.conf", 9) != 0)
			abort();
		/* A buffer too small for the message must still be terminated. */
		ret =
		    cfg_parse_text((const char *)data, size, "fuzz.conf", &cfg, tiny, sizeof(tiny));
		if (ret >= 0 || cfg || strlen(tiny) >= sizeof(tiny))
			abort();
		return 0;
	}
	if (!cfg)
		abort();
	for (size_t i = 0; i < cfg->count; i++) {
		const struct cfg_entry *e = &cfg->entries[i];
		uint64_t u = 0;
		bool b = false;
		int choice = 0;

		check_string(e->section);
		check_string(e->arg);
		check_string(e->key);
		check_string(e->value);
		if (e->key[0] == '\0' || e->line <= last_line)
			abort();
		last_line = e->line;
		if (cfg_u64(cfg, e, 1, 65535, &u, err, sizeof(err)) == 0 && (u < 1 || u > 65535))
			abort();
		(void)cfg_u64(cfg, e, 0, UINT64_MAX, &u, tiny, sizeof(tiny));
		(void)cfg_bool(cfg, e, &b, err, sizeof(err));
		if (cfg_choice(cfg, e, words, &choice, err, sizeof(err)) == 0 &&
		    (choice < 0 || choice > 2))
			abort();
	}
	cfg_free(cfg);
	return 0;
}
