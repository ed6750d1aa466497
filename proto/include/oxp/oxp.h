/*
 * oxp.h - the oxprof protocol library: framing, encoding, validated
 * decoding, the socket-path rule, blocking socket helpers, error strings.
 *
 * Every function returns 0 (or a count) on success and a negative errno or
 * -OXP_E* code on failure.  Nothing here keeps global state.
 */
#ifndef OXP_OXP_H
#define OXP_OXP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"
#include "protocol.h"

/* ---- growable byte buffer, the encoder's output ---- */

struct oxp_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void oxp_buf_init(struct oxp_buf *b);
void oxp_buf_destroy(struct oxp_buf *b);
/* Forget the contents, keep the memory. */
void oxp_buf_reset(struct oxp_buf *b);
/* Ensure room for n more bytes.  0 or -ENOMEM. */
int oxp_buf_reserve(struct oxp_buf *b, size_t n);

/* ---- encoding ---- */

/*
 * Append one framed message (length header + msgpack) to b.  Returns 0,
 * -EINVAL for an unknown type or out-of-range field, -EMSGSIZE when the
 * frame would exceed OXP_FRAME_MAX or OXP_MAX_OBJECTS (b is left as it was,
 * so a caller can split the message), or -ENOMEM.
 */
int oxp_encode(struct oxp_buf *b, const struct oxp_msg *m);

/* msgpack objects a SAMPLES message with these contents needs; callers use
 * it to cut batches before oxp_encode would refuse them. */
size_t oxp_samples_objects(const struct oxp_samples *s);

/* ---- stream reader: framing over a nonblocking socket ---- */

/*
 * Collects bytes and yields whole frames.  The declared length of a frame is
 * checked against the cap as soon as its 4 header bytes arrive, before any
 * of it is buffered; the buffer grows only to what a valid frame needs.
 * Errors are sticky: after one, every call returns it again.
 */
struct oxp_reader {
	uint8_t *buf;
	size_t cap;       /* allocated */
	size_t len;       /* bytes held */
	size_t off;       /* start of the first unconsumed byte */
	uint32_t frame_max;
	int err;
};

/* frame_max 0 means OXP_FRAME_MAX.  0 or -ENOMEM. */
int oxp_reader_init(struct oxp_reader *r, uint32_t frame_max);
void oxp_reader_destroy(struct oxp_reader *r);
/*
 * Space for the next read: *len is at least 1 unless the reader holds an
 * error.  For libuv's alloc callback.  0, -ENOMEM or the sticky error.
 */
int oxp_reader_space(struct oxp_reader *r, uint8_t **ptr, size_t *len);
/* The caller wrote n bytes into the space.  0 or the sticky error. */
int oxp_reader_commit(struct oxp_reader *r, size_t n);
/* Copy in as much of data as fits; returns bytes taken (>= 0) or error.
 * Call oxp_reader_next until it returns 0 before feeding the rest. */
ssize_t oxp_reader_feed(struct oxp_reader *r, const void *data, size_t n);
/*
 * Next whole frame: returns 1 and sets *frame and *len to its msgpack bytes
 * (valid until the next call on r), 0 when more bytes are needed,
 * -EMSGSIZE for an over-cap length, -EBADMSG for a zero length.
 */
int oxp_reader_next(struct oxp_reader *r, const uint8_t **frame, size_t *len);
/* Bytes held that are not yet a whole frame. */
size_t oxp_reader_pending(const struct oxp_reader *r);

/* ---- decoding ---- */

struct oxp_decoder; /* opaque: owns the memory decoded messages borrow */

/* 0 or -ENOMEM; free with oxp_decoder_free. */
int oxp_decoder_new(struct oxp_decoder **out);
void oxp_decoder_free(struct oxp_decoder *d);
/*
 * Decode one frame's msgpack bytes into m, checking every limit in
 * protocol.h before allocating, then the exact shape of the message.
 * Returns 0, -OXP_EVERSION (m->type is still set; the version is in
 * *peer_version if not NULL), -OXP_ELIMIT, -OXP_ESHAPE, -EBADMSG (not
 * msgpack), or -ENOMEM.  m borrows from d until the next call.
 */
