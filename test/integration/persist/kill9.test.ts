// Crash safety end to end (issue #5): the real CLI on an LMDB data directory (durability sync) under QoS 1 and
// QoS 2 load from several MQTT.js publishers, SIGKILLed at random moments, several times in a row on the same
// directory. After each restart, every message whose PUBACK / PUBCOMP a publisher received before the kill is
// delivered to the persistent subscriber (zero loss); QoS 2 messages arrive exactly once overall; QoS 1
// duplicates are counted (at least once allows them: a publisher resends what it did not see acknowledged).
//
// Publishers and the subscriber are persistent sessions (clean session 0) that MQTT.js reconnects on its own:
// each keeps up to WINDOW messages in flight and resends unacknowledged ones after the restart, as the protocol
// requires. The broker restarts on the port it first got, so the clients find it again. Under heavy machine load
// the test takes longer (each restart waits for tsx to start the CLI), not differently.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { Rng } from "../../helpers/codec-random.ts";
import { spawnWharf } from "../../helpers/spawn-wharf.ts";
import type { WharfProcess } from "../../helpers/spawn-wharf.ts";

const CYCLES = 5;
const PUBLISHERS = [1, 1, 2, 2] as const; // QoS of each publisher
const WINDOW = 16;

interface Publisher {
  readonly client: MqttClient;
  readonly qos: 1 | 2;
  readonly id: string;
  sent: number;
  inFlight: number;
}

/** Resolves when `pred` holds, polling; rejects with `describe()` after `ms`. */
async function until(pred: () => boolean, ms: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(describe());
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("kill -9 under QoS 1/2 load, 5 times: nothing acknowledged is lost, QoS 2 exactly once", async (t) => {
  const seed = Number(process.env.WHARF_TEST_SEED ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  const dir = mkdtempSync(join(tmpdir(), "wharf-kill9-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const start = (port: number): Promise<WharfProcess> =>
    spawnWharf(t, { args: ["--storage", "lmdb", "--data-dir", dir, "--port", String(port)] });

  let running = true;
  t.after(() => {
    running = false; // first: closing the clients fails their in-flight publishes, which must not refill
  });
  let broker = await start(0);
  const port = broker.port;
  const options = { host: "127.0.0.1", port, clean: false, reconnectPeriod: 100, connectTimeout: 5000 };

  // Deliveries seen by the subscriber, per message ("publisher:seq").
  const received = new Map<string, number>();
  const sub = mqtt.connect({ ...options, clientId: "k9-sub" });
  t.after(() => sub.end(true));
  sub.on("error", () => undefined);
  sub.on("message", (_topic, payload) => {
    const key = payload.toString();
    received.set(key, (received.get(key) ?? 0) + 1);
  });
  await new Promise((resolve) => sub.once("connect", resolve));
  await sub.subscribeAsync("load/#", { qos: 2 });

  const acked = new Set<string>();
  const qosOf = new Map<string, 1 | 2>();
  let failed = 0;
  const errors = new Set<string>();
  const publishers: Publisher[] = PUBLISHERS.map((qos, i) => {
    const id = `k9-pub${i}`;
    const client = mqtt.connect({ ...options, clientId: id });
    client.on("error", () => undefined);
    t.after(() => client.end(true));
    return { client, qos, id, sent: 0, inFlight: 0 };
  });
  // Each publisher keeps WINDOW messages in flight; MQTT.js holds them across the outage and resends.
  const pump = (p: Publisher): void => {
    while (running && p.inFlight < WINDOW) {
      const key = `${p.id}:${++p.sent}`;
      qosOf.set(key, p.qos);
      p.inFlight++;
      p.client.publish(`load/${p.id}`, key, { qos: p.qos }, (err) => {
        p.inFlight--;
        if (err === undefined || err === null) {
          acked.add(key);
          pump(p);
        } else {
          failed++;
          errors.add(err.message);
          setTimeout(() => pump(p), 100); // never refill from inside a failing publish() call
        }
      });
    }
  };
  for (const p of publishers) {
    await new Promise((resolve) => (p.client.connected ? resolve(undefined) : p.client.once("connect", resolve)));
    pump(p);
  }

  const missingOf = (keys: Iterable<string>): string[] => [...keys].filter((k) => !received.has(k));
  let killedWithAcked = 0;
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    const before = acked.size;
    // Load for a random moment, with at least some acknowledgements in this cycle.
    await until(
      () => acked.size >= before + 50,
      20_000,
      () => `cycle ${cycle}: no progress (acked ${acked.size})`,
    );
    await new Promise((r) => setTimeout(r, rng.range(50, 700)));
    const exit = await broker.kill("SIGKILL");
    assert.equal(exit.signal, "SIGKILL");
    const mustArrive = [...acked];
    killedWithAcked = mustArrive.length;
    broker = await start(port);
    await until(
      () => missingOf(mustArrive).length === 0,
      20_000,
      () => `cycle ${cycle}: acknowledged but never delivered: ${missingOf(mustArrive).slice(0, 20).join(" ")}`,
    );
  }

  // Let every publisher finish its window, then check the whole run.
  running = false;
  await until(
    () => publishers.every((p) => p.inFlight === 0),
    20_000,
    () => `publishes still unacknowledged: ${publishers.map((p) => p.inFlight).join(",")}`,
  );
  await until(
    () => missingOf(acked).length === 0,
    20_000,
    () => `acknowledged but never delivered: ${missingOf(acked).slice(0, 20).join(" ")}`,
  );
  let qos1Duplicates = 0;
  const qos2Duplicates: string[] = [];
  for (const [key, n] of received) {
    if (n === 1) continue;
    if (qosOf.get(key) === 2) qos2Duplicates.push(`${key}x${n}`);
    else qos1Duplicates += n - 1;
  }
  const total = publishers.reduce((n, p) => n + p.sent, 0);
  const qos2 = [...acked].filter((k) => qosOf.get(k) === 2).length;
  console.log(
    `kill -9 summary (seed ${seed}): ${CYCLES} kills, ${total} published, ${acked.size} acknowledged ` +
      `(${acked.size - qos2} QoS 1, ${qos2} QoS 2), ${killedWithAcked} acknowledged before the last kill, ` +
      `${received.size} distinct delivered, lost 0, QoS 2 duplicates ${qos2Duplicates.length}, ` +
      `QoS 1 duplicates ${qos1Duplicates}, publish errors ${failed} ${[...errors].join("; ")}`,
  );
  assert.deepEqual(qos2Duplicates, [], "QoS 2: exactly once [MQTT-4.3.3]");
  // MQTT.js fails ("Connection closed") the publishes it had not sent yet when the connection drops while it
  // is still replaying its store after a reconnect; everything it did send completes.
  assert.equal(acked.size + failed, total);
  const exit = await broker.kill("SIGTERM");
  assert.equal(exit.code, 0);
});
