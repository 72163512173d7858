import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger, resolveLogFormat } from "../../../src/server/logger.ts";
import type { Logger } from "../../../src/util/logger.ts";

function capture(): { lines: string[]; destination: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => void lines.push(s) } };
}

test("format auto: pretty on a terminal, JSON otherwise; explicit formats win", () => {
  assert.equal(resolveLogFormat("auto", true), "pretty");
  assert.equal(resolveLogFormat("auto", false), "json");
  assert.equal(resolveLogFormat("json", true), "json");
  assert.equal(resolveLogFormat("pretty", false), "pretty");
});

test("JSON format: one JSON object per line with level, msg and fields; satisfies Logger", () => {
  const out = capture();
  const logger: Logger = createLogger({ level: "info", format: "json" }, { destination: out.destination });
  logger.info({ listeners: [{ type: "tcp", host: "127.0.0.1", port: 40123 }] }, "listening");
  logger.child({ clientId: "c1" }).warn("slow consumer");
  assert.equal(out.lines.length, 2);
  const first = JSON.parse(out.lines[0]!);
  assert.equal(first.msg, "listening");
  assert.equal(first.level, 30);
  assert.deepEqual(first.listeners, [{ type: "tcp", host: "127.0.0.1", port: 40123 }]);
  const second = JSON.parse(out.lines[1]!);
  assert.equal(second.clientId, "c1");
  assert.equal(second.level, 40);
});

test("auto format without a terminal is JSON", () => {
  const out = capture();
  createLogger({ level: "info", format: "auto" }, { destination: out.destination, isTTY: false }).info("hello");
  assert.equal(JSON.parse(out.lines[0]!).msg, "hello");
});

test("the level filters: debug hidden at info, shown at debug; silent logs nothing", () => {
  const info = capture();
  const atInfo = createLogger({ level: "info", format: "json" }, { destination: info.destination });
  atInfo.debug("per-message detail");
  atInfo.info("connect");
  assert.deepEqual(
    info.lines.map((l) => JSON.parse(l).msg),
    ["connect"],
  );
  const debug = capture();
  createLogger({ level: "debug", format: "json" }, { destination: debug.destination }).debug("per-message detail");
  assert.equal(debug.lines.length, 1);
  const silent = capture();
  createLogger({ level: "silent", format: "json" }, { destination: silent.destination }).error("boom");
  assert.equal(silent.lines.length, 0);
});

test("pretty format: human-readable, not JSON, no colours when not a terminal", async () => {
  const chunks: string[] = [];
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => (wrote = resolve));
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      wrote();
      cb();
    },
  });
  createLogger({ level: "info", format: "pretty" }, { destination, isTTY: false }).info({ port: 1883 }, "listening");
  await written;
  const text = chunks.join("");
  assert.match(text, /INFO/);
  assert.match(text, /listening/);
  assert.match(text, /port: 1883/);
  assert.throws(() => JSON.parse(text));
  assert.doesNotMatch(text, /\u001b\[/);
});
