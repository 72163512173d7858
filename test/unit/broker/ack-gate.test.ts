// Acknowledgements held until the commit (src/broker/persist-acks.ts AckGate): a plain PUBACK waiting for a commit
// is kept as its packet id (no closure per queue PUBLISH) and goes out as a PUBACK, in order with the other
// acknowledgements of that connection, only once the commit settled; at once when nothing is uncommitted; never after
// a failed commit (the client is disconnected instead) [MQTT-4.3.2-2].
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { Packet } from "../../../src/codec/index.ts";
import { AckGate } from "../../../src/broker/persist-acks.ts";
import { ConnState } from "../../../src/broker/conn-state.ts";
import type { ConnStateValue } from "../../../src/broker/conn-state.ts";
import type { ClientContext } from "../../../src/broker/core.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { silentLogger } from "../../../src/util/index.ts";

function fakeStorage(): { storage: Storage; settle: (err?: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  let promise: Promise<void> | undefined;
  const storage = {
    failure: undefined as Error | undefined,
    commit(): Promise<void> {
      promise ??= new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return promise;
    },
    fail(err: unknown): Error {
      return (storage.failure = err instanceof Error ? err : new Error(String(err)));
    },
  };
  return {
    storage: storage as unknown as Storage,
    settle: (err) => {
      promise = undefined;
      if (err === undefined) resolve();
      else reject(err);
    },
  };
}

function client(): { c: ClientContext; sent: string[] } {
  const sent: string[] = [];
  const c = {
    state: ConnState.Connected as ConnStateValue,
    send: (p: Packet) => sent.push(p.type === PacketType.PUBACK ? `puback ${p.packetId}` : `type ${p.type}`),
    sendPuback: (packetId: number) => sent.push(`puback ${packetId}`),
    disconnect: () => {
      sent.push("disconnect");
      c.state = ConnState.Closed;
    },
  };
  return { c: c as unknown as ClientContext, sent };
}

test("a PUBACK held as its packet id goes out after the commit, in order with the connection's other acknowledgements", async () => {
  const { storage, settle } = fakeStorage();
  const gate = new AckGate(storage, silentLogger);
  const { c, sent } = client();
  gate.afterCommit(c, 7);
  assert.deepEqual(sent, ["puback 7"], "nothing written yet: at once");
  gate.wrote();
  gate.afterCommit(c, 8);
  gate.afterCommit(c, () => c.send({ type: PacketType.PUBREC, packetId: 9 }));
  gate.afterCommit(c, 10); // waits behind the earlier ones of this connection, though nothing new was written
  assert.deepEqual(sent, ["puback 7"]);
  settle();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, ["puback 7", "puback 8", `type ${PacketType.PUBREC}`, "puback 10"]);
});

test("after a failed commit a held PUBACK is never sent: the client is disconnected", async () => {
  const { storage, settle } = fakeStorage();
  const gate = new AckGate(storage, silentLogger);
  const { c, sent } = client();
  gate.wrote();
  gate.afterCommit(c, 1);
  settle(new Error("disk full"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, ["disconnect"]);
});

test("ready(c) is true exactly when afterCommit(c, fn) would run fn at once (seeded random sequence, 3 connections)", async () => {
  // ready() repeats afterCommit()'s fast-path tests to spare a closure on the queue path; this keeps the two in step.
  let seed = 0x5eed;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const { storage, settle } = fakeStorage();
  const gate = new AckGate(storage, silentLogger);
  const clients = [client(), client(), client()];
  let packetId = 0;
  let open = false; // a commit promise was handed out and not settled yet
  const checked = { ready: 0, waiting: 0 };
  for (let step = 0; step < 2_000; step++) {
    const op = rand(10);
    if (op < 2) gate.wrote();
    else if (op < 3 && open) {
      settle();
      open = false;
      await new Promise((r) => setImmediate(r));
    } else {
      const { c, sent } = clients[rand(clients.length)]!;
      const id = ++packetId;
      const predicted = gate.ready(c);
      const before = sent.length;
      gate.afterCommit(c, id);
      const ranAtOnce = sent.length === before + 1 && sent[before] === `puback ${id}`;
      assert.equal(ranAtOnce, predicted, `step ${step}: ready() said ${predicted}`);
      if (predicted) checked.ready++;
      else {
        checked.waiting++;
        open = true;
      }
    }
  }
  assert.ok(checked.ready > 100 && checked.waiting > 100, `both paths exercised: ${JSON.stringify(checked)}`);
  if (open) settle();
  await new Promise((r) => setImmediate(r));
  for (const { sent } of clients) assert.ok(!sent.includes("disconnect"));
  // A failed store: ready() is false and afterCommit refuses (disconnects) instead of running fn.
  storage.fail(new Error("disk full"));
  const { c, sent } = client();
  assert.equal(gate.ready(c), false);
  gate.afterCommit(c, 1);
  assert.deepEqual(sent, ["disconnect"]);
});
