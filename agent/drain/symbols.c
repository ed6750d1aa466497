/* symbols.c - see symbols.h. */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildid.h"
#include "elfsyms.h"
#include "host/fds.h"
#include "oxp/protocol.h"
#include "symbols.h"

struct module {
	uintptr_t base;       /* load bias: runtime = base + link-time address */
	uintptr_t lo, hi;     /* executable segments, runtime */
	char *path;
	uint32_t path_id;
	int loaded;           /* symbols read (or tried) */
	int vdso;             /* the kernel's vDSO: read from memory */
	struct oxa_elfsyms syms;
};

struct jit_sym {
	uintptr_t lo, hi;
	uint32_t name_id;
};

struct oxa_symbols {
	struct oxa_strtab *strs;
	struct module *mods;
	size_t nmods;
	unsigned long long adds, subs; /* loader counters at the last scan */
	struct jit_sym *jit;
	size_t njit;
	struct timespec jit_mtime;
	off_t jit_size;
	ino_t jit_ino;
	uint32_t unknown_id, anon_id, jit_id;
	/* By module path id: its build-id and layout.  Kept when a module is
	 * unloaded: its frames may still be unsent. */
	struct modinfo {
		uint8_t known;
		uint32_t bid;   /* build-id's string id + 1; 0 none */
		uint64_t load;  /* oxa_buildid_load */
	} *mi;
	size_t nmi;
};

int oxa_symbols_new(struct oxa_symbols **out, struct oxa_strtab *strs)
{
	struct oxa_symbols *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->strs = strs;
	if (oxa_strtab_intern(strs, "[unknown]", 9, &s->unknown_id) < 0 ||
	    oxa_strtab_intern(strs, "[anon]", 6, &s->anon_id) < 0 ||
	    oxa_strtab_intern(strs, "[jit]", 5, &s->jit_id) < 0) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static void free_mods(struct module *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].path);
		oxa_elfsyms_destroy(&m[i].syms);
	}
	free(m);
}

void oxa_symbols_free(struct oxa_symbols *s)
{
	if (!s)
		return;
	free_mods(s->mods, s->nmods);
	free(s->jit);
	free(s->mi);
	free(s);
}

struct scan {
	struct oxa_symbols *s;
	struct module *mods;
	size_t n, cap;
	int err;
};

static char *module_path(const char *name)
{
	if (name && *name)
		return strdup(name);
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return strdup("[exe]");
	buf[n] = 0;
	return strdup(buf);
}

/* Whether info is the vDSO, whose ELF header the kernel passes in the
 * auxiliary vector (the loader names it linux-vdso.so.1, a file that
 * does not exist - or worse, one that does in the current directory). */
static int is_vdso(const struct dl_phdr_info *info)
{
	uintptr_t eh = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	return eh && (uintptr_t)info->dlpi_phdr >= eh &&
	       (uintptr_t)info->dlpi_phdr - eh < sizeof(ElfW(Ehdr)) + 4096;
}

