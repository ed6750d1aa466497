/*
 * test-agent-host.c - the real agent inside ordinary but unusual hosts
 * (tests/progs/host.c, split.c, coreutils' timeout): a classic daemon that
 * closes every fd, a perf map planted in /tmp, symlinks planted by another
 * user beside OXPROF_OUTPUT, exec, _exit, wrapper processes; and the ELF
 * reader and perf-map parser on files no linker wrote.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "daemon-harness.h"
#include "drain/elfsyms.h"
#include "drain/symbols.h"
#include "task.h"

static void run_ok(char *const argv[], const char *const env[])
{
	int st = oxt_run_agent(argv, env, NULL, 0);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s: status %d", argv[0],
		   argv[1] ? argv[1] : "", st);
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n < 0 ? -1 : (int)n;
}

/* ---- a classic daemon (item 7) ---- */

/* Each DIR/log-N holds exactly "line 0\n".."line K\n": nothing else was
 * written into it. */
static void check_logs(const char *dir)
{
	static char buf[1 << 20];
	for (int i = 0; i < 8; i++) {
		char path[300];
		snprintf(path, sizeof(path), "%s/log-%d", dir, i);
		int n = read_text(path, buf, sizeof(buf));
		ASSERT_MSG(n > 0, "%s is empty or missing", path);
		long k = 0;
		for (char *p = buf; *p; k++) {
			char want[32];
			int len = snprintf(want, sizeof(want), "line %ld\n", k);
			ASSERT_MSG(!strncmp(p, want, (size_t)len),
				   "%s: line %ld is not \"line %ld\": foreign bytes in the host's file", path, k, k);
			p += len;
		}
	}
}

/* Run host daemon with env; wait for the daemonized child (we are its
 * subreaper); check its verdict and files; return its pid. */
static pid_t run_daemon_host(const char *dir, const char *const *env)
{
	ASSERT(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	char *argv[] = { OXT_HOST, "daemon", (char *)dir, "1500", NULL };
	run_ok(argv, env);
	int st;
	pid_t child = wait(&st); /* the daemon, reparented to us */
	ASSERT_MSG(child > 0, "no daemonized child: %s", strerror(errno));
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon: status %d", st);
	char path[300], verdict[600], pid[32];
	snprintf(path, sizeof(path), "%s/verdict", dir);
	ASSERT_MSG(read_text(path, verdict, sizeof(verdict)) > 0, "the daemon wrote no verdict");
	ASSERT_MSG(!strcmp(verdict, "ok\n"), "the host says: %s", verdict);
	snprintf(path, sizeof(path), "%s/pid", dir);
	ASSERT(read_text(path, pid, sizeof(pid)) > 0 && atoi(pid) == child);
	check_logs(dir);
	return child;
}

/* relative: OXPROF_OUTPUT relative to the directory the host started in
 * (daemon(3) then moves it to /). */
static void daemon_standalone(int relative)
{
	char dir[64], outv[160], out[256];
	oxt_tmpdir(dir, sizeof(dir));
	if (relative)
		ASSERT(chdir(dir) == 0);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s%sprof.%%p.folded", relative ? "" : dir,
		 relative ? "" : "/");
	/* Under ASan, LeakSanitizer would print into the host's fd 2 - its
	 * own log file by then. */
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv,
			      OXT_ASAN_OPTIONS[0] ? "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"
						  : NULL, NULL };
	pid_t child = run_daemon_host(dir, env);
	static const char *const leaf[] = { "host_work" };
	struct oxt_folded f;
	snprintf(out, sizeof(out), "%s/prof.%d.folded", dir, (int)child);
	ASSERT_MSG(oxt_read_folded(out, leaf, 1, &f) == 0, "no profile of the daemon at %s", out);
	printf("  daemon %d: %llu samples, %llu in host_work\n", (int)child,
	       (unsigned long long)f.total, (unsigned long long)f.leaf[0]);
	ASSERT(f.leaf[0] > 0);
}

