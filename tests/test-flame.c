/*
 * test-flame.c - the flame graph page (`record -o FILE.html`, `query
 * --format html`) in a real browser: headless Chromium, with the network
 * cut off (`unshare -n`, else a proxy on a dead port) and a NetLog that
 * must show no request from the page.  The page's test hooks in the URL
 * fragment (#test, #zoom=NAME, #search=RE) click and search through the
 * same code a person's mouse uses, and write what happened into
 * <pre id="oxprof-result">, which --dump-dom prints.
 *
 * Outputs (pages, DOM dumps, screenshots) stay in OXT_FLAME_OUT to look at.
 * Without Chromium every case is skipped (scripts/deps.sh test installs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "flame.h"
#include "report.h"
#include "task.h"
#include "utf8.h"

static char chromium[512];
static int use_unshare;

/* Chromium on PATH (or $OXT_CHROMIUM), or skip the case. */
static void need_chromium(void)
{
	const char *env = getenv("OXT_CHROMIUM");
	if (env && *env && access(env, X_OK) == 0) {
		snprintf(chromium, sizeof(chromium), "%s", env);
	} else {
		const char *path = getenv("PATH");
		char dirs[4096];
		snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
		for (char *save, *d = strtok_r(dirs, ":", &save); d && !chromium[0];
		     d = strtok_r(NULL, ":", &save)) {
			static const char *const names[] = { "chromium", "chromium-browser" };
			for (int i = 0; i < 2 && !chromium[0]; i++) {
				char p[512];
				snprintf(p, sizeof(p), "%s/%s", d, names[i]);
				if (access(p, X_OK) == 0)
					snprintf(chromium, sizeof(chromium), "%s", p);
			}
		}
	}
	if (!chromium[0])
		OXT_SKIP("chromium is not installed (scripts/deps.sh test installs it)");
	use_unshare = system("unshare -n true >/dev/null 2>&1") == 0;
}

/* Run argv with extra environment (NAME=VALUE strings, NULL-terminated),
 * stdout to out (or /dev/null), stderr to err (or inherited).  The exit
 * status, or -1 when killed. */
