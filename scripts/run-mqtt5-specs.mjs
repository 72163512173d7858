#!/usr/bin/env node
// `npm run test:mqtt5`: the MQTT 5.0 acceptance suite (issue #4), test/integration/mqtt5/*.spec.ts (and the files
// already renamed to *.test.ts once their feature landed). Node 20 does not expand globs for --test, so the files are
// listed here. Target: Wharf in-process (default) or Mosquitto with WHARF_TEST_TARGET=mosquitto.
// Usage: node scripts/run-mqtt5-specs.mjs [substring …]   (only files whose name contains a substring)
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = join("test", "integration", "mqtt5");
const filters = process.argv.slice(2).filter((a) => !a.startsWith("--"));

let files = readdirSync(join(root, dir))
  .filter((name) => name.endsWith(".spec.ts") || name.endsWith(".test.ts"))
  .sort()
  .map((name) => join(dir, name));
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error("[wharf] no MQTT 5.0 spec files matched");
  process.exit(1);
}
console.log(
  `[wharf] MQTT 5.0 acceptance suite against ${process.env.WHARF_TEST_TARGET ?? "wharf"}: ${files.length} files`,
);
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=4", "--test-timeout=60000", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(r.status ?? 1);
