/*
 * access.h - who may do what, from the kernel's word (SO_PEERCRED).
 */
#ifndef OXD_ACCESS_H
#define OXD_ACCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* The peer of a connected Unix socket.  0 or -errno. */
int oxd_access_peer(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/*
 * May this peer control and query the daemon?  Root, the daemon's own uid,
 * --allow-user, and members (primary or supplementary, per the group
 * database) of an --allow-group.  1 yes, 0 no; when no, why gets one line
 * for the person refused.
 */
int oxd_access_control(const struct oxd_config *cfg, uid_t uid, gid_t gid, char *why,
		       size_t whylen);

/* May this peer report samples?  Anyone, unless --agent-group is set. */
int oxd_access_agent(const struct oxd_config *cfg, uid_t uid, gid_t gid, char *why,
		     size_t whylen);

#endif
