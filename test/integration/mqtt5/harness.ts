// Shared plumbing of the MQTT 5.0 acceptance suite (issue #4): targets, MQTT.js clients that clean up after
// themselves, message inboxes, the Python (paho) runner and the "Wharf only" skip markers.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from "mqtt";
import { RawClient } from "../../helpers/raw-client.ts";
import type { ConnectFields, RawClientOptions } from "../../helpers/raw-client.ts";
import { startTarget, targetKind } from "../../helpers/target.ts";
import type { Target, TargetOptions } from "../../helpers/target.ts";

export { targetKind };
export type { Target };

/** node:test's TestContext, reduced to what the helpers need. */
export interface Ctx {
  after(fn: () => unknown): void;
}

export const onMosquitto = targetKind === "mosquitto";

/**
 * The `skip` option of a test Mosquitto 2.0.11 cannot pass because it lacks the feature (documented in
 * docs/mqtt5.md). Such tests still run on Wharf.
 */
export function wharfOnly(mosquittoLacks: string): string | false {
  // WHARF_MQTT5_RUN_ALL=1 runs them on Mosquitto too, to re-check that the documented reason is why they fail.
  if (process.env.WHARF_MQTT5_RUN_ALL === "1") return false;
  return onMosquitto ? `Wharf only: Mosquitto 2.0.11 ${mosquittoLacks}` : false;
}

/**
 * The value the current target must produce when Mosquitto deviates from what the test requires of Wharf in a
 * detail the specification leaves open or that Mosquitto gets differently (documented in docs/mqtt5.md). The test
 * still checks the rest of the behaviour on Mosquitto, which validates the test itself.
 */
export function expected<T>(wharf: T, mosquitto: T): T {
  return onMosquitto ? mosquitto : wharf;
}

/** Starts a target for one test; closed when the test ends. */
export async function useTarget(t: Ctx, opts: TargetOptions = {}): Promise<Target> {
  const target = await startTarget(opts);
  t.after(() => target.close());
  return target;
}

/** A short random id for client ids and topics (unique across tests sharing a broker). */
export function uid(): string {
  return randomBytes(5).toString("hex");
}

