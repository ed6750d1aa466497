/* fail.c - failure lines and the JSON error document; see fail.h. */
#include <stdarg.h>
#include <stdio.h>

#include "fail.h"
#include "json.h"

int oxc_fail(int json, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "oxprofctl: %s\n", msg);
	if (json) {
		struct oxc_json j;
		oxc_json_init(&j, stdout);
		oxc_json_obj(&j, NULL);
		oxc_json_obj(&j, "error");
		oxc_json_i64(&j, "code", code);
		oxc_json_cstr(&j, "message", msg);
		oxc_json_end(&j, '}');
		oxc_json_end(&j, '}');
		oxc_json_finish(&j);
	}
	return 1;
}
