// The replication protocol on a fake clock with a hand-driven link: when a sync commit may resolve, what async
// promises, how a replica fences a former owner and resyncs after a gap.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  ClusterQueueErrorCode,
  ReplicaHost,
  ReplicationMode,
  SlotMemoryStore,
  SlotReplicator,
} from "../../../src/cluster/queues/index.ts";
import type {
  ReplicationAck,
  ReplicationFrame,
  ReplicationModeValue,
  StoreOp,
} from "../../../src/cluster/queues/index.ts";
import { FakeClock, isWharfError, silentLogger } from "../../../src/util/index.ts";

interface Sent {
  node: string;
  frame: ReplicationFrame;
  reply: (a: ReplicationAck) => void;
}

const flush = () => new Promise((r) => setImmediate(r));

function setup(mode: ReplicationModeValue = ReplicationMode.Sync) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const isr: string[][] = [];
  let isrGate: Promise<boolean> | undefined;
  let fenced = 0;
  const store = new SlotMemoryStore();
  const rep = new SlotReplicator({
    slot: 1,
    epoch: 10,
    self: "a@1",
    store,
    link: { send: (node, frame) => new Promise((reply) => sent.push({ node, frame, reply })) },
    mode,
    timeoutMs: 5000,
    clock,
    logger: silentLogger,
    setInSync: async (members) => {
      const ok = await (isrGate ?? Promise.resolve(true));
      if (ok) isr.push(members);
      return ok;
    },
    onFenced: () => fenced++,
  });
  const write = (payload: string): void => {
    const seq = store.append("q", { payload: Buffer.from(payload), enqueuedAt: 0 });
    rep.record({ op: "append", queue: "q", seq, record: { payload: Buffer.from(payload), enqueuedAt: 0 } });
  };
  /** Answers every frame sent so far with the replica's real handling. */
  const replica = new ReplicaHost({ knownEpoch: () => 0 });
  const answer = async (): Promise<void> => {
    await flush();
    while (sent.length > 0) {
      const s = sent.shift()!;
      s.reply(replica.handle(s.frame));
      await flush();
    }
  };
  return {
    clock,
    sent,
    isr,
    rep,
    write,
    answer,
    replica,
    gate: (p: Promise<boolean> | undefined) => (isrGate = p),
    fenced: () => fenced,
  };
}

function state(p: Promise<unknown>): () => string {
  let s = "pending";
  p.then(
    () => (s = "resolved"),
    (e: unknown) => (s = isWharfError(e) ? e.code : "rejected"),
  );
  return () => s;
}