/** A topic unique to this test: `wharf-e2e/<random>/<name>`. */
export function topicFor(name: string): string {
  return `wharf-e2e/${uid()}/${name}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until true; rejects with `what` after timeoutMs. */
export async function eventually(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

// ---- MQTT.js ------------------------------------------------------------------------------------------------

export type V5Options = IClientOptions;

/**
 * An MQTT.js client connected to the target (protocol version 5 unless given), with automatic reconnection off;
 * force-closed when the test ends. Rejects if the connection is refused.
 */
export async function mqttjs(t: Ctx, target: Target, opts: V5Options = {}): Promise<MqttClient> {
  const client = mqtt.connect(target.url, {
    protocolVersion: 5,
    clientId: `js-${uid()}`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
  t.after(() => client.endAsync(true).catch(() => undefined));
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once("connect", resolve);
    client.once("error", reject);
    client.once("close", () => reject(new Error("connection closed before CONNACK")));
  });
  connacks.set(client, connack);
  client.on("error", () => {
    /* surfaced through the awaited operations; never crash the run */
  });
  return client;
}

const connacks = new WeakMap<MqttClient, IConnackPacket>();

/** The CONNACK an mqttjs() client received. */
export function connackOf(client: MqttClient): IConnackPacket {
  const c = connacks.get(client);
  if (c === undefined) throw new Error("not a client made by mqttjs()");
  return c;
}

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Collects the messages an MQTT.js client receives, in order. */
export class Inbox {
  readonly messages: Received[] = [];
  readonly #waiters: { pred: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  #seen = 0;

  constructor(client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      const m = { topic, payload, packet };
      this.messages.push(m);
      const i = this.#waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(m);
    });
  }

  /**
   * The first message (received so far or later) matching `pred` after the one the previous next() returned;
   * messages before the returned one are passed over for later next() calls (all stay in `messages`).
   */
  next(pred: (m: Received) => boolean = () => true, timeoutMs = 3000): Promise<Received> {
    for (let i = this.#seen; i < this.messages.length; i++) {
      const m = this.messages[i]!;
      if (pred(m)) {
        this.#seen = i + 1;
        return Promise.resolve(m);
      }
    }
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: Received) => {
          clearTimeout(timer);
          this.#seen = this.messages.length;
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        const k = this.#waiters.indexOf(w);
        if (k >= 0) this.#waiters.splice(k, 1);
        const got = this.messages.map((m) => `${m.topic}:${m.payload.toString().slice(0, 20)}`).join(", ");
        reject(new Error(`no matching message within ${timeoutMs} ms; received: ${got || "nothing"}`));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  /** Waits until `n` messages in total have arrived. */
  async count(n: number, timeoutMs = 3000): Promise<Received[]> {
    await eventually(() => this.messages.length >= n, `expected ${n} messages, got ${this.messages.length}`, timeoutMs);
    return this.messages.slice(0, n);
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }
}

/** Subscribes and returns the granted QoS / reason code per filter (MQTT.js does not throw on failure codes). */
export async function subscribe(
  client: MqttClient,
  filter: string | string[],
  opts: mqtt.IClientSubscribeOptions | mqtt.IClientSubscribeProperties = { qos: 1 },
): Promise<number[]> {
  const granted = await client.subscribeAsync(filter, opts);
  return granted.map((g) => g.qos);
}

// ---- raw clients --------------------------------------------------------------------------------------------

/** A raw-socket client (src/codec) connected to the target; destroyed when the test ends. */
export async function raw(
  t: Ctx,
  target: Target,
  fields: ConnectFields = {},
  opts: RawClientOptions = {},
): Promise<RawClient> {
  const c = await RawClient.connect(target, { clientId: `raw-${uid()}`, ...fields }, opts);
  t.after(() => c.destroy());
  return c;
}

/** Opens a raw socket without sending CONNECT; destroyed when the test ends. */
export async function rawOpen(t: Ctx, target: Target, opts: RawClientOptions = {}): Promise<RawClient> {
  const c = await RawClient.open(target, opts);
  t.after(() => c.destroy());
  return c;
}

// ---- paho-mqtt (Python) -------------------------------------------------------------------------------------

export const PYTHON = "/usr/bin/python3";
const PY_DIR = fileURLToPath(new URL("../../helpers/python/", import.meta.url));

/**
 * Runs test/helpers/python/<script> with `--host --port` plus `args` under /usr/bin/python3 (paho-mqtt 1.6.1) and
 * parses the JSON object it prints last on stdout.
 */
export function runPaho<T>(script: string, target: Target, args: string[] = [], timeoutMs = 10000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [PY_DIR + script, "--host", target.host, "--port", String(target.port), ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${script} failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
          return;
        }
        const last = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`${script} printed no JSON result:\nstdout: ${stdout}\nstderr: ${stderr}`));
        }
      },
    );
  });
}

/** Path of a Python helper, for tests that spawn it themselves (e.g. to kill it). */
export function pahoScript(script: string): string {
  return PY_DIR + script;
}

// ---- refusals -----------------------------------------------------------------------------------------------

/** How the server answered a request it may refuse either in its acknowledgement or by disconnecting. */
export interface Outcome<P> {
  /** The acknowledgement, when the connection stayed open. */
  ack: P | undefined;
  /** The DISCONNECT reason code, when the server closed the connection instead (undefined: closed silently). */
  disconnect: number | undefined;
  closed: boolean;
}

/**
 * Waits for either `ack` or the connection closing. Some refusals may be signalled either way (e.g. SUBSCRIBE of a
 * wildcard filter when wildcards are unavailable: SUBACK 0xA2 or DISCONNECT 0xA2, MQTT 5.0 §3.2.2.3.12).
 */
export async function outcome<P>(c: RawClient, ack: Promise<P>, timeoutMs = 3000): Promise<Outcome<P>> {
  const acked = ack.then(
    (p) => ({ kind: "ack" as const, p }),
    () => ({ kind: "none" as const }),
  );
  const closed = c.closed.then((info) => ({ kind: "closed" as const, info }));
  const timeout = sleep(timeoutMs).then(() => ({ kind: "none" as const }));
  const r = await Promise.race([acked, closed, timeout]);
  if (r.kind === "ack") return { ack: r.p, disconnect: undefined, closed: false };
  if (r.kind === "closed") return { ack: undefined, disconnect: r.info.disconnect?.reasonCode, closed: true };
  throw new Error(`neither an acknowledgement nor a close within ${timeoutMs} ms`);
}
