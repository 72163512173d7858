// MQTT 5.0 acceptance (issue #4): shared subscriptions `$share/<group>/<filter>` — one delivery per group,
// configurable strategies, redispatch of a dead member's messages, no retained messages, No Local refused.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { PublishPacket } from "../../../src/codec/index.ts";
import type { RawClient } from "../../helpers/raw-client.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { Inbox, eventually, mqttjs, outcome, raw, sleep, topicFor, uid, useTarget, wharfOnly } from "./harness.ts";
import type { Ctx } from "./harness.ts";
import { wharfOptions } from "./wharf-options.ts";
import type { SharedStrategy } from "./wharf-options.ts";

let target: Target;
before(async () => {
  target = await startTarget();
});
after(() => target?.close());

const payloadsOf = (c: RawClient): string[] =>
  c.received.flatMap((p) => (p.type === PacketType.PUBLISH ? [p.payload.toString()] : []));

/** A raw member of `$share/<group>/<topic>`, acknowledging automatically unless `autoAck` is false. */
/**
 * Every message was published with QoS 1 (routed before its PUBACK): a duplicate or extra delivery to a member
 * would be written to it before the PINGRESP of a PINGREQ sent now.
 */
async function settled(members: RawClient[]): Promise<void> {
  await Promise.all(members.map((m) => m.ping()));
}

async function member(
  t: Ctx,
  s: Target,
  group: string,
  topic: string,
  o: { autoAck?: boolean; qos?: 0 | 1 | 2 } = {},
): Promise<RawClient> {
  const c = await raw(t, s, { clientId: `member-${uid()}`, properties: { receiveMaximum: 1000 } });
  c.autoAck = o.autoAck ?? true;
  const suback = await c.subscribe([{ topicFilter: `$share/${group}/${topic}`, qos: o.qos ?? 1 }]);
  assert.deepEqual(suback.reasonCodes, [o.qos ?? 1]);
  return c;
}

async function publishN(t: Ctx, s: Target, topic: string, n: number, gapMs = 0): Promise<string[]> {
  const pub = await mqttjs(t, s);
  const sent: string[] = [];
  for (let i = 0; i < n; i++) {
    const payload = `m${String(i).padStart(3, "0")}`;
    await pub.publishAsync(topic, payload, { qos: 1 });
    sent.push(payload);
    if (gapMs > 0) await sleep(gapMs);
  }
  return sent;
}

test("(§4.8.2) one delivery per group per message; groups and ordinary subscriptions each get every message", async (t) => {
  const topic = topicFor("groups");
  const g1 = [await member(t, target, "g1", topic), await member(t, target, "g1", topic)];
  const g2 = [await member(t, target, "g2", topic), await member(t, target, "g2", topic)];
  const plain = await mqttjs(t, target);
  const plainInbox = new Inbox(plain);
  await plain.subscribeAsync(topic, { qos: 1 });
  const sent = await publishN(t, target, topic, 10);
  await plainInbox.count(10);
  for (const [name, group] of [
    ["g1", g1],
    ["g2", g2],
  ] as const) {
    await eventually(() => group.flatMap(payloadsOf).length >= 10, `${name} got all 10`);
    await settled(group); // a duplicate would have been sent before the PINGRESPs
    const got = group.flatMap(payloadsOf);
    assert.deepEqual([...got].sort(), sent, `${name}: each message exactly once`);
  }
  assert.deepEqual(
    plainInbox.messages.map((m) => m.payload.toString()),
    sent,
  );
});

test("(§4.8.2) the default strategy is round robin: three members get equal shares", async (t) => {
  const topic = topicFor("rr");
  const members = [
    await member(t, target, "rr", topic),
    await member(t, target, "rr", topic),
    await member(t, target, "rr", topic),
  ];
  await publishN(t, target, topic, 9);
  await eventually(() => members.flatMap(payloadsOf).length >= 9, "all 9 delivered");
  await settled(members);
  assert.deepEqual(
    members.map((m) => payloadsOf(m).length),
    [3, 3, 3],
  );
});

