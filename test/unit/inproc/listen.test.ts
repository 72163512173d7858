// Synchronous listeners (listen()): called while a message is routed, before publish() returns; wildcards; removal
// by unsubscribe() and AbortSignal; a throwing listener reported and not disturbing routing; what is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InprocError, InprocErrorCode, type ReceivedMessage } from "../../../src/index.ts";
import { TopicError } from "../../../src/topics/index.ts";
import { embedded, settle } from "./harness.ts";

test("a listener is called synchronously, before publish() returns, with the message", async (t) => {
  const broker = await embedded(t);
  const got: ReceivedMessage[] = [];
  broker.listen("l/+/temp", (m) => void got.push(m));
  const p = broker.publish("l/a/temp", "21", { priority: 7, properties: { contentType: "text/plain" } });
  assert.equal(got.length, 1, "called inside publish()");
  const m = got[0]!;
  assert.equal(m.topic, "l/a/temp");
  assert.equal(m.text(), "21");
  assert.equal(m.qos, 0);
  assert.equal(m.retain, false);
  assert.equal(m.priority, 7);
  assert.equal(m.deliveryCount, 1);
  assert.equal(m.properties?.contentType, "text/plain");
  assert.throws(
    () => m.ack(),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.AckState,
  );
  assert.deepEqual(await p, { matched: 1, refused: 0 });
  await broker.publish("l/a/humidity", "50");
  assert.equal(got.length, 1);
});

test("listeners and subscriptions on one topic: every one gets each message, in publish order", async (t) => {
  const broker = await embedded(t);
  const a: string[] = [];
  const b: string[] = [];
  const s: string[] = [];
  broker.listen("o/#", (m) => void a.push(m.text()));
  broker.listen("+/x", (m) => void b.push(m.text()));
  broker.subscribe("o/x", { handler: (m) => void s.push(m.text()) });
  for (let i = 0; i < 5; i++) assert.equal((await broker.publish("o/x", `${i}`)).matched, 3);
  await settle();
  const want = ["0", "1", "2", "3", "4"];
  assert.deepEqual(a, want);
  assert.deepEqual(b, want);
  assert.deepEqual(s, want);
});

test("unsubscribe() and an aborted signal remove a listener; close() removes the rest", async (t) => {
  const broker = await embedded(t);
  let n1 = 0;
  let n2 = 0;
  const ac = new AbortController();
  const l1 = broker.listen("u/x", () => {
    n1++;
  });
  broker.listen(
    "u/x",
    () => {
      n2++;
    },
    { signal: ac.signal },
  );
  await broker.publish("u/x", "a");
  l1.unsubscribe();
  l1.unsubscribe(); // idempotent
  await broker.publish("u/x", "b");
  ac.abort();
  assert.equal((await broker.publish("u/x", "c")).matched, 0);
  assert.deepEqual([n1, n2], [1, 2]);
  assert.throws(
    () => broker.listen("u/x", () => {}, { signal: ac.signal }),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.Closed,
  );
});

test("a throwing listener goes to onError; the other listeners and the publisher are not affected", async (t) => {
  const broker = await embedded(t);
  const errors: unknown[] = [];
  let after = 0;
  broker.listen(
    "e/x",
    () => {
      throw new Error("boom");
    },
    { onError: (e) => errors.push(e) },
  );
  broker.listen("e/x", () => {
    after++;
  });
  assert.deepEqual(await broker.publish("e/x", "1"), { matched: 2, refused: 0 });
  assert.equal(after, 1);
  assert.equal((errors[0] as Error).message, "boom");
});

test("a listener may publish (the nested message is routed at once) and remove another listener", async (t) => {
  const broker = await embedded(t);
  const seen: string[] = [];
  let second: { unsubscribe(): void } | undefined = undefined;
  broker.listen("n/#", (m) => {
    seen.push(`first:${m.topic}`);
    if (m.topic === "n/a") {
      void broker.publish("n/b", "nested");
      second?.unsubscribe();
    }
  });
  second = broker.listen("n/#", (m) => void seen.push(`second:${m.topic}`));
  await broker.publish("n/a", "x");
  // The nested publish reached both (the second was still there); after its removal the second gets n/a no more.
  assert.deepEqual(seen, ["first:n/a", "first:n/b", "second:n/b"]);
});

test("listen() refuses invalid filters, shared and $queue/ filters, and a non-function", async (t) => {
  const broker = await embedded(t);
  assert.throws(() => broker.listen("a/#/b", () => {}), TopicError);
  for (const f of ["$share/g/a", "$queue/jobs"]) {
    assert.throws(
      () => broker.listen(f, () => {}),
      (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.InvalidArgument,
    );
  }
  assert.throws(
    () => broker.listen("a", "nope" as unknown as () => void),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.InvalidArgument,
  );
});
