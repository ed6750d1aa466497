/* access.c - access decisions from SO_PEERCRED and the group database. */
#include "access.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int oxd_access_peer(int fd, pid_t *pid, uid_t *uid, gid_t *gid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	*pid = cr.pid;
	*uid = cr.uid;
	*gid = cr.gid;
	return 0;
}

/* Whether uid (with primary gid) is in group want: the peer's own gid, or a
 * supplementary group of the uid's account. */
static int in_group(uid_t uid, gid_t gid, gid_t want)
{
	if (gid == want)
		return 1;
	struct passwd *pw = getpwuid(uid);
	if (!pw)
		return 0;
	gid_t groups[256];
	int n = (int)(sizeof(groups) / sizeof(groups[0]));
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		n = (int)(sizeof(groups) / sizeof(groups[0])); /* the first 256 */
	for (int i = 0; i < n; i++)
		if (groups[i] == want)
			return 1;
	return 0;
}

int oxd_access_control(const struct oxd_config *cfg, uid_t uid, gid_t gid, char *why,
		       size_t whylen)
{
	if (uid == 0 || uid == geteuid())
		return 1;
	for (size_t i = 0; i < cfg->nallow_uids; i++)
		if (cfg->allow_uids[i] == uid)
			return 1;
	for (size_t i = 0; i < cfg->nallow_gids; i++)
		if (in_group(uid, gid, cfg->allow_gids[i]))
			return 1;
	snprintf(why, whylen,
		 "permission denied: uid %u is not allowed to control oxprofd; run as root or "
		 "the daemon's user, or start oxprofd with --allow-user/--allow-group",
		 (unsigned)uid);
	return 0;
}

int oxd_access_agent(const struct oxd_config *cfg, uid_t uid, gid_t gid, char *why,
		     size_t whylen)
{
	if (!cfg->has_agent_group || uid == 0 || uid == geteuid() ||
	    in_group(uid, gid, cfg->agent_group))
		return 1;
	snprintf(why, whylen,
		 "permission denied: uid %u may not report to oxprofd; it accepts agents of "
		 "group %u only (--agent-group)", (unsigned)uid, (unsigned)cfg->agent_group);
	return 0;
}
