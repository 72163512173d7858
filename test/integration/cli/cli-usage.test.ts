// The real `wharf` command: help, version, npm start, bad configs. (No broker traffic here.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launcherScript, repoRoot, runWharf, writeTempFile } from "../../helpers/spawn-wharf.ts";

const version: string = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version;

test("wharf --help (bin/wharf.js) lists the commands; exit 0", async (t) => {
  const r = await runWharf(t, ["--help"], { cmd: process.execPath, cmdArgs: [launcherScript(t)] });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: wharf/);
  assert.match(r.stdout, /start/);
  assert.match(r.stdout, /check-config/);
});

test("wharf --version prints package.json's version; exit 0", async (t) => {
  const r = await runWharf(t, ["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});

test("npm start -- --help shows start's flags", async (t) => {
  // ensure-deps is told to stand down: if node_modules were stale it would run `npm ci` and pull
  // node_modules from under the tests running alongside (npm test has already checked them).
  const r = await runWharf(t, ["start", "--silent", "--", "--help"], {
    cmd: "npm",
    env: { WHARF_SKIP_ENSURE_DEPS: "1" },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: wharf start/);
  for (const flag of ["--config", "--host", "--port", "--log-level", "--log-format", "--storage", "--data-dir"]) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

test("start with a bad config file: every error (path and value) on stderr, exit 2, nothing started", async (t) => {
  const file = writeTempFile(
    t,
    "bad.yaml",
    ['listeners:\n  - port: "abc"', "mqtt:\n  maximumQoS: 3\n  maxInflihgt: 10", "log: { level: loud }", ""].join("\n"),
  );
  const r = await runWharf(t, ["start", "--config", file, "--log-format", "json"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.ok(r.stderr.includes(`invalid configuration in ${file} (4 errors)`), r.stderr);
  assert.ok(r.stderr.includes('listeners[0].port: expected an integer 0..65535, got "abc"'), r.stderr);
  assert.ok(r.stderr.includes("mqtt.maximumQoS: expected one of 0, 1, 2, got 3"), r.stderr);
  assert.ok(r.stderr.includes("mqtt.maxInflihgt: unknown key"), r.stderr);
  assert.ok(r.stderr.includes('log.level: expected one of "trace"'), r.stderr);
});

test("start with a YAML syntax error names file and line; exit 2", async (t) => {
  const file = writeTempFile(t, "syntax.yaml", "log:\n  level: info\nmqtt: [1, 2\nsys: {}\n");
  const r = await runWharf(t, ["start", "--config", file]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${file}:`), r.stderr);
  assert.match(r.stderr, /:\d+:\d+: YAML syntax error/);
});

test("start with out-of-range flag values is a config error naming the key; exit 2", async (t) => {
  const r = await runWharf(t, ["start", "--port", "70000"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /listeners\[0\]\.port: expected an integer 0\.\.65535, got 70000/);
  const missing = await runWharf(t, ["start", "--config", join(tmpdir(), "wharf-no-such-file.yaml")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read config file .*wharf-no-such-file\.yaml/);
});

test("check-config: the example config is OK (exit 0); a bad one exits 1", async (t) => {
  const ok = await runWharf(t, ["check-config", "config/wharf.example.yaml"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, "config/wharf.example.yaml: OK\n");
  const file = writeTempFile(t, "bad.yaml", "acl:\n  - { permission: deny, action: publish, topic: a/#/b }\n");
  const bad = await runWharf(t, ["check-config", file]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /acl\[0\]\.topic: expected a valid topic filter .*got "a\/#\/b"/);
});
