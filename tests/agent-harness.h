/* agent-harness.h - run a real program with the real agent preloaded. */
#ifndef OXT_AGENT_HARNESS_H
#define OXT_AGENT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Run argv with LD_PRELOAD set to the agent and the NULL-terminated
 * "NAME=value" list env added; stdout goes to out (if not NULL).  Returns
 * the wait status. */
int oxt_run_agent(char *const argv[], const char *const env[], char *out, size_t outlen);

/* The same, without waiting: returns the child's pid (stdout discarded). */
pid_t oxt_spawn_agent(char *const argv[], const char *const env[]);

/* Folded-stack file summary: samples whose leaf is each name. */
struct oxt_folded {
	uint64_t total;
	uint64_t leaf[8];
	int lines;
};
/* Count leaves named in names[0..n) in the folded file at path. */
int oxt_read_folded(const char *path, const char *const *names, int n, struct oxt_folded *f);
/* CPU seconds of finished children, for rate checks. */
double oxt_children_cpu(void);
/* A fresh temp dir (mkdtemp) in the case's own (oxt_case_dir). */
void oxt_tmpdir(char *buf, size_t len);

#endif