/* Note the build-id and layout of the module whose path is string path_id. */
static int remember_module(struct oxa_symbols *s, const struct dl_phdr_info *info,
			   uint32_t path_id)
{
	char hex[2 * OXP_MAX_BUILD_ID + 1];
	size_t n = oxa_buildid_read(info, hex, sizeof(hex));
	if (path_id >= s->nmi) {
		size_t cap = s->nmi ? s->nmi : 64;
		while (cap <= path_id)
			cap *= 2;
		struct modinfo *m = realloc(s->mi, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		memset(m + s->nmi, 0, (cap - s->nmi) * sizeof(*m));
		s->mi = m;
		s->nmi = cap;
	}
	struct modinfo *m = &s->mi[path_id];
	m->known = 1;
	m->load = oxa_buildid_load(info);
	m->bid = 0;
	uint32_t id;
	if (n && oxa_strtab_intern(s->strs, hex, n, &id) < 0)
		return -ENOMEM;
	if (n)
		m->bid = id + 1;
	return 0;
}

int oxa_symbols_module(const struct oxa_symbols *s, uint32_t module, uint32_t *bid,
		       uint64_t *load)
{
	if (module >= s->nmi || !s->mi[module].known)
		return 0;
	*bid = s->mi[module].bid;
	*load = s->mi[module].load;
	return 1;
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *sc = arg;
	(void)size;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	if (hi == 0)
		return 0;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct module *m = realloc(sc->mods, cap * sizeof(*m));
		if (!m) {
			sc->err = -ENOMEM;
			return 1;
		}
		sc->mods = m;
		sc->cap = cap;
	}
	struct module *m = &sc->mods[sc->n];
	memset(m, 0, sizeof(*m));
	m->base = info->dlpi_addr;
	m->lo = lo;
	m->hi = hi;
	m->vdso = is_vdso(info);
	m->path = m->vdso ? strdup("[vdso]") : module_path(info->dlpi_name);
	if (!m->path || oxa_strtab_intern(sc->s->strs, m->path, strlen(m->path), &m->path_id) < 0) {
		free(m->path);
		sc->err = -ENOMEM;
		return 1;
	}
	if (remember_module(sc->s, info, m->path_id) < 0) {
		free(m->path);
		sc->err = -ENOMEM;
		return 1;
	}
	sc->n++;
	sc->s->adds = info->dlpi_adds;
	sc->s->subs = info->dlpi_subs;
	return 0;
}

/* Keep the symbols already read for modules that are still loaded. */
static void carry_over(struct oxa_symbols *s, struct module *mods, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < s->nmods; j++) {
			struct module *o = &s->mods[j];
			if (o->loaded && o->base == mods[i].base && o->vdso == mods[i].vdso &&
			    !strcmp(o->path, mods[i].path)) {
				mods[i].syms = o->syms;
				mods[i].loaded = 1;
				memset(&o->syms, 0, sizeof(o->syms));
				break;
			}
		}
}

static int rescan(struct oxa_symbols *s)
{
	struct scan sc = { .s = s };
	dl_iterate_phdr(scan_one, &sc);
	if (sc.err < 0) {
		free_mods(sc.mods, sc.n);
		return sc.err;
	}
	carry_over(s, sc.mods, sc.n);
	free_mods(s->mods, s->nmods);
	s->mods = sc.mods;
	s->nmods = sc.n;
	return 0;
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *arg)
{
	unsigned long long *c = arg;
	(void)size;
	c[0] = info->dlpi_adds;
	c[1] = info->dlpi_subs;
	return 1; /* the counters are the same in every entry: stop */
}

/* Whether objects were loaded or unloaded since the last scan. */
static int loader_changed(const struct oxa_symbols *s)
{
	unsigned long long c[2] = { 0, 0 };
	dl_iterate_phdr(read_counters, c);
	return c[0] != s->adds || c[1] != s->subs || !s->nmods;
}

static struct module *find_module(struct oxa_symbols *s, uintptr_t pc)
{
	for (size_t i = 0; i < s->nmods; i++)
		if (pc >= s->mods[i].lo && pc < s->mods[i].hi)
			return &s->mods[i];
	return NULL;
}

