/*
 * libFuzzer target: the stream configuration parser. Every accepted input
 * is also printed back (which masks passwords) and its connection strings
 * masked again, so the maskers see whatever the parser lets through.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "hubs/nats/nats_hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	dbs_config *cfg = NULL;
	/* `data` is not NUL-terminated: the parser must read only `size` bytes. */
	if (dbs__config_parse(&cfg, (const char *)data, size, err, sizeof err) == 0) {
		char *json = dbs__config_to_json(cfg, "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
		free(json);
		char *m = dbs__mask_connection(cfg->source.connection);
		free(m);
		const dbs_nats_settings *ns = cfg->hub.settings;
		if (cfg->hub.type && strcmp(cfg->hub.type, "nats") == 0 && ns && ns->url) {
			m = dbs__mask_connection(ns->url);
			free(m);
		}
		dbs__config_free(cfg);
	}
	/* The masker on raw bytes too, as a NUL-terminated copy. */
	char *text = malloc(size + 1);
	if (text != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
		char *m = dbs__mask_connection(text);
		free(m);
		free(text);
	}
	return 0;
}
