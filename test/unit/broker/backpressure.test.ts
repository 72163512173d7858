// OutboundPressure on its own, with a fake clock: when publishers are held and let go, the bounded stall, the
// slow-consumer drop accounting and the optional disconnect.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_OVERLOAD_OPTIONS, OutboundPressure } from "../../../src/broker/backpressure.ts";
import type { OverloadOptions, Producer } from "../../../src/broker/backpressure.ts";
import { Counters } from "../../../src/broker/stats.ts";
import { FakeClock, silentLogger } from "../../../src/util/index.ts";
import type { Logger } from "../../../src/util/index.ts";

class FakeProducer implements Producer {
  holds = 0;
  hold(): void {
    this.holds++;
  }
  release(): void {
    this.holds--;
  }
}

function setup(opts: Partial<OverloadOptions> = {}, logger: Logger = silentLogger) {
  const clock = new FakeClock();
  const counters = new Counters();
  const out = {
    pendingBytes: 0,
    pendingMessages: 0,
    clientId: "sub",
    disconnects: 0,
    disconnectSlow() {
      this.disconnects++;
    },
  };
  const self = new FakeProducer();
  const env = {
    options: {
      ...DEFAULT_OVERLOAD_OPTIONS,
      highWaterBytes: 1000,
      lowWaterBytes: 100,
      highWaterMessages: 10,
      lowWaterMessages: 2,
      ...opts,
    },
    maxQueuedMessages: 1000,
    clock,
    counters,
    logger,
    producer: undefined as Producer | undefined,
  };
  const p = new OutboundPressure(out, self, env);
  return { clock, counters, out, self, env, p };
}

test("below the high-water marks nothing is held", () => {
  const { p, out, env } = setup();
  const pub = new FakeProducer();
  env.producer = pub;
  out.pendingBytes = 999;
  out.pendingMessages = 9;
  p.loaded();
  assert.equal(pub.holds, 0);
  assert.equal(p.congested, false);
});

test("over the byte mark the producer is held once, and released below both low marks", () => {
  const { p, out, env, counters } = setup();
  const pub = new FakeProducer();
  env.producer = pub;
  out.pendingBytes = 1000;
  p.loaded();
  p.loaded(); // the same producer again: still one hold
  assert.equal(pub.holds, 1);
  assert.equal(counters.backpressureHolds, 1);
  out.pendingBytes = 101;
  p.eased();
  assert.equal(pub.holds, 1, "above the low mark: still held");
  out.pendingBytes = 100;
  out.pendingMessages = 3;
  p.eased();
  assert.equal(pub.holds, 1, "messages above their low mark: still held");
  out.pendingMessages = 2;
  p.eased();
  assert.equal(pub.holds, 0);
  assert.equal(p.congested, false);
});

test("the message mark holds too, capped at maxQueuedMessages", () => {
  const { p, out, env } = setup({ highWaterMessages: 5000 });
  const pub = new FakeProducer();
  env.producer = pub;
  out.pendingMessages = 1000; // maxQueuedMessages
  p.loaded();
  assert.equal(pub.holds, 1);
});

test("a connection never holds itself; deliveries without a producer (in-process, wills) hold nobody", () => {
  const { p, out, env, self } = setup();
  out.pendingBytes = 5000;
  p.loaded();
  assert.equal(p.congested, true);
  env.producer = self;
  p.loaded();
  assert.equal(self.holds, 0);
  assert.equal(p.canHold, false);
});

test("bounded stall: after stallLimitMs the subscriber is declared slow, held producers go, one warn line", () => {
  const lines: string[] = [];
  const logger = { ...silentLogger, warn: (_o: unknown, msg?: string) => void lines.push(msg ?? "") } as Logger;
  const { p, out, env, clock, counters } = setup({ stallLimitMs: 1000 }, logger);
  const a = new FakeProducer();
  const b = new FakeProducer();
  out.pendingBytes = 5000;
  env.producer = a;
  p.loaded();
  env.producer = b;
  p.loaded();
  assert.equal(a.holds + b.holds, 2);
  clock.advance(999);
  assert.equal(p.slow, false);
  clock.advance(1);
  assert.equal(p.slow, true);
  assert.equal(a.holds + b.holds, 0, "released at the limit");
  assert.equal(counters.slowConsumers, 1);
  // While slow it holds nobody, and QoS 0 drops are counted.
  p.loaded();
  assert.equal(b.holds, 0);
  assert.equal(p.canHold, false);
  p.dropQos0();
  p.dropQos0();
  assert.equal(counters.droppedSlow, 2);
  assert.equal(lines.filter((l) => l.startsWith("slow consumer")).length, 1, "one log line per episode");
  // It catches up: the episode ends; the next one starts a new stall clock.
  out.pendingBytes = 0;
  p.eased();
  assert.equal(p.slow, false);
  out.pendingBytes = 5000;
  env.producer = a;
  p.loaded();
  assert.equal(a.holds, 1);
  clock.advance(1000);
  assert.equal(counters.slowConsumers, 2);
  assert.equal(lines.length, 2);
});

test("stallLimitMs 0: never holds, slow at once", () => {
  const { p, out, env } = setup({ stallLimitMs: 0 });
  const a = new FakeProducer();
  env.producer = a;
  out.pendingBytes = 5000;
  p.loaded();
  assert.equal(a.holds, 0);
  assert.equal(p.slow, true);
});

test("slowConsumerDisconnectMs: disconnected once the episode lasts that long, not if it ended before", () => {
  const { p, out, env, clock } = setup({ stallLimitMs: 100, slowConsumerDisconnectMs: 500 });
  env.producer = new FakeProducer();
  out.pendingBytes = 5000;
  p.loaded();
  clock.advance(499);
  assert.equal(out.disconnects, 0);
  clock.advance(1);
  assert.equal(out.disconnects, 1);
  const s2 = setup({ stallLimitMs: 100, slowConsumerDisconnectMs: 500 });
  s2.out.pendingBytes = 5000;
  s2.p.loaded();
  s2.clock.advance(300);
  s2.out.pendingBytes = 0;
  s2.p.eased();
  s2.clock.advance(1000);
  assert.equal(s2.out.disconnects, 0);
});

test("close() lets every held producer go and cancels the timers", () => {
  const { p, out, env, clock } = setup({ stallLimitMs: 100 });
  const a = new FakeProducer();
  env.producer = a;
  out.pendingBytes = 5000;
  p.loaded();
  p.close();
  assert.equal(a.holds, 0);
  assert.equal(clock.pending, 0);
});
