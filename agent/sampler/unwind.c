/*
 * unwind.c - stack capture for the signal handler, and the loader-text
 * range the handler uses to skip unsafe samples.
 *
 * libunwind 1.6.2 has no unw_backtrace2 (the "trace from this ucontext"
 * entry point arrived in 1.7), and its fast tracer tdep_trace is hidden.
 * unw_backtrace() is the only public door to the fast path (~0.4 us for 37
 * frames, against ~12 us for an unw_init_local + unw_step loop).  It starts
 * in the handler, crosses the kernel's signal frame (__restore_rt, which
 * the tracer understands) and carries on into the interrupted code; we then
 * drop everything up to the interrupted pc.  After a signal frame the
 * tracer records the exact pc; callers are recorded as return address - 1
 * (inside the call instruction), which symbolises to the right line.
 */
#include <libunwind.h>

#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <ucontext.h>

#include "sampler_int.h"

struct ldso_find {
	uintptr_t base;
	uintptr_t lo, hi;
};

static int ldso_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct ldso_find *f = data;
	int match = f->base ? info->dlpi_addr == f->base
			    : (info->dlpi_name &&
			       strstr(info->dlpi_name, "/ld-linux"));
	if (!match)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		uintptr_t hi = lo + ph->p_memsz;
		if (!f->lo || lo < f->lo)
			f->lo = lo;
		if (hi > f->hi)
			f->hi = hi;
	}
	return 1;
}

/*
 * Find the loader's text and warm libunwind up on this thread: its first
 * call runs one-time initialisation (pthread_once, key creation, the
 * per-thread trace cache) that we would rather not do in a handler.
 * Returns 0; a missing loader (static binary) just means no range.
 */
int oxa__unwind_init(void)
{
	struct ldso_find f = { .base = getauxval(AT_BASE) };
	dl_iterate_phdr(ldso_cb, &f);
	if (!f.hi) {
		f.base = 0;
		dl_iterate_phdr(ldso_cb, &f);
	}
	oxa__s.ldso_lo = f.lo;
	oxa__s.ldso_hi = f.hi;
	void *warm[8];
	unw_backtrace(warm, 8);
	return 0;
}

/* Async-signal-safe. */
int oxa__in_loader(uintptr_t pc)
{
	return pc >= oxa__s.ldso_lo && pc < oxa__s.ldso_hi;
}

/*
 * Capture the interrupted stack into buf, which has room for depth +
 * OXA_HANDLER_FRAMES entries (the handler's own frames are traced first,
 * then removed).  On return buf[0] is the interrupted pc and the result is
 * the frame count, at most depth.  A negative result -1 means the trace
 * never reached the interrupted frame: buf[0] holds the pc alone, and the
 * caller counts an unwind failure.
 * Async-signal-safe as libunwind's local tracer is: no malloc; the first
 * sample of a thread mmaps its trace cache (oxa__unwind_init and the
 * pthread_create trampoline warm it up outside signal context).
 */
int oxa__unwind(const void *ucv, uintptr_t *buf, unsigned depth)
{
	const ucontext_t *uc = ucv;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	int n = unw_backtrace((void **)buf, (int)depth + OXA_HANDLER_FRAMES);
	int k = 0;
	while (k < n && k < OXA_HANDLER_FRAMES && buf[k] != pc)
		k++;
	if (k >= n || k >= OXA_HANDLER_FRAMES) {
		buf[0] = pc;
		return -1;
	}
	int m = n - k;
	if (m > (int)depth)
		m = (int)depth;
	if (k)
		memmove(buf, buf + k, (size_t)m * sizeof(*buf));
	return m;
}