test("[MQTT-4.8.2-3] each member gets messages at its own granted QoS", async (t) => {
  const topic = topicFor("shared-qos");
  const q0 = await member(t, target, "q", topic, { qos: 0 });
  const q1 = await member(t, target, "q", topic, { qos: 1 });
  await publishN(t, target, topic, 6);
  await eventually(() => payloadsOf(q0).length + payloadsOf(q1).length >= 6, "all 6 delivered");
  const qos = (c: RawClient): number[] => c.received.flatMap((p) => (p.type === PacketType.PUBLISH ? [p.qos] : []));
  assert.ok(qos(q0).length > 0 && qos(q1).length > 0, "both members served");
  assert.ok(qos(q0).every((q) => q === 0));
  assert.ok(qos(q1).every((q) => q === 1));
});

test("[MQTT-4.8.2-6] a message refused with PUBACK >= 0x80 is discarded, not sent to another member", async (t) => {
  const topic = topicFor("refused");
  const a = await member(t, target, "nack", topic, { autoAck: false });
  const b = await member(t, target, "nack", topic, { autoAck: false });
  await publishN(t, target, topic, 1);
  await eventually(() => payloadsOf(a).length + payloadsOf(b).length >= 1, "delivered to one member");
  const [chosen, other] = payloadsOf(a).length > 0 ? [a, b] : [b, a];
  const p = await chosen.next(PacketType.PUBLISH);
  chosen.puback(p.packetId!, ReasonCode.UnspecifiedError);
  // The broker handles the PUBACK before the PINGREQ behind it; a re-send to either member would come first.
  await chosen.ping();
  await other.ping();
  assert.deepEqual(payloadsOf(other), []);
  assert.deepEqual(payloadsOf(chosen), ["m000"], "not resent to the refusing member either");
});

async function strategyRun(
  t: Ctx,
  strategy: SharedStrategy,
  n: number,
): Promise<{ members: RawClient[]; order: number[] }> {
  const s = await useTarget(t, { wharf: wharfOptions.sharedStrategy(strategy) });
  const topic = topicFor(`strategy-${strategy}`);
  const members = [await member(t, s, "s", topic), await member(t, s, "s", topic), await member(t, s, "s", topic)];
  const sent = await publishN(t, s, topic, n);
  await eventually(() => members.flatMap(payloadsOf).length >= n, `all ${n} delivered`);
  await settled(members);
  assert.deepEqual(members.flatMap(payloadsOf).sort(), sent, "each message exactly once");
  const order = sent.map((payload) => members.findIndex((m) => payloadsOf(m).includes(payload)));
  return { members, order };
}

// Mosquitto passes this one with its fixed (round robin) strategy; on Wharf it checks the configured strategy.
test("(§4.8) strategy round-robin (configured): members take turns", async (t) => {
  const { order } = await strategyRun(t, "round-robin", 12);
  for (let i = 3; i < order.length; i++)
    assert.equal(order[i], order[i - 3], `message ${i} goes to the same member as ${i - 3}`);
  assert.deepEqual(new Set(order.slice(0, 3)).size, 3);
});

test(
  "(§4.8) strategy random: every message once, every member used, not a fixed rotation",
  {
    skip: wharfOnly("has no configurable shared subscription strategy"),
  },
  async (t) => {
    const { members, order } = await strategyRun(t, "random", 60);
    for (const m of members) assert.ok(payloadsOf(m).length > 0, "every member got some");
    const rotation = order.every((x, i) => i < 3 || x === order[i - 3]);
    assert.equal(rotation, false, "a random choice is not a perfect rotation (probability 3^-57)");
  },
);