TEST_TIMEOUT(agent_host_daemon_closing_all_fds_standalone, 60)
{
	daemon_standalone(0);
}

/* With the common limit of 1024 fds the agent's range starts at 512, so
 * the host's close-all does close the agent's fds: they are re-created.
 * And OXPROF_OUTPUT is relative, to a directory the daemon has left. */
TEST_TIMEOUT(agent_host_daemon_closing_all_fds_1024_limit, 60)
{
	struct rlimit rl;
	ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = rl.rlim_max < 1024 ? rl.rlim_max : 1024;
	ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	daemon_standalone(1);
}

static int has_samples(const struct oxt_agent_row *r)
{
	return r->samples > 0 && r->state == OXP_AGENT_EXITED;
}

TEST_TIMEOUT(agent_host_daemon_closing_all_fds_reports_to_oxprofd, 60)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	char dir[64];
	oxt_tmpdir(dir, sizeof(dir));
	const char *env[] = { oxt_daemon_env(&d), "OXPROF_START=1", "OXPROF_HZ=1000",
			      OXT_ASAN_OPTIONS[0] ? "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"
						  : NULL, NULL };
	pid_t child = run_daemon_host(dir, env);
	struct oxt_agent_row r;
	ASSERT_MSG(oxt_wait_row(&d, child, has_samples, 20000, &r) == 0,
		   "oxprofd has no samples of the daemonized child %d", (int)child);
	printf("  daemon %d: %llu samples at oxprofd\n", (int)child, (unsigned long long)r.samples);
	oxt_daemon_finish(&d);
}

/* ---- files in a shared /tmp (item 9) ---- */

static void profile_jitmap(const char *kind)
{
	char dir[64], outv[160], out[128];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv, NULL };
	char *argv[] = { OXT_HOST, "jitmap", (char *)kind, "1500", NULL };
	run_ok(argv, env);
	struct oxt_folded f;
	ASSERT_MSG(oxt_read_folded(out, NULL, 0, &f) == 0, "%s at the perf map: no profile", kind);
	printf("  %s: %llu samples\n", kind, (unsigned long long)f.total);
	ASSERT(f.total > 0);
}

TEST_TIMEOUT(agent_perf_map_fifo_does_not_block, 60)
{
	profile_jitmap("fifo");
}

TEST_TIMEOUT(agent_perf_map_device_is_not_read, 60)
{
	if (geteuid() != 0) {
		printf("  SKIP: mknod needs root\n");
		return;
	}
	profile_jitmap("chardev");
}

TEST_TIMEOUT(agent_perf_map_symlink_is_not_followed, 60)
{
	profile_jitmap("symlink");
}

static void as_nobody_symlink(const char *target, const char *link)
{
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		_exit(symlink(target, link) == 0 ? 0 : 1);
	}
	int st;
	ASSERT(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A root process profiles into a shared directory where nobody planted
 * symlinks at the temp name the agent used to use and at the final name:
 * root's own files stay as they were. */
TEST_TIMEOUT(agent_output_never_through_a_planted_symlink, 60)
{
	if (geteuid() != 0) {
		printf("  SKIP: needs root (and nobody) to plant the links\n");
		return;
	}
	char dir[64], path[256], link[256], outv[300], buf[64];
	oxt_tmpdir(dir, sizeof(dir));
	ASSERT(chmod(dir, 0777) == 0); /* shared, like /tmp without its sticky bit */
	const char *victims[] = { "victim-tmp", "victim-final" };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, victims[i]);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		ASSERT(fd >= 0 && write(fd, "secret\n", 7) == 7 && close(fd) == 0);
	}
	snprintf(path, sizeof(path), "%s/victim-tmp", dir);
	snprintf(link, sizeof(link), "%s/out.folded.tmp", dir);
	as_nobody_symlink(path, link);
	snprintf(path, sizeof(path), "%s/victim-final", dir);
	snprintf(link, sizeof(link), "%s/out.folded", dir);
	as_nobody_symlink(path, link);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s/out.folded", dir);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv, NULL };
	char *argv[] = { OXT_SPLIT, "-n", "1000", NULL };
	run_ok(argv, env);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, victims[i]);
		ASSERT(read_text(path, buf, sizeof(buf)) >= 0);
		ASSERT_MSG(!strcmp(buf, "secret\n"), "%s was written through a symlink", victims[i]);
	}
	struct stat st;
	ASSERT(lstat(link, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0);
	struct oxt_folded f;
	ASSERT(oxt_read_folded(link, NULL, 0, &f) == 0 && f.total > 0);
}

