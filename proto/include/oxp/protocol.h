/*
 * protocol.h - oxprof wire protocol: version, message types, limits.
 *
 * Bump OXP_PROTOCOL_VERSION whenever the encoding of any message below, or
 * the meaning of any field, changes.  proto/PROTOCOL.md is the prose spec and
 * must change in the same commit.
 */
#ifndef OXP_PROTOCOL_H
#define OXP_PROTOCOL_H

#define OXP_PROTOCOL_VERSION 3

/* Framing: a 4-byte big-endian length, then that many bytes of one msgpack
 * value.  A zero length, or one above the reader's cap, is an error. */
#define OXP_FRAME_HDR 4
#define OXP_FRAME_MAX (1u << 20) /* default cap on the msgpack part */

/* Limits every decoder enforces before it allocates or reads a field. */
#define OXP_MAX_STR 65536       /* bytes in any string (folded stacks are long) */
#define OXP_MAX_NAME 1024       /* agents truncate symbol names to this */
#define OXP_MAX_HZ 100000       /* highest rate a fleet may ask for */
#define OXP_MAX_ARRAY 65536     /* elements in any array */
#define OXP_MAX_NEST 6          /* nesting of arrays */
#define OXP_MAX_OBJECTS 262144  /* msgpack objects in one frame */
#define OXP_MAX_DEPTH 512       /* frames in one stack */
#define OXP_MAX_PIDS 1024       /* pids in one selector */

/*
 * Message types, grouped by tens.  Every frame is the array
 * [version, type, body] where body is an array whose exact length is fixed
 * per type (see PROTOCOL.md).
 */
enum oxp_msg_type {
	/* 1-9: any connection */
	OXP_MSG_HELLO = 1,   /* peer -> daemon, first frame of a connection */
	OXP_MSG_WELCOME = 2, /* daemon -> peer, answer to HELLO */
	OXP_MSG_ERROR = 3,   /* either way; the sender closes after it */
	OXP_MSG_BYE = 4,     /* daemon -> peer: shutting down */
	/* 10-19: control connections */
	OXP_MSG_COMMAND = 10,    /* client -> daemon */
	OXP_MSG_REPLY = 11,      /* daemon -> client, ends every command */
	OXP_MSG_STATUS = 12,     /* daemon -> client, before REPLY to STATUS */
	OXP_MSG_QUERY_HEAD = 13, /* daemon -> client, before rows of QUERY */
	OXP_MSG_QUERY_ROWS = 14, /* daemon -> client, zero or more chunks */
	/* 20-29: agent connections */
	OXP_MSG_SET_STATE = 20,   /* daemon -> agent: desired sampling state */
	OXP_MSG_AGENT_STATE = 21, /* agent -> daemon: ack and counters */
	OXP_MSG_SAMPLES = 22,     /* agent -> daemon: a batch of stacks */
	OXP_MSG_SAMPLES_ACK = 23, /* daemon -> agent: a batch was aggregated */
	OXP_MSG_DURABLE = 24,     /* daemon -> agent: batches through seq are on disk */
};

enum oxp_role { OXP_ROLE_AGENT = 1, OXP_ROLE_CONTROL = 2 };

enum oxp_mode { OXP_MODE_CPU = 0, OXP_MODE_WALL = 1 };

enum oxp_cmd {
	OXP_CMD_STATUS = 1,
	OXP_CMD_START = 2,   /* reset + set parameters + run */
	OXP_CMD_STOP = 3,    /* pause and flush */
	OXP_CMD_PAUSE = 4,
	OXP_CMD_UNPAUSE = 5,
	OXP_CMD_RESET = 6,   /* forget aggregated samples */
	OXP_CMD_QUERY = 7,
};

/* What a query groups by.  OXP_BY_STACK gives folded stacks. */
enum oxp_by {
	OXP_BY_FUNCTION = 0,
	OXP_BY_MODULE = 1,
	OXP_BY_PROCESS = 2,
	OXP_BY_EXE = 3,
	OXP_BY_THREAD = 4,
	OXP_BY_STACK = 5,
};

enum oxp_sort { OXP_SORT_SELF = 0, OXP_SORT_TOTAL = 1 };

/* Thread state of a sample; only wall mode tells BLOCKED from RUNNING. */
enum oxp_thread_state { OXP_TS_RUNNING = 0, OXP_TS_BLOCKED = 1 };

/* Agent state as shown in status. */
enum oxp_agent_state {
	OXP_AGENT_PAUSED = 0,
	OXP_AGENT_RUNNING = 1,
	OXP_AGENT_EXITED = 2,   /* process gone; its samples stay until reset */
	OXP_AGENT_DISABLED = 3, /* agent could not sample; source says why */
};

/* Protocol-specific error codes, returned negated like errno values. */
enum oxp_error {
	OXP_EVERSION = 1000, /* protocol version mismatch */
	OXP_ELIMIT = 1001,   /* a declared size is over a protocol limit */
	OXP_ESHAPE = 1002,   /* well-formed msgpack of the wrong shape/type */
	OXP_ENODAEMON = 1003, /* no daemon answers at the socket */
	OXP_ENOMATCH = 1004, /* a selector matched no agent */
	OXP_EUNTRUSTED = 1005, /* the socket's owner is not a trusted daemon */
};

#endif
