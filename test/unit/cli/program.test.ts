import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runCli, type ActionResult, type CliActions } from "../../../src/cli/program.ts";
import { startOverrides, type StartFlags } from "../../../src/cli/flags.ts";

const pkgVersion: string = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version;

/** Runs the CLI with recording actions and captured output. */
async function run(args: string[], result: ActionResult = "running") {
  const out: string[] = [];
  const err: string[] = [];
  const calls: { start: StartFlags[]; check: [string, { print: boolean }][] } = { start: [], check: [] };
  const actions: CliActions = {
    start: async (flags) => (calls.start.push(flags), result),
    checkConfig: async (file, opts) => (calls.check.push([file, opts]), 0),
  };
  const code = await runCli(args, actions, { out: (s) => void out.push(s), err: (s) => void err.push(s) });
  return { code, out: out.join(""), err: err.join(""), calls };
}

test("--version prints package.json's version and exits 0", async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await run([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.out.trim(), pkgVersion);
  }
});

test("--help lists the commands and exits 0", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: wharf/);
  assert.match(r.out, /start/);
  assert.match(r.out, /check-config/);
});

test("start --help lists every start flag", async () => {
  const r = await run(["start", "--help"]);
  assert.equal(r.code, 0);
  for (const flag of ["--config", "--host", "--port", "--log-level", "--log-format", "--storage", "--data-dir"]) {
    assert.ok(r.out.includes(flag), flag);
  }
  assert.equal(r.calls.start.length, 0);
});

test("start passes its flags to the action and returns its result", async () => {
  const r = await run(
    ["start", "-c", "w.yaml", "--host", "127.0.0.1", "--port", "0", "--log-level", "debug"].concat([
      "--log-format",
      "json",
      "--storage",
      "memory",
      "--data-dir",
      "/tmp/d",
    ]),
  );
  assert.equal(r.code, "running");
  assert.deepEqual(r.calls.start, [
    {
      config: "w.yaml",
      host: "127.0.0.1",
      port: 0,
      logLevel: "debug",
      logFormat: "json",
      storage: "memory",
      dataDir: "/tmp/d",
    },
  ]);
  assert.equal((await run(["start"], 2)).code, 2);
});

test("a repeated start (npm start -- start …) is tolerated", async () => {
  const r = await run(["start", "start", "--port", "1999"]);
  assert.equal(r.code, "running");
  assert.deepEqual(r.calls.start, [{ port: 1999 }]);
});

test("bad flag values and unknown flags are usage errors: exit 2 with a message", async () => {
  const port = await run(["start", "--port", "abc"]);
  assert.equal(port.code, 2);
  assert.match(port.err, /--port.*'abc' is invalid\. expected an integer 0\.\.65535/);
  const level = await run(["start", "--log-level", "loud"]);
  assert.equal(level.code, 2);
  assert.match(level.err, /Allowed choices are trace, debug, info, warn, error, silent/);
  const storage = await run(["start", "--storage", "redis"]);
  assert.equal(storage.code, 2);
  const unknown = await run(["start", "--prot", "1"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown option '--prot'/);
  assert.equal((await run(["frobnicate"])).code, 2);
  assert.equal((await run(["check-config"])).code, 2); // missing <file>
  for (const r of [port, level, storage, unknown]) assert.equal(r.calls.start.length, 0);
});

test("environment: WHARF_CONFIG, WHARF_LOG_LEVEL, WHARF_LOG_FORMAT; flags beat them", async (t) => {
  const saved = { ...process.env };
  t.after(() => {
    for (const k of ["WHARF_CONFIG", "WHARF_LOG_LEVEL", "WHARF_LOG_FORMAT"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  process.env.WHARF_CONFIG = "env.yaml";
  process.env.WHARF_LOG_LEVEL = "warn";
  process.env.WHARF_LOG_FORMAT = "pretty";
  const fromEnv = await run(["start"]);
  assert.deepEqual(fromEnv.calls.start, [{ config: "env.yaml", logLevel: "warn", logFormat: "pretty" }]);
  const flagsWin = await run(["start", "--config", "flag.yaml", "--log-level", "error"]);
  assert.deepEqual(flagsWin.calls.start, [{ config: "flag.yaml", logLevel: "error", logFormat: "pretty" }]);
  process.env.WHARF_LOG_LEVEL = "shouting";
  assert.equal((await run(["start"])).code, 2);
});

test("check-config takes a file and --print", async () => {
  const r = await run(["check-config", "x.yaml"]);
  assert.equal(r.code, 0);
  assert.deepEqual(r.calls.check, [["x.yaml", { print: false }]]);
  assert.deepEqual((await run(["check-config", "--print", "y.yaml"])).calls.check, [["y.yaml", { print: true }]]);
});

test("startOverrides: flags become overrides of the first listener, log and storage; nothing given = nothing", () => {
  assert.deepEqual(startOverrides({}), {});
  assert.deepEqual(startOverrides({ config: "x.yaml" }), {});
  assert.deepEqual(startOverrides({ port: 0 }), { listeners: [{ port: 0 }] });
  assert.deepEqual(
    startOverrides({ host: "::1", port: 5, logLevel: "trace", logFormat: "json", storage: "memory", dataDir: "d" }),
    {
      listeners: [{ host: "::1", port: 5 }],
      log: { level: "trace", format: "json" },
      storage: { type: "memory", dataDir: "d" },
    },
  );
});
