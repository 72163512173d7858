// The settlement seam (src/broker/settlement.ts): the owner of a delivery is told exactly once how it ended —
// acknowledged or rejected with the client's reason code, sent (QoS 0), handed back (connection lost, session
// ended) when it reclaims it, or dropped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { QoS } from "../../../src/codec/index.ts";
import { FlowState, HandBackReason } from "../../../src/broker/index.ts";
import type {
  Delivery,
  DeliveryOwner,
  FlowStateValue,
  HandBackReasonValue,
  Settlement,
} from "../../../src/broker/index.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";
import { createMessage } from "../../../src/broker/message.ts";
import { harness, settle } from "./harness.ts";
import type { Harness } from "./harness.ts";

class RecordingOwner implements DeliveryOwner {
  readonly settlements: [string, Settlement][] = [];
  readonly offers: [string, HandBackReasonValue, FlowStateValue, string][] = [];
  constructor(private readonly reclaim: boolean) {}
  reclaims(d: Delivery, why: HandBackReasonValue, flow: FlowStateValue, holder: { clientId: string }): boolean {
    this.offers.push([d.msg.payload.toString(), why, flow, holder.clientId]);
    return this.reclaim;
  }
  settled(d: Delivery, s: Settlement): void {
    this.settlements.push([d.msg.payload.toString(), s]);
  }
}

function deliverOwned(h: Harness, clientId: string, payload: string, qos: QoS, owner: DeliveryOwner): boolean {
  const session = brokerInternals(h.broker).sessions.get(clientId)!;
  const msg = createMessage({ topic: "owned/t", payload: Buffer.from(payload), qos, retain: false }, h.clock.now());
  return session.deliver({ msg, qos, retain: false, subscriptionIds: undefined, owner });
}

test("PUBACK reason codes reach the owner: acknowledged below 0x80, rejected from 0x80 (5.0)", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "c", version: 5 });
  const owner = new RecordingOwner(false);
  deliverOwned(h, "c", "one", 1, owner);
  deliverOwned(h, "c", "two", 1, owner);
  const [one, two] = await client.publishes();
  client.send({ type: PacketType.PUBACK, packetId: one!.packetId!, reasonCode: ReasonCode.NoMatchingSubscribers });
  client.send({ type: PacketType.PUBACK, packetId: two!.packetId!, reasonCode: ReasonCode.NotAuthorized });
  await settle();
  assert.deepEqual(owner.settlements, [
    ["one", { kind: "acknowledged", reasonCode: ReasonCode.NoMatchingSubscribers }],
    ["two", { kind: "rejected", reasonCode: ReasonCode.NotAuthorized }],
  ]);
});

test("QoS 2: settled at PUBREC (the message is the client's [MQTT-4.3.3-3]), rejected by a PUBREC >= 0x80", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "c2", version: 5 });
  const owner = new RecordingOwner(false);
  deliverOwned(h, "c2", "ok", 2, owner);
  deliverOwned(h, "c2", "no", 2, owner);
  const [ok, no] = await client.publishes();
  client.send({ type: PacketType.PUBREC, packetId: ok!.packetId! });
  client.send({ type: PacketType.PUBREC, packetId: no!.packetId!, reasonCode: ReasonCode.QuotaExceeded });
  await settle();
  assert.deepEqual(owner.settlements, [
    ["ok", { kind: "acknowledged", reasonCode: 0 }],
    ["no", { kind: "rejected", reasonCode: ReasonCode.QuotaExceeded }],
  ]);
  client.send({ type: PacketType.PUBCOMP, packetId: ok!.packetId! });
  await settle();
  assert.equal(owner.settlements.length, 2, "PUBCOMP only frees the packet id: no second settlement");
});

test("QoS 0 is settled sent", async () => {
  const h = harness();
  await h.connect({ clientId: "z" });
  const owner = new RecordingOwner(false);
  deliverOwned(h, "z", "zero", 0, owner);
  await settle();
  assert.deepEqual(owner.settlements, [["zero", { kind: "sent" }]]);
});

test("connection lost: the owner is offered what is unacknowledged; a reclaimed delivery is handed back and forgotten", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "lost", version: 5, properties: { sessionExpiryInterval: 60 } });
  const owner = new RecordingOwner(true);
  deliverOwned(h, "lost", "inflight", 1, owner);
  await client.publishes();
  client.drop();
  await settle();
  assert.deepEqual(owner.offers, [["inflight", HandBackReason.ConnectionLost, FlowState.AwaitPuback, "lost"]]);
  assert.deepEqual(owner.settlements, [["inflight", { kind: "handed-back", reason: "connection-lost" }]]);
  assert.equal(brokerInternals(h.broker).sessions.get("lost")!.inflight.size, 0, "the session forgot it");
  const again = await h.connect({ clientId: "lost", version: 5, clean: false });
  assert.deepEqual(await again.client.publishes(), [], "not resent after reconnecting");
});

test("an owner that declines keeps the delivery with the session: resent with DUP on reconnect [MQTT-4.4.0-1]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "keep", version: 5, properties: { sessionExpiryInterval: 60 } });
  const owner = new RecordingOwner(false);
  deliverOwned(h, "keep", "m", 1, owner);
  await client.publishes();
  client.drop();
  await settle();
  assert.equal(owner.offers.length, 1);
  assert.deepEqual(owner.settlements, []);
  const again = await h.connect({ clientId: "keep", version: 5, clean: false });
  const resent = await again.client.publishes();
  assert.deepEqual(
    resent.map((p) => [p.payload.toString(), p.dup]),
    [["m", true]],
  );
  again.client.send({ type: PacketType.PUBACK, packetId: resent[0]!.packetId! });
  await settle();
  assert.deepEqual(owner.settlements, [["m", { kind: "acknowledged", reasonCode: 0 }]]);
});

test("session expired: queued deliveries are offered back (session-ended); the ones kept are dropped with the session", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "exp", version: 5, properties: { sessionExpiryInterval: 5 } });
  client.drop();
  await settle();
  const reclaimer = new RecordingOwner(true);
  const decliner = new RecordingOwner(false);
  assert.equal(deliverOwned(h, "exp", "back", 1, reclaimer), true);
  assert.equal(deliverOwned(h, "exp", "kept", 1, decliner), true);
  h.clock.advance(5000);
  await settle();
  assert.deepEqual(reclaimer.offers, [["back", HandBackReason.SessionEnded, FlowState.Queued, "exp"]]);
  assert.deepEqual(reclaimer.settlements, [["back", { kind: "handed-back", reason: "session-ended" }]]);
  assert.deepEqual(decliner.settlements, [["kept", { kind: "dropped", reason: "session-ended" }]]);
  assert.equal(brokerInternals(h.broker).sessions.has("exp"), false);
});

test("too large for the client: dropped too-large, not kept in flight (5.0 [MQTT-3.1.2-25])", async () => {
  const h = harness();
  await h.connect({ clientId: "small", version: 5, properties: { maximumPacketSize: 64 } });
  const owner = new RecordingOwner(false);
  deliverOwned(h, "small", "x".repeat(200), 1, owner);
  await settle();
  assert.deepEqual(
    owner.settlements.map(([, s]) => s),
    [{ kind: "dropped", reason: "too-large" }],
  );
});
