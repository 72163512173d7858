// The fixed-duration deadline lists behind the CONNECT timeout (src/broker/deadlines.ts): one timer per duration,
// entries linked through themselves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DeadlineList, Deadlines, type DeadlineEntry } from "../../../src/util/deadlines.ts";
import { FakeClock } from "../../../src/util/index.ts";

class Entry implements DeadlineEntry {
  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineList: DeadlineList | undefined = undefined;
  firedAt: number | undefined = undefined;
  constructor(
    readonly name: string,
    private readonly clock: FakeClock,
    private readonly log: string[],
  ) {}
  onDeadline(): void {
    this.firedAt = this.clock.now();
    this.log.push(this.name);
  }
}

/** Counts the clock timers armed, to show there is one per list, not one per entry. */
function countingClock(): { clock: FakeClock; armed: () => number } {
  const clock = new FakeClock();
  let n = 0;
  const setTimeout = clock.setTimeout.bind(clock);
  clock.setTimeout = (fn, ms) => {
    n++;
    return setTimeout(fn, ms);
  };
  return { clock, armed: () => n };
}

test("each entry fires exactly its duration after it was added, in order, on one armed timer at a time", () => {
  const { clock, armed } = countingClock();
  const log: string[] = [];
  const list = new DeadlineList(clock, 1000);
  const a = new Entry("a", clock, log);
  const b = new Entry("b", clock, log);
  const c = new Entry("c", clock, log);
  const t0 = clock.now();
  list.add(a, clock.now());
  clock.advance(300);
  list.add(b, clock.now());
  list.add(c, clock.now());
  assert.equal(armed(), 1, "one timer for three entries");
  assert.equal(list.size, 3);
  clock.advance(699);
  assert.deepEqual(log, []);
  clock.advance(1);
  assert.deepEqual(log, ["a"]);
  assert.equal(a.firedAt, t0 + 1000);
  clock.advance(300);
  assert.deepEqual(log, ["a", "b", "c"]);
  assert.equal(b.firedAt, t0 + 1300);
  assert.equal(list.size, 0);
  assert.equal(a.deadlineList, undefined, "a fired entry is in no list");
});

test("a removed entry never fires and is unlinked at once, wherever it sits (head, middle, tail)", () => {
  const clock = new FakeClock();
  const log: string[] = [];
  const list = new DeadlineList(clock, 500);
  const es = ["a", "b", "c", "d", "e"].map((n) => new Entry(n, clock, log));
  for (const e of es) {
    list.add(e, clock.now());
    clock.advance(10);
  }
  list.remove(es[0]!); // head
  list.remove(es[2]!); // middle
  list.remove(es[4]!); // tail
  list.remove(es[4]!); // twice: no effect
  assert.equal(list.size, 2);
  for (const e of [es[0]!, es[2]!, es[4]!]) {
    assert.equal(e.deadlineList, undefined);
    assert.equal(e.deadlineNext, undefined);
    assert.equal(e.deadlinePrev, undefined);
  }
  clock.advance(1000);
  assert.deepEqual(log, ["b", "d"]);
  assert.equal(clock.pending, 0, "no timer left once the list is empty");
  list.add(es[0]!, clock.now());
  list.remove(es[0]!);
  assert.equal(clock.pending, 0, "removing the last entry cancels the timer");
  // The list works again after it ran empty.
  const f = new Entry("f", clock, log);
  list.add(f, clock.now());
  clock.advance(500);
  assert.deepEqual(log, ["b", "d", "f"]);
});

test("an entry added while deadlines fire keeps its own deadline (no second timer, none late)", () => {
  const clock = new FakeClock();
  const log: string[] = [];
  const list = new DeadlineList(clock, 100);
  const late = new Entry("late", clock, log);
  const first = new Entry("first", clock, log);
  first.onDeadline = () => {
    log.push("first");
    list.add(late, clock.now());
  };
  list.add(first, clock.now());
  clock.advance(100);
  assert.deepEqual(log, ["first"]);
  clock.advance(99);
  assert.deepEqual(log, ["first"]);
  clock.advance(1);
  assert.deepEqual(log, ["first", "late"]);
});

test("Deadlines keeps one list per duration (a reconfigured timeout does not delay the shorter one)", () => {
  const clock = new FakeClock();
  const log: string[] = [];
  const d = new Deadlines(clock);
  assert.equal(d.list(30_000), d.list(30_000));
  d.list(30_000).add(new Entry("long", clock, log), clock.now());
  d.list(5_000).add(new Entry("short", clock, log), clock.now());
  clock.advance(5_000);
  assert.deepEqual(log, ["short"]);
  clock.advance(25_000);
  assert.deepEqual(log, ["short", "long"]);
  d.list(1_000).add(new Entry("cleared", clock, log), clock.now());
  d.clear();
  clock.advance(2_000);
  assert.deepEqual(log, ["short", "long"], "clear(): nothing fires any more");
});
