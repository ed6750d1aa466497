/* cmd-version.c - `oxprofctl version`: ours, the protocol's, the daemon's. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ctl.h"
#include "json.h"

int oxc_version_print(void)
{
	printf("oxprofctl %s (protocol %d)\n", OXPROF_VERSION, OXP_PROTOCOL_VERSION);
	return 0;
}

/* The daemon's version is shown when one answers; not finding one is not
 * an error here, because `version` is what people run to debug that. */
static int version_exec(const struct oxc_cmd *self, const struct oxc_opts *o)
{
	char path[256] = "";
	struct oxc_ctl c;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	int have = oxc_ctl_path(path, sizeof(path), o->socket) == 0 &&
		   oxc_ctl_open(&c, path, OXC_HANDSHAKE_MS) == 0;
	if (o->json) {
		struct oxc_json j;
		oxc_json_init(&j, stdout);
		oxc_json_obj(&j, NULL);
		oxc_json_cstr(&j, "client", "oxprofctl " OXPROF_VERSION);
		oxc_json_u64(&j, "protocol", OXP_PROTOCOL_VERSION);
		oxc_json_cstr(&j, "socket", path);
		oxc_json_cstr(&j, "daemon", have ? c.software : NULL);
		if (!have)
			oxc_json_cstr(&j, "daemon_error", c.err);
		oxc_json_end(&j, '}');
		oxc_json_finish(&j);
	} else {
		oxc_version_print();
		if (have)
			printf("daemon: %s at %s\n", c.software, path);
		else
			printf("daemon: none: %s\n", c.err);
	}
	if (have)
		oxc_ctl_close(&c);
	return 0;
}

const struct oxc_cmd oxc_cmd_version = {
	.name = "version",
	.summary = "show the versions of oxprofctl, the protocol and the daemon",
	.usage = "version\n",
	.opts = 0,
	.min_args = 0,
	.max_args = 0,
	.exec = version_exec,
};
