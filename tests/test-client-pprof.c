/*
 * test-client-pprof.c - the pprof encoder (client/pprof.c) on answers
 * built by hand, its output inflated and parsed here with a reader of the
 * protobuf wire format of our own: the layout pprof.h promises, field by
 * field, without go tool pprof (tests/e2e/pprof.sh checks with it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "demangle.h"
#include "oxp/oxp.h"
#include "pprof.h"
#include "task.h"

/* ---- a reader of what was written ---- */

struct pbr {
	const uint8_t *p, *end;
};

static uint64_t rd_varint(struct pbr *r)
{
	uint64_t v = 0;
	for (int s = 0; s < 64; s += 7) {
		ASSERT(r->p < r->end);
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return v;
	}
	ASSERT_MSG(0, "varint too long");
	return 0;
}

/* Next field: 1 with *field, and either *v (varint) or *sub (bytes). */
static int rd_field(struct pbr *r, uint32_t *field, uint64_t *v, struct pbr *sub)
{
	if (r->p >= r->end)
		return 0;
	uint64_t key = rd_varint(r);
	*field = (uint32_t)(key >> 3);
	if ((key & 7) == 0) {
		*v = rd_varint(r);
		sub->p = sub->end = NULL;
	} else {
		ASSERT_EQ(key & 7, 2);
		uint64_t n = rd_varint(r);
		ASSERT(n <= (uint64_t)(r->end - r->p));
		sub->p = r->p;
		sub->end = r->p + n;
		r->p += n;
	}
	return 1;
}

/* The parts of a profile the tests look at. */
struct prof {
	char *strs[256];
	size_t nstrs;
	uint64_t st_type[2], st_unit[2], nst;
	uint64_t period, pt_type, time_nanos, duration;
	struct { uint64_t locs[8], nlocs, vals[2]; int64_t pid, tid; uint64_t thread, exe; } s[16];
	size_t ns;
	struct { uint64_t id, start, limit, file, bid, has_fn; } m[8];
	size_t nm;
	struct { uint64_t id, mapping, addr, fn; } l[16];
	size_t nl;
	struct { uint64_t id, name, sys; } f[16];
	size_t nf;
};

static void parse_sample(struct prof *p, struct pbr r)
{
	uint32_t f;
	uint64_t v;
	struct pbr sub;
	ASSERT(p->ns < 16);
	__typeof__(p->s[0]) *s = &p->s[p->ns++];
	while (rd_field(&r, &f, &v, &sub)) {
		if (f == 1)
			while (sub.p < sub.end)
				s->locs[s->nlocs++] = rd_varint(&sub);
		else if (f == 2)
			for (int i = 0; i < 2; i++)
				s->vals[i] = rd_varint(&sub);
		else if (f == 3) {
			uint64_t key = 0, str = 0, num = 0, lv;
			uint32_t lf;
			struct pbr ls;
			while (rd_field(&sub, &lf, &lv, &ls))
				*(lf == 1 ? &key : lf == 2 ? &str : &num) = lv;
			const char *k = p->strs[key];
			if (!strcmp(k, "pid"))
				s->pid = (int64_t)num;
			else if (!strcmp(k, "tid"))
				s->tid = (int64_t)num;
			else if (!strcmp(k, "thread"))
				s->thread = str;
			else if (!strcmp(k, "exe"))
				s->exe = str;
		}
	}
}

static void parse_rest(struct prof *p, uint32_t field, struct pbr sub)
{
	uint32_t f;
	uint64_t v;
	struct pbr s2;
	if (field == 1 || field == 11) {
		uint64_t t = 0, u = 0;
		while (rd_field(&sub, &f, &v, &s2))
			*(f == 1 ? &t : &u) = v;
		if (field == 11) {
			p->pt_type = t;
			return;
		}
		p->st_type[p->nst] = t;
		p->st_unit[p->nst++] = u;
	} else if (field == 3) {
		__typeof__(p->m[0]) *m = &p->m[p->nm++];
		while (rd_field(&sub, &f, &v, &s2))
			*(f == 1 ? &m->id : f == 2 ? &m->start : f == 3 ? &m->limit
			  : f == 5 ? &m->file : f == 6 ? &m->bid : &m->has_fn) = v;
	} else if (field == 4) {
		__typeof__(p->l[0]) *l = &p->l[p->nl++];
		while (rd_field(&sub, &f, &v, &s2))
			if (f == 4) {
				uint32_t lf;
				struct pbr x;
				ASSERT(rd_field(&s2, &lf, &l->fn, &x) && lf == 1);
			} else {
				*(f == 1 ? &l->id : f == 2 ? &l->mapping : &l->addr) = v;
			}
	} else if (field == 5) {
		__typeof__(p->f[0]) *fn = &p->f[p->nf++];
		while (rd_field(&sub, &f, &v, &s2))
			*(f == 1 ? &fn->id : f == 2 ? &fn->name : &fn->sys) = v;
	}
}

