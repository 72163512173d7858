// The example config and docs/configuration.md must cover the ONE schema exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  defaultConfig,
  loadConfig,
  readConfigFile,
  wharfConfigSchema,
  type Schema,
} from "../../../src/server/config/index.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const examplePath = `${root}config/wharf.example.yaml`;
const docs = readFileSync(`${root}docs/configuration.md`, "utf8");

/** Every leaf key of the schema as a documented path: `listeners[].port`, `mqtt.maxInflight`. */
function leafPaths(schema: Schema<unknown>, prefix = ""): string[] {
  // An optional section (listeners[].tls) documents its keys.
  if ("inner" in schema && "shape" in (schema.inner as object))
    return leafPaths(schema.inner as Schema<unknown>, prefix);
  if ("shape" in schema) {
    const shape = schema.shape as Record<string, Schema<unknown>>;
    return Object.entries(shape).flatMap(([k, s]) => leafPaths(s, prefix === "" ? k : `${prefix}.${k}`));
  }
  if ("item" in schema) return leafPaths(schema.item as Schema<unknown>, `${prefix}[]`);
  return [prefix];
}

const paths = leafPaths(wharfConfigSchema);

test("the schema has the expected keys", () => {
  assert.ok(paths.includes("listeners[].port"));
  assert.ok(paths.includes("mqtt.clientIdPrefix"));
  assert.ok(paths.includes("acl.rules[].username"));
  assert.ok(paths.includes("storage.batchIntervalMs"));
  assert.ok(paths.includes("storage.controlSocket"));
  assert.ok(paths.includes("log.format"));
  assert.ok(paths.includes("auth.scram[].credential"));
  assert.ok(paths.includes("listeners[].tls.usernameFrom"));
  assert.ok(paths.includes("queues"));
  assert.ok(paths.includes("cluster.etcd.endpoints[]"));
  assert.equal(paths.length, 6 + 8 + 2 + 34 + 1 + 7 + 31 + 5 + 2 + 6 + 1 + 14 + 14 + 6 + 23); // tracing: 6 (protocol)
});

test("config/wharf.example.yaml validates and holds exactly the defaults", () => {
  assert.deepEqual(loadConfig(examplePath), defaultConfig());
});

/** Keys only in commented-out examples: lists empty by default, and per-type listener sections. */
const commentedOnly = (p: string): boolean =>
  ["acl.rules[]", "auth.scram[]", "management.tokens[]", "webhooks[]"].some((x) => p.startsWith(x)) ||
  p === "auth.methods[]" ||
  p === "auth.jwt.algorithms[]" ||
  /^listeners\[\]\.(tls|ws)\./.test(p);

test("config/wharf.example.yaml spells out every key (except the keys of lists empty by default: acl, auth.scram, management.tokens, webhooks)", () => {
  const raw = readConfigFile(examplePath) as Record<string, unknown>;
  const missing = paths.filter((p) => {
    if (commentedOnly(p)) return false;
    let node: unknown = raw;
    for (const part of p.split(".")) {
      const key = part.replace("[]", "");
      node = (node as Record<string, unknown> | undefined)?.[key];
      if (part.endsWith("[]")) node = (node as unknown[] | undefined)?.[0];
    }
    return node === undefined;
  });
  assert.deepEqual(missing, []);
  // The ACL keys are shown in a commented-out example.
  const text = readFileSync(examplePath, "utf8");
  for (const k of ["permission", "action", "topic", "clientId", "username", "credential", "password", "hash", "url"]) {
    assert.ok(text.includes(k), k);
  }
  // The per-type listener sections are shown commented out, every key of them.
  for (const p of paths.filter((x) => x.startsWith("listeners[]") && commentedOnly(x))) {
    assert.ok(text.includes(`${p.split(".").at(-1)!.replace("[]", "")}:`), p);
  }
});

test("docs/configuration.md documents every key and every start flag", () => {
  const undocumented = paths.filter((p) => !docs.includes(`\`${p}\``));
  assert.deepEqual(undocumented, []);
  for (const flag of [
    "--config",
    "--host",
    "--port",
    "--log-level",
    "--log-format",
    "--storage",
    "--data-dir",
    "--management-port",
  ]) {
    assert.ok(docs.includes(`${flag} <`), flag);
  }
});
