import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { PublishPacket } from "../../../src/codec/index.ts";
import { inspectBroker } from "../../../src/broker/index.ts";
import { allSubscriptions, findClients } from "../../../src/admin/broker-view.ts";
import { harness, settle } from "./harness.ts";

function values(ps: PublishPacket[]): Map<string, string> {
  return new Map(ps.map((p) => [p.topic, p.payload.toString()]));
}

test("$SYS: published retained at start and every sysInterval seconds on the clock", async () => {
  const h = harness({ sysInterval: 10 });
  const { client } = await h.connect({ clientId: "mon" });
  await client.subscribe("$SYS/#", 0);
  const initial = values(client.take().filter((p): p is PublishPacket => p.type === PacketType.PUBLISH));
  assert.match(initial.get("$SYS/broker/version") ?? "", /^wharf version \d/);
  for (const t of [
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
  ]) {
    assert.ok(initial.has(t), t);
  }
  assert.equal(initial.get("$SYS/broker/uptime"), "0 seconds");

  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("a", "x", 0, { retain: true });
  await settle();
  h.clock.advance(9_999);
  assert.deepEqual(await client.publishes(), [], "nothing before the period");
  h.clock.advance(1);
  const tick = await client.publishes();
  assert.ok(
    tick.every((p) => !p.retain),
    "live $SYS updates reach existing subscribers with RETAIN 0",
  );
  const v = values(tick);
  assert.equal(v.get("$SYS/broker/uptime"), "10 seconds");
  assert.equal(v.get("$SYS/broker/clients/connected"), "2");
  assert.equal(v.get("$SYS/broker/messages/received"), "1");
  assert.equal(v.get("$SYS/broker/subscriptions/count"), "1");
  assert.ok(Number(v.get("$SYS/broker/retained messages/count")) >= 1);
  assert.ok(Number(v.get("$SYS/broker/bytes/received")) > 0);
});

test("$SYS: sysInterval 0 disables it; close() stops the timer", async () => {
  const off = harness({ sysInterval: 0 });
  assert.equal(off.broker.stats().retained, 0);
  const on = harness({ sysInterval: 5 });
  assert.ok(on.broker.stats().retained > 0);
  await on.broker.close();
  on.clock.advance(60_000);
  assert.equal(on.clock.pending, 0);
});

test("stats, $SYS and the admin client list do not make an idle session's subscription map or inflight window", async () => {
  const h = harness({ sysInterval: 10 });
  await h.connect({ clientId: "idle" });
  const insp = inspectBroker(h.broker);
  h.clock.advance(10_000); // a $SYS publication reads stats()
  await settle();
  assert.equal(h.broker.stats().clientsConnected, 1);
  assert.equal(findClients(insp, {})[0]!.inflight, 0);
  assert.equal(findClients(insp, {})[0]!.subscriptions, 0);
  assert.deepEqual(allSubscriptions(insp), []);
  assert.deepEqual(h.broker.subscriptionsOf("idle"), []);
  const s = insp.session("idle")!;
  // Each would cost the idle client ~0.1-0.2 KB for good (issue #10: idle connection memory).
  assert.equal(s.madeInflight, undefined);
  assert.equal(s.madeSubscriptions, undefined);
  assert.equal(s.madeInboundQos2, undefined);
});
