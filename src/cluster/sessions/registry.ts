// The cluster session registry (BrokerDeps.sessions): the broker's in-process registry, plus client-id ownership in
// etcd (ownership.ts) and session takeover across nodes (docs/cluster.md "Sessions").
//
// A CONNECT for a client id this node owns opens locally and synchronously, as on a single node (no etcd call).
// Otherwise open() answers asynchronously, before the CONNACK:
//   - an id nobody owns is created in etcd for this node (create revision 0), on this node's lease;
//   - an id another node owns is asked of that node (TakeoverRequest). The owner closes the client's connection
//     there (5.0 DISCONNECT 0x8E Session taken over), moves the key to this node by a compare-and-swap on the
//     revision the requester read, exports the session (subscriptions, queued and in-flight messages, inbound QoS 2
//     ids), ends it there, and replies with the state; this node installs it into the session it opens. The old
//     node stops serving the client before the key moves, and this one serves it only after: never both.
//   - no answer within TAKEOVER_TIMEOUT_MS (the owner is cut off or gone; its key expires with its lease), or etcd
//     unreachable: the CONNECT is refused with 0x88 Server unavailable (3.x 0x03) and the client retries.
// A session that ends releases its key (deleted at the revision held). A node whose lease is lost (membership.ts,
// with its fence) no longer owns anything: it disconnects its clients and refuses CONNECTs until it rejoins, then
// claims its remaining offline sessions again (those another node took meanwhile are dropped here).
//
// Operations on one client id run one at a time (#serial), on this node; across nodes the etcd revision decides.
import { ReasonCode } from "../../codec/index.ts";
import { exportSession } from "../../broker/index.ts";
import type {
  LocalSessionRegistry,
  OpenedSession,
  Session,
  SessionClient,
  SessionParts,
  SessionRegistry,
  SessionState,
} from "../../broker/index.ts";
import type { Will } from "../../codec/index.ts";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import { ClusterError, ClusterErrorCode } from "../errors.ts";
import { SessionFrame, decodeReply, decodeRequest, encodeReply, encodeRequest } from "./frames.ts";
import type { TakeoverReply, TakeoverRequest } from "./frames.ts";
import type { ClientOwner, ClientOwnership } from "./ownership.ts";

/** How long a CONNECT waits for the owning node to hand a session over before it is refused. */
export const TAKEOVER_TIMEOUT_MS = 5000;
/** Pause before asking again when the owner did not answer (it may be leaving: its key then expires). */
const RETRY_MS = 100;
/** While waiting for the owner's reply, how often etcd is read to see whether its key expired meanwhile. */
const ASK_POLL_MS = 250;

/** What the registry needs of the cluster node (ClusterNode.sessionPeers()). */
export interface SessionPeers {
  readonly self: string;
  /** This node's lease id, "" while it is not a member. */
  leaseId(): string;
  isMember(node: string): boolean;
  send(node: string, type: number, body: Buffer | readonly Buffer[]): boolean;
  handle(type: number, fn: (from: string, body: Buffer) => void): () => void;
  onLeaseLost(fn: () => void): () => void;
  onRejoined(fn: () => void): () => void;
  readonly ownership: ClientOwnership;
}

export interface ClusterSessionStats {
  /** Client ids this node owns now. */
  owned: number;
  /** Sessions moved here from another node / from here to another node. */
  takeoversIn: number;
  takeoversOut: number;
  /** CONNECTs refused because ownership could not be settled (owner silent, etcd unreachable, not a member). */
  refused: number;
  /** Takeover round trips (ask to state installed), ms: the last 1,024, for the admin API and the benchmark. */
  takeoverMs: number[];
}

export class ClusterSessionRegistry implements SessionRegistry {
  readonly #local: LocalSessionRegistry;
  readonly #install: SessionParts["install"];
  /** Client id -> the mod revision of its key, for the ids this node owns. */
  readonly #owned = new Map<string, string>();
  readonly #chain = new Map<string, Promise<void>>();
  readonly #asks = new Map<number, (r: TakeoverReply | undefined) => void>();
  readonly #stats = { takeoversIn: 0, takeoversOut: 0, refused: 0, takeoverMs: [] as number[] };
  #nextAsk = 1;
  #peers: SessionPeers | undefined;
  #ready: () => void = () => {};
  readonly #attached = new Promise<void>((resolve) => (this.#ready = resolve));
  #detach: (() => void)[] = [];

