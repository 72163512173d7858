// Write-behind persistence of the broker's state (docs/storage.md "Broker integration"): the one object the
// broker talks to, wiring the parts that each do one job —
//   persist-acks.ts      acknowledgements held until the commit of their effects; the one failure path
//   persist-sessions.ts  session and will records, subscriptions, inbound QoS 2 ids
//   persist-queue.ts     the queue/inflight mirror of persistent sessions (SessionStore)
//   persist-bodies.ts    message bodies stored once: the broker's side of reference counts
//   retained-persist.ts  the retained mirror
//   stored.ts            stored <-> runtime conversions (shared with recover.ts)
//
// The broker's in-memory state stays the source of truth at runtime; every change a restart must see is mirrored,
// synchronously, into the storage layer's current batch (cheap: no disk access). Acknowledgements that promise
// durability — PUBACK/PUBREC for an inbound QoS 1/2 PUBLISH, PUBCOMP, SUBACK, UNSUBACK, and the PUBREL of an
// outbound QoS 2 flow — go out only after storage.commit() resolved for the batch holding their effects, in order
// per connection. The publish path never awaits: packets keep being read and routed while earlier batches are
// written (group commit), so one fsync covers every connection's messages of that window.
//
// What is persisted: sessions with an expiry interval other than 0 (with their subscriptions, QoS 1/2 queue
// entries, outbound inflight state and inbound QoS 2 ids), wills (of every connection: a crash ends connections
// "without DISCONNECT"), and retained messages except $SYS/. QoS 0 queue entries are not (at most once).
//
// A failed store (a commit that failed, or a storage call that threw) stops every acknowledgement for good
// (persist-acks.ts); whoever opened the store stops the broker (storage.onFailure, src/server).
import type { Packet, Will } from "../codec/index.ts";
import type { MessageId, SessionRecord, Storage } from "../storage/index.ts";
import type { Logger } from "../util/index.ts";
import type { ClientContext, CommitGate } from "./core.ts";
import type { ClientInfo } from "./hooks.ts";
import type { Delivery, Message } from "./message.ts";
import { AckGate } from "./persist-acks.ts";
import { BodyRefs } from "./persist-bodies.ts";
import { QueueMirror } from "./persist-queue.ts";
import { SessionRecords } from "./persist-sessions.ts";
import { RetainedMirror } from "./retained-persist.ts";
import type { Outbound, OutStateValue, Session, SessionStore, Subscription } from "./session.ts";
import type { SessionLifecycleStore } from "./session-registry.ts";

export class Persistence implements CommitGate, SessionStore, SessionLifecycleStore {
  readonly gate: AckGate;
  readonly bodies: BodyRefs;
  readonly queues: QueueMirror;
  readonly records: SessionRecords;
  readonly retained: RetainedMirror;

  constructor(
    readonly storage: Storage,
    now: () => number,
    logger: Logger,
  ) {
    this.gate = new AckGate(storage, logger);
    this.bodies = new BodyRefs(storage);
    this.queues = new QueueMirror(storage, this.gate, this.bodies);
    this.records = new SessionRecords(storage, this.gate, this.queues, now);
    this.retained = new RetainedMirror(storage, this.gate, this.bodies);
  }

  /** Message bodies currently referenced through this module (tests, stats). */
  get storedMessages(): number {
    return this.bodies.size;
  }

  afterCommit(c: ClientContext, fn: () => void): void {
    this.gate.afterCommit(c, fn);
  }

  pubackAfterCommit(c: ClientContext, packetId: number): void {
    this.gate.afterCommit(c, packetId);
  }

  ready(c: ClientContext): boolean {
    return this.gate.ready(c);
  }

  // ---- session lifecycle, subscriptions, inbound QoS 2 (persist-sessions.ts) -------------------------------

  sessionOpened(s: Session, client: ClientInfo | undefined, will: Will | undefined): void {
    // Inline, not through #guard: once per connect and per disconnect, and a storm makes thousands a second (no
    // closure each).
    try {
      this.records.opened(s, client, will);
    } catch (e) {
      this.gate.failed(e, "session open");
    }
  }

  sessionDisconnected(s: Session, willDeadline: number | undefined): void {
    try {
      this.records.disconnected(s, willDeadline);
    } catch (e) {
      this.gate.failed(e, "session disconnect");
    }
  }

  sessionEnded(s: Session): void {
    try {
      this.records.ended(s);
    } catch (e) {
      this.gate.failed(e, "session end");
    }
  }

  willDone(clientId: string): void {
    this.#guard("will", () => this.records.willDone(clientId));
  }

  subscribed(s: Session, sub: Subscription): void {
    this.#guard("subscribe", () => this.records.subscribed(s, sub));
  }

  unsubscribed(s: Session, filter: string): void {
    this.#guard("unsubscribe", () => this.records.unsubscribed(s, filter));
  }

  inboundAdded(s: Session, packetId: number): void {
    this.#guard("inbound QoS 2", () => this.records.inboundAdded(s, packetId));
  }

  inboundReleased(s: Session, packetId: number): void {
    this.#guard("inbound QoS 2", () => this.records.inboundReleased(s, packetId));
  }

  // ---- SessionStore: queue and inflight (persist-queue.ts; per message, guarded there) ----------------------

  queued(s: Session, d: Delivery): void {
    this.queues.queued(s, d);
  }

  unqueued(s: Session, d: Delivery): void {
    this.queues.unqueued(s, d);
  }

  sent(s: Session, d: Delivery, packetId: number, state: OutStateValue): void {
    this.queues.sent(s, d, packetId, state);
  }

  released(s: Session, out: Outbound): void {
    this.queues.released(s, out);
  }

  completed(s: Session, out: Outbound): void {
    this.queues.completed(s, out);
  }

  // ---- recovery (recover.ts) --------------------------------------------------------------------------------

  /** A body loaded from storage gained one reference (queue, inflight or retained entry) held in memory. */
  adopt(msg: Message, id: MessageId): void {
    this.bodies.adopt(msg, id);
  }

  /** A queue entry loaded from storage. */
  adoptQueued(d: Delivery, id: MessageId, seq: number): void {
    this.bodies.adopt(d.msg, id);
    this.queues.adoptQueued(d, seq);
  }

  adoptWill(clientId: string): void {
    this.records.adoptWill(clientId);
  }

  adoptRecord(record: SessionRecord): void {
    this.records.adoptRecord(record);
  }

  /** Recovery wrote something (so the next acknowledgement waits for it). */
  touched(): void {
    this.gate.wrote();
  }

  /** Recovery: a storage call failed. */
  failed(err: unknown, what: string): void {
    this.gate.failed(err, what);
  }

  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.gate.failed(e, what);
    }
  }
}

/** Sends an acknowledgement once its effects are committed (at once without storage). */
export function sendAck(c: ClientContext, packet: Packet, sent?: () => void): void {
  const p = c.broker.persistence;
  // Nothing to wait for (no storage, or nothing written since the last commit: every QoS 1 PUBLISH without a
  // storage effect): sent now, without the closure afterCommit() would need (~60 B per acknowledgement).
  if (p === undefined || p.ready(c)) {
    c.send(packet);
    sent?.();
  } else if (sent === undefined) p.afterCommit(c, () => c.send(packet));
  else
    p.afterCommit(c, () => {
      c.send(packet);
      sent();
    });
}

/** Runs `fn` once the effects so far are committed (at once without storage). */
export function afterCommit(c: ClientContext, fn: () => void): void {
  const p = c.broker.persistence;
  if (p === undefined) fn();
  else p.afterCommit(c, fn);
}
