// Wrappers around third-party MQTT clients for end-to-end tests: MQTT.js (in-process), mosquitto_pub/sub and
// paho-mqtt (Python, /usr/bin/python3) as child processes. Every process and connection is registered with the
// test context and killed/closed in t.after, so a failing test never leaves anything behind.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";

const PYTHON = "/usr/bin/python3";
const PAHO_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "python", "paho_client.py");

/** Polls `pred` every 10 ms until it is true; rejects after `timeoutMs` naming `what`. */
export async function waitUntil(pred: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---- MQTT.js ----------------------------------------------------------------------------------------------------

export interface ReceivedMessage {
  topic: string;
  payload: string;
  /** The payload bytes as received. */
  bytes: Buffer;
  qos: number;
  retain: boolean;
  dup: boolean;
}

/** MQTT.js client that records every message it receives. */
export interface RecordingClient {
  client: MqttClient;
  messages: ReceivedMessage[];
  /** Resolves once `n` messages (in total) have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
}

/**
 * Connects MQTT.js (no automatic reconnect) and closes it in t.after. protocolVersion 3 uses "MQIsdp".
 */
export async function mqttjs(t: TestContext, url: string, opts: IClientOptions = {}): Promise<RecordingClient> {
  // Listeners are attached before CONNACK: a resumed session's messages may arrive in the same read.
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  t.after(() => client.endAsync(true));
  const messages: ReceivedMessage[] = [];
  client.on("message", (topic, payload, packet) => {
    messages.push({
      topic,
      payload: payload.toString(),
      bytes: payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      client.end(true);
      reject(err);
    };
    client.once("connect", () => {
      client.off("error", onError);
      resolve();
    });
    client.once("error", onError);
  });
  return {
    client,
    messages,
    async waitFor(n, timeoutMs = 5000) {
      await waitUntil(() => messages.length >= n, timeoutMs, `${n} MQTT.js messages (have ${messages.length})`);
      return messages;
    },
  };
}

/** The CONNACK's Session Present flag as MQTT.js saw it. */
export function sessionPresent(c: RecordingClient): boolean | undefined {
  return (c.client as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent;
}

// ---- child processes --------------------------------------------------------------------------------------------

export class LineProcess {
  readonly lines: string[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;
  #buffer = "";

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding("utf8");
    proc.stdout?.on("data", (s: string) => {
      this.#buffer += s;
      let nl: number;
      while ((nl = this.#buffer.indexOf("\n")) >= 0) {
        this.lines.push(this.#buffer.slice(0, nl));
        this.#buffer = this.#buffer.slice(nl + 1);
      }
    });
    proc.stderr?.setEncoding("utf8");
    proc.stderr?.on("data", (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async waitForLines(n: number, timeoutMs = 8000): Promise<string[]> {
    await waitUntil(
      () => this.lines.length >= n,
      timeoutMs,
      `${n} output lines (have ${JSON.stringify(this.lines)}; stderr ${this.stderr})`,
    );
    return this.lines;
  }

  /** Kills the process (SIGKILL by default: the socket dies without DISCONNECT) and waits for its exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.running) this.proc.kill(signal);
    await this.exited;
  }
}

function spawnTracked(t: TestContext, cmd: string, args: string[]): LineProcess {
  const lp = new LineProcess(spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }));
  t.after(() => lp.kill());
  return lp;
}

export type MosquittoVersion = "mqttv311" | "mqttv31" | "mqttv5";

/** mosquitto_sub printing one JSON object per message (-F %j): {topic, qos, retain, payload, …}. */
export function mosquittoSub(
  t: TestContext,
  port: number,
  args: string[],
  version: MosquittoVersion = "mqttv311",
): LineProcess {
  return spawnTracked(t, "mosquitto_sub", ["-h", "127.0.0.1", "-p", String(port), "-V", version, "-F", "%j", ...args]);
}

export interface MosquittoSubMessage {
  topic: string;
  qos: number;
  retain: boolean;
  payload: string;
}

export function parseSubLines(lines: string[]): MosquittoSubMessage[] {
  return lines.map((l) => {
    const j = JSON.parse(l) as { topic: string; qos: number; retain: boolean | number; payload: string };
    return { topic: j.topic, qos: j.qos, retain: j.retain === true || j.retain === 1, payload: j.payload };
  });
}

/** Runs mosquitto_pub to completion; resolves with its exit code and stderr. */
export async function mosquittoPub(
  t: TestContext,
  port: number,
  args: string[],
  version: MosquittoVersion = "mqttv311",
): Promise<{ code: number | null; stderr: string }> {
  const lp = spawnTracked(t, "mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-V", version, ...args]);
  const code = await Promise.race([
    lp.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`mosquitto_pub did not exit; stderr: ${lp.stderr}`)), 10_000).unref(),
    ),
  ]);
  return { code, stderr: lp.stderr };
}

// ---- paho-mqtt (Python) -----------------------------------------------------------------------------------------

export interface PahoSpec {
  client_id?: string;
  clean?: boolean;
  /** 3 = MQTT 3.1, 4 = 3.1.1 */
  protocol?: 3 | 4;
  keepalive?: number;
  username?: string;
  password?: string;
  will?: { topic: string; payload?: string; qos?: number; retain?: boolean };
  /** MQTT over TLS: CA file, and a client certificate/key for mTLS. */
  tls?: { ca: string; cert?: string; key?: string };
  steps?: Record<string, unknown>[];
}

export interface PahoEvent {
  event: string;
  [k: string]: unknown;
}

export class PahoProcess {
  constructor(readonly lp: LineProcess) {}

  get events(): PahoEvent[] {
    return this.lp.lines.map((l) => JSON.parse(l) as PahoEvent);
  }

  messages(): { topic: string; payload: string; qos: number; retain: boolean; dup: boolean }[] {
    return this.events.filter((e) => e.event === "message") as unknown as ReturnType<PahoProcess["messages"]>;
  }

  async waitEvent(pred: (e: PahoEvent) => boolean, timeoutMs = 8000, what = "paho event"): Promise<PahoEvent> {
    await waitUntil(
      () => this.events.some(pred),
      timeoutMs,
      `${what}; events so far ${JSON.stringify(this.events)}; stderr ${this.lp.stderr}`,
    );
    return this.events.find(pred)!;
  }

  waitDone(timeoutMs = 10_000): Promise<PahoEvent> {
    return this.waitEvent((e) => e.event === "done" || e.event === "error", timeoutMs, "paho done");
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.lp.kill(signal);
  }
}

/** Starts the paho script with the spec (see test/helpers/python/paho_client.py); killed in t.after. */
export function paho(t: TestContext, port: number, spec: PahoSpec): PahoProcess {
  return new PahoProcess(spawnTracked(t, PYTHON, [PAHO_SCRIPT, JSON.stringify({ ...spec, port })]));
}
