// The C latency generator (bench/tools/latgen.c): QoS 1 publishers and one subscriber in one epoll process, so the
// latency figure holds no generator GC, JIT or JS-timer stalls. See the C file for the protocol and the output.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { cToolBinary } from "./c-tool.ts";
import { spawnManaged } from "./children.ts";
import type { ProtocolLevel } from "./mqtt-packets.ts";

const SOURCE = fileURLToPath(new URL("../tools/latgen.c", import.meta.url));

export interface LatgenOptions {
  port: number;
  protocol: ProtocolLevel;
  prefix: string;
  publishers: number;
  rate: number;
  warmupMs: number;
  windowMs: number;
  drainMs: number;
  payload: number;
  inflight: number;
  /** Called when the tool opens / closes its measurement window (the harness reads the broker's CPU between). */
  onWindowOpen: () => void;
  onWindowClose: () => void;
}

export interface LatgenReading {
  sent: number;
  delivered: number;
  lost: number;
  duplicates: number;
  reordered: number;
  sentInWindow: number;
  deliveredInWindow: number;
  windowMs: number;
  /** The tool's CPU time (user + system) over the window. */
  cpuSeconds: number;
  /** How late its 1 ms ticks ran in the window (its own CPU was taken meanwhile), ms. */
  tickLateP99Ms: number;
  tickLateMaxMs: number;
  windowFullTicks: number;
  unacked: number;
  perPublisher: { sent: number; received: number }[];
  /** Latency of every message sent inside the window, ms, in arrival order. */
  samples: Float64Array;
  /** Their send times (CLOCK_MONOTONIC, ms), same order. */
  sentAt: Float64Array;
}

/** Compiles (once) and runs latgen; rejects with its error line if it fails. */
export async function runLatgen(o: LatgenOptions): Promise<LatgenReading> {
  const bin = cToolBinary(SOURCE, "the latency generator");
  const dir = mkdtempSync(path.join(os.tmpdir(), "wharf-latgen-"));
  const file = path.join(dir, "samples.f64");
  try {
    const args = [
      "127.0.0.1",
      o.port,
      o.protocol,
      o.prefix,
      o.publishers,
      o.rate,
      o.warmupMs,
      o.windowMs,
      o.drainMs,
      o.payload,
      o.inflight,
      file,
    ].map(String);
    // Managed: killed with the harness (Ctrl-C, a run timeout); it also ends by itself after warm-up + window + drain.
    const proc = spawnManaged(bin, args, dir);
    const child = proc.child;
    let result: string | undefined;
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    for await (const line of createInterface({ input: child.stdout! })) {
      if (line === "window open") o.onWindowOpen();
      else if (line === "window closed") o.onWindowClose();
      else result = line;
    }
    const code = await exited;
    const parsed = result !== undefined ? (JSON.parse(result) as Partial<LatgenReading> & { error?: string }) : {};
    if (code !== 0 || parsed.error !== undefined) {
      throw new Error(`latgen failed (exit ${code}): ${parsed.error ?? (proc.output() || "no output")}`);
    }
    const raw = readFileSync(file);
    const pairs = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
    const n = pairs.length >> 1;
    const samples = new Float64Array(n);
    const sentAt = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      sentAt[i] = pairs[2 * i]!;
      samples[i] = pairs[2 * i + 1]!;
    }
    return { ...(parsed as LatgenReading), samples, sentAt };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