/* ---- exec, _exit and wrappers (item 13) ---- */

static const char *const split_leaves[] = { "hot_a", "hot_b", "hot_c" };

/* Run argv stand-alone into one OXPROF_OUTPUT (no %p); the leaves of the
 * profile left there. */
static void profile_one_file(char *const argv[], const char *const *names, int n,
			     struct oxt_folded *f)
{
	char dir[64], outv[160], out[128];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv, NULL };
	run_ok(argv, env);
	ASSERT_MSG(oxt_read_folded(out, names, n, f) == 0, "no profile at %s", out);
}

/* split works, then execs sh (preloaded too) for a loop of its own: the
 * work done before the exec is in the profile, with the shell's. */
TEST_TIMEOUT(agent_profile_survives_exec, 60)
{
	char *argv[] = { OXT_SPLIT, "-x", "-n", "10000", NULL };
	struct oxt_folded f;
	profile_one_file(argv, split_leaves, 3, &f);
	printf("  %llu samples, hot_a %llu\n", (unsigned long long)f.total,
	       (unsigned long long)f.leaf[0]);
	ASSERT_MSG(f.leaf[0] > 0, "the work before exec is not in the profile");
}

TEST_TIMEOUT(agent_profile_survives_exit_underscore, 60)
{
	static const char *const leaf[] = { "host_work" };
	char *argv[] = { OXT_HOST, "_exit", "1000", NULL };
	struct oxt_folded f;
	profile_one_file(argv, leaf, 1, &f);
	printf("  %llu samples, host_work %llu\n", (unsigned long long)f.total,
	       (unsigned long long)f.leaf[0]);
	ASSERT(f.leaf[0] > 0);
}

TEST_TIMEOUT(agent_failed_exec_keeps_profiling, 60)
{
	static const char *const leaf[] = { "host_work" };
	char *argv[] = { OXT_HOST, "execfail", "500", NULL };
	struct oxt_folded f;
	profile_one_file(argv, leaf, 1, &f);
	printf("  %llu samples, host_work %llu\n", (unsigned long long)f.total,
	       (unsigned long long)f.leaf[0]);
	ASSERT(f.leaf[0] > 0);
}

/* vfork children exec and _exit through the agent's wrappers while the
 * parent's agent holds samples: they must touch nothing of it. */
TEST_TIMEOUT(agent_vfork_children_leave_the_agent_alone, 60)
{
	static const char *const leaf[] = { "host_work" };
	char *argv[] = { OXT_HOST, "vfork", "400", NULL };
	struct oxt_folded f;
	profile_one_file(argv, leaf, 1, &f);
	printf("  %llu samples, host_work %llu\n", (unsigned long long)f.total,
	       (unsigned long long)f.leaf[0]);
	ASSERT(f.leaf[0] > 0);
}

/* timeout(1) is preloaded too and exits after split: its own (empty)
 * profile must not replace split's. */
TEST_TIMEOUT(agent_wrapper_does_not_overwrite_the_profile, 60)
{
	if (access("/usr/bin/timeout", X_OK) != 0) {
		printf("  SKIP: no /usr/bin/timeout\n");
		return;
	}
	char *argv[] = { "/usr/bin/timeout", "50", OXT_SPLIT, "-n", "10000", NULL };
	struct oxt_folded f;
	profile_one_file(argv, split_leaves, 3, &f);
	printf("  %llu samples, hot_a %llu\n", (unsigned long long)f.total,
	       (unsigned long long)f.leaf[0]);
	ASSERT_MSG(f.leaf[0] > 0, "split's samples were replaced by the wrapper's profile");
}

