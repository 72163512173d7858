// The cluster router: the broker's Router (BrokerDeps.routing) with routes to the other nodes.
//
// - Interest: every subscribe/unsubscribe that changes whether a filter (or a shared group) has a subscriber on this
//   node is announced to every peer (InterestDelta); a link that comes up exchanges full snapshots (InterestSync,
//   after a SyncRequest), which repairs whatever a broken connection lost. A node that leaves the membership loses
//   its routes.
// - Publish: routed locally as before, and forwarded once to each node with a matching ordinary subscription
//   (never broadcast); the receiving node routes it to its own ordinary subscriptions only.
// - Shared groups span nodes: for each matching `$share/<g>/<filter>` the publishing node picks ONE node among
//   those with members (itself included), round-robin per group, and only that node's group delivers it.
// - Retained messages are replicated to every node (retained-sync.ts: they must be there for future subscribers); writes
//   racing on one topic are resolved last-writer-wins by (publish time, node id). A link coming up sends its set.
// - `$` topics ($SYS, $queue) stay on their node: $SYS is per node, durable queues have their own clustering.
//
// Forwarding of QoS 1/2 is at least once between live nodes, without duplicates (reliable.ts): numbered frames kept
// until acknowledged, sent again when a broken link comes back, deduplicated by the receiver. QoS 0 is at most once.
// A QoS 0 message for a peer whose link is over its high-water mark is dropped (counted), like for a slow local
// subscriber; QoS 1/2 wait in the link's queue up to its limit.
import type {
  LocalRouter,
  Message,
  Producer,
  RouteResult,
  Router,
  RoutingParts,
  Session,
  Subscription,
} from "../../broker/index.ts";
import type { Clock, Logger } from "../../util/index.ts";
import { BodyReader, encodeMessageHead, encodeString } from "./message-codec.ts";
import { Qos0Batches, readBatch } from "./forward-batch.ts";
import { RoutingFrame } from "./frame-types.ts";
import type { InterestDelta, InterestSnapshot } from "./frame-types.ts";
import { LocalInterest, RemoteInterest } from "./interest.ts";
import { LinkHolds } from "./link-holds.ts";
import { RetainedReplica } from "./retained-sync.ts";
import { ForwardInbox, ForwardOutbox, RELIABLE_HEADER_BYTES } from "./reliable.ts";

/** What the cluster router needs of the node (ClusterNode.routingPeers()). */
export interface RoutingPeers {
  readonly self: string;
  send(node: string, type: number, body: Buffer | readonly Buffer[]): boolean;
  writable(node: string): boolean;
  /** True while the link to `node` is up. */
  connected(node: string): boolean;
  /** The other members now. */
  peers(): string[];
  handle(type: number, fn: (from: string, body: Buffer, source: Producer) => void): () => void;
  onUp(fn: (node: string) => void): () => void;
  /** The link to `node` is writable again after being over its high-water mark. */
  onDrain(fn: (node: string) => void): () => void;
  onLeave(fn: (node: string) => void): () => void;
}

export interface ClusterRoutingStats {
  /** Messages forwarded to another node (one per node per message). */
  forwarded: number;
  /** QoS 0 forwards dropped because the link was over its high-water mark (and its stall limit passed). */
  forwardDropped: number;
  /** Times a publisher was held because the link its message had to cross was over its high-water mark. */
  publisherHolds: number;
  /** QoS 1/2 forwards refused by a link at its queue limit. */
  forwardRefused: number;
  /** Messages received from other nodes. */
  received: number;
  /** Forwarded to this node's shared group, which had no member any more (interest not yet withdrawn). */
  sharedMissed: number;
  retainedReplicated: number;
  retainedApplied: number;
  /** Frames that could not be decoded (dropped). */
  badFrames: number;
  /** QoS 1/2 forwards not yet acknowledged by their peer (and their bytes); forwards sent again after a break. */
  unacked: number;
  unackedBytes: number;
  resent: number;
  /** QoS 1/2 forwards received twice (a retransmission) and dropped. */
  duplicatesDropped: number;
}