  constructor(
    parts: SessionParts,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.#local = parts.local;
    this.#install = (s, state) => parts.install(s, state);
    this.#local.onEnded = (s) => this.#ended(s);
  }

  /** Starts deciding ownership through etcd and the peers; until then open() waits. */
  attach(peers: SessionPeers): void {
    this.#peers = peers;
    const d = this.#detach;
    d.push(peers.handle(SessionFrame.TakeoverRequest, (from, body) => this.#onRequest(from, body)));
    d.push(peers.handle(SessionFrame.TakeoverReply, (from, body) => this.#onReply(from, body)));
    d.push(peers.onLeaseLost(() => this.#leaseLost()));
    d.push(peers.onRejoined(() => this.#claimAll()));
    this.#claimAll(); // sessions restored from storage
    this.#ready();
  }

  /** Stops answering other nodes (the node leaves the cluster). */
  stop(): void {
    for (const fn of this.#detach) fn();
    this.#detach = [];
    // The lease is revoked with the membership (every key goes with it): nothing to release one by one, and the
    // etcd client is closing. CONNECTs from here on are refused.
    this.#peers = undefined;
    this.#owned.clear();
    for (const resolve of [...this.#asks.values()]) resolve(undefined);
  }

  stats(): ClusterSessionStats {
    return { owned: this.#owned.size, ...this.#stats, takeoverMs: [...this.#stats.takeoverMs] };
  }

  /** Whether this node owns `clientId` now (tests, admin). */
  owns(clientId: string): boolean {
    return this.#owned.has(clientId);
  }

  // ---- SessionRegistry --------------------------------------------------------------------------------------

  get size(): number {
    return this.#local.size;
  }
  get(clientId: string): Session | undefined {
    return this.#local.get(clientId);
  }
  has(clientId: string): boolean {
    return this.#local.has(clientId);
  }
  keys(): IterableIterator<string> {
    return this.#local.keys();
  }
  values(): IterableIterator<Session> {
    return this.#local.values();
  }
  assignClientId(): string {
    return this.#local.assignClientId(); // unique cluster-wide: it carries this broker's random id
  }

  open(c: SessionClient, clientId: string, clean: boolean, expiry: number): OpenedSession | Promise<OpenedSession> {
    if (this.#owned.has(clientId) && !this.#chain.has(clientId)) return this.#local.open(c, clientId, clean, expiry);
    return this.#serial(clientId, () => this.#openClaimed(c, clientId, clean, expiry));
  }

  detach(c: SessionClient, s: Session, will: Will | undefined): void {
    this.#local.detach(c, s, will);
  }
  restore(clientId: string, expiryInterval: number): Session {
    return this.#local.restore(clientId, expiryInterval);
  }
  armWill(s: Session, ms: number): void {
    this.#local.armWill(s, ms);
  }
  armExpiry(s: Session, ms: number): void {
    this.#local.armExpiry(s, ms);
  }
  end(s: Session, reason: Parameters<SessionRegistry["end"]>[1]): void {
    this.#local.end(s, reason);
  }
  cancelTimers(): void {
    this.#local.cancelTimers();
  }

  // ---- claiming a client id ---------------------------------------------------------------------------------

  async #openClaimed(c: SessionClient, clientId: string, clean: boolean, expiry: number): Promise<OpenedSession> {
    await this.#attached;
    let claim: { moved: boolean; state: SessionState | undefined };
    try {
      claim = await this.#claim(clientId, clean);
    } catch (err) {
      this.#stats.refused++;
      throw err;
    }
    const stale = this.#local.get(clientId);
    if (claim.moved && stale !== undefined && stale.link === undefined) {
      // A copy left here from before (another node served the client since): the moved state replaces it.
      stale.pendingWill = undefined;
      this.#local.end(stale, "taken-over");
    }
    const opened = this.#local.open(c, clientId, clean, expiry);
    if (claim.state === undefined || clean) return opened;
    this.#install(opened.session, claim.state);
    return { session: opened.session, present: true };
  }

  async #claim(clientId: string, clean: boolean): Promise<{ moved: boolean; state: SessionState | undefined }> {
    const peers = this.#peers;
    if (peers === undefined) throw unavailable("this node is leaving the cluster");
    const { ownership, self } = peers;
    const deadline = this.clock.now() + TAKEOVER_TIMEOUT_MS;
    for (;;) {
      const lease = peers.leaseId();
      if (lease === "") throw unavailable("this node is not a cluster member (etcd lease lost)");
      const r = await ownership.createOrGet(clientId, self, lease);
      if ("created" in r) {
        this.#owned.set(clientId, r.created);
        return { moved: false, state: undefined };
      }
      const owner = r.owner;
      if (owner?.node === self) {
        // Ours from before (an earlier lease, or a release that did not finish): onto the current lease.
        const rev = await ownership.swap(clientId, owner.rev, self, lease);
        if (rev !== undefined) {
          this.#owned.set(clientId, rev);
          return { moved: false, state: undefined };
        }
      } else if (owner !== undefined) {
        const t0 = this.clock.now();
        const reply = await this.#askWhileOwned(
          clientId,
          owner,
          { c: clientId, rev: owner.rev, lease, clean },
          deadline,
        );
        if (reply?.r === "moved" && reply.rev !== undefined) {
          this.#owned.set(clientId, reply.rev);
          this.#stats.takeoversIn++;
          const ms = this.#stats.takeoverMs;
          ms.push(this.clock.now() - t0);
          if (ms.length > 1024) ms.shift();
          this.logger.info({ clientId, from: owner.node }, "session taken over from another node");
          return { moved: true, state: reply.state };
        }
        if (this.clock.now() >= deadline) {
          throw unavailable(`client id owned by node ${owner.node}, which did not hand it over in time`);
        }
        if (reply === undefined) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, RETRY_MS));
      }
      if (this.clock.now() >= deadline) throw unavailable("client id ownership kept changing");
    }
  }

  /**
   * Asks `owner` for the id and waits for its reply, while checking etcd every ASK_POLL_MS: when the key is gone (the
   * owner's lease expired) or changed, the owner can no longer move it to us (its compare-and-swap would fail), so
   * the wait ends there and the claim starts again. While the key is unchanged, or already ours (the reply is on its
   * way), it waits until the deadline.
   */
  async #askWhileOwned(
    clientId: string,
    owner: ClientOwner,
    req: Omit<TakeoverRequest, "id">,
    deadline: number,
  ): Promise<TakeoverReply | undefined> {
    const peers = this.#peers!;
    if (!peers.isMember(owner.node)) return undefined; // gone: its key expires with its lease
    const id = this.#nextAsk++;
    const asking = this.#ask(id, owner.node, req, deadline);
    for (;;) {
      let timer: TimerHandle | undefined;
      const poll = new Promise<"poll">(
        (resolve) => (timer = this.clock.setTimeout(() => resolve("poll"), ASK_POLL_MS)),
      );
      const r = await Promise.race([asking, poll]);
      timer?.cancel();
      if (r !== "poll") return r;
      const now = await peers.ownership.owner(clientId);
      const unchanged = now !== undefined && now.node === owner.node && now.rev === owner.rev;
      if (!unchanged && now?.node !== peers.self) {
        this.#asks.get(id)?.(undefined);
        return undefined;
      }
    }
  }

  #ask(
    id: number,
    node: string,
    req: Omit<TakeoverRequest, "id">,
    deadline: number,
  ): Promise<TakeoverReply | undefined> {
    const peers = this.#peers!;
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => done(undefined), Math.max(0, deadline - this.clock.now()));
      const done = (r: TakeoverReply | undefined): void => {
        timer.cancel();
        this.#asks.delete(id);
        resolve(r);
      };
      this.#asks.set(id, done);
      if (!peers.send(node, SessionFrame.TakeoverRequest, encodeRequest({ id, ...req }))) done(undefined);
    });
  }

  #onReply(from: string, body: Buffer): void {
    let reply: TakeoverReply;
    try {
      reply = decodeReply(body);
    } catch (err) {
      this.logger.warn({ err, from }, "undecodable session takeover reply: dropped");
      return;
    }
    this.#asks.get(reply.id)?.(reply);
  }

  // ---- giving a client id up --------------------------------------------------------------------------------

  #onRequest(from: string, body: Buffer): void {
    let req: TakeoverRequest;
    try {
      req = decodeRequest(body);
    } catch (err) {
      this.logger.warn({ err, from }, "undecodable session takeover request: dropped");
      return;
    }
    this.#serial(req.c, () => this.#giveUp(from, req)).then(
      (reply) => this.#peers?.send(from, SessionFrame.TakeoverReply, encodeReply(reply)),
      (err: unknown) => this.logger.warn({ err, clientId: req.c, to: from }, "session takeover failed"),
    );
  }