static int run(char *const argv[], char *const env[], const char *out, const char *err)
{
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		if (err && ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || dup2(fd, 2) < 0))
			_exit(126);
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ASSERT(errno == EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A whole file, NUL-terminated; caller frees.  *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ASSERT_MSG(f, "cannot open %s: %s", path, strerror(errno));
	ASSERT(fseek(f, 0, SEEK_END) == 0);
	long n = ftell(f);
	ASSERT(n >= 0);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	ASSERT(s);
	ASSERT(fread(s, 1, (size_t)n, f) == (size_t)n);
	s[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return s;
}

static void out_path(char *buf, size_t len, const char *name)
{
	mkdir(OXT_FLAME_OUT, 0755);
	snprintf(buf, len, "%s/%s", OXT_FLAME_OUT, name);
}

/*
 * Load page (a file in OXT_FLAME_OUT) with the fragment in headless
 * Chromium, offline.  With shot, take a 1280x800 screenshot to that file;
 * else dump the DOM after the page ran to tag.dom and return it (caller
 * frees).  Either way, the NetLog must show no request made for the page:
 * every request a page makes carries its file:// origin in the NetLog.
 */
static char *browse(const char *page, const char *fragment, const char *tag, const char *shot)
{
	char url[1024], profile[600], netlog[600], dom[600], err[600], arg_net[700], arg_shot[700],
		arg_profile[700], cmd_out[600];
	out_path(cmd_out, sizeof(cmd_out), page);
	snprintf(url, sizeof(url), "file://%s#%s", cmd_out, fragment);
	out_path(profile, sizeof(profile), "chromium-profile");
	out_path(netlog, sizeof(netlog), "x");
	snprintf(netlog + strlen(netlog) - 1, 64, "%s.netlog.json", tag);
	out_path(dom, sizeof(dom), "x");
	snprintf(dom + strlen(dom) - 1, 64, "%s.dom.html", tag);
	out_path(err, sizeof(err), "x");
	snprintf(err + strlen(err) - 1, 64, "%s.chromium.log", tag);
	snprintf(arg_net, sizeof(arg_net), "--log-net-log=%s", netlog);
	snprintf(arg_profile, sizeof(arg_profile), "--user-data-dir=%s", profile);
	snprintf(arg_shot, sizeof(arg_shot), "--screenshot=%s", shot ? shot : "");
	char *argv[32];
	int n = 0;
	argv[n++] = "timeout";
	argv[n++] = "90";
	if (use_unshare) {
		argv[n++] = "unshare";
		argv[n++] = "-n";
	}
	argv[n++] = chromium;
	argv[n++] = "--headless";
	argv[n++] = "--no-sandbox"; /* root in a container has no user namespace to spare */
	argv[n++] = "--disable-gpu";
	argv[n++] = "--no-first-run";
	argv[n++] = "--disable-background-networking";
	argv[n++] = "--disable-component-update";
	argv[n++] = "--disable-sync";
	argv[n++] = "--disable-extensions";
	argv[n++] = "--hide-scrollbars";
	argv[n++] = "--proxy-server=127.0.0.1:9"; /* a dead port, if unshare could not */
	argv[n++] = "--window-size=1280,800";
	argv[n++] = arg_profile;
	argv[n++] = arg_net;
	argv[n++] = shot ? arg_shot : "--dump-dom";
	argv[n++] = url;
	argv[n] = NULL;
	int st = run(argv, NULL, dom, err);
	ASSERT_MSG(st == 0, "chromium exited %d (see %s)", st, err);
	char *net = slurp(netlog, NULL);
	char *events = strstr(net, "\"events\"");
	ASSERT_MSG(events, "no events in the NetLog %s", netlog);
	ASSERT_MSG(!strstr(events, "file://"), "the page made a network request: see %s", netlog);
	free(net);
	if (shot)
		return NULL;
	return slurp(dom, NULL);
}

/* The JSON text of #oxprof-result in a DOM dump (pointer into dom). */
static const char *result_of(const char *dom)
{
	const char *r = strstr(dom, "<pre id=\"oxprof-result\">");
	ASSERT_MSG(r, "no #oxprof-result in the DOM");
	r += strlen("<pre id=\"oxprof-result\">");
	ASSERT_MSG(strstr(r, "\"ready\":true"), "the page did not finish: %.2000s", r);
	ASSERT_MSG(strstr(r, "\"csp_violations\":0"), "the page tried to load something: %.2000s", r);
	ASSERT_MSG(!strstr(r, "\"error\""), "a script error: %.2000s", r);
	return r;
}

/* The number after "key": in the result, or -1. */
static double result_num(const char *r, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\":", key);
	const char *p = strstr(r, k);
	return p ? strtod(p + strlen(k), NULL) : -1;
}

/* Whether the labels drawn (result "labels") include name (as JSON). */
static int drew(const char *r, const char *json_name)
{
	const char *l = strstr(r, "\"labels\":[");
	ASSERT(l);
	const char *e = strchr(l, ']');
	char q[256];
	snprintf(q, sizeof(q), "\"%s\"", json_name);
	const char *p = strstr(l, q);
	return p && (!e || p < e);
}

/* Samples of a leaf by `query --json --by function`: its "self". */
static long leaf_samples(const struct oxt_daemon *d, const char *leaf)
{
	char out[600];
	out_path(out, sizeof(out), "query.json");
	char *argv[] = { OXT_OXPROFCTL, "--socket", (char *)d->sock, "query", "--json", "--limit", "0",
			 NULL };
	ASSERT_EQ(run(argv, NULL, out, NULL), 0);
	char *j = slurp(out, NULL), k[128];
	snprintf(k, sizeof(k), "\"name\": \"%s\",", leaf);
	char *p = strstr(j, k);
	ASSERT_MSG(p, "%s not in the query", leaf);
	p = strstr(p, "\"self\": ");
	ASSERT(p);
	long v = strtol(p + 8, NULL, 10);
	free(j);
	return v;
}

/* The workload's leaves, a click on leaf_b that zooms, a search that
 * counts what the daemon counts, a screenshot. */