static int by_lo(const void *a, const void *b)
{
	const struct jit_sym *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Parse one hex number; 0 when there is none. */
static int hex(const char **p, const char *end, unsigned long long *v)
{
	const char *q = *p;
	if (end - q >= 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
		q += 2;
	unsigned long long x = 0;
	int digits = 0;
	for (; q < end; q++, digits++) {
		int d = *q >= '0' && *q <= '9' ? *q - '0'
			: (*q | 0x20) >= 'a' && (*q | 0x20) <= 'f' ? (*q | 0x20) - 'a' + 10 : -1;
		if (d < 0 || digits >= 16)
			break;
		x = x << 4 | (unsigned)d;
	}
	if (!digits)
		return 0;
	*p = q;
	*v = x;
	return 1;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* One "START SIZE name" line; 0 if it is not one. */
static int parse_jit_line(const char *p, const char *end, unsigned long long *lo,
			  unsigned long long *len, const char **name, size_t *nlen)
{
	p = skip_blanks(p, end);
	if (!hex(&p, end, lo) || p == end || (*p != ' ' && *p != '\t'))
		return 0;
	p = skip_blanks(p, end);
	if (!hex(&p, end, len) || (p < end && *p != ' ' && *p != '\t'))
		return 0;
	p = skip_blanks(p, end);
	*name = p;
	*nlen = (size_t)(end - p);
	return *lo + *len >= *lo; /* no wrap-around */
}

int oxa_symbols_parse_jit(struct oxa_symbols *s, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	size_t cap = 0;
	int r = 0;
	free(s->jit);
	s->jit = NULL;
	s->njit = 0;
	while (p < end && r == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
		unsigned long long lo, n;
		const char *name;
		size_t nlen;
		if (parse_jit_line(p, eol, &lo, &n, &name, &nlen)) {
			if (s->njit == cap) {
				size_t c = cap ? cap * 2 : 256;
				struct jit_sym *j = realloc(s->jit, c * sizeof(*j));
				if (!j) {
					r = -ENOMEM;
					break;
				}
				s->jit = j;
				cap = c;
			}
			uint32_t id;
			if ((r = oxa_strtab_intern(s->strs, name, nlen, &id)) == 0)
				s->jit[s->njit++] = (struct jit_sym){ (uintptr_t)lo, (uintptr_t)(lo + n), id };
		}
		p = eol + 1;
	}
	if (s->njit)
		qsort(s->jit, s->njit, sizeof(*s->jit), by_lo);
	return r;
}

/* Whether a perf map may be read: a regular file of this process's user
 * (or root's), of bounded size.  Anything else in the shared /tmp - a
 * FIFO that would block us, a device that never ends, another user's
 * file - is not a map this process wrote. */
static int jit_map_ok(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_size <= OXA_JIT_MAP_MAX &&
	       (st->st_uid == 0 || st->st_uid == getuid() || st->st_uid == geteuid());
}

/* (Re)read /tmp/perf-PID.map when it changed: "START SIZE name" in hex. */
static void load_jit_map(struct oxa_symbols *s)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	struct stat st;
	if (lstat(path, &st) < 0 || (st.st_mtim.tv_sec == s->jit_mtime.tv_sec &&
				     st.st_mtim.tv_nsec == s->jit_mtime.tv_nsec &&
				     st.st_size == s->jit_size && st.st_ino == s->jit_ino))
		return;
	s->jit_mtime = st.st_mtim;
	s->jit_size = st.st_size;
	s->jit_ino = st.st_ino;
	if (!jit_map_ok(&st))
		return;
	struct oxa_fdid id;
	int fd = oxa_fd_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0, &id);
	if (fd < 0)
		return;
	char *buf = NULL;
	ssize_t got = 0;
	/* Checked again on what was opened: the name may have changed. */
	if (fstat(fd, &st) == 0 && jit_map_ok(&st) && (buf = malloc((size_t)st.st_size + 1)))
		got = pread(fd, buf, (size_t)st.st_size, 0);
	oxa_fd_close(fd, &id);
	if (buf && got >= 0)
		(void)oxa_symbols_parse_jit(s, buf, (size_t)got);
	free(buf);
}

static int find_jit(const struct oxa_symbols *s, uintptr_t pc, uint32_t *name)
{
	size_t lo = 0, hi = s->njit;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->jit[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || pc >= s->jit[lo - 1].hi)
		return 0;
	*name = s->jit[lo - 1].name_id;
	return 1;
}

/* Whether line of /proc/self/maps is the [vdso] mapping at eh; its length. */
static size_t vdso_line(const char *line, uintptr_t eh)
{
	unsigned long lo, hi;
	if (!strstr(line, "[vdso]") || sscanf(line, "%lx-%lx", &lo, &hi) != 2 || lo != eh || hi <= lo)
		return 0;
	return hi - lo;
}

/* The [vdso] mapping's extent, from /proc/self/maps: how much of the
 * image may be read.  0 when it is not found. */
static size_t vdso_size(uintptr_t eh)
{
	char buf[4096];
	size_t have = 0, len = 0;
	struct oxa_fdid id;
	int fd = oxa_fd_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0, &id);
	if (fd < 0)
		return 0;
	while (!len) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		char *p = buf, *nl;
		while (!len && (nl = memchr(p, '\n', (size_t)(buf + have - p)))) {
			*nl = 0;
			len = vdso_line(p, eh);
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than any mapping's: not ours */
	}
	oxa_fd_close(fd, &id);
	return len;
}

