/* error.c - messages for the codes oxprof returns. */
#include <errno.h>
#include <string.h>

#include "oxp/oxp.h"

const char *oxp_strerror(int code)
{
	switch (-code) {
	case 0: return "success";
	case OXP_EVERSION: return "protocol version mismatch";
	case OXP_ELIMIT: return "message exceeds a protocol limit";
	case OXP_ESHAPE: return "malformed message (wrong type or layout)";
	case OXP_ENODAEMON: return "no oxprofd is listening at the socket";
	case OXP_ENOMATCH: return "the selector matched no agent";
	case OXP_EUNTRUSTED: return "the socket is not owned by a trusted daemon";
	case EMSGSIZE: return "frame length over the cap";
	case EBADMSG: return "malformed frame (zero length, truncated or not msgpack)";
	default: return strerror(-code);
	}
}
