/*
 * fail.h - how oxprofctl reports a failure, in text and in JSON.
 */
#ifndef OXC_FAIL_H
#define OXC_FAIL_H

/*
 * Report a failure: "oxprofctl: MSG" on stderr and, when json is set, the
 * document {"error": {"code": code, "message": MSG}} on stdout, so scripts
 * always get one JSON document.  Returns 1, the failure exit code.
 */
int oxc_fail(int json, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
