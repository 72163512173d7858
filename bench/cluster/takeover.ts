// Session takeover latency: one persistent session (5.0, session expiry 1 h, subscribed at QoS 1) moved from node to
// node. Each round, while the client is offline, a publisher puts QUEUED QoS 1 messages into the session on the node
// that holds it; the client then connects to the next node (round-robin), which takes the session over from the
// other node (etcd compare-and-swap + state transfer over the peer link) before its CONNACK. Measured by the client:
// CONNECT sent -> CONNACK (the takeover), and CONNECT -> the last queued message received. Every queued message must
// arrive exactly once: loss and duplicates are reported. With one port, every round reconnects to the same node:
// the single-node baseline (the session is local, no etcd call).
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";

export interface TakeoverResult {
  rounds: number;
  connack: { p50: number; p99: number; max: number };
  drained: { p50: number; p99: number; max: number };
  lost: number;
  duplicates: number;
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

function summary(ms: number[]): { p50: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 100) / 100;
  return { p50: r(pct(s, 50)), p99: r(pct(s, 99)), max: r(s.at(-1)!) };
}

/** Connects MQTT.js; `onMessage` is attached before the CONNACK (queued messages follow it in the same read). */
function connect(
  port: number,
  clientId: string,
  clean: boolean,
  onMessage?: (payload: Buffer) => void,
): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId,
    protocolVersion: 5,
    clean,
    properties: clean ? undefined : { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  if (onMessage !== undefined) client.on("message", (_t, payload) => onMessage(payload));
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("error", reject);
  });
}

export async function takeover(
  label: string,
  ports: number[],
  rounds: number,
  queued: number,
): Promise<TakeoverResult> {
  const topic = `bench/takeover/${label.replace(/\W+/g, "-")}`;
  const id = `mover-${label.replace(/\W+/g, "-")}`;
  const seen = new Map<string, number>();
  let received = 0;
  const track = (payload: Buffer): void => {
    const k = payload.toString();
    seen.set(k, (seen.get(k) ?? 0) + 1);
    received++;
  };
  let c = await connect(ports[0]!, id, false, track);
  await c.subscribeAsync(topic, { qos: 1 });
  await c.endAsync();
  const pubs = await Promise.all(ports.map((p, i) => connect(p, `takeover-pub-${label}-${i}`, true)));
  const connackMs: number[] = [];
  const drainedMs: number[] = [];
  let sent = 0;
  let holder = 0; // the node holding the session now
  for (let r = 0; r < rounds; r++) {
    // Published on the node that holds the (offline) session, acknowledged there: queued in the session.
    const pub = pubs[holder]!;
    for (let i = 0; i < queued; i++) await pub.publishAsync(topic, `${r}:${i}`, { qos: 1 });
    sent += queued;
    const target = (holder + 1) % ports.length;
    const want = received + queued;
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => {
      const check = (): void => {
        if (received >= want) resolve();
        else setTimeout(check, 0);
      };
      check();
    });
    c = await connect(ports[target]!, id, false, track);
    connackMs.push(performance.now() - t0);
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    drainedMs.push(performance.now() - t0);
    await c.endAsync();
    holder = target;
  }
  await Promise.all(pubs.map((p) => p.endAsync()));
  const cleanup = await connect(ports[holder]!, id, true); // ends the session
  await cleanup.endAsync();
  let duplicates = 0;
  for (const n of seen.values()) if (n > 1) duplicates += n - 1;
  const result = {
    rounds,
    connack: summary(connackMs),
    drained: summary(drainedMs),
    lost: sent - seen.size,
    duplicates,
  };
  console.log(
    `${label}: ${rounds} rounds, ${queued} queued QoS 1 each: CONNECT->CONNACK p50 ${result.connack.p50} ms, ` +
      `p99 ${result.connack.p99} ms, max ${result.connack.max} ms; CONNECT->last queued message p50 ` +
      `${result.drained.p50} ms, p99 ${result.drained.p99} ms; lost ${result.lost}, duplicates ${duplicates}`,
  );
  return result;
}