/* Two runs into one file: the second replaces the first (it is older than
 * the second process), it does not add to it. */
TEST_TIMEOUT(agent_new_run_replaces_an_old_profile, 60)
{
	char dir[64], outv[160], out[128];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT(fd >= 0 && write(fd, "main;stale_run 1000000\n", 23) == 23 && close(fd) == 0);
	struct timespec old[2] = { { time(NULL) - 60, 0 }, { time(NULL) - 60, 0 } };
	ASSERT(utimensat(AT_FDCWD, out, old, 0) == 0);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv, NULL };
	char *argv[] = { OXT_SPLIT, "-n", "500", NULL };
	run_ok(argv, env);
	static const char *const stale[] = { "stale_run", "hot_a" };
	struct oxt_folded f;
	ASSERT(oxt_read_folded(out, stale, 2, &f) == 0);
	ASSERT_EQ(f.leaf[0], 0);
	ASSERT(f.leaf[1] > 0);
}

/* ---- crash reporting (item 10) ---- */

TEST(agent_drain_thread_lets_synchronous_faults_through)
{
	char out[1024];
	const char *env[] = { "OXPROF_DAEMON=0", NULL };
	char *argv[] = { OXT_HOST, "sigmask", NULL };
	int st = oxt_run_agent(argv, env, out, sizeof(out));
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *p = strstr(out, "sigblk=");
	ASSERT_MSG(p, "no agent thread seen: %s", out);
	unsigned long long m = strtoull(p + 7, NULL, 16);
	printf("  drain thread SigBlk %016llx\n", m);
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS };
	for (int i = 0; i < 6; i++)
		ASSERT_MSG(!(m & (1ull << (faults[i] - 1))), "signal %d is blocked", faults[i]);
	ASSERT_MSG(m & (1ull << (SIGPROF - 1)), "the sampler's SIGPROF is not blocked");
	ASSERT_MSG(m & (1ull << (SIGTERM - 1)), "SIGTERM is not blocked");
}

/* A minimal ELF64 with .symtab and .strtab, every part at an odd offset
 * (as a hostile or merely odd file may have): 0 and its size. */
static size_t craft_elf(uint8_t *buf, size_t len)
{
	static const char str[] = "\0odd_foo\0odd_bar@GLIBC_2.2.5\0";
	memset(buf, 0, len);
	size_t stroff = sizeof(Elf64_Ehdr) + 1, symoff = stroff + sizeof(str) + 2;
	size_t shoff = symoff + 3 * sizeof(Elf64_Sym) + 1, end = shoff + 3 * sizeof(Elf64_Shdr);
	ASSERT(end <= len && (shoff & 7) && (symoff & 7));
	Elf64_Ehdr eh = { .e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_shoff = shoff, .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_shentsize = sizeof(Elf64_Shdr), .e_shnum = 3 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + stroff, str, sizeof(str));
	Elf64_Sym sym[3] = {
		{ 0 },
		{ .st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1,
		  .st_value = 0x1000, .st_size = 0x10 },
		{ .st_name = 9, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1,
		  .st_value = 0x2000, .st_size = 0x20 },
	};
	memcpy(buf + symoff, sym, sizeof(sym));
	Elf64_Shdr sh[3] = {
		{ 0 },
		{ .sh_type = SHT_SYMTAB, .sh_offset = symoff, .sh_size = sizeof(sym), .sh_link = 2,
		  .sh_entsize = sizeof(Elf64_Sym) },
		{ .sh_type = SHT_STRTAB, .sh_offset = stroff, .sh_size = sizeof(str) },
	};
	memcpy(buf + shoff, sh, sizeof(sh));
	return end;
}

/* In memory: the truncation loop makes one per byte, and no file is left. */
static int elf_file(const uint8_t *data, size_t len)
{
	int fd = memfd_create("oxt-elf", MFD_CLOEXEC);
	ASSERT(fd >= 0 && write(fd, data, len) == (ssize_t)len);
	return fd;
}