/* Inflate and parse buf; samples after the strings (they name labels). */
static void parse(const char *buf, size_t len, struct prof *p)
{
	memset(p, 0, sizeof(*p));
	size_t cap = 1 << 20;
	uint8_t *raw = malloc(cap);
	z_stream z = { 0 };
	ASSERT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)buf;
	z.avail_in = (uInt)len;
	z.next_out = raw;
	z.avail_out = (uInt)cap;
	ASSERT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
	ASSERT_EQ(z.avail_in, 0); /* one gzip member, nothing after it */
	struct pbr r = { raw, raw + z.total_out };
	inflateEnd(&z);
	uint32_t f;
	uint64_t v;
	struct pbr sub;
	struct pbr all = r;
	while (rd_field(&r, &f, &v, &sub)) {
		if (f == 6) {
			ASSERT(p->nstrs < 256);
			p->strs[p->nstrs++] = strndup((const char *)sub.p, (size_t)(sub.end - sub.p));
		} else if (f == 9) {
			p->time_nanos = v;
		} else if (f == 10) {
			p->duration = v;
		} else if (f == 12) {
			p->period = v;
		} else if (f != 2) {
			parse_rest(p, f, sub);
		}
	}
	while (rd_field(&all, &f, &v, &sub))
		if (f == 2)
			parse_sample(p, sub);
	free(raw);
}