describe("cluster queues: replication protocol", () => {
  it("sync: a commit resolves once the replica acknowledged the op and is recorded in sync", async () => {
    const t = setup();
    t.rep.setTargets([{ node: "b", member: "b@1" }]);
    t.write("m1");
    const s = state(t.rep.replicated());
    await flush();
    assert.equal(s(), "pending");
    assert.equal(t.sent[0]?.frame.kind, "snapshot", "a new replica starts with a snapshot");
    await t.answer();
    assert.deepEqual(t.isr, [["a@1", "b@1"]]);
    assert.equal(s(), "resolved");
    assert.equal(t.replica.copyOf(1)?.store.messages, 1);
    // Later writes travel as ops, batched while a frame is in flight.
    t.write("m2");
    t.write("m3");
    const s2 = state(t.rep.replicated());
    await flush();
    assert.equal(t.sent.length, 1);
    assert.equal(t.sent[0].frame.kind, "ops");
    await t.answer();
    assert.equal(s2(), "resolved");
    assert.equal(t.replica.copyOf(1)?.index, 3);
    assert.equal(t.replica.copyOf(1)?.store.messages, 3);
    assert.deepEqual(t.rep.status(), [{ node: "b", member: "b@1", acked: 3, lag: 0, inSync: true }]);
  });

  it("ops of successive turns are pipelined: up to 8 frames in flight, each acknowledgement covers its frame's ops", async () => {
    const t = setup();
    t.rep.setTargets([{ node: "b", member: "b@1" }]);
    t.write("m0");
    await t.answer(); // the snapshot, then the in-sync record
    const commits: (() => string)[] = [];
    for (let i = 1; i <= 10; i++) {
      t.write(`m${i}`);
      commits.push(state(t.rep.replicated()));
      await flush(); // one turn: one frame
    }
    assert.equal(t.sent.length, 8, "eight frames in flight, none answered yet");
    assert.deepEqual(
      t.sent.map((x) => (x.frame.kind === "ops" ? [x.frame.from, x.frame.ops.length] : [])),
      [
        [2, 1],
        [3, 1],
        [4, 1],
        [5, 1],
        [6, 1],
        [7, 1],
        [8, 1],
        [9, 1],
      ],
    );
    const first = t.sent.shift()!;
    first.reply(t.replica.handle(first.frame));
    await flush();
    assert.equal(commits[0]!(), "resolved");
    assert.equal(commits[1]!(), "pending", "its frame is not acknowledged yet");
    assert.equal(t.sent.length, 8, "the answered frame let the rest (two turns' ops, one frame) go");
    const last = t.sent.at(-1)!.frame;
    assert.deepEqual(last.kind === "ops" && [last.from, last.ops.length], [10, 2]);
    await t.answer();
    assert.deepEqual(
      commits.map((c) => c()),
      Array.from({ length: 10 }, () => "resolved"),
    );
    assert.equal(t.replica.copyOf(1)?.index, 11);
    assert.equal(t.rep.backlog, 0);
  });

  it("sync without any replica: the commit fails after the timeout (CLUSTER_QUEUE_NOT_REPLICATED), not acknowledged", async () => {
    const t = setup();
    t.write("m1");
    const s = state(t.rep.replicated());
    t.clock.advance(4999);
    await flush();
    assert.equal(s(), "pending");
    t.clock.advance(1);
    await flush();
    assert.equal(s(), ClusterQueueErrorCode.NotReplicated);
  });

  it("async: the commit does not wait; the replica follows and the lag shows it", async () => {
    const t = setup(ReplicationMode.Async);
    t.rep.setTargets([{ node: "b", member: "b@1" }]);
    t.write("m1");
    const s = state(t.rep.replicated());
    await flush();
    assert.equal(s(), "resolved");
    assert.equal(t.rep.status()[0]!.lag, 1);
    await t.answer();
    assert.equal(t.rep.status()[0]!.lag, 0);
  });

  it("alone (no replica), the owner keeps no log; a replica added later starts from a snapshot of everything", async () => {
    const t = setup(ReplicationMode.Async);
    for (let i = 0; i < 100; i++) t.write(`m${i}`);
    assert.equal(t.rep.backlog, 0);
    t.rep.setTargets([{ node: "b", member: "b@1" }]);
    await t.answer();
    assert.equal(t.replica.copyOf(1)?.store.messages, 100);
    assert.equal(t.replica.copyOf(1)?.index, 100);
    t.write("m100");
    await t.answer();
    assert.equal(t.replica.copyOf(1)?.store.messages, 101);
    assert.equal(t.rep.backlog, 0, "trimmed once acknowledged");
  });

  it("a departed replica: commits wait until etcd no longer lists it as in sync", async () => {
    const t = setup();
    t.rep.setTargets([{ node: "b", member: "b@1" }]);
    t.write("m1");
    await t.answer();
    let open: (ok: boolean) => void = () => undefined;
    t.gate(new Promise<boolean>((r) => (open = r)));
    t.rep.setTargets([{ node: "c", member: "c@1" }]); // b left; c is the new replica
    t.write("m2");
    const s = state(t.rep.replicated());
    await t.answer(); // c acknowledged its snapshot with m2
    assert.equal(s(), "pending", "b is still recorded in sync: no acknowledgement yet");
    t.gate(undefined);
    open(true);
    await flush();
    await flush();
    assert.equal(s(), "resolved");
    assert.deepEqual(t.isr.at(-1), ["a@1", "c@1"]);
  });

  it("a replica that knows a later epoch fences the owner: onFenced, and waiting commits fail once closed", async () => {
    const t = setup();
    t.rep.setTargets([{ node: "b", member: "b@1" }]);
    t.write("m1");
    const s = state(t.rep.replicated());
    await flush();
    t.sent.shift()!.reply({ ok: false, reason: "fenced", epoch: 12 });
    await flush();
    assert.equal(t.fenced(), 1);
    t.rep.close();
    await flush();
    assert.equal(s(), ClusterQueueErrorCode.Fenced);
  });

  it("replica host: refuses frames older than the latest epoch it knows, resyncs after a gap, skips resent ops", () => {
    let known = 0;
    const host = new ReplicaHost({ knownEpoch: () => known });
    const op = (p: string, seq: number): StoreOp => ({
      op: "append",
      queue: "q",
      seq,
      record: { payload: Buffer.from(p), enqueuedAt: 0 },
    });
    assert.deepEqual(host.handle({ kind: "snapshot", slot: 2, epoch: 5, index: 0, queues: [] }), {
      ok: true,
      index: 0,
    });
    assert.deepEqual(host.handle({ kind: "ops", slot: 2, epoch: 5, from: 1, ops: [op("a", 1), op("b", 2)] }), {
      ok: true,
      index: 2,
    });
    // The same frame again (the link retried): nothing applied twice.
    assert.deepEqual(host.handle({ kind: "ops", slot: 2, epoch: 5, from: 2, ops: [op("b", 2), op("c", 3)] }), {
      ok: true,
      index: 3,
    });
    assert.equal(host.copyOf(2)?.store.messages, 3);
    assert.deepEqual(host.handle({ kind: "ops", slot: 2, epoch: 5, from: 9, ops: [op("z", 9)] }), {
      ok: false,
      reason: "resync",
    });
    known = 8; // etcd shows a later owner
    assert.deepEqual(host.handle({ kind: "ops", slot: 2, epoch: 5, from: 4, ops: [op("d", 4)] }), {
      ok: false,
      reason: "fenced",
      epoch: 8,
    });
    assert.equal(host.fenced, 1);
    assert.deepEqual(host.handle({ kind: "snapshot", slot: 2, epoch: 8, index: 0, queues: [] }), {
      ok: true,
      index: 0,
    });
    known = 0; // even when etcd's view lags, a frame from before the latest one seen is refused
    assert.equal(host.handle({ kind: "ops", slot: 2, epoch: 5, from: 1, ops: [] }).ok, false);
  });
});
