import { test } from "node:test";
import assert from "node:assert/strict";
import { exitOnSignals, type ShutdownHooks } from "../../../src/cli/shutdown.ts";
import { recordingLogger } from "../broker/harness.ts";

function fakeProcess() {
  const handlers = new Map<string, (s: NodeJS.Signals) => void>();
  const exits: number[] = [];
  const hooks: ShutdownHooks = {
    onSignal: (s, fn) => void handlers.set(s, fn),
    exit: (code) => void exits.push(code),
  };
  const signal = (s: NodeJS.Signals) => handlers.get(s)!(s);
  return { handlers, exits, hooks, signal };
}

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test("SIGINT and SIGTERM both start a graceful shutdown that exits 0 once close() is done", async () => {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    const p = fakeProcess();
    const logger = recordingLogger();
    const closing = deferred();
    let closes = 0;
    exitOnSignals(() => (closes++, closing.promise), logger, p.hooks);
    assert.deepEqual([...p.handlers.keys()].sort(), ["SIGINT", "SIGTERM"]);
    p.signal(sig);
    assert.equal(closes, 1);
    assert.deepEqual(p.exits, []); // not before the clients are closed
    closing.resolve();
    await closing.promise;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(p.exits, [0]);
    assert.match(logger.lines.map((l) => l.msg).join("|"), /shutting down/);
  }
});

test("a second signal during shutdown forces exit 1 at once", () => {
  const p = fakeProcess();
  const logger = recordingLogger();
  let closes = 0;
  exitOnSignals(() => (closes++, new Promise<void>(() => undefined)), logger, p.hooks);
  p.signal("SIGTERM");
  assert.deepEqual(p.exits, []);
  p.signal("SIGINT");
  assert.deepEqual(p.exits, [1]);
  assert.equal(closes, 1);
  assert.match(logger.lines.map((l) => l.msg).join("|"), /forcing exit/);
});

test("a failing close() exits 1 and logs the error", async () => {
  const p = fakeProcess();
  const logger = recordingLogger();
  const closing = deferred();
  exitOnSignals(() => closing.promise, logger, p.hooks);
  p.signal("SIGTERM");
  closing.reject(new Error("disk full"));
  await closing.promise.catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(p.exits, [1]);
  assert.match(logger.lines.map((l) => l.msg).join("|"), /error while shutting down/);
});
