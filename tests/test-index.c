/*
 * test-index.c - the one hash index (common/index.c) on its own, and the
 * agent's drain-side tables built on it (strings, frames, stacks, thread
 * names), linked directly.  calloc is wrapped (-Wl,--wrap=calloc) so a
 * case can make the index's growth fail: the agent's tables must answer
 * -ENOMEM and stay whole, never abort their host.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drain/agent.h"
#include "ox/index.h"
#include "task.h"

static int fail_calloc; /* calls of calloc to fail from now on */

void *__real_calloc(size_t n, size_t sz);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_calloc(size_t n, size_t sz)
{
	if (fail_calloc) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, sz);
}

static uint32_t u32_hash(const void *arr, uint32_t id)
{
	return ox_hash_u64(((const uint32_t *)arr)[id]);
}

static int u32_eq(const void *arr, uint32_t id, const void *key)
{
	return ((const uint32_t *)arr)[id] == *(const uint32_t *)key;
}

static uint32_t find(const struct ox_index *x, const uint32_t *keys, uint32_t k)
{
	return *ox_index_find(x, ox_hash_u64(k), u32_eq, keys, &k);
}

TEST(index_finds_what_it_holds_through_growth)
{
	enum { N = 100000 };
	uint32_t *keys = malloc(N * sizeof(*keys));
	ASSERT(keys);
	struct ox_index x = { 0 };
	for (uint32_t i = 0; i < N; i++) {
		uint32_t k = i * 2654435761u;
		ASSERT_EQ(ox_index_growth(&x) > 0, !x.slots || (x.n + 1) * 2 > x.mask + 1);
		ASSERT_EQ(ox_index_reserve(&x, u32_hash, keys), 0);
		uint32_t *s = ox_index_find(&x, ox_hash_u64(k), u32_eq, keys, &k);
		ASSERT_EQ(*s, 0);
		keys[i] = k;
		ox_index_add(&x, s, i);
	}
	ASSERT_EQ(x.n, N);
	ASSERT(x.n * 2 <= x.mask + 1);
	for (uint32_t i = 0; i < N; i++)
		ASSERT_EQ(find(&x, keys, keys[i]), i + 1);
	ASSERT_EQ(find(&x, keys, 1), 0);
	ASSERT_EQ(ox_index_rebuild(&x, N / 2, u32_hash, keys), 0);
	ASSERT_EQ(find(&x, keys, keys[7]), 8);
	ASSERT_EQ(find(&x, keys, keys[N - 1]), 0);
	ox_index_destroy(&x);
	free(keys);
}

/* A table with a fixed budget sizes its index once: init(n) holds n
 * without growing, and a refill after compaction keeps the slots. */
TEST(index_init_holds_n_and_refill_keeps_its_size)
{
	enum { N = 1000 };
	uint32_t keys[N];
	struct ox_index x;
	ASSERT_EQ(ox_index_init(&x, N), 0);
	uint32_t mask = x.mask;
	for (uint32_t i = 0; i < N; i++) {
		ASSERT_EQ(ox_index_growth(&x), 0);
		keys[i] = i * 7 + 3;
		uint32_t *s = ox_index_find(&x, ox_hash_u64(keys[i]), u32_eq, keys, &keys[i]);
		ASSERT_EQ(*s, 0);
		ox_index_add(&x, s, i);
	}
	ASSERT_EQ(x.mask, mask);
	/* Compact: keep the odd ones, in order. */
	uint32_t kept = 0;
	for (uint32_t i = 1; i < N; i += 2)
		keys[kept++] = keys[i];
	ox_index_refill(&x, kept, u32_hash, keys);
	ASSERT_EQ(x.mask, mask);
	ASSERT_EQ(x.n, kept);
	for (uint32_t i = 0; i < kept; i++)
		ASSERT_EQ(find(&x, keys, keys[i]), i + 1);
	ASSERT_EQ(find(&x, keys, 3), 0); /* was id 0, dropped */
	ox_index_destroy(&x);
	ASSERT_EQ(ox_index_init(&x, 0), 0);
	ASSERT_EQ(x.mask + 1, OX_INDEX_MIN);
	ox_index_destroy(&x);
}

