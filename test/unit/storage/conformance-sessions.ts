// Conformance: per-client state — sessions, subscriptions, wills, offline queues, inflight, inbound QoS 2.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InflightState, StorageErrorCode } from "../../../src/storage/index.ts";
import type { SessionRecord, StoredSubscription, StoredWill } from "../../../src/storage/index.ts";
import { QOS1, inflight, message, openFresh, reopen, storeQueued } from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

const SESSION: SessionRecord = {
  clientId: "c1",
  protocolVersion: 5,
  expiryInterval: 3600,
  expiresAt: 1_700_003_600_000,
  lastSeen: 1_700_000_000_000,
  username: "alice",
};

const SUBS: StoredSubscription[] = [
  { filter: "a/+/c", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
  { filter: "sport/#", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, identifier: 268_435_455 },
  { filter: "$share/g/ü/😀", qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 1, identifier: 1 },
  { filter: "long/" + "y".repeat(5000) + "/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
];

const WILL: StoredWill = {
  clientId: "c1",
  will: {
    topic: "wills/c1",
    payload: Buffer.from([0, 255, 1]),
    qos: 1,
    retain: true,
    properties: {
      willDelayInterval: 30,
      messageExpiryInterval: 60,
      userProperties: [["w", "1"]],
      correlationData: Buffer.from("cd"),
    },
  },
  deadline: 1_700_000_030_000,
  username: "alice",
};

export function sessionTests(name: string, factory: HarnessFactory): void {
  test(`${name}: session record (expiry interval, expiry deadline, last seen), subscriptions and will persist [MQTT-4.1]`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    s.sessions.put({ ...SESSION, lastSeen: 1 });
    s.sessions.put(SESSION); // replaces
    for (const sub of SUBS) s.sessions.putSubscription("c1", sub);
    s.sessions.putSubscription("c1", { ...SUBS[0]!, qos: 2 }); // same filter: replaces
    s.sessions.putWill(WILL);
    s.sessions.put({ clientId: "c2", protocolVersion: 4, expiryInterval: 0xffffffff, lastSeen: 5 });
    await s.commit();
    const s2 = await reopen(h, s);
    const snap = s2.loadAll();
    const c1 = snap.sessions.find((x) => x.clientId === "c1")!;
    assert.deepEqual(c1.session, SESSION);
    assert.deepEqual(c1.will, WILL);
    const byFilter = (a: StoredSubscription, b: StoredSubscription) => (a.filter < b.filter ? -1 : 1);
    assert.deepEqual(
      c1.subscriptions.sort(byFilter),
      [{ ...SUBS[0]!, qos: 2 as const }, ...SUBS.slice(1)].sort(byFilter),
    );
    const c2 = snap.sessions.find((x) => x.clientId === "c2")!;
    assert.deepEqual(c2.session, { clientId: "c2", protocolVersion: 4, expiryInterval: 0xffffffff, lastSeen: 5 });
    assert.equal(c2.will, undefined);

    s2.sessions.deleteSubscription("c1", SUBS[1]!.filter);
    s2.sessions.deleteSubscription("c1", "never/subscribed");
    assert.equal(s2.sessions.deleteWill("c1"), true);
    assert.equal(s2.sessions.deleteWill("c1"), false);
    await s2.commit();
    const after = s2.loadAll().sessions.find((x) => x.clientId === "c1")!;
    assert.equal(after.subscriptions.length, SUBS.length - 1);
    assert.equal(after.will, undefined);
  });

  test(`${name}: a long client id (hashed key) and one starting with U+0001 keep all their state`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const ids = ["client-" + "z".repeat(3000), "\u0001x", "plain"];
    for (const clientId of ids) {
      s.sessions.put({ ...SESSION, clientId });
      s.sessions.putSubscription(clientId, SUBS[0]!);
      storeQueued(s, clientId, message(1));
      s.sessions.putInflight(clientId, inflight(9, s.messages.store(message(2))));
      s.sessions.addInboundQos2(clientId, 77);
      s.sessions.putWill({ ...WILL, clientId });
    }
    await s.commit();
    const s2 = await reopen(h, s);
    const snap = s2.loadAll();
    assert.deepEqual(snap.sessions.map((x) => x.clientId).sort(), [...ids].sort());
    for (const x of snap.sessions) {
      assert.equal(x.session?.clientId, x.clientId);
      assert.equal(x.will?.clientId, x.clientId);
      assert.deepEqual([x.subscriptions.length, x.queue.length, x.inflight.length, x.inboundQos2], [1, 1, 1, [77]]);
    }
    s2.sessions.delete(ids[0]!);
    await s2.commit();
    assert.deepEqual(
      s2
        .loadAll()
        .sessions.map((x) => x.clientId)
        .sort(),
      ids.slice(1).sort(),
    );
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: offline queue keeps order, range scans by seq, isolates clients, continues seqs after reopen`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const seqs: number[] = [];
    for (let i = 0; i < 100; i++)
      seqs.push(storeQueued(s, "a", message(i), { qos: 1, retain: i % 2 === 0, subscriptionIds: [i] }).seq);
    storeQueued(s, "ab", message(1000)); // a client id that extends another must not leak into its range
    storeQueued(s, "", message(1001));
    await s.commit();
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
    );
    const all = s.sessions.readQueue("a");
    assert.equal(all.length, 100);
    assert.deepEqual(
      all.map((q) => q.subscriptionIds?.[0]),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(
      s.sessions.readQueue("a", seqs[10], 5).map((q) => q.seq),
      seqs.slice(10, 15),
    );
    assert.equal(s.sessions.readQueue("ab").length, 1);
    assert.equal(s.sessions.readQueue("").length, 1);
    assert.equal(s.sessions.dequeue("a", seqs[50]!), true);
    assert.equal(s.sessions.dequeue("a", seqs[50]!), false);
    await s.commit();
    assert.equal(s.sessions.readQueue("a").length, 99);
    assert.ok(!s.sessions.readQueue("a").some((q) => q.seq === seqs[50]));

    const s2 = await reopen(h, s);
    const next = storeQueued(s2, "a", message(200)).seq;
    assert.ok(next > seqs[99]!, "new entries go after the old ones");
    await s2.commit();
    const q = s2.sessions.readQueue("a");
    assert.equal(q.at(-1)?.seq, next);
    assert.equal(s2.messages.get(q.at(-1)!.messageId)?.topic, "t/200");
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: inflight: QoS 1 and QoS 2 states, release at PUBREC, resend order survives packet id wrap [MQTT-4.4.0-1]`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const q1 = storeQueued(s, "c", message(1));
    const q2 = storeQueued(s, "c", message(2, { qos: 2 }), { qos: 2, retain: false });
    const q3 = storeQueued(s, "c", message(3));
    s.sessions.moveToInflight("c", q1.seq, inflight(65535, q1.id));
    s.sessions.moveToInflight(
      "c",
      q2.seq,
      inflight(1, q2.id, { qos: 2, state: InflightState.AwaitPubrec, subscriptionIds: [4, 5] }),
    );
    s.sessions.putInflight("c", inflight(2, s.messages.store(message(4)), { retain: true }));
    await s.commit();
    assert.deepEqual(
      s.sessions.readQueue("c").map((q) => q.seq),
      [q3.seq],
      "moved entries left the queue",
    );
    s.sessions.setInflightState("c", 1, InflightState.AwaitPubcomp);
    await s.commit();
    assert.equal(s.messages.get(q2.id), undefined, "PUBREL-pending needs no body");

    const s2 = await reopen(h, s);
    const c = s2.loadAll().sessions.find((x) => x.clientId === "c")!;
    assert.deepEqual(
      c.inflight.map((m) => [m.packetId, m.state, m.messageId === undefined]),
      [
        [65535, InflightState.AwaitPuback, false],
        [1, InflightState.AwaitPubcomp, true],
        [2, InflightState.AwaitPuback, false],
      ],
      "send order, not packet id order",
    );
    assert.deepEqual(c.inflight[1]?.subscriptionIds, [4, 5]);
    assert.equal(c.inflight[2]?.retain, true);
    assert.equal(s2.sessions.removeInflight("c", 65535), true);
    assert.equal(s2.sessions.removeInflight("c", 65535), false);
    assert.equal(s2.sessions.removeInflight("c", 1), true);
    await s2.commit();
    assert.equal(s2.messages.get(q1.id), undefined, "PUBACK released the body");
    assert.deepEqual(
      s2
        .loadAll()
        .sessions.find((x) => x.clientId === "c")!
        .inflight.map((m) => m.packetId),
      [2],
    );
    // Sent directly, then an older queue entry: the resend order is the send order, not the queue order.
    s2.sessions.putInflight("c", inflight(100, s2.messages.store(message(5))));
    s2.sessions.moveToInflight("c", q3.seq, inflight(101, q3.id));
    await s2.commit();
    const s3 = await reopen(h, s2);
    assert.deepEqual(
      s3
        .loadAll()
        .sessions.find((x) => x.clientId === "c")!
        .inflight.map((m) => m.packetId),
      [2, 100, 101],
    );
    assert.equal(s3.verify().ok, true);
  });

  test(`${name}: invalid inflight and inbound arguments are rejected without side effects`, async (t) => {
    const { s } = await openFresh(t, factory);
    const id = s.messages.store(message(1));
    s.sessions.enqueue("c", id, QOS1);
    const bad = { code: StorageErrorCode.InvalidArgument };
    assert.throws(() => s.sessions.putInflight("c", inflight(0, id)), bad);
    assert.throws(() => s.sessions.putInflight("c", inflight(65536, id)), bad);
    assert.throws(
      () => s.sessions.putInflight("c", inflight(1, id, { qos: 1, state: InflightState.AwaitPubrec })),
      bad,
    );
    assert.throws(() => s.sessions.putInflight("c", inflight(1, undefined)), bad);
    assert.throws(() => s.sessions.moveToInflight("c", 999, inflight(1, id)), bad);
    assert.throws(() => s.sessions.setInflightState("c", 5, InflightState.AwaitPubcomp), bad);
    assert.throws(() => s.sessions.addInboundQos2("c", 0), bad);
    await s.commit();
    assert.equal(s.loadAll().sessions[0]?.inflight.length, 0);
    assert.equal(s.verify().ok, true);
  });

  test(`${name}: inbound QoS 2 packet ids survive a restart (exactly once) [MQTT-4.3.3-2]`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    for (const id of [1, 2, 65535]) s.sessions.addInboundQos2("c", id);
    s.sessions.addInboundQos2("other", 2);
    await s.commit();
    let s2 = await reopen(h, s);
    const ids = (snapClient: string) =>
      s2
        .loadAll()
        .sessions.find((x) => x.clientId === snapClient)
        ?.inboundQos2.sort((a, b) => a - b);
    assert.deepEqual(ids("c"), [1, 2, 65535]);
    assert.equal(s2.sessions.removeInboundQos2("c", 2), true, "PUBREL after restart finds the id");
    assert.equal(s2.sessions.removeInboundQos2("c", 2), false);
    await s2.commit();
    s2 = await reopen(h, s2);
    assert.deepEqual(ids("c"), [1, 65535]);
    assert.deepEqual(ids("other"), [2]);
  });

  test(`${name}: deleteSession removes everything of the client and releases its messages`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    s.sessions.put(SESSION);
    for (const sub of SUBS) s.sessions.putSubscription("c1", sub);
    s.sessions.putWill(WILL);
    const shared = storeQueued(s, "c1", message(1)).id;
    s.sessions.enqueue("keep", shared, QOS1);
    const own = storeQueued(s, "c1", message(2)).id;
    s.sessions.putInflight("c1", inflight(3, s.messages.store(message(3))));
    s.sessions.addInboundQos2("c1", 4);
    await s.commit();
    const s2 = await reopen(h, s);
    s2.sessions.delete("c1");
    s2.sessions.delete("unknown");
    await s2.commit();
    const snap = s2.loadAll();
    assert.deepEqual(
      snap.sessions.map((x) => x.clientId),
      ["keep"],
    );
    assert.ok(s2.messages.get(shared), "still referenced by another client");
    assert.equal(s2.messages.get(own), undefined);
    const r = s2.verify();
    assert.deepEqual([r.messages, r.references, r.ok], [1, 1, true]);
    // A clean start right after: the client id is usable again.
    s2.sessions.put(SESSION);
    storeQueued(s2, "c1", message(9));
    await s2.commit();
    assert.equal(s2.sessions.readQueue("c1").length, 1);
  });
}
