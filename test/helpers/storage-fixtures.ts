// Sample records and small helpers for storage tests.
import type { TestContext } from "node:test";
import type { Properties } from "../../src/codec/types.ts";
import { InflightState } from "../../src/storage/index.ts";
import type {
  DeliveryOptions,
  InflightInit,
  MessageId,
  Storage,
  StorageOptionsBase,
  StoredMessage,
} from "../../src/storage/index.ts";
import type { HarnessFactory, StorageHarness } from "./storage-harness.ts";

/** Every PUBLISH property kind a stored message can carry, with the awkward cases: repeated and non-ASCII keys. */
export const PUBLISH_PROPERTIES: Properties = {
  payloadFormatIndicator: 1,
  contentType: "application/json; charset=utf-8",
  responseTopic: "reply/ünïcode/😀",
  correlationData: Buffer.from([0, 1, 2, 0xfe, 0xff]),
  userProperties: [
    ["k", "v1"],
    ["k", "v2"],
    ["ключ", "値"],
    ["", ""],
  ],
};

export function allBytes(length = 256 * 4): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = i & 0xff;
  return b;
}

export function message(i: number, over: Partial<StoredMessage> = {}): StoredMessage {
  return { topic: `t/${i}`, payload: Buffer.from(`payload ${i}`), qos: 1, retain: false, ...over };
}

export const QOS1: DeliveryOptions = { qos: 1, retain: false };

export function inflight(
  packetId: number,
  messageId: MessageId | undefined,
  over: Partial<InflightInit> = {},
): InflightInit {
  return { packetId, messageId, state: InflightState.AwaitPuback, qos: 1, retain: false, ...over };
}

/** A fresh harness with a store open on it; both cleaned up after the test. */
export async function openFresh(
  t: TestContext,
  factory: HarnessFactory,
  options?: StorageOptionsBase,
): Promise<{ h: StorageHarness; s: Storage }> {
  const h = await factory();
  t.after(() => h.dispose());
  return { h, s: await h.open(options) };
}

/** Closes `s` and opens the harness's disk again: the reopen path under test. */
export async function reopen(h: StorageHarness, s: Storage, options?: StorageOptionsBase): Promise<Storage> {
  await s.close();
  return h.open(options);
}

/** Stores a message and queues it for `clientId` in one step (the broker's QoS 1 publish path). */
export function storeQueued(
  s: Storage,
  clientId: string,
  m: StoredMessage,
  delivery = QOS1,
): { id: MessageId; seq: number } {
  const id = s.messages.store(m);
  return { id, seq: s.sessions.enqueue(clientId, id, delivery) };
}

/** Stores a message and appends it to a durable queue log in one step; returns the seq. */
export function logAppend(s: Storage, queue: string, m: StoredMessage): number {
  return s.queues.append(queue, s.messages.store(m));
}
