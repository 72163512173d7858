// Startup recovery: rebuilds the broker's in-memory state from storage, page by page (docs/storage.md "Broker
// integration"): retained messages, sessions with their subscriptions, queues, outbound inflight state and
// inbound QoS 2 ids, then the timers from the persisted deadlines.
//
// Time did not stop while the broker was down:
//  - A session whose expiry deadline passed is ended (after everything is loaded), as if its timer had fired.
//  - A session without a deadline was connected when the broker stopped without a clean shutdown (kill -9,
//    power loss): its connection ended now, so its expiry runs from now.
//  - A will whose deadline passed is published, after the expired sessions are gone; a will without a deadline
//    belonged to a connection open at a crash, which ended without DISCONNECT: its Will Delay Interval runs from
//    now (0, or a session ending with the connection: published at once) [MQTT-3.1.2-8].
// Queued messages go out when their client reconnects (Session.resume), inflight ones first with DUP set.
import type { ProtocolVersion, Will } from "../codec/index.ts";
import type { MessageId, SessionSnapshot } from "../storage/index.ts";
import type { ClientInfo } from "./hooks.ts";
import type { Message } from "./message.ts";
import type { Persistence } from "./persist.ts";
import { EnqueueResult } from "./queue.ts";
import { NEVER_EXPIRES, OutState } from "./session.ts";
import type { Session, Subscription } from "./session.ts";
import { RELEASED, deliveryFromStored, messageFromStored, subscriptionFromStored } from "./stored.ts";

export interface PendingWill {
  will: Will;
  client: ClientInfo;
}

/** What recovery needs from the broker. */
export interface RecoveryHost {
  now(): number;
  /** Creates and registers an offline session. */
  newSession(clientId: string, expiryInterval: number): Session;
  /** Registers a subscription in the index (the session is not yet marked persistent: nothing is written). */
  subscribe(s: Session, sub: Subscription): void;
  restoreRetained(msg: Message): void;
  /** Arms the will-delay timer of a disconnected session (s.pendingWill is set). */
  armWill(s: Session, delayMs: number): void;
  armExpiry(s: Session, delayMs: number): void;
  endSession(s: Session): void;
  publishWill(will: Will, client: ClientInfo): void;
}

export interface RecoveryReport {
  sessions: number;
  subscriptions: number;
  queued: number;
  inflight: number;
  inboundQos2: number;
  retained: number;
  /** Sessions whose expiry passed while the broker was down. */
  expired: number;
  /** Wills whose delay passed while the broker was down (or whose connection a crash ended), published now. */
  willsPublished: number;
  /** Wills still waiting for their delay. */
  willsPending: number;
  /** Queue entries beyond the configured queue bound (maxQueuedMessages / maxQueuedBytes lowered): dropped. */
  queueRejected: number;
}

function clientOf(clientId: string, username: string | undefined, protocolVersion: ProtocolVersion): ClientInfo {
  return { clientId, username, protocolVersion, remoteAddress: "", transport: "recovered" };
}