static void prof_free(struct prof *p)
{
	for (size_t i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
}

/* ---- answers ---- */

#define BID "00112233445566778899aabbccddeeff00112233"

/* Two modules, three frames (one unresolved, one mangled C++, one with
 * bytes that are not UTF-8), two rows. */
static void feed(struct oxc_pprof *p)
{
	struct oxp_msg m = { .type = OXP_MSG_QUERY_HEAD };
	m.u.query_head = (struct oxp_query_head){ .total = 10, .first_ms = 1700000000000ull,
						   .last_ms = 1700000002500ull, .nrows = 2, .nprocs = 2 };
	ASSERT_EQ(oxc_pprof_add(p, &m), 0);
	static const struct oxp_qmodule mods[] = {
		/* A classic executable: file offset 0 at 0x1000, not 0. */
		{ 40, { "/usr/bin/app", 12 }, { BID, 40 }, 0x1000 },
		{ 41, { "[anon]", 6 }, { "", 0 }, 0 },
	};
	static const struct oxp_qframe frames[] = {
		{ 7, { "_ZNK3geo4GridImE5relaxEm", 24 }, 40, 0x1234 },
		{ 8, { "main", 4 }, 40, 0x1100 },
		{ 9, { "[unknown]", 9 }, 41, 0x7f0000001000ull },
		{ 3, { "bad\xff\xfe", 5 }, 40, 0x1500 },
	};
	static const uint32_t s1[] = { 7, 8 }, s2[] = { 9, 3, 8 };
	static const struct oxp_row rows[] = {
		{ { "worker", 6 }, { "/usr/bin/app", 12 }, 4242, 4243, 6, 6, 2, s1 },
		{ { "main\xc3", 5 }, { "/usr/bin/app", 12 }, 4250, 4250, 4, 4, 3, s2 },
	};
	m.type = OXP_MSG_QUERY_ROWS;
	m.u.query_rows = (struct oxp_query_rows){ 2, rows, 4, frames, 2, mods };
	ASSERT_EQ(oxc_pprof_add(p, &m), 0);
}

static char *write_mem(struct oxc_pprof *p, const struct oxc_pprof_opts *o, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	ASSERT(f);
	ASSERT_EQ(oxc_pprof_write(p, o, f, NULL), 0);
	ASSERT_EQ(fclose(f), 0);
	return buf;
}

static const char *fn_name(const struct prof *q, uint64_t loc, int sys)
{
	for (size_t i = 0; i < q->nl; i++)
		if (q->l[i].id == loc) {
			if (!q->l[i].fn)
				return NULL;
			return q->strs[sys ? q->f[q->l[i].fn - 1].sys : q->f[q->l[i].fn - 1].name];
		}
	ASSERT_MSG(0, "no location %llu", (unsigned long long)loc);
	return NULL;
}

TEST(pprof_layout_as_go_cpu_profiles)
{
	struct oxc_pprof *p = oxc_pprof_new();
	feed(p);
	struct oxc_pprof_opts o = { OXP_MODE_CPU, 250, 0, 0 };
	size_t len;
	char *buf = write_mem(p, &o, &len);
	struct prof q;
	parse(buf, len, &q);
	ASSERT_STREQ(q.strs[0], "");
	ASSERT_EQ(q.nst, 2);
	ASSERT_STREQ(q.strs[q.st_type[0]], "samples");
	ASSERT_STREQ(q.strs[q.st_unit[0]], "count");
	ASSERT_STREQ(q.strs[q.st_type[1]], "cpu");
	ASSERT_STREQ(q.strs[q.st_unit[1]], "nanoseconds");
	ASSERT_STREQ(q.strs[q.pt_type], "cpu");
	ASSERT_EQ(q.period, 4000000); /* 1 s / 250 Hz */
	ASSERT_EQ(q.time_nanos, 1700000000000ull * 1000000);
	ASSERT_EQ(q.duration, 2500ull * 1000000);
	/* Samples: leaf first, values [count, count * period], labels. */
	ASSERT_EQ(q.ns, 2);
	ASSERT_EQ(q.s[0].nlocs, 2);
	ASSERT_EQ(q.s[0].vals[0], 6);
	ASSERT_EQ(q.s[0].vals[1], 6 * 4000000ull);
	ASSERT_EQ(q.s[0].pid, 4242);
	ASSERT_EQ(q.s[0].tid, 4243);
	ASSERT_STREQ(q.strs[q.s[0].thread], "worker");
	ASSERT_STREQ(q.strs[q.s[0].exe], "/usr/bin/app");
	ASSERT_STREQ(q.strs[q.s[1].thread], "main\xef\xbf\xbd"); /* not UTF-8: U+FFFD */
	/* Names: demangled for people, mangled as system_name. */
	ASSERT_STREQ(fn_name(&q, q.s[0].locs[0], 0),
		     "geo::Grid<unsigned long>::relax(unsigned long) const");
	ASSERT_STREQ(fn_name(&q, q.s[0].locs[0], 1), "_ZNK3geo4GridImE5relaxEm");
	ASSERT_STREQ(fn_name(&q, q.s[0].locs[1], 0), "main");
	ASSERT_STREQ(fn_name(&q, q.s[1].locs[1], 0), "bad\xef\xbf\xbd\xef\xbf\xbd");
	/* The unresolved frame keeps its address and no line. */
	ASSERT(fn_name(&q, q.s[1].locs[0], 0) == NULL);
	/* Mappings: build-id, and address = start + offset - load inside
	 * [start, limit). */
	ASSERT_EQ(q.nm, 2);
	for (size_t i = 0; i < q.nl; i++) {
		const __typeof__(q.m[0]) *m = &q.m[q.l[i].mapping - 1];
		ASSERT(q.l[i].addr >= m->start && q.l[i].addr < m->limit);
	}
	ASSERT_STREQ(q.strs[q.m[0].file], "/usr/bin/app");
	ASSERT_STREQ(q.strs[q.m[0].bid], BID);
	ASSERT_EQ(q.m[0].has_fn, 1);
	ASSERT_EQ(q.m[1].has_fn, 0); /* [anon]: a symboliser may try */
	ASSERT(q.m[0].limit <= q.m[1].start); /* side by side */
	uint64_t relax = 0;
	for (size_t i = 0; i < q.nl; i++)
		if (q.l[i].id == q.s[0].locs[0])
			relax = q.l[i].addr;
	ASSERT_EQ(relax, q.m[0].start + 0x1234 - 0x1000);
	prof_free(&q);
	free(buf);

	/* --no-demangle, wall mode. */
	o = (struct oxc_pprof_opts){ OXP_MODE_WALL, 100, 1, 0 };
	buf = write_mem(p, &o, &len);
	parse(buf, len, &q);
	ASSERT_STREQ(q.strs[q.st_type[1]], "wall");
	ASSERT_EQ(q.period, 10000000);
	ASSERT_STREQ(fn_name(&q, q.s[0].locs[0], 0), "_ZNK3geo4GridImE5relaxEm");
	prof_free(&q);
	free(buf);
	oxc_pprof_free(p);
}

TEST(pprof_refuses_undefined_frames_and_reports_write_errors)
{
	struct oxc_pprof *p = oxc_pprof_new();
	static const uint32_t s1[] = { 5 };
	static const struct oxp_row rows[] = {
		{ { "t", 1 }, { "/x", 2 }, 1, 1, 1, 1, 1, s1 },
	};
	struct oxp_msg m = { .type = OXP_MSG_QUERY_ROWS };
	m.u.query_rows = (struct oxp_query_rows){ .nrows = 1, .rows = rows };
	ASSERT_EQ(oxc_pprof_add(p, &m), -EPROTO);
	oxc_pprof_free(p);

	p = oxc_pprof_new();
	feed(p);
	FILE *f = fopen("/dev/full", "w");
	if (!f) {
		oxc_pprof_free(p);
		OXT_SKIP("no /dev/full");
	}
	struct oxc_pprof_opts o = { OXP_MODE_CPU, 100, 0, 0 };
	int r = oxc_pprof_write(p, &o, f, NULL);
	fclose(f);
	ASSERT_MSG(r == -ENOSPC, "write to /dev/full: %d", r);
	oxc_pprof_free(p);
}

/* ---- names ---- */

static void expect_demangled(const char *in, const char *want)
{
	char *d = oxc_demangle(in);
	if (!want) {
		ASSERT_MSG(d == NULL, "%s demangled to %s", in, d);
		return;
	}
	ASSERT_MSG(d != NULL, "%s did not demangle", in);
	ASSERT_STREQ(d, want);
	free(d);
}

TEST(demangle_cxx_rust_and_the_rest)
{
	expect_demangled("_ZN2ns3fooIiEEvT_", "void ns::foo<int>(int)");
	expect_demangled("_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()() const");
	expect_demangled("_Z1fv.cold", "f() [clone .cold]");
	/* Rust: legacy (its hash dropped) and v0. */
	expect_demangled("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write");
	expect_demangled("_RNvCs1234_7mycrate3foo", "mycrate::foo");
	/* Not mangled, or not validly: shown as they are. */
	expect_demangled("main", NULL);
	expect_demangled("_", NULL);
	expect_demangled("", NULL);
	expect_demangled("_Z", NULL);
	expect_demangled("_ZN3foo", NULL);
	/* 8 KiB of something that starts like a mangled name. */
	static char junk[8193];
	memset(junk, 'N', 8192);
	memcpy(junk, "_ZN", 3);
	char *d = oxc_demangle(junk);
	free(d); /* whatever it says, it returns */
	/* Deep nesting: libiberty's recursion limit, not our stack. */
	static char deep[8193];
	strcpy(deep, "_Z1fI");
	for (size_t i = strlen(deep); i < 8000; i += 2)
		memcpy(deep + i, "PF", 2);
	free(oxc_demangle(deep));
}

TEST(demangle_folded_keeps_frames_apart)
{
	char *d = oxc_demangle_folded("main;_ZN2ns3fooIiEEvT_;leaf");
	ASSERT(d);
	ASSERT_STREQ(d, "main;void ns::foo<int>(int);leaf");
	free(d);
	ASSERT(oxc_demangle_folded("main;work;leaf") == NULL); /* nothing to do */
	ASSERT(oxc_demangle_folded("") == NULL);
	d = oxc_demangle_folded(";_Z1fv;");
	ASSERT(d);
	ASSERT_STREQ(d, ";f();");
	free(d);
}
