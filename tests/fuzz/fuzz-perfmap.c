/*
 * fuzz-perfmap.c - the agent's /tmp/perf-PID.map parser (agent/drain/symbols.c)
 * on arbitrary text: any file another program wrote must parse without a
 * crash and without reading past the buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strtab.h"
#include "symbols.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oxa_strtab strs;
	struct oxa_symbols *s;
	if (oxa_strtab_init(&strs) < 0)
		return 0;
	if (oxa_symbols_new(&s, &strs) == 0) {
		/* An exact-size copy, so ASan sees a read one past the end. */
		char *buf = malloc(size ? size : 1);
		if (buf) {
			memcpy(buf, data, size);
			(void)oxa_symbols_parse_jit(s, buf, size);
			(void)oxa_symbols_parse_jit(s, buf, size); /* replaces the first */
			free(buf);
		}
		oxa_symbols_free(s);
	}
	oxa_strtab_destroy(&strs);
	return 0;
}