  async #giveUp(to: string, req: TakeoverRequest): Promise<TakeoverReply> {
    const peers = this.#peers;
    const rev = this.#owned.get(req.c);
    if (peers === undefined || rev !== req.rev) return { id: req.id, r: "not-owner" };
    const moved = await peers.ownership.swap(req.c, rev, to, req.lease);
    this.#owned.delete(req.c); // moved, or changed without us (our lease expired): not ours either way
    if (moved === undefined) return { id: req.id, r: "not-owner" };
    let state: SessionState | undefined;
    const s = this.#local.get(req.c);
    if (s !== undefined) {
      // [MQTT-3.1.4-2] (5.0 [MQTT-3.1.4-3]: DISCONNECT 0x8E). Its close path runs now: the will (if due) is published
      // here, and a session with expiry 0 ends with the connection.
      s.link?.disconnect(ReasonCode.SessionTakenOver);
      const still = this.#local.get(req.c);
      if (still !== undefined) {
        if (!req.clean) {
          state = exportSession(still);
          still.pendingWill = undefined; // the client is back (elsewhere): no delayed will (5.0 [MQTT-3.1.2-26])
        }
        this.#local.end(still, "taken-over");
      }
    }
    this.#stats.takeoversOut++;
    this.logger.info({ clientId: req.c, to }, "session handed over to another node");
    return { id: req.id, r: "moved", rev: moved, state };
  }

  /** A session ended here: its key goes (unless the client id was opened again meanwhile). */
  #ended(s: Session): void {
    const id = s.clientId;
    const peers = this.#peers;
    if (peers === undefined || !this.#owned.has(id)) return;
    void this.#serial(id, async () => {
      const rev = this.#owned.get(id);
      if (rev === undefined || this.#local.has(id)) return;
      this.#owned.delete(id);
      await peers.ownership.release(id, rev);
    }).catch((err: unknown) => this.logger.warn({ err, clientId: id }, "could not release a client id in etcd"));
  }

  /** The lease is gone, and every key on it: serve nothing until registered again. */
  #leaseLost(): void {
    this.#owned.clear();
    let n = 0;
    for (const s of [...this.#local.values()]) {
      if (s.link === undefined) continue;
      s.link.disconnect(ReasonCode.SessionTakenOver);
      n++;
    }
    this.logger.warn({ disconnected: n }, "cluster lease lost: clients disconnected, CONNECTs refused until rejoined");
  }

  /** Claims every local session not owned yet (restored from storage, or kept over a lost lease). */
  #claimAll(): void {
    for (const id of [...this.#local.keys()]) {
      if (this.#owned.has(id)) continue;
      void this.#serial(id, () => this.#reclaim(id)).catch((err: unknown) =>
        this.logger.warn({ err, clientId: id }, "could not claim a session's client id"),
      );
    }
  }

  async #reclaim(id: string): Promise<void> {
    const peers = this.#peers;
    const lease = peers?.leaseId() ?? "";
    if (peers === undefined || lease === "" || this.#owned.has(id) || !this.#local.has(id)) return;
    const r = await peers.ownership.createOrGet(id, peers.self, lease);
    if ("created" in r) {
      this.#owned.set(id, r.created);
      return;
    }
    if (r.owner?.node === peers.self) {
      const rev = await peers.ownership.swap(id, r.owner.rev, peers.self, lease);
      if (rev !== undefined) this.#owned.set(id, rev);
      return;
    }
    const s = this.#local.get(id);
    if (r.owner === undefined || s === undefined || s.link !== undefined) return;
    // Another node serves this client now: this copy is stale.
    this.logger.warn({ clientId: id, owner: r.owner.node }, "dropping a local session another node owns now");
    s.pendingWill = undefined;
    this.#local.end(s, "taken-over");
  }

  /** Runs `fn` after every earlier operation on `clientId` on this node. */
  #serial<T>(clientId: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#chain.get(clientId) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.#chain.set(clientId, tail);
    void tail.then(() => {
      if (this.#chain.get(clientId) === tail) this.#chain.delete(clientId);
    });
    return run;
  }
}

function unavailable(why: string): ClusterError {
  return new ClusterError(ClusterErrorCode.SessionUnavailable, why);
}
