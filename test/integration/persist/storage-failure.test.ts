// A store that fails stops the broker (docs/storage.md "Failures"): no acknowledgement for anything not committed,
// none at all once the store failed, the server stops itself and `wharf start` exits 1 with a clear message.
// In-process with a memory store on a disk that fails on command, and the real CLI on LMDB whose data file hits
// the process's file-size limit (RLIMIT_FSIZE: writes fail with EFBIG, as on a full disk).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import type { StorageError } from "../../../src/storage/index.ts";
import { StorageEngine } from "../../../src/storage/engine.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { spawnWharf } from "../../helpers/spawn-wharf.ts";
import { TestDisk } from "../../unit/broker/persist-harness.ts";
import { recordingLogger } from "../../unit/broker/harness.ts";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "wharf-storage-failure-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a failed commit: no PUBACK, the publisher is disconnected, the server stops itself and reports the failure", async (t) => {
  const disk = new TestDisk();
  const clock = new FakeClock();
  const storage = await StorageEngine.open(disk, { clock });
  const logger = recordingLogger();
  let failure: StorageError | undefined;
  const stopped = new Promise<void>((resolve) => {
    void startServer(validateConfig({ listeners: [{ host: "127.0.0.1", port: 0 }] }), {
      logger,
      clock,
      storage,
      onStorageFailure: (e) => {
        failure = e;
        resolve();
      },
    }).then((server) => {
      t.after(() => server.close().catch(() => undefined));
      ready(server.listeners[0]!.port);
    });
  });
  let ready!: (port: number) => void;
  const port = await new Promise<number>((r) => (ready = r));
  const url = `mqtt://127.0.0.1:${port}`;

  const sub = await mqtt.connectAsync(url, { clientId: "sub", clean: false, reconnectPeriod: 0 });
  await sub.subscribeAsync("t", { qos: 1 });
  await sub.endAsync();
  const pub = await mqtt.connectAsync(url, { clientId: "pub", protocolVersion: 5, reconnectPeriod: 0 });
  const acked: unknown[] = [];
  const closed = new Promise<void>((resolve) => pub.once("close", resolve));
  disk.fail(new Error("ENOSPC: no space left on device"));
  pub.publish("t", "lost?", { qos: 1 }, (err) => acked.push(err ?? "PUBACK"));
  await closed;
  await stopped;
  assert.deepEqual(
    acked.filter((a) => a === "PUBACK"),
    [],
    "never acknowledged",
  );
  assert.equal(failure?.code, "STORAGE_WRITE_FAILED");
  assert.match(failure?.message ?? "", /ENOSPC/);
  assert.ok(logger.lines.some((l) => l.level === "error" && l.msg === "storage failed: stopping the broker"));
  await assert.rejects(
    mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2000 }),
    "the server no longer listens",
  );
});

test("wharf start on a disk that fills up: exit 1, the error on stderr, and every PUBACKed message is there after a restart", async (t) => {
  const dir = join(tempDir(t), "data");
  // 4 MiB file-size limit (bash counts in KiB); XFSZ ignored so that the write fails with EFBIG instead of
  // killing the process (an ignored signal stays ignored across exec).
  const limited = ["bash", "-c", `trap '' XFSZ; ulimit -f 4096; exec "$@"`, "bash"];
  const wharf = await spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir], via: limited });
  const url = `mqtt://127.0.0.1:${wharf.port}`;
  const sub = await mqtt.connectAsync(url, { clientId: "sub", clean: false, reconnectPeriod: 0 });
  await sub.subscribeAsync("big", { qos: 1 });
  await sub.endAsync();
  const pub = await mqtt.connectAsync(url, { clientId: "pub", reconnectPeriod: 0 });
  pub.on("error", () => undefined);
  const acked: number[] = [];
  const closed = new Promise<void>((resolve) => pub.once("close", resolve));
  const payload = Buffer.alloc(128 * 1024, 7);
  // 128 KiB bodies queued for the offline subscriber: the data file passes 4 MiB within ~32 messages. MQTT.js
  // does not call back a publish whose connection closed: race each one with the close.
  for (let i = 0; i < 64 && pub.connected; i++) {
    const n = i;
    const done = new Promise<void>((resolve) =>
      pub.publish("big", Buffer.concat([Buffer.from(`${n}:`), payload]), { qos: 1 }, (err) => {
        if (err === undefined || err === null) acked.push(n);
        resolve();
      }),
    );
    await Promise.race([done, closed]);
  }
  pub.end(true);
  const exit = await wharf.exited;
  assert.equal(exit.code, 1, wharf.stderr());
  assert.match(
    wharf.stderr(),
    /^wharf: storage: writing .*data failed \(.*\); the broker's state is no longer persisted/m,
  );
  assert.ok(acked.length > 0 && acked.length < 64, `some acknowledged before the disk filled up: ${acked.length}`);
  assert.ok(wharf.logs.some((l) => l.msg === "storage failed: stopping the broker"));

  // Nothing acknowledged is lost: a restart without the limit delivers every PUBACKed message.
  const again = await spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir] });
  const got = new Set<number>();
  const client = mqtt.connect(`mqtt://127.0.0.1:${again.port}`, { clientId: "sub", clean: false, reconnectPeriod: 0 });
  t.after(() => client.end(true));
  await new Promise<void>((resolve) => {
    client.on("message", (_topic, p) => {
      got.add(Number(p.subarray(0, p.indexOf(":")).toString()));
      if (acked.every((n) => got.has(n))) resolve();
    });
  });
  assert.ok(acked.every((n) => got.has(n)));
  assert.equal((await again.kill("SIGTERM")).code, 0);
});