TEST_TIMEOUT(flame_record_hotspots, 300)
{
	need_chromium();
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	char page[600], log[600], shot[600];
	out_path(page, sizeof(page), "hotspots.html");
	out_path(log, sizeof(log), "record.log");
	char sock_env[400], agent_env[600] = "OXPROF_AGENT=" OXT_AGENT;
	char preload_env[600] = "LD_PRELOAD=" OXT_PRELOAD;
	snprintf(sock_env, sizeof(sock_env), "OXPROF_SOCKET=%s", d.sock);
	char *env[] = { sock_env, agent_env, OXT_PRELOAD[0] ? preload_env : NULL, NULL };
	char *argv[] = { OXT_OXPROFCTL, "record", "--hz", "1000", "-o", page, "--", OXT_HOTSPOTS,
			 "-n", "4000", NULL };
	ASSERT_MSG(run(argv, env, NULL, log) == 0, "record failed: see %s", log);
	long leaf_a = leaf_samples(&d, "leaf_a");
	ASSERT(leaf_a > 0);

	/* The whole profile: every leaf drawn with its name. */
	char *dom = browse("hotspots.html", "test", "hotspots-all", NULL);
	const char *r = result_of(dom);
	ASSERT_MSG(drew(r, "leaf_a") && drew(r, "leaf_b") && drew(r, "leaf_c") && drew(r, "main"),
		   "leaves not drawn: %.2000s", r);
	ASSERT_MSG(strstr(dom, "perf-task-clock") || strstr(dom, "cpu-timer") || strstr(dom, "Source"),
		   "no sampling source in the header");
	ASSERT(strstr(dom, "<b>Samples: </b>"));
	free(dom);

	/* A click on leaf_b zooms to it: leaf_a is no longer drawn.  The
	 * search for leaf_a counts what the daemon counts. */
	dom = browse("hotspots.html", "test&zoom=leaf_b&search=leaf_a", "hotspots-zoom", NULL);
	r = result_of(dom);
	ASSERT_MSG(strstr(r, "\"zoom\":\"leaf_b\""), "the click did not zoom: %.2000s", r);
	ASSERT_MSG(drew(r, "leaf_b") && !drew(r, "leaf_a") && !drew(r, "leaf_c"),
		   "zoomed view draws the wrong frames: %.2000s", r);
	ASSERT_EQ((long)result_num(r, "search_samples"), leaf_a);
	double pct = result_num(r, "search_pct"), total = result_num(r, "total");
	ASSERT(total > 0);
	ASSERT_MSG(pct > 100.0 * leaf_a / total - 0.01 && pct < 100.0 * leaf_a / total + 0.01,
		   "search share %.3f, expected %.3f", pct, 100.0 * leaf_a / total);
	ASSERT(strstr(dom, "Matched: "));
	free(dom);

	/* The icicle: root on top, the same frames. */
	dom = browse("hotspots.html", "test&mode=icicle", "hotspots-icicle", NULL);
	r = result_of(dom);
	ASSERT(strstr(r, "\"mode\":\"icicle\""));
	ASSERT(drew(r, "leaf_a") && drew(r, "leaf_c"));
	free(dom);

	out_path(shot, sizeof(shot), "hotspots.png");
	unlink(shot);
	free(browse("hotspots.html", "search=leaf_a&hover=leaf_b", "hotspots-shot", shot));
	size_t len;
	char *png = slurp(shot, &len);
	ASSERT_MSG(len > 1000 && !memcmp(png, "\x89PNG", 4), "no screenshot in %s", shot);
	free(png);
	printf("  screenshot: %s\n", shot);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* The page itself (outside the data) names nothing outside the file. */
TEST(flame_page_is_self_contained)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/selfcontained"), 0);
	oxt_agent_add(&a, 1, "main", "main;work;leaf", 10);
	ASSERT_EQ(oxt_agent_flush(&a, NULL), 0);
	char page[600];
	out_path(page, sizeof(page), "selfcontained.html");
	char *argv[] = { OXT_OXPROFCTL, "--socket", d.sock, "query", "--format", "html", NULL };
	ASSERT_EQ(run(argv, NULL, page, NULL), 0);
	oxt_agent_leave(&a);
	char *html = slurp(page, NULL);
	char *data = strstr(html, "<script type=\"application/json\" id=\"oxprof-data\">");
	ASSERT(data);
	char *data_end = strstr(data, "</script>");
	ASSERT(data_end);
	*data = 0; /* the template before the data, then after it */
	static const char *const banned[] = { "http:", "https:", "//cdn", "url(", "@import",
					      "src=", "href=", "fetch(", "XMLHttpRequest",
					      "WebSocket", "@font-face", "import(" };
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++) {
		ASSERT_MSG(!strstr(html, banned[i]), "the page's head names %s", banned[i]);
		ASSERT_MSG(!strstr(data_end, banned[i]), "the page's script names %s", banned[i]);
	}
	ASSERT(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'"));
	free(html);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* Names a process can have that must not break the page: script ends,
 * markup, quotes, bytes that are not UTF-8, control characters, an 8 KiB
 * symbol, and names that are special to JavaScript objects. */
TEST_TIMEOUT(flame_hostile_names, 240)
{
	need_chromium();
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/</script><script>alert(1)</script>"), 0);
	static char big[8192 + 64];
	memset(big, 'A', 8192);
	memcpy(big + 4000, "</script><b>", 12);
	snprintf(big + 8192, 64, "_end");
	char stack[9000];
	snprintf(stack, sizeof(stack), "main;%s", big);
	oxt_agent_add(&a, 1, "main", stack, 5);
	oxt_agent_add(&a, 1, "main", "main;</script><script>document.title='pwned'</script>", 7);
	/* The harness splits "module!function" at the first '!' (so no
	 * other '!' can be in a name). */
	oxt_agent_add(&a, 1, "main", "main;/lib/<evil> & \"mod\".so!--><script><p>;x\"y'z&amp<>", 3);
	oxt_agent_add(&a, 1, "main", "main;bad\xff\xfe utf8 \xc3(;tail\xe2\x82", 2);
	oxt_agent_add(&a, 1, "main", "main;ctl\x01\x1f\x7f tab\there;\\u003c/script>", 2);
	oxt_agent_add(&a, 1, "main", "main;__proto__;constructor;hasOwnProperty", 4);
	oxt_agent_add(&a, 1, "main", "main;\xe2\x80\xa8line sep\xe2\x80\xa9;\xf0\x9f\x94\xa5 fire", 1);
	oxt_agent_add(&a, 1, "main", "main;([*+?regex", 6);
	ASSERT_EQ(oxt_agent_flush(&a, NULL), 0);
	char page[600];
	out_path(page, sizeof(page), "hostile.html");
	char *argv[] = { OXT_OXPROFCTL, "--socket", d.sock, "query", "--format", "html", NULL };
	ASSERT_EQ(run(argv, NULL, page, NULL), 0);
	oxt_agent_leave(&a);

	/* The data element holds exactly one closing tag: its own. */
	char *html = slurp(page, NULL);
	char *data = strstr(html, "id=\"oxprof-data\">");
	ASSERT(data);
	char *close = strstr(data, "</");
	ASSERT(close && !strncmp(close, "</script>", 9) && strstr(close, "<script>") > close);
	free(html);

	char *dom = browse("hostile.html", "test&search=" "%3C%2Fscript%3E", "hostile", NULL);
	const char *r = result_of(dom);
	/* Samples 5+7+3+2+2+4+1+6; frames: main and 14 below it. */
	ASSERT_EQ((long)result_num(r, "total"), 30);
	ASSERT_EQ((long)result_num(r, "frames"), 15);
	/* "</script>" is in two names, the big one and the title one. */
	ASSERT_EQ((long)result_num(r, "search_samples"), 12);
	/* Nothing ran but our script: the title is ours, one script runs. */
	ASSERT_MSG(!strstr(dom, "pwned</title>") && strstr(dom, "<title>oxprof profile"),
		   "the title changed");
	size_t scripts = 0;
	for (const char *p = dom; (p = strstr(p, "<script")); p++)
		scripts++;
	ASSERT_EQ(scripts, (size_t)2);
	free(dom);

	/* A search that is not a valid regex is a substring search. */
	dom = browse("hostile.html", "test&search=%28%5B*%2B%3Fregex", "hostile-substr", NULL);
	r = result_of(dom);
	ASSERT_EQ((long)result_num(r, "search_samples"), 6);
	free(dom);
	char shot[600];
	out_path(shot, sizeof(shot), "hostile.png");
	free(browse("hostile.html", "search=script", "hostile-shot", shot));
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- the generator alone (no browser) ---- */

/* The data element of a page written to memory: NUL-terminated, caller frees. */
static char *page_data(const struct oxc_flame *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ASSERT(f);
	ASSERT_EQ(oxc_flame_write(p, f), 0);
	ASSERT(fclose(f) == 0);
	char *d = strstr(buf, "id=\"oxprof-data\">");
	ASSERT(d);
	d += strlen("id=\"oxprof-data\">");
	char *e = strstr(d, "</script>");
	ASSERT(e);
	*e = 0;
	memmove(buf, d, strlen(d) + 1);
	return buf;
}

/* Decode the "tree" string as the page does: name, depth step, self. */
static int tree_nodes(const char *data, uint64_t out[][3], int max)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *t = strstr(data, "\"tree\":\"");
	ASSERT(t);
	t += 8;
	int n = 0, k = 0;
	uint64_t v = 0, mul = 1;
	for (; *t != '"'; t++) {
		const char *p = strchr(alpha, *t);
		ASSERT_MSG(p && *p, "bad tree character %c", *t);
		uint64_t d = (uint64_t)(p - alpha);
		if (d >= 32) {
			v += (d - 32) * mul;
			mul *= 32;
			continue;
		}
		v += d * mul;
		ASSERT(n < max);
		out[n][k] = v;
		if (++k == 3)
			k = 0, n++;
		v = 0, mul = 1;
	}
	ASSERT_EQ(k, 0);
	return n;
}

/* Stacks sharing prefixes become one tree, siblings in name order, each
 * count on its own leaf; names are written once. */
TEST(flame_tree_merges_stacks)
{
	struct oxc_report r;
	oxc_report_init(&r, OXP_BY_STACK, OXP_SORT_SELF);
	static const char *const stacks[] = { "main;b;x", "main;a", "main;b;y", "main;b", "other" };
	static const uint64_t counts[] = { 5, 7, 40, 2, 1 };
	for (int i = 0; i < 5; i++) {
		oxc_report_add(&r, stacks[i], strlen(stacks[i]), "", 0, 0, 0, counts[i], counts[i]);
		r.total += counts[i];
	}
	struct oxc_flame p = { .title = "t", .stacks = &r };
	char *data = page_data(&p);
	ASSERT_MSG(strstr(data, "\"names\":[\"main\",\n\"b\",\n\"x\",\n\"a\",\n\"y\",\n\"other\"]"),
		   "names: %s", data);
	uint64_t nodes[16][3];
	int n = tree_nodes(data, nodes, 16);
	/* Pre-order, siblings by name: main(a, b(x, y)), other.  Ids: main 0,
	 * b 1, x 2, a 3, y 4, other 5; the step is how far up from being a
	 * child of the node before. */
	static const uint64_t want[][3] = { { 0, 0, 0 }, { 3, 0, 7 }, { 1, 1, 2 }, { 2, 0, 5 },
					    { 4, 1, 40 }, { 5, 3, 1 } };
	ASSERT_EQ(n, 6);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 3; j++)
			ASSERT_MSG(nodes[i][j] == want[i][j], "node %d field %d: %llu, wanted %llu", i, j,
				   (unsigned long long)nodes[i][j], (unsigned long long)want[i][j]);
	ASSERT(strstr(data, "\"total\":55,"));
	free(data);
	oxc_report_destroy(&r);
}