test(
  "(§4.8) strategy sticky: one member gets everything while it is connected, another takes over when it leaves",
  {
    skip: wharfOnly("has no configurable shared subscription strategy"),
  },
  async (t) => {
    const s = await useTarget(t, { wharf: wharfOptions.sharedStrategy("sticky") });
    const topic = topicFor("sticky");
    const members = [await member(t, s, "s", topic), await member(t, s, "s", topic), await member(t, s, "s", topic)];
    await publishN(t, s, topic, 6);
    await eventually(() => members.flatMap(payloadsOf).length >= 6, "first 6 delivered");
    const counts = members.map((m) => payloadsOf(m).length);
    assert.deepEqual([...counts].sort(), [0, 0, 6], `one member got all (${counts.join("/")})`);
    const stuck = members[counts.indexOf(6)]!;
    stuck.disconnect();
    await stuck.waitClosed();
    const rest = members.filter((m) => m !== stuck);
    const more = await publishN(t, s, topic, 6);
    await eventually(() => rest.flatMap(payloadsOf).length >= 6, "next 6 delivered");
    const after = rest.map((m) => payloadsOf(m).length);
    assert.deepEqual([...after].sort(), [0, 6], `a single new member got all (${after.join("/")})`);
    assert.deepEqual(rest.flatMap(payloadsOf).sort(), more);
  },
);

test(
  "(§4.8) strategy least-inflight: a member that does not acknowledge stops being chosen",
  {
    skip: wharfOnly("has no configurable shared subscription strategy"),
  },
  async (t) => {
    const s = await useTarget(t, { wharf: wharfOptions.sharedStrategy("least-inflight") });
    const topic = topicFor("least");
    const slow = await member(t, s, "s", topic, { autoAck: false });
    const fast = await member(t, s, "s", topic);
    const sent = await publishN(t, s, topic, 20, 15);
    await eventually(() => payloadsOf(slow).length + payloadsOf(fast).length >= 20, "all 20 delivered");
    assert.ok(payloadsOf(slow).length <= 2, `the stalled member got ${payloadsOf(slow).length}`);
    assert.deepEqual([...payloadsOf(slow), ...payloadsOf(fast)].sort(), sent);
  },
);

test(
  "(§4.8.2) a member killed mid-stream loses nothing: its in-flight and queued QoS 1 messages go to the live members, zero lost",
  {
    skip: wharfOnly("drops the messages in flight to a member whose session ends"),
  },
  async (t) => {
    const topic = topicFor("redispatch");
    const a = await member(t, target, "r", topic);
    const b = await member(t, target, "r", topic);
    const victim = await member(t, target, "r", topic, { autoAck: false }); // takes messages, never acknowledges
    const pub = await mqttjs(t, target);
    const sent: string[] = [];
    let killed = false;
    for (let i = 0; i < 30; i++) {
      const payload = `m${String(i).padStart(3, "0")}`;
      await pub.publishAsync(topic, payload, { qos: 1 });
      sent.push(payload);
      if (!killed && payloadsOf(victim).length >= 3) {
        victim.destroy(); // socket gone, no PUBACK, no DISCONNECT
        killed = true;
      }
      await sleep(5);
    }
    assert.ok(killed, "the victim received messages before it died");
    const lostWithVictim = payloadsOf(victim);
    await eventually(
      () => new Set([...payloadsOf(a), ...payloadsOf(b)]).size >= 30,
      `live members hold all 30 (missing: ${sent.filter((m) => ![...payloadsOf(a), ...payloadsOf(b)].includes(m)).join(",")})`,
      3000,
    );
    const live = new Set([...payloadsOf(a), ...payloadsOf(b)]);
    assert.deepEqual([...live].sort(), sent, "zero messages lost");
    for (const m of lostWithVictim) assert.ok(live.has(m), `${m}, unacknowledged by the victim, was redispatched`);
  },
);