export function recover(host: RecoveryHost, p: Persistence): RecoveryReport {
  const st = p.storage;
  const now = host.now();
  const report: RecoveryReport = {
    sessions: 0,
    subscriptions: 0,
    queued: 0,
    inflight: 0,
    inboundQos2: 0,
    retained: 0,
    expired: 0,
    willsPublished: 0,
    willsPending: 0,
    queueRejected: 0,
  };
  // One Message object per stored body, shared by all its references like a routed message. Bodies are read
  // when a reference reaches them; the records come page by page (storage pages()/entries()), so recovery never
  // holds the store's whole content at once — only what the broker keeps in memory anyway.
  const bodies = new Map<MessageId, Message>();
  const message = (id: MessageId): Message | undefined => {
    let m = bodies.get(id);
    if (m === undefined) {
      const stored = st.messages.get(id);
      if (stored === undefined) return undefined; // the storage layer drops dangling references at open
      bodies.set(id, (m = messageFromStored(stored)));
    }
    return m;
  };

  for (const r of st.retained.entries()) {
    const m = message(r.messageId);
    if (m === undefined) continue;
    host.restoreRetained(m);
    p.adopt(m, r.messageId);
    report.retained++;
  }

  const due: PendingWill[] = [];
  const expired: Session[] = [];
  for (const page of st.sessions.pages()) for (const ss of page) restoreSession(ss);

  function restoreSession(ss: SessionSnapshot): void {
    const rec = ss.session;
    if (rec === undefined) {
      // No session, only a will: a connection with session expiry 0, open when the broker died. The session
      // ended with that connection, so its will is due [MQTT-3.1.2-8].
      if (ss.will !== undefined) due.push({ will: ss.will.will, client: clientOf(ss.clientId, ss.will.username, 4) });
      st.sessions.delete(ss.clientId);
      p.touched();
      return;
    }
    const version = rec.protocolVersion;
    const s = host.newSession(rec.clientId, rec.expiryInterval);
    report.sessions++;
    for (const sub of ss.subscriptions) {
      host.subscribe(s, subscriptionFromStored(sub, version));
      report.subscriptions++;
    }
    s.persistent = true;
    p.adoptRecord(rec);
    for (const q of ss.queue) {
      const m = message(q.messageId);
      if (m === undefined) continue;
      const d = deliveryFromStored(m, q);
      const r = s.queue.push(d);
      if (r === EnqueueResult.Rejected || r === EnqueueResult.DroppedQos0) {
        st.sessions.dequeue(rec.clientId, q.seq);
        p.touched();
        report.queueRejected++;
        continue;
      }
      p.adoptQueued(d, q.messageId, q.seq);
      report.queued++;
    }
    for (const f of ss.inflight) {
      const m = f.messageId === undefined ? RELEASED : message(f.messageId);
      if (m === undefined) continue;
      const delivery = deliveryFromStored(m, f);
      s.inflight.set(f.packetId, { packetId: f.packetId, delivery, state: f.state });
      if (f.messageId !== undefined && f.state !== OutState.AwaitPubcomp) p.adopt(m, f.messageId);
      report.inflight++;
    }
    for (const id of ss.inboundQos2) s.inboundQos2.add(id);
    report.inboundQos2 += ss.inboundQos2.length;

    const stored = ss.will;
    if (stored !== undefined) {
      const pending: PendingWill = { will: stored.will, client: clientOf(rec.clientId, stored.username, version) };
      let deadline = stored.deadline;
      if (deadline === undefined) {
        const delay = version === 5 ? (stored.will.properties?.willDelayInterval ?? 0) : 0;
        deadline = delay === 0 ? now : now + Math.min(delay, rec.expiryInterval) * 1000;
        if (deadline > now) {
          st.sessions.putWill({ ...stored, deadline });
          p.touched();
        }
      }
      if (deadline <= now) {
        due.push(pending);
        st.sessions.deleteWill(rec.clientId);
        p.touched();
      } else {
        s.pendingWill = pending;
        p.adoptWill(rec.clientId);
        host.armWill(s, deadline - now);
        report.willsPending++;
      }
    }

    let expiresAt = rec.expiresAt;
    if (expiresAt === undefined && rec.expiryInterval !== NEVER_EXPIRES) {
      expiresAt = now + rec.expiryInterval * 1000;
      const updated = { ...rec, expiresAt, lastSeen: now };
      st.sessions.put(updated);
      p.adoptRecord(updated);
      p.touched();
    }
    if (expiresAt !== undefined) {
      if (expiresAt <= now) expired.push(s);
      else host.armExpiry(s, expiresAt - now);
    }
  }

  for (const s of expired) host.endSession(s);
  report.expired = expired.length;
  report.sessions -= expired.length;
  for (const w of due) host.publishWill(w.will, w.client);
  report.willsPublished = due.length;
  return report;
}
