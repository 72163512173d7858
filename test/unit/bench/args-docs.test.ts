import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgsError, isFullRun, parseArgs } from "../../../bench/lib/args.ts";
import { BEGIN, END, spliceSection } from "../../../bench/lib/docs.ts";
import { mosquittoConfig } from "../../../bench/brokers/index.ts";

test("parseArgs: defaults are a full run on every broker", () => {
  const a = parseArgs([]);
  assert.deepEqual(a.brokers, ["wharf", "mosquitto", "aedes"]);
  assert.equal(isFullRun(a), true);
  assert.equal(a.writeDocs, null);
});

test("parseArgs: --quick, --only (repeatable, comma lists, = form), --brokers keeps canonical order", () => {
  const a = parseArgs(["--quick", "--only", "fan-in,pairs", "--only=storm", "--brokers", "aedes,wharf", "--no-pin"]);
  assert.equal(a.quick, true);
  assert.deepEqual(a.only, ["fan-in", "pairs", "storm"]);
  assert.deepEqual(a.brokers, ["wharf", "aedes"]);
  assert.equal(a.pin, false);
  assert.equal(isFullRun(a), false);
  assert.equal(parseArgs(["--measure", "2.5"]).measureSeconds, 2.5);
});

test("parseArgs rejects unknown brokers, options and missing values", () => {
  assert.throws(() => parseArgs(["--brokers", "hivemq"]), ArgsError);
  assert.throws(() => parseArgs(["--fast"]), ArgsError);
  assert.throws(() => parseArgs(["--only"]), ArgsError);
  assert.throws(() => parseArgs(["--measure", "0"]), ArgsError);
});

test("spliceSection replaces only the generated part of docs/benchmarks.md, or appends one", () => {
  const doc = `# Benchmarks\n\nmethod text\n\n${BEGIN}\nold table\n${END}\n\n## Reproduce\n`;
  const out = spliceSection(doc, `${BEGIN}\nnew table\n${END}`);
  assert.ok(out.includes("new table") && !out.includes("old table"));
  assert.ok(out.startsWith("# Benchmarks\n\nmethod text") && out.endsWith("## Reproduce\n"));
  const appended = spliceSection("# B\n", `${BEGIN}\nx\n${END}`);
  assert.ok(appended.includes("## Latest results") && appended.includes("x"));
});

test("Mosquitto config: loopback listener on the given port, anonymous, no persistence, its defaults but an unbounded queue", () => {
  const conf = mosquittoConfig(41234);
  assert.match(conf, /^listener 41234 127\.0\.0\.1$/m);
  assert.match(conf, /^allow_anonymous true$/m);
  assert.match(conf, /^persistence false$/m);
  assert.match(conf, /^max_queued_messages 0$/m); // 0 = unbounded (issue #10)
  assert.doesNotMatch(conf, /max_inflight_messages|set_tcp_nodelay/); // its defaults, as users run it
  const persisted = mosquittoConfig(41234, "/var/tmp/x");
  assert.match(persisted, /^persistence true$/m);
  assert.match(persisted, /^persistence_location \/var\/tmp\/x\/$/m);
  assert.doesNotMatch(persisted, /^persistence false$/m);
  const pki = { ca: "/x/ca.pem", cert: "/x/server.pem", key: "/x/server.key", caPem: Buffer.alloc(0) };
  const tls = mosquittoConfig(41234, undefined, { kind: "tls", pki });
  assert.match(tls, /^listener 41234 127\.0\.0\.1\ncertfile \/x\/server\.pem\nkeyfile \/x\/server\.key$/m);
  const ws = mosquittoConfig(41234, undefined, { kind: "ws" });
  assert.match(ws, /^listener 41234 127\.0\.0\.1\nprotocol websockets\nlistener 0 \S+\.sock$/m);
  assert.doesNotMatch(ws, /certfile/);
});