test(
  "(§4.8.2) with no live member, messages for the group wait and go to the next member that connects",
  {
    skip: wharfOnly("keeps each offline member's share for that member"),
  },
  async (t) => {
    const topic = topicFor("waiting");
    const ids = [`wait-a-${uid()}`, `wait-b-${uid()}`];
    for (const clientId of ids) {
      const c = await raw(t, target, { clientId, properties: { sessionExpiryInterval: 60 } });
      await c.subscribe([{ topicFilter: `$share/w/${topic}`, qos: 1 }]);
      c.disconnect();
      await c.waitClosed();
    }
    const sent = await publishN(t, target, topic, 6);
    const back = await raw(t, target, { clientId: ids[0]!, clean: false, properties: { sessionExpiryInterval: 0 } });
    back.autoAck = true;
    await eventually(
      () => payloadsOf(back).length >= 6,
      `the returning member gets all 6 (got ${payloadsOf(back).length})`,
    );
    assert.deepEqual([...new Set(payloadsOf(back))].sort(), sent);
    const other = await raw(t, target, { clientId: ids[1]!, clean: false, properties: { sessionExpiryInterval: 0 } });
    await other.ping(); // whatever its session held is sent on resume, before the PINGRESP
    assert.deepEqual(
      other.pending(PacketType.PUBLISH).map((p: PublishPacket) => p.payload.toString()),
      [],
      "nothing delivered twice",
    );
  },
);

test(
  "(§3.3.1.3, §4.8.2) no retained messages are sent for a shared subscription",
  {
    skip: wharfOnly("sends retained messages to new shared subscriptions"),
  },
  async (t) => {
    const topic = topicFor("shared-retained");
    const pub = await mqttjs(t, target);
    await pub.publishAsync(topic, "state", { qos: 1, retain: true });
    const c = await raw(t, target, {});
    const suback = await c.subscribe([{ topicFilter: `$share/ret/${topic}`, qos: 1 }]);
    assert.deepEqual(suback.reasonCodes, [1], "shared subscription granted");
    await c.ping(); // retained messages would follow the SUBACK, before the PINGRESP
    assert.deepEqual(c.pending(PacketType.PUBLISH), []);
    await c.subscribe([{ topicFilter: topic, qos: 1 }]);
    assert.equal((await c.next(PacketType.PUBLISH)).retain, true, "control: an ordinary subscription gets it");
    await pub.publishAsync(topic, "", { qos: 1, retain: true });
  },
);

test(
  "[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82",
  {
    skip: wharfOnly("accepts No Local on shared subscriptions"),
  },
  async (t) => {
    const c = await raw(t, target, {});
    const packetId = c.nextPacketId();
    c.send({
      type: PacketType.SUBSCRIBE,
      packetId,
      subscriptions: [{ topicFilter: `$share/nl/${topicFor("nl")}`, qos: 1, noLocal: true }],
    });
    const closed = await c.waitClosed();
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.ProtocolError);
  },
);

test(
  "[MQTT-4.8.2-1] [MQTT-4.8.2-2] malformed shared subscription filters are refused (SUBACK 0x8F, or DISCONNECT 0x81/0x82)",
  {
    skip: wharfOnly("accepts $share//x, $share/g and $share/g/ as ordinary filters"),
  },
  async (t) => {
    for (const filter of ["$share//x", "$share/g", "$share/g/", "$share/g+/x", "$share/g#/x"]) {
      const c = await raw(t, target, {});
      const packetId = c.nextPacketId();
      c.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ topicFilter: filter, qos: 1 }] });
      const r = await outcome(c, c.next(PacketType.SUBACK));
      if (r.ack !== undefined) assert.deepEqual(r.ack.reasonCodes, [ReasonCode.TopicFilterInvalid], filter);
      else
        assert.ok(
          r.disconnect === ReasonCode.MalformedPacket || r.disconnect === ReasonCode.ProtocolError,
          `${filter}: DISCONNECT ${r.disconnect}`,
        );
    }
  },
);
