// Shared pieces of the security tests: a server from a YAML-shaped config on 127.0.0.1:0, a password file, and the
// CONNACK code that MQTT.js / mosquitto_pub got.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import mqtt from "mqtt";
import type { IClientOptions } from "mqtt";
import { hashPassword, updatePasswordFile } from "../../../src/server/auth/index.ts";
import { startServer, validateConfig, type WharfServer } from "../../../src/server/index.ts";
import type { Logger } from "../../../src/util/index.ts";

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "wharf-sec-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a password file with these users (argon2id, as `wharf passwd` would). */
export async function passwordFile(dir: string, users: Record<string, string>): Promise<string> {
  const path = join(dir, "users.pw");
  for (const [u, p] of Object.entries(users)) updatePasswordFile(path, u, await hashPassword(p));
  return path;
}

export async function startSecure(
  t: TestContext,
  config: Record<string, unknown>,
  logger?: Logger,
): Promise<{ server: WharfServer; port: number; url: string }> {
  const c = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    sys: { interval: 0 },
    management: { enabled: false },
    ...config,
  });
  const server = await startServer(c, logger === undefined ? {} : { logger });
  t.after(() => server.close());
  const port = server.listeners[0]!.port;
  return { server, port, url: `mqtt://127.0.0.1:${port}` };
}

/** 0 when MQTT.js connected, else the CONNACK return / reason code it was refused with. */
export function mqttjsConnack(url: string, opts: IClientOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    // The timeout only guards against a broker that never answers (no test here waits for it): an argon2 check
    // took over 5 s at load 10-14 with six test files at once (2026-12-06, "connack timeout" in reload-live.test.ts).
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...opts });
    client.once("connect", () => {
      client.end(true);
      resolve(0);
    });
    client.once("error", (err: Error & { code?: unknown }) => {
      client.end(true);
      if (typeof err.code === "number") resolve(err.code);
      else reject(err);
    });
    client.once("close", () => reject(new Error("closed without CONNACK")));
  });
}