/* Out of memory while growing: -ENOMEM, and the index as it was. */
TEST(index_growth_failure_is_enomem_and_leaves_it_whole)
{
	enum { N = 64 };
	uint32_t keys[N];
	struct ox_index x = { 0 };
	uint32_t i = 0;
	for (; ox_index_growth(&x) == 0 || i == 0; i++) {
		ASSERT_EQ(ox_index_reserve(&x, u32_hash, keys), 0);
		keys[i] = i + 100;
		ox_index_add(&x, ox_index_find(&x, ox_hash_u64(keys[i]), u32_eq, keys, &keys[i]), i);
	}
	struct ox_index before = x;
	fail_calloc = 1;
	ASSERT_EQ(ox_index_reserve(&x, u32_hash, keys), -ENOMEM);
	ASSERT_EQ(ox_index_rebuild(&x, i, u32_hash, keys), -ENOMEM);
	struct ox_index y;
	ASSERT_EQ(ox_index_init(&y, 10), -ENOMEM);
	fail_calloc = 0;
	ASSERT(memcmp(&x, &before, sizeof(x)) == 0);
	for (uint32_t j = 0; j < i; j++)
		ASSERT_EQ(find(&x, keys, keys[j]), j + 1);
	ASSERT_EQ(ox_index_reserve(&x, u32_hash, keys), 0);
	ASSERT(x.mask > before.mask);
	for (uint32_t j = 0; j < i; j++)
		ASSERT_EQ(find(&x, keys, keys[j]), j + 1);
	ox_index_destroy(&x);
}

/* ---- the agent's tables over it (drain thread) ---- */

TEST(agent_strtab_ids_are_stable_and_enomem_is_survived)
{
	enum { N = 5000 };
	struct oxa_strtab t;
	char buf[32];
	ASSERT_EQ(oxa_strtab_init(&t), 0);
	for (uint32_t i = 0; i < N; i++) {
		uint32_t id;
		int n = snprintf(buf, sizeof(buf), "fn_%u", i);
		ASSERT_EQ(oxa_strtab_intern(&t, buf, (size_t)n, &id), 0);
		ASSERT_EQ(id, i);
	}
	/* A prefix of another name is a name of its own. */
	uint32_t id;
	ASSERT_EQ(oxa_strtab_intern(&t, "fn_1", 3, &id), 0);
	ASSERT_EQ(id, N);
	ASSERT_STREQ(t.strs[id], "fn_");
	for (uint32_t i = 0; i < N; i += 97) {
		int n = snprintf(buf, sizeof(buf), "fn_%u", i);
		ASSERT_EQ(oxa_strtab_intern(&t, buf, (size_t)n, &id), 0);
		ASSERT_EQ(id, i);
	}
	/* Fill up to the next growth, then make it fail. */
	uint32_t next = N + 1;
	while (ox_index_growth(&t.index) == 0) {
		int n = snprintf(buf, sizeof(buf), "more_%u", next);
		ASSERT_EQ(oxa_strtab_intern(&t, buf, (size_t)n, &id), 0);
		ASSERT_EQ(id, next++);
	}
	fail_calloc = 1;
	ASSERT_EQ(oxa_strtab_intern(&t, "new", 3, &id), -ENOMEM);
	fail_calloc = 0;
	ASSERT_EQ(t.n, next);
	ASSERT_EQ(oxa_strtab_intern(&t, "fn_42", 5, &id), 0);
	ASSERT_EQ(id, 42);
	ASSERT_EQ(oxa_strtab_intern(&t, "new", 3, &id), 0);
	ASSERT_EQ(id, next);
	oxa_strtab_destroy(&t);
}

TEST(agent_frames_one_id_per_pc)
{
	enum { N = 20000 };
	struct oxa_strtab strs;
	struct oxa_symbols *syms;
	struct oxa_frames f;
	ASSERT_EQ(oxa_strtab_init(&strs), 0);
	ASSERT_EQ(oxa_symbols_new(&syms, &strs), 0);
	ASSERT_EQ(oxa_frames_init(&f, syms), 0);
	/* Where no module is mapped: every pc is [unknown], yet its own id. */
	for (uint32_t i = 0; i < N; i++) {
		uint32_t id;
		ASSERT_EQ(oxa_frames_id(&f, (uintptr_t)0x1000 + i * 16, 0, &id), 0);
		ASSERT_EQ(id, i);
	}
	for (uint32_t i = 0; i < N; i += 101) {
		uint32_t id;
		ASSERT_EQ(oxa_frames_id(&f, (uintptr_t)0x1000 + i * 16, 0, &id), 0);
		ASSERT_EQ(id, i);
		ASSERT_EQ(f.v[id].pc, (uintptr_t)0x1000 + i * 16);
	}
	ASSERT_EQ(f.n, N);
	oxa_frames_destroy(&f);
	oxa_symbols_free(syms);
	oxa_strtab_destroy(&strs);
}

