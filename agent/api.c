/* api.c - public entry points; being written (see issue 4). */
#include <errno.h>

#include "oxprof.h"

int oxprof_start(const struct oxprof_options *opts) { (void)opts; return -ENOSYS; }
int oxprof_pause(void) { return -ENOSYS; }
int oxprof_unpause(void) { return -ENOSYS; }
int oxprof_stop(void) { return -ENOSYS; }
int oxprof_status(struct oxprof_status *st) { (void)st; return -ENOSYS; }
int oxprof_dump_folded(int fd) { (void)fd; return -ENOSYS; }