/* Whatever the bytes, the data holds no '<', '>' or '&' (so nothing can
 * end the script element), no raw control byte and only valid UTF-8. */
TEST(flame_data_escapes_names)
{
	struct oxc_report r, funcs;
	oxc_report_init(&r, OXP_BY_STACK, OXP_SORT_SELF);
	oxc_report_init(&funcs, OXP_BY_FUNCTION, OXP_SORT_SELF);
	const char *s = "main;</script><!--\"'&\\;bad\xff\xc3\x28\xe2\x82;ok\xc3\xa9\xf0\x9f\x94\xa5\x01\x7f";
	oxc_report_add(&r, s, strlen(s), "", 0, 0, 0, 3, 3);
	oxc_report_add(&funcs, "ok\xc3\xa9\xf0\x9f\x94\xa5\x01\x7f", 10, "/lib/<m>&.so", 12, 0, 0, 3, 3);
	r.total = 3;
	struct oxc_flame p = { .title = "</title><script>", .stacks = &r, .funcs = &funcs };
	oxc_flame_fact(&p, "A <b>", "x</script>y");
	char *data = page_data(&p);
	for (const unsigned char *c = (const unsigned char *)data; *c; c++) {
		ASSERT_MSG(*c != '<' && *c != '>' && *c != '&', "raw %c in the data", *c);
		ASSERT_MSG(*c >= 0x20 || *c == '\n', "raw control byte 0x%02x", *c);
		ASSERT(*c != 0x7f);
	}
	size_t left = strlen(data);
	for (const unsigned char *c = (const unsigned char *)data; *c;) {
		size_t n = oxc_u8seq(c, left);
		ASSERT_MSG(n, "invalid UTF-8 at %s", (const char *)c);
		c += n, left -= n;
	}
	ASSERT(strstr(data, "\"\\u003c/script\\u003e\\u003c!--\\\"'\\u0026\\\\\""));
	ASSERT(strstr(data, "\"bad\\ufffd\\ufffd(\\ufffd\\ufffd\""));
	ASSERT(strstr(data, "\"ok\xc3\xa9\xf0\x9f\x94\xa5\\u0001\\u007f\""));
	ASSERT(strstr(data, "\"mods\":[\"/lib/\\u003cm\\u003e\\u0026.so\"]"));
	free(data);
	oxc_report_destroy(&r);
	oxc_report_destroy(&funcs);
}