/* Samples of one stack fold into one entry (by thread, state and pcs);
 * a full table refuses new stacks only; compaction keeps what is held and
 * its index finds it at its new place. */
TEST(agent_stacks_fold_refuse_and_compact)
{
	struct oxa_stacks t;
	ASSERT_EQ(oxa_stacks_init(&t, 0), 0); /* the smallest: 64 entries */
	size_t cap = t.ents_cap;
	uintptr_t ips[4] = { 0x10, 0x20, 0x30, 0 };
	for (size_t i = 0; i < cap; i++) {
		ips[3] = 0x1000 + i;
		ASSERT_EQ(oxa_stacks_add(&t, 7, 0, ips, 4, 1), 0);
	}
	ASSERT_EQ(t.nents, cap);
	ips[3] = 0x1000;
	ASSERT_EQ(oxa_stacks_add(&t, 7, 0, ips, 4, 2), 0);   /* folds */
	ASSERT_EQ(oxa_stacks_add(&t, 8, 0, ips, 4, 1), -ENOSPC); /* another thread */
	ASSERT_EQ(oxa_stacks_add(&t, 7, 1, ips, 4, 1), -ENOSPC); /* another state */
	ASSERT_EQ(oxa_stacks_add(&t, 7, 0, ips, 3, 1), -ENOSPC); /* a prefix */
	ASSERT_EQ(t.ents[0].pending, 3);
	ASSERT_EQ(oxa_stacks_pending(&t), cap + 2);
	/* Send the first half (inflight), discard the rest, compact. */
	for (size_t i = 0; i < cap / 2; i++) {
		t.ents[i].inflight = t.ents[i].pending;
		t.ents[i].pending = 0;
	}
	ASSERT_EQ(oxa_stacks_discard_pending(&t), cap - cap / 2);
	oxa_stacks_compact(&t);
	ASSERT_EQ(t.nents, cap / 2);
	ASSERT_EQ(t.moved[0], 0);
	ASSERT_EQ(t.moved[cap - 1], UINT32_MAX);
	ASSERT_EQ(t.index.n, cap / 2);
	/* Held stacks are found again; a dropped one is new. */
	ips[3] = 0x1001;
	ASSERT_EQ(oxa_stacks_add(&t, 7, 0, ips, 4, 5), 0);
	ASSERT_EQ(t.nents, cap / 2);
	ASSERT_EQ(t.ents[1].pending, 5);
	ips[3] = 0x1000 + cap - 1;
	ASSERT_EQ(oxa_stacks_add(&t, 7, 0, ips, 4, 1), 0);
	ASSERT_EQ(t.nents, cap / 2 + 1);
	ASSERT_EQ(oxa_stacks_ips(&t, &t.ents[cap / 2])[3], 0x1000 + cap - 1);
	oxa_stacks_destroy(&t);
}

/* Thread names: read once per tid, by first sight; a thread that is gone
 * is "tid-N". */
TEST(agent_thread_names_once_per_tid)
{
	static struct oxa_agent a; /* large: not on the stack */
	memset(&a, 0, sizeof(a));
	ASSERT_EQ(oxa_strtab_init(&a.strs), 0);
	struct oxa_tname *t;
	uint32_t me = (uint32_t)gettid();
	char comm[64] = "", path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%u/comm", me);
	FILE *f = fopen(path, "r");
	ASSERT(f && fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	ASSERT_EQ(oxa_thread_name(&a, me, &t), 0);
	ASSERT_STREQ(a.strs.strs[t->name], comm);
	t->gen = 9;
	/* Tids no thread of ours has (past pid_max's usual range). */
	for (uint32_t i = 0; i < 300; i++) {
		char want[32];
		snprintf(want, sizeof(want), "tid-%u", 4000000000u + i);
		ASSERT_EQ(oxa_thread_name(&a, 4000000000u + i, &t), 0);
		ASSERT_EQ(t->tid, 4000000000u + i);
		ASSERT_STREQ(a.strs.strs[t->name], want);
	}
	ASSERT_EQ(oxa_thread_name(&a, me, &t), 0);
	ASSERT_EQ(t->gen, 9); /* the same entry, not read again */
	ASSERT_EQ(a.ntnames, 301);
	free(a.tnames);
	ox_index_destroy(&a.itnames);
	oxa_strtab_destroy(&a.strs);
}
