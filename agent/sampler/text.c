/*
 * text.c - the code the handler may read: the readable, executable
 * segments of the modules the loader knows (dl_iterate_phdr), so that
 * kernel_entry() in sighandler.c looks at the bytes before an interrupted
 * pc only where they are surely mapped and readable.  A pc outside every
 * known segment (JIT code, a jump to nowhere, an execute-only mapping) is
 * never dereferenced.
 *
 * The table is rebuilt in normal context under the control lock (at arm
 * and on the drain thread's tick) and read by the handler as a seqlock:
 * the reader decides on a consistent copy or not at all, and only then
 * touches the code it decided is mapped.
 */
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sampler_int.h"

#define OXA_MAX_TEXT 1024 /* segments; more modules are simply not known */

struct text_range {
	uintptr_t lo, hi;
};

static struct text_range text[OXA_MAX_TEXT];
static _Atomic unsigned text_n;
static _Atomic unsigned text_seq; /* odd while a rebuild is under way */

struct text_build {
	unsigned n;
};

static int text_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct text_build *b = data;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum && b->n < OXA_MAX_TEXT; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || (ph->p_flags & (PF_X | PF_R)) != (PF_X | PF_R))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		__atomic_store_n(&text[b->n].lo, lo, __ATOMIC_RELAXED);
		__atomic_store_n(&text[b->n].hi, lo + ph->p_memsz, __ATOMIC_RELAXED);
		b->n++;
	}
	return 0;
}

/* The loader's counts of objects loaded and unloaded so far. */
static int count_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	unsigned long long *c = data;
	(void)size;
	c[0] = info->dlpi_adds;
	c[1] = info->dlpi_subs;
	return 1;
}

/* Under the control lock.  Rebuilds only when the loader's counts moved
 * since the last build, so the handler rarely finds a rebuild under way. */
void oxa__text_refresh(void)
{
	static unsigned long long last[2];
	static int built;
	unsigned long long now[2] = { 0, 0 };
	dl_iterate_phdr(count_cb, now);
	if (built && now[0] == last[0] && now[1] == last[1])
		return;
	struct text_build b = { 0 };
	unsigned seq = atomic_load(&text_seq);
	atomic_store(&text_seq, seq + 1);
	atomic_thread_fence(memory_order_seq_cst);
	dl_iterate_phdr(text_cb, &b);
	atomic_store(&text_n, b.n);
	atomic_store(&text_seq, seq + 2);
	last[0] = now[0];
	last[1] = now[1];
	built = 1;
}

/* Is [pc - before, pc) inside one known segment?  Async-signal-safe; a
 * rebuild under way reads as "no". */
int oxa__text_has(uintptr_t pc, uintptr_t before)
{
	unsigned s0 = atomic_load(&text_seq);
	if (s0 & 1)
		return 0;
	unsigned n = atomic_load(&text_n);
	int found = 0;
	for (unsigned i = 0; i < n && i < OXA_MAX_TEXT && !found; i++) {
		uintptr_t lo = __atomic_load_n(&text[i].lo, __ATOMIC_RELAXED);
		uintptr_t hi = __atomic_load_n(&text[i].hi, __ATOMIC_RELAXED);
		found = pc >= lo + before && pc <= hi;
	}
	atomic_thread_fence(memory_order_seq_cst);
	return found && atomic_load(&text_seq) == s0;
}
