// Conversions between the broker's runtime shapes (Message, Subscription, Delivery) and the storage layer's
// records: one place, used by the write-behind mirror (persist-*.ts) and by recovery (recover.ts).
import type { ProtocolVersion } from "../codec/index.ts";
import type { DeliveryOptions, StoredMessage, StoredSubscription } from "../storage/index.ts";
import { parseSharedFilter } from "../topics/index.ts";
import type { Delivery, Message } from "./message.ts";
import type { Subscription } from "./session.ts";

/** A stored body as the broker routes it (the encoder is rebuilt lazily). */
export function messageFromStored(m: StoredMessage): Message {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
    origin: m.origin,
    receivedAt: undefined,
    trace: undefined,
    prepared: undefined,
  };
}

export function messageToStored(m: Message): StoredMessage {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
    origin: m.origin,
  };
}

/**
 * Stand-in body of a QoS 2 flow in the PUBREL state: its body was released at PUBREC (storage keeps no
 * reference), only PUBREL is resent, so the message is never encoded.
 */
export const RELEASED: Message = {
  topic: "",
  payload: Buffer.alloc(0),
  qos: 2,
  retain: false,
  properties: undefined,
  expiresAt: undefined,
  origin: undefined,
  receivedAt: undefined,
  trace: undefined,
  prepared: undefined,
};

export function subscriptionToStored(sub: Subscription): StoredSubscription {
  return {
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    identifier: sub.identifier,
  };
}

function sharedOf(filter: string, version: ProtocolVersion): Subscription["shared"] {
  if (version !== 5) return undefined; // 3.x has no shared subscriptions: "$share/…" is an ordinary filter
  try {
    return parseSharedFilter(filter);
  } catch {
    return undefined;
  }
}

export function subscriptionFromStored(sub: StoredSubscription, version: ProtocolVersion): Subscription {
  return {
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    identifier: sub.identifier,
    shared: sharedOf(sub.filter, version),
  };
}

/** The per-subscriber parts of a delivery, as storage keeps them with a queue or inflight entry. */
export function deliveryToStored(d: Delivery): DeliveryOptions {
  return { qos: d.qos, retain: d.retain, subscriptionIds: d.subscriptionIds };
}

export function deliveryFromStored(msg: Message, o: DeliveryOptions): Delivery {
  return { msg, qos: o.qos, retain: o.retain, subscriptionIds: o.subscriptionIds };
}
