// What the admin API reads from the broker, in one place: sessions and their connections, subscriptions, retained
// messages. Plain JSON-ready snapshots; nothing here keeps a reference into broker state after it returns.
import type { BrokerInspector, ConnectionView, Message, Subscription } from "../broker/index.ts";
import type { Session } from "../broker/session.ts";

export interface ClientView {
  clientId: string;
  connected: boolean;
  username: string | null;
  protocolVersion: number | null;
  remoteAddress: string | null;
  /** Transport kind of the connection ("tcp", "tls", "ws", …), null when offline. */
  transport: string | null;
  /** Session Expiry Interval, seconds (4294967295 = never). */
  sessionExpiryInterval: number;
  subscriptions: number;
  queued: number;
  inflight: number;
}

export interface SubscriptionView {
  clientId: string;
  filter: string;
  qos: number;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: number;
  identifier: number | null;
  shareGroup: string | null;
}

export interface RetainedView {
  topic: string;
  qos: number;
  payloadSize: number;
  /** The payload as UTF-8 when it is valid UTF-8, else null (see payloadBase64). */
  payload: string | null;
  payloadBase64: string;
}

export function clientView(s: Session, c: ConnectionView | undefined): ClientView {
  return {
    clientId: s.clientId,
    connected: c !== undefined,
    username: c?.username ?? null,
    protocolVersion: c?.protocolVersion ?? null,
    remoteAddress: c?.remoteAddress ?? null,
    transport: c?.transport ?? null,
    sessionExpiryInterval: s.expiryInterval,
    subscriptions: s.madeSubscriptions?.size ?? 0,
    queued: s.queue.length,
    inflight: s.madeInflight?.size ?? 0,
  };
}

export function subscriptionView(clientId: string, sub: Subscription): SubscriptionView {
  return {
    clientId,
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    identifier: sub.identifier ?? null,
    shareGroup: sub.shared?.group ?? null,
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The payload as UTF-8 when it is valid UTF-8, else null (the views carry base64 beside it). */
export function payloadText(payload: Uint8Array): string | null {
  try {
    return utf8.decode(payload);
  } catch {
    return null;
  }
}

export function retainedView(msg: Message): RetainedView {
  return {
    topic: msg.topic,
    qos: msg.qos,
    payloadSize: msg.payload.length,
    payload: payloadText(msg.payload),
    payloadBase64: msg.payload.toString("base64"),
  };
}

export interface SessionFilter {
  /** Only client ids starting with this. */
  prefix?: string | undefined;
  connected?: boolean | undefined;
  username?: string | undefined;
}

/** Sessions matching `f` as ClientViews, sorted by client id (stable paging). */
export function findClients(insp: BrokerInspector, f: SessionFilter): ClientView[] {
  const conns = insp.connections();
  const out: ClientView[] = [];
  for (const s of insp.sessions()) {
    if (f.prefix !== undefined && !s.clientId.startsWith(f.prefix)) continue;
    const c = conns.get(s.clientId);
    if (f.connected !== undefined && f.connected !== (c !== undefined)) continue;
    if (f.username !== undefined && c?.username !== f.username) continue;
    out.push(clientView(s, c));
  }
  return out.sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
}

/** Every subscription, by client id then filter. */
export function allSubscriptions(insp: BrokerInspector, filterPrefix?: string): SubscriptionView[] {
  const out: SubscriptionView[] = [];
  const sessions = [...insp.sessions()].sort((a, b) =>
    a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0,
  );
  for (const s of sessions) {
    for (const sub of s.madeSubscriptions?.values() ?? []) {
      if (filterPrefix === undefined || sub.filter.startsWith(filterPrefix))
        out.push(subscriptionView(s.clientId, sub));
    }
  }
  return out;
}

/** Retained messages whose topics match `filter` ("#" does not match $-topics [MQTT-4.7.2-1]), sorted by topic. */
export function findRetained(insp: BrokerInspector, filter: string): Message[] {
  const out: Message[] = [];
  insp.retained.match(filter, (m) => out.push(m));
  return out.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
}

/** Connected clients by transport kind (metrics: bounded cardinality, one series per kind). */
export function connectionsByTransport(insp: BrokerInspector): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of insp.connections().values()) out.set(c.transport, (out.get(c.transport) ?? 0) + 1);
  return out;
}
