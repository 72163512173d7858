// The lifecycle states of a client connection. A leaf module: packet handlers, persistence and the connection
// itself all read the state, and none of them may import connection.ts for it (that closed an import cycle of
// eleven modules; the lint's import/no-cycle and scripts/import-cycles.mjs now fail `npm test` on any cycle).

export const ConnState = {
  /** Waiting for CONNECT. */
  AwaitConnect: 0,
  /** CONNECT received, authentication (maybe async) in progress. */
  Connecting: 1,
  /** CONNACK 0x00 sent. */
  Connected: 2,
  /** Done: no more input is processed, no more output is produced (except a final flush). */
  Closed: 3,
} as const;
export type ConnStateValue = (typeof ConnState)[keyof typeof ConnState];
