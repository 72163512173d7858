// The engine persisting through the storage layer's queue-log concern (StorageQueueStore), on the memory and the
// LMDB backends: a close + reopen + new engine sees exactly the state the previous engine had committed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/util/clock.ts";
import { QueueEngine, StorageQueueStore } from "../../../src/queues/index.ts";
import type { QueueConfigEntry } from "../../../src/queues/index.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { lmdbHarness, memoryHarness } from "../../helpers/storage-harness.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";
import { Link, pub } from "./harness.ts";

const CONFIG: QueueConfigEntry[] = [
  { name: "s", type: "stream" },
  { name: "q", retry: { maxRetries: 3 } },
];

function engineOn(storage: Storage, clock: FakeClock): QueueEngine {
  return new QueueEngine({ store: new StorageQueueStore(storage), clock, config: CONFIG, random: () => 0 });
}

for (const [name, factory] of [
  ["memory", memoryHarness],
  ["lmdb", lmdbHarness],
] as [string, HarnessFactory][]) {
  test(`${name}: messages, delivery counts, group progress, dead letters and stream offsets survive a reopen`, async (t) => {
    const h = await factory();
    t.after(() => h.dispose());
    const clock = new FakeClock(1_000_000);
    let storage = await h.open({ clock });
    let e = engineOn(storage, clock);
    const [a, b] = [new Link("a"), new Link("b")];
    e.join("q", "A", a, { prefetch: 2 });
    e.join("q", "B", b, { prefetch: 10 });
    for (const t of ["1", "2", "3", "4"]) pub(e, "q", t, `key-${t}`);
    e.publish("q", {
      payload: Buffer.from("5"),
      properties: { contentType: "text/plain", userProperties: [["app", "x"]] },
    });
    const [a1, a2] = a.take();
    e.ack("q", "A", a2!.messageId); // out of order: A settled 2 only
    e.nack("q", "A", a1!.messageId, 60_000); // 1 waits for a retry, delivered once
    e.reject("q", "B", "3", "bad");
    for (const id of ["1", "2", "4"]) e.ack("q", "B", id);
    const s = new Link("s");
    e.join("s", "g", s, { prefetch: 10 });
    for (const t of ["x", "y", "z"]) pub(e, "s", t);
    e.ack("s", "g", s.take()[0]!.messageId); // offset: x done
    await e.commit();
    e.close();
    await storage.close();

    storage = await h.open({ clock });
    e = engineOn(storage, clock);
    assert.deepEqual(storage.verify().ok, true);
    const info = e.info("q")!;
    assert.equal(info.depth, 4, "1, 3, 4 (for A) and 5 (for A and B)");
    assert.deepEqual(
      e.peek("q").map((m) => m.record.payload.toString()),
      ["1", "3", "4", "5"],
      "2 was settled by both groups",
    );
    assert.equal(info.nextSeq, 6);
    const five = e.peek("q")[3]!.record;
    assert.equal(five.properties?.contentType, "text/plain");
    assert.deepEqual(five.properties?.userProperties, [["app", "x"]]);
    assert.equal(e.peek("q")[0]!.record.partitionKey, "key-1");
    const dead = e.peek("dlq/q")[0]!.record;
    assert.deepEqual(dead.dlq, {
      reason: "rejected: bad",
      originalQueue: "q",
      originalId: "3-1000000",
      group: "B",
      deliveryCount: 1,
    });
    assert.equal(dead.payload.toString(), "3");

    const [a2n, b2n, s2] = [new Link("a"), new Link("b"), new Link("s")];
    e.join("q", "A", a2n, { prefetch: 10 });
    e.join("q", "B", b2n, { prefetch: 10 });
    e.join("s", "g", s2, { prefetch: 10, start: { kind: "earliest" } });
    assert.deepEqual(a2n.texts, ["3", "4", "5"], "A: 2 settled, 1 still backing off");
    assert.deepEqual(b2n.texts, ["5"]);
    assert.deepEqual(s2.texts, ["y", "z"], "the stream group resumes after its committed offset");
    for (const d of a2n.take()) e.ack("q", "A", d.messageId);
    for (const d of b2n.take()) e.ack("q", "B", d.messageId);
    clock.advance(60_000);
    assert.deepEqual(a2n.texts, ["1"]);
    assert.equal(a2n.got[0]!.deliveryCount, 2, "delivery count kept across the restart");
    e.ack("q", "A", "1");
    assert.equal(e.info("q")!.depth, 0);
    await e.commit();
    e.close();
    await storage.close();
    storage = await h.open({ clock });
    e = engineOn(storage, clock);
    assert.equal(e.info("q")!.depth, 0);
    assert.equal(e.info("s")!.depth, 3, "a stream keeps its messages");
    assert.equal(e.info("q")!.nextSeq, 6, "seqs are not reused");
    assert.ok(storage.verify().ok);
    e.close();
  });
}
