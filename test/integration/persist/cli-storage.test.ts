// `wharf start` with an unusable data directory: a clear error on stderr naming the path and what to do, exit
// code 1, never a silent empty start. And the default: state survives SIGTERM and a new `wharf start`.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { runWharf, spawnWharf } from "../../helpers/spawn-wharf.ts";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "wharf-cli-storage-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const start = (dataDir: string): string[] => [
  "start",
  "--host",
  "127.0.0.1",
  "--port",
  "0",
  "--log-format",
  "json",
  "--storage",
  "lmdb",
  "--data-dir",
  dataDir,
];

test("a corrupt data.mdb: stderr names the directory and says to move it aside; exit 1; nothing listens", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "data.mdb"), Buffer.alloc(256 * 1024, 0xab));
  const r = await runWharf(t, start(dir));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^wharf: storage: data directory .* is damaged or not a Wharf store/m);
  assert.ok(r.stderr.includes(dir), r.stderr);
  assert.match(r.stderr, /move .* aside/);
  assert.ok(!r.stdout.includes('"listening"'), r.stdout);
});

test("a data directory that is a file: STORAGE_UNREADABLE on stderr, exit 1", async (t) => {
  const file = join(tempDir(t), "not-a-dir");
  writeFileSync(file, "x");
  const r = await runWharf(t, start(file));
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(file), r.stderr);
  assert.match(r.stdout, /STORAGE_UNREADABLE/);
});

test("a data directory in use by another wharf: refused with the owner's pid, exit 1", async (t) => {
  const dir = tempDir(t);
  const first = await spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir] });
  const r = await runWharf(t, start(dir));
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(String(first.child.pid)), r.stderr);
  assert.equal((await first.kill("SIGTERM")).code, 0);
});

test("default lmdb: a retained message and a queued message survive SIGTERM and a new wharf start", async (t) => {
  const dir = tempDir(t);
  let wharf = await spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir] });
  const url = (port: number): string => `mqtt://127.0.0.1:${port}`;
  const sub = await mqtt.connectAsync(url(wharf.port), { clientId: "cli-sub", clean: false, reconnectPeriod: 0 });
  await sub.subscribeAsync("q", { qos: 1 });
  await sub.endAsync();
  const pub = await mqtt.connectAsync(url(wharf.port), { reconnectPeriod: 0 });
  await pub.publishAsync("q", "queued", { qos: 1 });
  await pub.publishAsync("r", "retained", { qos: 1, retain: true });
  await pub.endAsync();
  assert.equal((await wharf.kill("SIGTERM")).code, 0);

  wharf = await spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir] });
  const restored = await wharf.waitForLog((l) => l.msg === "state restored from storage");
  assert.equal(restored.sessions, 1);
  assert.equal(restored.retained, 1);
  const again = mqtt.connect(url(wharf.port), { clientId: "cli-sub", clean: false, reconnectPeriod: 0 });
  t.after(() => again.end(true));
  const got: string[] = [];
  const both = new Promise<void>((resolve) =>
    again.on("message", (topic, payload) => {
      got.push(`${topic}=${payload.toString()}`);
      if (got.length === 2) resolve();
    }),
  );
  await new Promise((resolve) => again.once("connect", resolve));
  await again.subscribeAsync("r", { qos: 1 });
  await both;
  assert.deepEqual(got.sort(), ["q=queued", "r=retained"]);
  await again.endAsync();
  assert.equal((await wharf.kill("SIGTERM")).code, 0);
});

test("a data directory with a dot in its name (issue 10): created by wharf start, then reused with its state", async (t) => {
  const dir = join(tempDir(t), "wharf.d");
  let wharf = await spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir] });
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${wharf.port}`, { reconnectPeriod: 0 });
  await pub.publishAsync("r", "kept", { qos: 1, retain: true });
  await pub.endAsync();
  assert.equal((await wharf.kill("SIGTERM")).code, 0);
  wharf = await spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir] });
  const restored = await wharf.waitForLog((l) => l.msg === "state restored from storage");
  assert.equal(restored.retained, 1);
  assert.equal((await wharf.kill("SIGTERM")).code, 0);
});