/* A page that cannot be written is an error, not a short file. */
TEST(flame_write_error_fails)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/full"), 0);
	oxt_agent_add(&a, 1, "main", "main;work", 10);
	ASSERT_EQ(oxt_agent_flush(&a, NULL), 0);
	char err[600];
	out_path(err, sizeof(err), "full.err");
	char *argv[] = { OXT_OXPROFCTL, "--socket", d.sock, "query", "--format", "html", NULL };
	ASSERT_EQ(run(argv, NULL, "/dev/full", err), 1);
	char *msg = slurp(err, NULL);
	ASSERT_MSG(strstr(msg, "cannot write standard output: No space left on device"), "stderr: %s", msg);
	free(msg);
	oxt_agent_leave(&a);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* A daemon with nothing yet: the page says so and works. */
TEST_TIMEOUT(flame_empty_profile, 120)
{
	need_chromium();
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	char page[600];
	out_path(page, sizeof(page), "empty.html");
	char *argv[] = { OXT_OXPROFCTL, "--socket", d.sock, "query", "--format", "html", NULL };
	ASSERT_EQ(run(argv, NULL, page, NULL), 0);
	char *dom = browse("empty.html", "test&zoom=main&search=x", "empty", NULL);
	const char *r = result_of(dom);
	ASSERT_EQ((long)result_num(r, "total"), 0);
	ASSERT_EQ((long)result_num(r, "frames"), 0);
	ASSERT(strstr(dom, "<div id=\"empty\">No samples"));
	free(dom);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* record: a page that cannot be written is reported with the file's name,
 * and exits 1 as every lost write does (oxprofctl(1), EXIT STATUS). */
TEST_TIMEOUT(flame_record_write_error, 120)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	char log[600], sock_env[400], agent_env[600] = "OXPROF_AGENT=" OXT_AGENT;
	char preload_env[600] = "LD_PRELOAD=" OXT_PRELOAD;
	out_path(log, sizeof(log), "record-full.log");
	snprintf(sock_env, sizeof(sock_env), "OXPROF_SOCKET=%s", d.sock);
	char *env[] = { sock_env, agent_env, OXT_PRELOAD[0] ? preload_env : NULL, NULL };
	char *argv[] = { OXT_OXPROFCTL, "record", "--format", "html", "-o", "/dev/full", "--",
			 OXT_HOTSPOTS, "-n", "300", NULL };
	ASSERT_EQ(run(argv, env, NULL, log), 1);
	char *msg = slurp(log, NULL);
	ASSERT_MSG(strstr(msg, "cannot write /dev/full: No space left on device"), "stderr: %s", msg);
	ASSERT(!strstr(msg, "wrote the flame graph"));
	free(msg);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}
