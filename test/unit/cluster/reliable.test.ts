// At-least-once forwarding between nodes (src/cluster/routing/reliable.ts), sender and receiver without sockets: a
// link that breaks loses what it carried, the sender sends everything unacknowledged again when it comes back, and
// the receiver routes each numbered forward exactly once whatever the order and the repeats.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ForwardInbox, ForwardOutbox, RELIABLE_HEADER_BYTES } from "../../../src/cluster/routing/reliable.ts";

const TYPE = 22;
const frame = (parts: Buffer[]): Buffer => Buffer.concat(parts);
const payloadOf = (f: Buffer): string => f.subarray(RELIABLE_HEADER_BYTES).toString();

/** Sends `n` numbered forwards `from..from+n-1` through `out`; returns their frames. */
function sendN(out: ForwardOutbox, first: number, n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => frame(out.add("b", TYPE, [Buffer.from(`m${first + i}`)])!));
}

function ackAll(inbox: ForwardInbox, out: ForwardOutbox): void {
  inbox.flush((node, body) => {
    assert.equal(node, "a");
    out.acked("b", body);
  });
}

test("numbered forwards are acknowledged cumulatively and leave the sender's buffer", () => {
  const out = new ForwardOutbox();
  const inbox = new ForwardInbox();
  const frames = sendN(out, 1, 5);
  assert.equal(out.stats().unacked, 5);
  assert.deepEqual(
    frames.map((f) => inbox.accept("a", f)),
    [true, true, true, true, true],
  );
  assert.equal(inbox.due, true);
  ackAll(inbox, out);
  assert.equal(inbox.due, false);
  assert.deepEqual(out.stats(), { unacked: 0, unackedBytes: 0, resent: 0 });
});

test("after a broken link everything unacknowledged is sent again, and each forward is routed once", () => {
  const out = new ForwardOutbox();
  const inbox = new ForwardInbox();
  const routed: string[] = [];
  const deliver = (f: Buffer): void => {
    if (inbox.accept("a", f)) routed.push(payloadOf(f));
  };
  const first = sendN(out, 1, 3);
  for (const f of first) deliver(f);
  ackAll(inbox, out); // 1..3 acknowledged
  const lost = sendN(out, 4, 4); // 4..7 written to a connection that broke: never read
  assert.equal(lost.length, 4);
  const queued = sendN(out, 8, 2); // 8, 9 sent while reconnecting: the link delivers them first
  for (const f of queued) deliver(f);
  const resent: Buffer[] = [];
  out.resend("b", (type, parts) => {
    assert.equal(type, TYPE);
    resent.push(frame(parts));
    return true;
  });
  assert.equal(resent.length, 6, "4..9 again (8 and 9 are not acknowledged yet either)");
  for (const f of resent) deliver(f);
  assert.deepEqual(routed, ["m1", "m2", "m3", "m8", "m9", "m4", "m5", "m6", "m7"]);
  assert.equal(inbox.duplicates, 2);
  ackAll(inbox, out);
  assert.equal(out.stats().unacked, 0);
  assert.equal(out.stats().resent, 6);
});

test("a receiver that restarted starts at the sender's floor; a sender that restarted starts a new epoch", () => {
  const out = new ForwardOutbox();
  const inbox = new ForwardInbox();
  for (const f of sendN(out, 1, 3)) inbox.accept("a", f);
  ackAll(inbox, out);
  const later = sendN(out, 4, 2);
  const fresh = new ForwardInbox(); // the receiving node restarted: it never saw 1..3
  assert.deepEqual(
    later.map((f) => fresh.accept("a", f)),
    [true, true],
  );
  fresh.flush((_n, body) => out.acked("b", body));
  assert.equal(out.stats().unacked, 0, "acknowledged up to 5 by the new receiver");
  const restarted = new ForwardOutbox(); // the sender restarted: numbers from 1 again
  const again = sendN(restarted, 1, 2);
  assert.deepEqual(
    again.map((f) => fresh.accept("a", f)),
    [true, true],
    "not taken for duplicates of the old epoch's 1 and 2",
  );
  fresh.flush((_n, body) => {
    out.acked("b", body); // an acknowledgement for another epoch is ignored
    restarted.acked("b", body);
  });
  assert.equal(restarted.stats().unacked, 0);
});

test("the unacknowledged buffer is bounded per peer; a forward the link refused gives its number back", () => {
  const out = new ForwardOutbox(10);
  assert.ok(out.add("b", TYPE, [Buffer.alloc(6)]));
  assert.equal(out.add("b", TYPE, [Buffer.alloc(6)]), undefined, "over 10 bytes unacknowledged: refused");
  assert.ok(out.add("c", TYPE, [Buffer.alloc(6)]), "another peer has its own bound");
  out.unadd("c");
  const inbox = new ForwardInbox();
  const f = frame(out.add("c", TYPE, [Buffer.from("x")])!);
  assert.equal(f.readDoubleBE(4), 1, "the number of the forward taken back is used again");
  assert.equal(inbox.accept("a", f), true);
  out.drop("b");
  assert.equal(out.stats().unacked, 1);
});
