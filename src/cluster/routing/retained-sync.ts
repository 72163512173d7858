// Retained messages across the cluster: every node keeps every retained message (a future subscriber anywhere must
// find it), so each retained PUBLISH is sent to every peer, and a link coming up sends the whole retained set.
// Concurrent writes to one topic on two nodes are resolved last-writer-wins by (publish time, node id): every node
// keeps the stamp of the write it holds per topic and applies only a newer one, so all nodes converge on the same
// message whatever order the frames arrive in.
import type { Message, RoutingParts } from "../../broker/index.ts";
import type { Clock } from "../../util/index.ts";
import { BodyReader, encodeMessageHead, encodeString } from "./message-codec.ts";
import { RoutingFrame } from "./frame-types.ts";

/** The part of the node's peers the replica sends through (RoutingPeers). */
export interface RetainedPeers {
  readonly self: string;
  send(node: string, type: number, body: Buffer | readonly Buffer[]): boolean;
  peers(): string[];
}

/** The counters the replica keeps (the router's ClusterRoutingStats). */
export interface RetainedCounters {
  retainedReplicated: number;
  retainedApplied: number;
}

interface Stamp {
  readonly at: number;
  readonly node: string;
}

const newer = (a: Stamp, b: Stamp | undefined): boolean =>
  b === undefined || a.at > b.at || (a.at === b.at && a.node > b.node);

export class RetainedReplica {
  readonly #stamps = new Map<string, Stamp>();

  constructor(
    private readonly parts: Pick<RoutingParts, "retained" | "retainAvailable">,
    private readonly clock: Clock,
    private readonly stats: RetainedCounters,
    /** An undecodable frame from `from` (counted and logged by the router). */
    private readonly bad: (from: string, err: unknown) => void,
  ) {}

  /** A retained PUBLISH made on this node: stamped now and sent to every peer. */
  replicate(peers: RetainedPeers, msg: Message): void {
    const stamp = { at: this.clock.now(), node: peers.self };
    this.#stamps.set(msg.topic, stamp);
    const parts = [retainedHead(stamp), encodeMessageHead(msg), msg.payload];
    for (const node of peers.peers()) {
      if (peers.send(node, RoutingFrame.Retained, parts)) this.stats.retainedReplicated++;
    }
  }

  /**
   * Leader task `retained-cleanup`: removes the retained messages whose Message Expiry passed, here and (replicated
   * as deletions) on every node. Returns how many. Without it, an expired retained message goes only when a new
   * subscription reads it.
   */
  sweep(peers: RetainedPeers | undefined): number {
    const now = this.clock.now();
    const expired: Message[] = [];
    this.parts.retained.match("#", (msg) => {
      if (msg.expiresAt !== undefined && msg.expiresAt <= now) expired.push(msg);
    });
    for (const msg of expired) {
      this.parts.retained.delete(msg.topic);
      if (peers !== undefined) this.replicate(peers, { ...msg, payload: Buffer.alloc(0), expiresAt: undefined });
    }
    return expired.length;
  }

  /** A link to `node` came up: it gets the whole retained set, with the stamps known here. */
  sendAll(peers: RetainedPeers, node: string): void {
    this.parts.retained.match("#", (msg) => {
      const stamp = this.#stamps.get(msg.topic) ?? { at: 0, node: "" };
      peers.send(node, RoutingFrame.Retained, [retainedHead(stamp), encodeMessageHead(msg), msg.payload]);
    });
  }

  /** A Retained frame from a peer: applied when newer than what this node holds for the topic. */
  onFrame(from: string, body: Buffer): void {
    let stamp: Stamp;
    let msg: Message;
    try {
      const at = body.readDoubleBE(0);
      const reader = new BodyReader(body);
      reader.off = 8;
      stamp = { at, node: reader.string() };
      msg = reader.message();
    } catch (err) {
      return this.bad(from, err);
    }
    if (!this.parts.retainAvailable || !newer(stamp, this.#stamps.get(msg.topic))) return;
    this.#stamps.set(msg.topic, stamp);
    this.stats.retainedApplied++;
    if (msg.payload.length === 0) this.parts.retained.delete(msg.topic);
    else this.parts.retained.set({ ...msg, payload: Buffer.from(msg.payload), retain: true });
  }
}

function retainedHead(stamp: Stamp): Buffer {
  const node = encodeString(stamp.node);
  const b = Buffer.allocUnsafe(8 + node.length);
  b.writeDoubleBE(stamp.at, 0);
  node.copy(b, 8);
  return b;
}