TEST(agent_elf_odd_offsets_read_without_misaligned_access)
{
	static uint8_t buf[4096];
	size_t n = craft_elf(buf, sizeof(buf));
	int fd = elf_file(buf, n);
	struct oxa_elfsyms e;
	ASSERT_EQ(oxa_elfsyms_load_fd(&e, fd), 0);
	ASSERT_EQ(e.n, 2);
	ASSERT_STREQ(oxa_elfsyms_find(&e, 0x1008), "odd_foo");
	ASSERT_STREQ(oxa_elfsyms_find(&e, 0x2010), "odd_bar");
	ASSERT(oxa_elfsyms_find(&e, 0x3000) == NULL);
	oxa_elfsyms_destroy(&e);
	close(fd);
}

/* Truncated anywhere, or garbage: an error or fewer symbols, no crash. */
TEST(agent_elf_truncated_or_garbage_is_an_error)
{
	static uint8_t buf[4096];
	size_t n = craft_elf(buf, sizeof(buf));
	for (size_t cut = 0; cut < n; cut++) {
		int fd = elf_file(buf, n);
		ASSERT(ftruncate(fd, (off_t)cut) == 0);
		struct oxa_elfsyms e;
		ASSERT_MSG(oxa_elfsyms_load_fd(&e, fd) < 0, "cut at %zu still loads", cut);
		oxa_elfsyms_destroy(&e);
		close(fd);
	}
	/* The real library, cut in half: its section headers are gone. */
	int in = open(OXT_AGENT_LIB, O_RDONLY);
	ASSERT(in >= 0);
	static uint8_t lib[1 << 20];
	ssize_t len = read(in, lib, sizeof(lib));
	close(in);
	ASSERT(len > 0);
	int fd = elf_file(lib, (size_t)len / 2);
	struct oxa_elfsyms e;
	ASSERT(oxa_elfsyms_load_fd(&e, fd) < 0);
	close(fd);
	srand(7);
	for (int i = 0; i < 200; i++) {
		for (size_t k = 0; k < n; k++)
			if (rand() % 16 == 0)
				buf[k] = (uint8_t)rand();
		fd = elf_file(buf, n);
		if (oxa_elfsyms_load_fd(&e, fd) == 0)
			(void)oxa_elfsyms_find(&e, 0x1008);
		oxa_elfsyms_destroy(&e);
		close(fd);
	}
}

TEST(agent_perf_map_parser_bounds)
{
	struct oxa_strtab strs;
	struct oxa_symbols *s;
	ASSERT_EQ(oxa_strtab_init(&strs), 0);
	ASSERT_EQ(oxa_symbols_new(&s, &strs), 0);
	static const char map[] = "1000 10 jit_a\n0x2000 0x20 jit b with spaces\nzz 10 bad\n"
				  "ffffffffffffffff 10 wraps\n3000 10"; /* no name, no newline */
	/* Not NUL-terminated: an exact-size copy. */
	char *buf = malloc(sizeof(map) - 1);
	memcpy(buf, map, sizeof(map) - 1);
	ASSERT_EQ(oxa_symbols_parse_jit(s, buf, sizeof(map) - 1), 0);
	free(buf);
	/* pcs in no module resolve through the map (there is no
	 * /tmp/perf-PID.map of ours to replace it). */
	static const struct {
		uint64_t pc;
		const char *name;
	} want[] = { { 0x1008, "jit_a" }, { 0x2010, "jit b with spaces" }, { 0x5000, "[unknown]" },
		     { 0x1010, "[unknown]" } };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t func, mod;
		uint64_t off;
		ASSERT_EQ(oxa_symbols_lookup(s, (uintptr_t)want[i].pc, &func, &mod, &off), 0);
		ASSERT_STREQ(strs.strs[func], want[i].name);
	}
	oxa_symbols_free(s);
	oxa_strtab_destroy(&strs);
}
