import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { checkConfig } from "../../../src/cli/check-config.ts";
import { defaultConfig, wharfConfigSchema } from "../../../src/server/config/index.ts";
import { writeTempFile } from "../../helpers/spawn-wharf.ts";

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) } };
}

test("check-config: a valid file prints OK and returns 0", (t) => {
  const p = writeTempFile(t, "ok.yaml", "listeners:\n  - port: 0\n");
  const c = io();
  assert.equal(checkConfig(p, { print: false }, c.io), 0);
  assert.equal(c.out.join(""), `${p}: OK\n`);
  assert.deepEqual(c.err, []);
});

test("check-config --print prints the effective config as YAML", (t) => {
  const p = writeTempFile(t, "ok.yaml", "sys: { interval: 0 }\n");
  const c = io();
  assert.equal(checkConfig(p, { print: true }, c.io), 0);
  const expected = defaultConfig();
  expected.sys.interval = 0;
  assert.deepEqual(parse(c.out.join("")), expected);
});

test("check-config: an invalid file prints every error (path and value) to stderr and returns 1", (t) => {
  const p = writeTempFile(t, "bad.yaml", 'listeners:\n  - port: "abc"\nmqtt:\n  maximumQoS: 3\n  colour: blue\n');
  const c = io();
  assert.equal(checkConfig(p, { print: false }, c.io), 1);
  assert.deepEqual(c.out, []);
  const lines = c.err.join("").trimEnd().split("\n");
  assert.deepEqual(lines, [
    `wharf: invalid configuration in ${p} (3 errors):`,
    '  listeners[0].port: expected an integer 0..65535, got "abc"',
    "  mqtt.maximumQoS: expected one of 0, 1, 2, got 3",
    `  mqtt.colour: unknown key (allowed: ${Object.keys(wharfConfigSchema.shape.mqtt.shape).join(", ")})`,
  ]);
});

test("check-config: YAML syntax errors and missing files return 1 with file (and line)", (t) => {
  const p = writeTempFile(t, "syntax.yaml", "log:\n  level: info\n  level: debug\n");
  const c = io();
  assert.equal(checkConfig(p, { print: false }, c.io), 1);
  assert.match(c.err.join(""), new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:3: YAML syntax error`));
  const m = io();
  assert.equal(checkConfig(`${p}.missing`, { print: false }, m.io), 1);
  assert.match(m.err.join(""), /cannot read config file .*\.missing/);
});
