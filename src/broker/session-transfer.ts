// Moving a session's state from one broker to another: session takeover across the nodes of a cluster
// (src/cluster/sessions, docs/cluster.md "Sessions"). The old node exports the state of the session it gives up
// (after closing its connection); the new node installs it into the session it opens for the client's CONNECT,
// before the CONNACK, so the client resumes as if it had reconnected to the same broker [MQTT-4.4.0-1]:
// subscriptions, outbound QoS 1/2 in flight with their packet identifiers and states (unacknowledged PUBLISHes are
// resent with DUP, PUBRELs again), the messages queued for it, and the inbound QoS 2 packet identifiers routed but
// not yet released, so a resent QoS 2 PUBLISH is not routed twice (method A of [MQTT-4.3.3-2]).
//
// Deliveries that belong to an owner on the old node (a shared group's, a durable queue's) are handed back to it
// there first: the owner lives on that node and redelivers them to another member.
import type { LocalSessionRegistry } from "./session-registry.ts";
import type { Delivery } from "./message.ts";
import { HandBackReason } from "./settlement.ts";
import type { OutStateValue, Session, Subscription } from "./session.ts";

export interface TransferredOutbound {
  readonly packetId: number;
  readonly state: OutStateValue;
  /** Unused in the PUBREL state (the message is the client's already): the receiver keeps only the packet id. */
  readonly delivery: Delivery;
}

/** A session's state as it moves between brokers. */
export interface SessionState {
  readonly subscriptions: readonly Subscription[];
  /** In the session's order (the resend order). */
  readonly inflight: readonly TransferredOutbound[];
  readonly queued: readonly Delivery[];
  readonly inboundQos2: readonly number[];
}

/**
 * The state of `s` to move elsewhere. Owned deliveries are handed back to their owners here first (they would be
 * lost with the session otherwise), so what is exported has no owner. Call it once the session is offline; the
 * caller then ends the session here.
 */
export function exportSession(s: Session): SessionState {
  s.handBack(HandBackReason.SessionEnded);
  const inflight: TransferredOutbound[] = [];
  for (const out of s.madeInflight?.values() ?? []) {
    inflight.push({ packetId: out.packetId, state: out.state, delivery: out.delivery });
  }
  return {
    subscriptions: [...(s.madeSubscriptions?.values() ?? [])],
    inflight,
    queued: s.queue.toArray(),
    inboundQos2: [...s.inboundQos2],
  };
}

/** What a cluster session registry is built from (BrokerDeps.sessions). */
export interface SessionParts {
  /** The in-process registry it wraps. */
  readonly local: LocalSessionRegistry;
  /**
   * Installs `state` into `s`, a session the local registry has just opened (empty): subscriptions are added
   * through the router and persisted like a SUBSCRIBE's, in-flight and queued messages persisted like
   * deliveries. No retained messages are sent for the installed subscriptions (the client had them already).
   */
  install(s: Session, state: SessionState): void;
}

/** What installSession needs of the runtime. */
export interface InstallHost {
  /** Adds a subscription through the router, persisted (runtime.subscribe). */
  subscribe(s: Session, sub: Subscription): void;
  /** Persists an inbound QoS 2 id (Persistence.inboundAdded), when there is storage. */
  inboundAdded(s: Session, packetId: number): void;
}

/** Installs `state` (SessionParts.install). */
export function installSession(host: InstallHost, s: Session, state: SessionState): void {
  for (const sub of state.subscriptions) host.subscribe(s, sub);
  s.adopt(
    state.inflight.map((o) => ({ packetId: o.packetId, state: o.state, delivery: o.delivery })),
    state.queued,
  );
  for (const id of state.inboundQos2) {
    s.inboundQos2.add(id);
    host.inboundAdded(s, id);
  }
}