int oxp_decoder_decode(struct oxp_decoder *d, const uint8_t *frame, size_t len,
		       struct oxp_msg *m, uint32_t *peer_version);

/* ---- socket-path rule (PROTOCOL.md, "Socket path") ---- */

enum {
	OXP_PATH_SERVER = 1, /* the caller will create the socket */
};

/*
 * The socket path: explicit if not NULL/empty, else $OXPROF_SOCKET, else
 * /run/oxprof/oxprof.sock when that directory is usable (exists and is
 * searchable; for a server, also writable or creatable), else
 * $XDG_RUNTIME_DIR/oxprof/oxprof.sock, else /tmp/oxprof-$UID/oxprof.sock.
 * 0 or -ENAMETOOLONG.  env is getenv or secure_getenv.
 */
int oxp_socket_path(char *buf, size_t len, const char *explicit_path,
		    unsigned flags, char *(*env)(const char *));

/* True for the per-user fallbacks ($XDG_RUNTIME_DIR/oxprof/..., and
 * /tmp/oxprof-$UID/...): a server creates their directory 0700. */
int oxp_socket_path_private(const char *path, char *(*env)(const char *));

/* What a file of this mode is, for a person: "a regular file", "a
 * directory", ...; "a socket" for a socket. */
const char *oxp_mode_kind(unsigned mode);

/* ---- trust rule (PROTOCOL.md, "Trust") ---- */

/*
 * Whom the socket, the directories leading to it and the daemon behind it
 * may belong to: root, self (the user), and extra, the uid named by
 * OXPROF_DAEMON_USER (-1: none).
 */
struct oxp_trust {
	uid_t self;
	int extra;
};

/* self, and extra from $OXPROF_DAEMON_USER (a uid or a user name).  0, or
 * -EINVAL with why when it names no user (extra is then -1). */
int oxp_trust_init(struct oxp_trust *t, uid_t self, char *(*env)(const char *),
		   char *why, size_t len);
int oxp_uid_trusted(const struct oxp_trust *t, uid_t uid);
/*
 * Whether the socket at path (which may not exist yet) can be trusted: every
 * directory from / down to its own, on the path as written and as resolved,
 * is owned by a trusted uid and not writable by others unless sticky; a
 * symlink on the way is owned by a trusted uid; the socket, if there, is a
 * socket owned by a trusted uid.  Checked with lstat, never following the
 * last link.  0 (also when something is missing: connect or bind will say
 * so), -OXP_EUNTRUSTED with why (naming what and how to fix it), or -errno.
 */
int oxp_socket_trusted(const struct oxp_trust *t, const char *path, char *why, size_t len);
/* Whether the process listening on the connected fd (SO_PEERCRED) runs as
 * a trusted uid.  0 or -OXP_EUNTRUSTED with why (path is for the message). */
int oxp_peer_trusted(const struct oxp_trust *t, int fd, const char *path, char *why, size_t len);

/* ---- blocking socket helpers (client, agent, tests) ---- */

/* Connect a SOCK_STREAM|SOCK_CLOEXEC Unix socket.  *fd on success;
 * -OXP_ENODAEMON when nothing listens (ENOENT, ECONNREFUSED at a socket),
 * -ENOTSOCK when something else is at path (oxp_mode_kind says what), else
 * -errno. */
int oxp_connect(const char *path, int *fd);
/* Write all of b with MSG_NOSIGNAL, waiting up to timeout_ms (-1 forever)
 * in total.  0, -ETIMEDOUT, -EPIPE or -errno. */
int oxp_send_all(int fd, const void *data, size_t len, int timeout_ms);
/*
 * Read until one whole message is decoded into m (borrowed from d).  Returns
 * 0, -ETIMEDOUT, -ECONNRESET when the peer closed, or a reader/decoder error.
 */
int oxp_recv_msg(int fd, struct oxp_reader *r, struct oxp_decoder *d,
		 struct oxp_msg *m, int timeout_ms);

/* ---- errors ---- */

/* A message for any code this library or the daemon returns (negative). */
const char *oxp_strerror(int code);

/* Small helpers for building messages. */
static inline struct oxp_str oxp_str_c(const char *s)
{
	struct oxp_str r = { s, 0 };
	if (s)
		while (s[r.len])
			r.len++;
	return r;
}

#endif
