// Durable in-process subscriptions: the session outlives the subscription (and, with LMDB, the process); messages
// published meanwhile and messages handed out but not acknowledged are delivered to the next subscription of that
// name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker, type ReceivedMessage } from "../../../src/index.ts";
import { silentLogger } from "../../../src/util/index.ts";
import { embedded, next, settle } from "./harness.ts";

test("durable: messages published while detached, and unacknowledged ones, reach the next subscription of the name", async (t) => {
  const broker = await embedded(t);
  const first = broker.subscribe("work/#", { durable: "worker", ack: "manual" });
  await broker.publish("work/1", "one", { qos: 1 });
  const m1 = await next(first);
  assert.equal(m1.text(), "one"); // handed out, never acknowledged
  await first.unsubscribe();
  await broker.publish("work/2", "two", { qos: 1 });
  await broker.publish("work/3", "three", { qos: 0 }); // QoS 0 is not queued for a detached session
  const again = broker.subscribe("work/#", { durable: "worker", ack: "manual" });
  const got: ReceivedMessage[] = [await next(again), await next(again)];
  assert.deepEqual(
    got.map((m) => m.text()),
    ["one", "two"],
  );
  for (const m of got) m.ack();
  await settle();
  assert.equal(again.stats().buffered, 0);
  assert.equal(broker.removeDurable("worker"), true);
  assert.equal(broker.removeDurable("worker"), false);
  assert.equal((await broker.publish("work/4", "x", { qos: 1 })).matched, 0);
});

test("durable with LMDB: the session and its queued messages survive a restart", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-durable-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = { sys: { interval: 0 }, storage: { type: "lmdb" as const, dataDir } };
  const before = await createBroker(config, { logger: silentLogger });
  const sub = before.subscribe("jobs/+", { durable: "jobs", qos: 1 });
  await sub.unsubscribe();
  await before.publish("jobs/a", "queued while detached", { qos: 1 });
  await before.close();
  const after = await createBroker(config, { logger: silentLogger });
  t.after(() => after.close());
  const resumed = after.subscribe("jobs/+", { durable: "jobs", qos: 1 });
  const m = await next(resumed);
  assert.deepEqual([m.topic, m.text(), m.qos], ["jobs/a", "queued while detached", 1]);
});