/* The vDSO's symbols and extents from its image in our memory: the kernel
 * maps the whole ELF file, section headers included. */
static void load_vdso(struct module *m)
{
	uintptr_t eh = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	size_t len = eh ? vdso_size(eh) : 0;
	if (len)
		(void)oxa_elfsyms_load_mem(&m->syms, (const void *)eh, len);
	m->syms.fdes_read = 1; /* read with the rest, or not at all: there is no file */
}

/* "liblzma.so.5+0x15b90": the module's file name and the function's
 * link-time start, as `nm` of the unstripped build prints it. */
static int name_by_start(struct oxa_symbols *s, const struct module *m, uint64_t start,
			 uint32_t *func)
{
	const char *base = strrchr(m->path, '/');
	char buf[320];
	int n = snprintf(buf, sizeof(buf), "%.280s+0x%llx", base ? base + 1 : m->path,
			 (unsigned long long)start);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EOVERFLOW;
	return oxa_strtab_intern(s->strs, buf, (size_t)n, func);
}

/* Name link-time address a of m.  The extents of its functions are read
 * from the file the first time a pc needs them. */
static int name_in_module(struct oxa_symbols *s, struct module *m, uint64_t a, uint32_t *func)
{
	const char *name = NULL;
	uint64_t start = 0;
	int k = oxa_elfsyms_resolve(&m->syms, a, &name, &start);
	if (k != OXA_ELF_SYMBOL && !m->syms.fdes_read) {
		(void)oxa_elfsyms_load_fdes(&m->syms, m->path); /* none: as before */
		k = oxa_elfsyms_resolve(&m->syms, a, &name, &start);
	}
	int r;
	switch (k) {
	case OXA_ELF_SYMBOL:
	case OXA_ELF_NEAR:
		return oxa_strtab_intern(s->strs, name, strlen(name), func);
	case OXA_ELF_FDE:
		r = name_by_start(s, m, start, func);
		if (r != -EOVERFLOW)
			return r;
		/* fall through */
	default:
		*func = s->unknown_id;
		return 0;
	}
}

int oxa_symbols_lookup(struct oxa_symbols *s, uintptr_t pc, uint32_t *func,
		       uint32_t *module, uint64_t *offset)
{
	struct module *m = find_module(s, pc);
	if (!m && loader_changed(s)) {
		int r = rescan(s);
		if (r < 0)
			return r;
		m = find_module(s, pc);
	}
	if (!m) {
		load_jit_map(s);
		*module = s->anon_id;
		*offset = pc;
		*func = s->unknown_id;
		if (find_jit(s, pc, func))
			*module = s->jit_id;
		return 0;
	}
	if (!m->loaded) {
		m->loaded = 1;
		/* None: [unknown], or named from .eh_frame below. */
		if (m->vdso)
			load_vdso(m);
		else
			(void)oxa_elfsyms_load(&m->syms, m->path);
	}
	*module = m->path_id;
	*offset = pc - m->base;
	return name_in_module(s, m, pc - m->base, func);
}
