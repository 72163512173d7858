// `wharf start` loads only the packages its configuration uses (src/util/lazy.ts): a start from flags alone with a
// memory store and JSON logs used to load undici, yaml, ws, jose, argon2, lmdb and pino-pretty as well, about half
// of its 0.55 s of CPU and 25 MB of its memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnWharf } from "../../helpers/spawn-wharf.ts";

const recorder = new URL("../../helpers/load-recorder.mjs", import.meta.url).href;

/** Starts `wharf start …args` with the load recorder, stops it (SIGTERM) and returns the packages it loaded. */
async function packagesLoaded(t: { after(fn: () => void): void }, args: string[]): Promise<Set<string>> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-lazy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, "loaded.txt");
  writeFileSync(log, "");
  const wharf = await spawnWharf(t, {
    args,
    env: { NODE_OPTIONS: `--import ${recorder}`, WHARF_TEST_LOAD_LOG: log },
  });
  const exit = await wharf.kill("SIGTERM");
  assert.equal(exit.code, 0, wharf.stderr());
  const packages = new Set<string>();
  for (const line of readFileSync(log, "utf8").split("\n")) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line);
    if (m) packages.add(m[1]!);
  }
  return packages;
}

// @opentelemetry/api: only tracing uses it; prom-client's index loads it for exemplars Wharf never enables, so the
// metrics load prom-client's parts instead (src/admin/prom.ts).
const OPTIONAL = [
  "undici",
  "yaml",
  "ws",
  "jose",
  "@node-rs/argon2",
  "lmdb",
  "pino-pretty",
  "coap",
  "etcd3",
  "@opentelemetry/api",
];

test("a start with a memory store and JSON logs loads none of the optional packages", async (t) => {
  const loaded = await packagesLoaded(t, []);
  // pino is loaded at every start, from node_modules (the CLI bundle leaves it and every optional package out:
  // scripts/bundle-cli.mjs), so the recorder must see it; commander, bundled, no longer shows there.
  assert.ok(loaded.has("pino"), `the recorder saw ${[...loaded].join(", ")}`);
  assert.deepEqual(
    OPTIONAL.filter((p) => loaded.has(p)),
    [],
  );
});

test("a config file, a ws listener and LMDB load yaml, ws and lmdb, and nothing else optional", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-lazy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, "wharf.yaml");
  writeFileSync(
    config,
    [
      "listeners:",
      "  - { type: tcp, host: 127.0.0.1, port: 0 }",
      "  - { type: ws, host: 127.0.0.1, port: 0 }",
      "",
    ].join("\n"),
  );
  const loaded = await packagesLoaded(t, ["--config", config, "--storage", "lmdb", "--data-dir", join(dir, "data")]);
  for (const p of ["yaml", "ws", "lmdb"]) assert.ok(loaded.has(p), `${p} not loaded: ${[...loaded].join(", ")}`);
  for (const p of ["undici", "jose", "@node-rs/argon2", "coap", "etcd3", "@opentelemetry/api"]) {
    assert.ok(!loaded.has(p), `${p} loaded`);
  }
});
