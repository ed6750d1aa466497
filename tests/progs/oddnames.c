/*
 * oddnames.c - code whose function names are hostile: a "JIT" (as in
 * jit.c) announces three copies of a counting loop in /tmp/perf-PID.map
 * under names no compiler would emit - 8 KiB long, bytes that are not
 * UTF-8, and HTML/JSON/folded metacharacters - and spends its time in
 * them, 3:2:1.  Usage: oddnames [ITERATIONS_MILLIONS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* mov rax, rdi; 1: dec rax; jnz 1b; ret */
static const uint8_t code[] = { 0x48, 0x89, 0xf8, 0x48, 0xff, 0xc8, 0x75, 0xfb, 0xc3 };

#define LONG_NAME 8192

int main(int argc, char **argv)
{
	long m = argc > 1 ? atol(argv[1]) : 300;
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	for (int i = 0; i < 3; i++)
		memcpy(p + 64 * i, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0)
		return 1;
	static char longname[LONG_NAME + 1];
	memset(longname, 'L', LONG_NAME);
	memcpy(longname, "long_", 5);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	uintptr_t a = (uintptr_t)p;
	fprintf(f, "%lx %zx %s\n", (unsigned long)a, sizeof(code), longname);
	fprintf(f, "%lx %zx bad_utf8_\xff\xfe\xc3(_\xed\xa0\x80_end\n", (unsigned long)(a + 64),
		sizeof(code));
	fprintf(f, "%lx %zx meta_<b>&amp;\"q\"'s';semi colon\\x\n", (unsigned long)(a + 128),
		sizeof(code));
	if (fclose(f) != 0)
		return 1;
	void (*fn[3])(uint64_t);
	for (int i = 0; i < 3; i++)
		fn[i] = (void (*)(uint64_t))(a + 64 * (uintptr_t)i);
	for (long i = 0; i < m; i++) {
		fn[0](3000000);
		fn[1](2000000);
		fn[2](1000000);
	}
	unlink(path); /* the agent read it while we ran */
	return 0;
}
