// Stream replay in-process: a `type: stream` queue keeps its messages after acknowledgement, and a new consumer
// group reads it from the start, from now on, from an offset or from a time; an existing group resumes at its
// committed offset. With LMDB the stream and each group's offset survive a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createBroker,
  InprocError,
  InprocErrorCode,
  type BrokerConfigInput,
  type Subscription,
  type WharfBroker,
} from "../../../src/index.ts";
import { FakeClock, silentLogger } from "../../../src/util/index.ts";
import { embedded, next, settle } from "./harness.ts";

const STREAM = { queues: [{ name: "audit", type: "stream" as const }] };

/** Reads `n` messages (auto ack) and returns their texts. */
async function read(sub: Subscription, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) out.push((await next(sub)).text());
  return out;
}

async function publishAll(broker: WharfBroker, from: number, to: number, clock?: FakeClock): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i <= to; i++) {
    ids.push((await broker.publish("$queue/audit", `e${i}`)).messageId!);
    clock?.advance(1000);
  }
  return ids;
}

test("a stream replays to every new group: earliest, latest, from an offset, from a time", async (t) => {
  const clock = new FakeClock(1_700_000_000_000);
  const broker = await embedded(t, { clock }, STREAM);
  const ids = await publishAll(broker, 1, 5, clock); // e1 at t0, e2 at t0 + 1 s, …
  const all = broker.subscribe("$queue/audit", { group: "all" });
  assert.deepEqual(await read(all, 5), ["e1", "e2", "e3", "e4", "e5"]);
  await settle();
  assert.equal(broker.core.queues.info("audit")!.depth, 5, "a stream keeps acknowledged messages");

  const again = broker.subscribe("$queue/audit", { group: "again", from: "earliest" });
  assert.deepEqual(await read(again, 5), ["e1", "e2", "e3", "e4", "e5"], "replayed from the start");

  const offset = Number(ids[2]!.split("-")[0]);
  const fromOffset = broker.subscribe("$queue/audit", { group: "o", from: { offset } });
  assert.deepEqual(await read(fromOffset, 3), ["e3", "e4", "e5"]);

  const fromTime = broker.subscribe("$queue/audit", { group: "t", from: { time: new Date(1_700_000_003_000) } });
  assert.deepEqual(await read(fromTime, 2), ["e4", "e5"], "the first message appended at or after that time");
  const fromMs = broker.subscribe("$queue/audit", { group: "ms", from: { time: 1_700_000_001_500 } });
  assert.deepEqual(await read(fromMs, 3), ["e3", "e4", "e5"]);

  const latest = broker.subscribe("$queue/audit", { group: "l", from: "latest" });
  await settle();
  assert.equal(latest.stats().received, 0, "nothing old");
  await broker.publish("$queue/audit", "e6");
  assert.deepEqual(await read(latest, 1), ["e6"]);
  assert.deepEqual(await read(all, 1), ["e6"], "and the first group goes on");
});

test("an existing group resumes where it is: `from` applies only to a new group", async (t) => {
  const broker = await embedded(t, {}, STREAM);
  await publishAll(broker, 1, 3);
  const first = broker.subscribe("$queue/audit", { group: "g" });
  assert.deepEqual(await read(first, 3), ["e1", "e2", "e3"]);
  await first.unsubscribe();
  await publishAll(broker, 4, 4);
  const resumed = broker.subscribe("$queue/audit", { group: "g", from: "earliest" });
  assert.deepEqual(await read(resumed, 1), ["e4"]);
});

test("bad `from` values are refused with the reason", async (t) => {
  const broker = await embedded(t, {}, STREAM);
  const bad: unknown[] = ["first", { offset: -1 }, { offset: 1.5 }, { time: "yesterday" }, { time: new Date(NaN) }, 7];
  for (const from of bad) {
    assert.throws(
      () => broker.subscribe("$queue/audit", { group: "x", from: from as "earliest" }),
      (e: unknown) =>
        e instanceof InprocError && e.code === InprocErrorCode.InvalidArgument && /from must be/.test(e.message),
      JSON.stringify(from),
    );
  }
});

test("with LMDB the stream and each group's committed offset survive a restart; replays read from disk", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-inproc-stream-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config: BrokerConfigInput = {
    ...STREAM,
    storage: { type: "lmdb", dataDir, durability: "sync" },
    sys: { interval: 0 },
  };
  let broker = await createBroker(config, { logger: silentLogger });
  const ids = await publishAll(broker, 1, 4);
  const reader = broker.subscribe("$queue/audit", { group: "reader", ack: "manual", prefetch: 1 });
  for (let i = 0; i < 2; i++) (await next(reader)).ack(); // e1, e2 acked: the committed offset is 2
  await settle();
  await broker.close();

  broker = await createBroker(config, { logger: silentLogger });
  t.after(() => broker.close());
  assert.equal(broker.core.queues.info("audit")!.depth, 4);
  const resumed = broker.subscribe("$queue/audit", { group: "reader" });
  assert.deepEqual(await read(resumed, 2), ["e3", "e4"], "the group resumes after its committed offset");
  const replay = broker.subscribe("$queue/audit", { group: "replay", from: { offset: Number(ids[1]!.split("-")[0]) } });
  assert.deepEqual(await read(replay, 3), ["e2", "e3", "e4"], "a new group replays what was stored before the restart");
});
