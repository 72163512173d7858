// Frame type numbers (one byte). Ranges keep the modules that add types apart:
//   0..15    the transport itself (handshake)
//   16..63   broker clustering (routes, forwarded messages, sessions, retained) — src/cluster
//   64..127  durable queues in the cluster — src/cluster/queues
//   128..255 free
export const TransportFrame = {
  /** Dialer -> acceptor, first frame: HelloBody JSON. */
  Hello: 1,
  /** Acceptor -> dialer: the hello was accepted (empty body); frames may flow. */
  HelloAck: 2,
} as const;

/** The first range free for other modules. */
export const FIRST_USER_FRAME_TYPE = 16;

export interface HelloBody {
  /** Protocol version of the frame stream. */
  readonly v: 1;
  /** cluster.name: nodes of another cluster are refused. */
  readonly cluster: string;
  readonly from: string;
  readonly incarnation: string;
  /** Whom the dialer means to reach: an address now used by another node is refused. */
  readonly to: string;
}