export class ClusterRouter implements Router {
  readonly #stats: ClusterRoutingStats = {
    forwarded: 0,
    forwardDropped: 0,
    publisherHolds: 0,
    forwardRefused: 0,
    received: 0,
    sharedMissed: 0,
    retainedReplicated: 0,
    retainedApplied: 0,
    badFrames: 0,
    unacked: 0,
    unackedBytes: 0,
    resent: 0,
    duplicatesDropped: 0,
  };
  readonly #outbox = new ForwardOutbox();
  readonly #qos0 = new Qos0Batches((node, body, count) => {
    if (this.#peers?.send(node, RoutingFrame.ForwardBatch, body) === true) return;
    this.#stats.forwarded -= count;
    this.#stats.forwardRefused += count;
  });
  readonly #inbox = new ForwardInbox();
  #acksScheduled = false;
  readonly #inner: Router;
  readonly #local: LocalRouter;
  readonly #parts: RoutingParts;
  readonly #mine = new LocalInterest();
  readonly #remote = new RemoteInterest();
  readonly #rr = new Map<string, number>();
  readonly #holds: LinkHolds;
  readonly #retained: RetainedReplica;
  #peers: RoutingPeers | undefined;
  #detach: (() => void)[] = [];

  constructor(
    parts: RoutingParts,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.#parts = parts;
    this.#inner = parts.router;
    this.#local = parts.local;
    this.#holds = new LinkHolds(parts.overload, clock, logger, this.#stats);
    this.#retained = new RetainedReplica(parts, clock, this.#stats, (from, err) => this.#bad(from, err));
  }

  /** Starts routing across the cluster (until then: this node only, interest is counted). */
  attach(peers: RoutingPeers): void {
    this.#peers = peers;
    const d = this.#detach;
    d.push(peers.handle(RoutingFrame.Forward, (from, body, src) => this.#onForward(from, body, false, src)));
    d.push(peers.handle(RoutingFrame.ForwardBatch, (from, body, src) => this.#onBatch(from, body, src)));
    d.push(peers.handle(RoutingFrame.ForwardShared, (from, body, src) => this.#onForward(from, body, true, src)));
    d.push(peers.handle(RoutingFrame.InterestSync, (from, body) => this.#onSync(from, body)));
    d.push(peers.handle(RoutingFrame.InterestDelta, (from, body) => this.#onDelta(from, body)));
    d.push(peers.handle(RoutingFrame.SyncRequest, (from) => this.#sendSync(from)));
    d.push(peers.handle(RoutingFrame.Retained, (from, body) => this.#retained.onFrame(from, body)));
    d.push(peers.handle(RoutingFrame.ForwardReliable, (from, body, src) => this.#onNumbered(from, body, false, src)));
    d.push(
      peers.handle(RoutingFrame.ForwardSharedReliable, (from, body, src) => this.#onNumbered(from, body, true, src)),
    );
    d.push(peers.handle(RoutingFrame.ForwardAck, (from, body) => this.#outbox.acked(from, body)));
    d.push(peers.onUp((node) => this.#linkUp(node)));
    d.push(
      peers.onLeave((node) => {
        this.#remote.dropNode(node);
        this.#outbox.drop(node);
        this.#qos0.drop(node);
        this.#holds.clear(node);
      }),
    );
    d.push(peers.onDrain((node) => this.#holds.clear(node)));
    // Links that came up before this router was attached (the node joins before the broker routes through it) missed
    // the exchange of snapshots, and their peers' SyncRequests found no handler here: exchange now.
    for (const node of peers.peers()) if (peers.connected(node)) this.#linkUp(node);
  }

  detach(): void {
    this.#holds.releaseAll();
    for (const fn of this.#detach) fn();
    this.#detach = [];
    this.#peers = undefined;
  }

  /** Routing counters, with the reliable forwarding state as of now. */
  get stats(): ClusterRoutingStats {
    const o = this.#outbox.stats();
    const st = this.#stats;
    st.unacked = o.unacked;
    st.unackedBytes = o.unackedBytes;
    st.resent = o.resent;
    st.duplicatesDropped = this.#inbox.duplicates;
    return st;
  }

  /** What this node knows of another's interest (admin, tests). */
  interestOf(node: string): InterestSnapshot {
    return node === this.#peers?.self ? this.#mine.snapshot() : this.#remote.of(node);
  }

  // ---- Router -----------------------------------------------------------------------------------------------

  add(session: Session, sub: Subscription): boolean {
    const replaced = this.#inner.add(session, sub);
    const key = interestKey(sub);
    if (key !== undefined && this.#mine.add(key.shared, key.filter, session.clientId)) {
      this.#announce({ op: key.shared ? "+s" : "+f", v: key.filter });
    }
    return replaced;
  }

  remove(session: Session, sub: Subscription): void {
    this.#inner.remove(session, sub);
    this.#withdraw(session, sub);
  }

  route(msg: Message): RouteResult {
    const peers = this.#peers;
    if (peers === undefined || msg.topic.startsWith("$")) return this.#inner.route(msg);
    if (msg.retain && this.#parts.retainAvailable) this.#retained.replicate(peers, msg);
    if (this.#remote.empty) return this.#inner.route(msg);
    const remoteShared = this.#remote.sharedFor(msg.topic);
    const r: RouteResult =
      remoteShared.size === 0 ? { ...this.#inner.route(msg) } : this.#routeShared(peers, msg, remoteShared);
    const nodes = this.#remote.nodesFor(msg.topic);
    if (nodes.size > 0) {
      if (msg.qos === 0) {
        // Into each node's batch of this run (forward-batch.ts): the common, cheapest case.
        for (const node of nodes) {
          r.matched++;
          if (this.#holds.admit(peers.writable(node), node, 0)) {
            this.#qos0.add(node, msg);
            this.#stats.forwarded++;
          }
        }
      } else {
        const head = encodeMessageHead(msg);
        for (const node of nodes) {
          r.matched++;
          if (!this.#forward(peers, node, RoutingFrame.Forward, [head, msg.payload], msg.qos)) r.refused++;
        }
      }
    }
    return r;
  }

  sessionOnline(session: Session): void {
    this.#inner.sessionOnline(session);
  }

  sessionOffline(session: Session): void {
    this.#inner.sessionOffline(session);
  }

  sessionEnded(session: Session): void {
    const subs = [...session.subscriptions.values()];
    this.#inner.sessionEnded(session);
    for (const sub of subs) this.#withdraw(session, sub);
  }

  suspend(): void {
    this.#inner.suspend();
  }

  get subscriptionCount(): number {
    return this.#inner.subscriptionCount;
  }

  get waitingCount(): number {
    return this.#inner.waitingCount;
  }

  // ---- publishing -------------------------------------------------------------------------------------------

  /** Ordinary subscriptions here, and one node per matching shared group (this one included). */
  #routeShared(peers: RoutingPeers, msg: Message, remoteShared: ReadonlyMap<string, string[]>): RouteResult {
    const r = { ...this.#local.routeOwn(msg) };
    const here = this.#local.sharedGroupsMatching(msg.topic);
    const groups = new Set([...here, ...remoteShared.keys()]);
    for (const g of groups) {
      const candidates = [...(remoteShared.get(g) ?? [])];
      if (here.includes(g)) candidates.push(peers.self);
      candidates.sort();
      const turn = this.#rr.get(g) ?? 0;
      this.#rr.set(g, turn + 1);
      const node = candidates[turn % candidates.length]!;
      r.matched++;
      if (node === peers.self) {
        if (this.#local.dispatchShared(g, msg) === false) r.refused++;
        continue;
      }
      const parts = [encodeString(g), encodeMessageHead(msg), msg.payload];
      if (!this.#forward(peers, node, RoutingFrame.ForwardShared, parts, msg.qos)) r.refused++;
    }
    return r;
  }

  /** Queues a forward (a full link holds the publisher: link-holds.ts). False: refused (QoS 1/2 over a limit). */
  #forward(peers: RoutingPeers, node: string, type: number, parts: readonly Buffer[], qos: number): boolean {
    if (!this.#holds.admit(peers.writable(node), node, qos)) return true; // like a slow local subscriber's QoS 0: dropped, not refused
    let frame = parts;
    if (qos > 0) {
      type = type === RoutingFrame.Forward ? RoutingFrame.ForwardReliable : RoutingFrame.ForwardSharedReliable;
      const numbered = this.#outbox.add(node, type, parts);
      if (numbered === undefined) {
        this.#stats.forwardRefused++; // too much unacknowledged for this peer
        return false;
      }
      frame = numbered;
    }
    if (!peers.send(node, type, frame)) {
      if (qos > 0) this.#outbox.unadd(node); // never sent: not kept, and its number is reused
      this.#stats.forwardRefused++;
      return false;
    }
    this.#stats.forwarded++;
    return true;
  }

  /** A ForwardBatch: every message routed to this node's ordinary subscriptions, in order. */
  #onBatch(from: string, body: Buffer, source: Producer): void {
    const overload = this.#parts.overload;
    const previous = overload.producer;
    overload.producer = source;
    try {
      readBatch(body, (msg) => {
        this.#stats.received++;
        this.#local.routeOwn(msg);
      });
    } catch (err) {
      this.#bad(from, err); // the messages before the bad entry were routed
    } finally {
      overload.producer = previous;
    }
  }

  #onForward(from: string, body: Buffer, shared: boolean, source: Producer): void {
    let group: string | undefined;
    let msg: Message;
    try {
      const reader = new BodyReader(body);
      if (shared) group = reader.string();
      msg = reader.message();
    } catch (err) {
      this.#bad(from, err);
      return;
    }
    this.#stats.received++;
    // The inter-node connection is this delivery's producer: a subscriber here over its marks stops reading it, and
    // TCP pushes back on the sending node (whose link then holds its own publishers).
    const overload = this.#parts.overload;
    const previous = overload.producer;
    overload.producer = source;
    try {
      if (group === undefined) this.#local.routeOwn(msg);
      else if (this.#local.dispatchShared(group, msg) === undefined) this.#stats.sharedMissed++;
    } finally {
      overload.producer = previous;
    }
  }

  /** A numbered (QoS 1/2) forward: routed the first time its number is seen, acknowledged either way. */
  #onNumbered(from: string, body: Buffer, shared: boolean, source: Producer): void {
    let fresh: boolean;
    try {
      fresh = this.#inbox.accept(from, body);
    } catch (err) {
      this.#bad(from, err);
      return;
    }
    if (!this.#acksScheduled) {
      this.#acksScheduled = true;
      setImmediate(() => {
        this.#acksScheduled = false;
        const peers = this.#peers;
        if (peers !== undefined) this.#inbox.flush((node, ack) => peers.send(node, RoutingFrame.ForwardAck, ack));
      });
    }
    if (fresh) this.#onForward(from, body.subarray(RELIABLE_HEADER_BYTES), shared, source);
  }

  // ---- interest ---------------------------------------------------------------------------------------------

  #withdraw(session: Session, sub: Subscription): void {
    const key = interestKey(sub);
    if (key !== undefined && this.#mine.remove(key.shared, key.filter, session.clientId)) {
      this.#announce({ op: key.shared ? "-s" : "-f", v: key.filter });
    }
  }

  #announce(delta: InterestDelta): void {
    const peers = this.#peers;
    if (peers === undefined) return;
    const body = Buffer.from(JSON.stringify(delta));
    for (const node of peers.peers()) peers.send(node, RoutingFrame.InterestDelta, body);
  }

  #linkUp(node: string): void {
    const peers = this.#peers;
    if (peers === undefined) return;
    this.#outbox.resend(node, (type, parts) => peers.send(node, type, parts));
    this.#sendSync(node);
    peers.send(node, RoutingFrame.SyncRequest, Buffer.alloc(0));
    this.#retained.sendAll(peers, node);
  }

  #sendSync(node: string): void {
    this.#peers?.send(node, RoutingFrame.InterestSync, Buffer.from(JSON.stringify(this.#mine.snapshot())));
  }

  #onSync(from: string, body: Buffer): void {
    const snap = parseJson<InterestSnapshot>(body, (v) => Array.isArray(v.f) && Array.isArray(v.s));
    if (snap === undefined) return this.#bad(from, "interest sync");
    this.#remote.sync(from, snap);
  }

  #onDelta(from: string, body: Buffer): void {
    const d = parseJson<InterestDelta>(body, (v) => typeof v.v === "string" && typeof v.op === "string");
    if (d === undefined) return this.#bad(from, "interest delta");
    if (d.op === "+f" || d.op === "+s") this.#remote.add(from, d.op === "+s", d.v);
    else if (d.op === "-f" || d.op === "-s") this.#remote.remove(from, d.op === "-s", d.v);
  }

  /** Leader task `retained-cleanup` (retained-sync.ts): expired retained messages removed on every node. */
  sweepRetained(): number {
    return this.#retained.sweep(this.#peers);
  }

  #bad(from: string, err: unknown): void {
    this.#stats.badFrames++;
    this.logger.warn({ err, from }, "undecodable cluster routing frame: dropped");
  }
}

/** The interest a subscription adds: ordinary filter or shared group; none for `$` filters (per node). */
function interestKey(sub: Subscription): { shared: boolean; filter: string } | undefined {
  if (sub.shared !== undefined) {
    return sub.shared.filter.startsWith("$") ? undefined : { shared: true, filter: sub.filter };
  }
  return sub.filter.startsWith("$") ? undefined : { shared: false, filter: sub.filter };
}

function parseJson<T>(body: Buffer, ok: (v: Record<string, unknown>) => boolean): T | undefined {
  try {
    const v = JSON.parse(body.toString()) as unknown;
    return typeof v === "object" && v !== null && ok(v as Record<string, unknown>) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}
