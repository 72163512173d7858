// The queue/inflight mirror: each QoS 1/2 delivery to a persistent session is written behind as a queue entry
// (offline, window full, backpressure) or an inflight entry (sent), referencing the body stored once
// (persist-bodies.ts). QoS 0 entries are not written (at most once). Implements the session's SessionStore seam.
import { InflightState } from "../storage/index.ts";
import type { Storage } from "../storage/index.ts";
import type { Delivery } from "./message.ts";
import type { AckGate } from "./persist-acks.ts";
import type { BodyRefs } from "./persist-bodies.ts";
import { OutState } from "./session.ts";
import type { Outbound, OutStateValue, Session, SessionStore } from "./session.ts";
import { deliveryToStored } from "./stored.ts";

export class QueueMirror implements SessionStore {
  /** Queue seq of each persisted queue entry (deliveries are per-session objects). */
  readonly #seqs = new WeakMap<Delivery, number>();

  constructor(
    private readonly storage: Storage,
    private readonly gate: AckGate,
    private readonly bodies: BodyRefs,
  ) {}

  // The per-message paths below inline their try/catch (no closure per call).

  queued(s: Session, d: Delivery): void {
    // QoS 0 is at most once: not worth a write. A durable queue delivery is the queue's (src/queues), not the session's.
    if (!s.persistent || d.qos === 0 || d.owner?.persistsItself === true) return;
    try {
      this.#enqueue(s, d);
    } catch (e) {
      this.gate.failed(e, "enqueue");
    }
  }

  unqueued(s: Session, d: Delivery): void {
    const seq = this.#seqs.get(d);
    if (seq === undefined) return;
    this.#seqs.delete(d);
    try {
      if (this.storage.sessions.dequeue(s.clientId, seq)) this.bodies.unref(d.msg);
      this.gate.wrote();
    } catch (e) {
      this.gate.failed(e, "dequeue");
    }
  }

  sent(s: Session, d: Delivery, packetId: number, state: OutStateValue): void {
    if (!s.persistent || d.owner?.persistsItself === true) return;
    try {
      const seq = this.#seqs.get(d);
      const id = seq === undefined ? undefined : this.bodies.idOf(d.msg);
      const moved = seq !== undefined && id !== undefined;
      if (moved) this.#seqs.delete(d);
      const init = {
        packetId,
        // The queue entry's reference becomes the inflight entry's, in one step (moveToInflight).
        messageId: moved ? id : this.bodies.ref(d.msg),
        state,
        qos: d.qos,
        retain: d.retain,
        subscriptionIds: d.subscriptionIds,
      };
      if (moved) this.storage.sessions.moveToInflight(s.clientId, seq, init);
      else this.storage.sessions.putInflight(s.clientId, init);
      this.gate.wrote();
    } catch (e) {
      this.gate.failed(e, "inflight");
    }
  }

  released(s: Session, out: Outbound): void {
    if (!s.persistent) return;
    try {
      this.storage.sessions.setInflightState(s.clientId, out.packetId, InflightState.AwaitPubcomp);
      this.bodies.unref(out.delivery.msg);
      this.gate.wrote();
    } catch (e) {
      this.gate.failed(e, "inflight");
    }
  }

  completed(s: Session, out: Outbound): void {
    if (!s.persistent) return;
    try {
      // `out.state` is the state the flow ended in: in the PUBREL state the body was released already.
      if (this.storage.sessions.removeInflight(s.clientId, out.packetId) && out.state !== OutState.AwaitPubcomp) {
        this.bodies.unref(out.delivery.msg);
      }
      this.gate.wrote();
    } catch (e) {
      this.gate.failed(e, "inflight");
    }
  }

  /** Recovery: a queue entry loaded from storage. */
  adoptQueued(d: Delivery, seq: number): void {
    this.#seqs.set(d, seq);
  }

  /** A session becomes persistent with deliveries already in memory: write its inflight and queue entries. */
  writeAll(s: Session): void {
    const st = this.storage.sessions;
    for (const out of s.madeInflight?.values() ?? []) {
      const released = out.state === OutState.AwaitPubcomp;
      st.putInflight(s.clientId, {
        packetId: out.packetId,
        messageId: released ? undefined : this.bodies.ref(out.delivery.msg),
        state: out.state,
        ...deliveryToStored(out.delivery),
      });
    }
    for (const d of s.queue.toArray()) if (d.qos > 0) this.#enqueue(s, d);
  }

  /** storage.sessions.delete() dropped the session's references: mirror that in the body counts. */
  releaseAll(s: Session): void {
    for (const d of s.queue.toArray()) {
      if (this.#seqs.delete(d)) this.bodies.unref(d.msg);
    }
    for (const out of s.madeInflight?.values() ?? []) {
      if (out.state !== OutState.AwaitPubcomp) this.bodies.unref(out.delivery.msg);
    }
  }

  #enqueue(s: Session, d: Delivery): void {
    const seq = this.storage.sessions.enqueue(s.clientId, this.bodies.ref(d.msg), {
      qos: d.qos,
      retain: d.retain,
      subscriptionIds: d.subscriptionIds,
    });
    this.#seqs.set(d, seq);
    this.gate.wrote();
  }
}
