/*
 * jit.c - a tiny "JIT": copies a counting loop into fresh executable
 * memory, announces it in /tmp/perf-PID.map as perf's JIT convention says,
 * and spends its time there.  Usage: jit [ITERATIONS_MILLIONS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* mov rax, rdi; 1: dec rax; jnz 1b; ret */
static const uint8_t code[] = { 0x48, 0x89, 0xf8, 0x48, 0xff, 0xc8, 0x75, 0xfb, 0xc3 };

int main(int argc, char **argv)
{
	long m = argc > 1 ? atol(argv[1]) : 400;
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0)
		return 1;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "%lx %zx jitted_hot_loop\n", (unsigned long)(uintptr_t)p, sizeof(code));
	fclose(f);
	void (*fn)(uint64_t) = (void (*)(uint64_t))(uintptr_t)p;
	for (long i = 0; i < m; i++)
		fn(1000000);
	unlink(path); /* the agent read it while we ran */
	return 0;
}
