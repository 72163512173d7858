// The connection-storm generator (bench/tools/connstorm.c): compiled on first use with the system C compiler into
// a cache directory keyed by the source's hash, then run as a child process. It inherits this process's CPU
// affinity, so with pinning on it runs on the generator's CPU, off the broker's.
//
// Why C: the Node generator cost about as much CPU per connect as the broker (a net.Socket, its stream states and
// a promise per connection) and saturated its core at ~9k connects/s against Mosquitto. The C client is one
// epoll loop over raw non-blocking sockets with pre-encoded packets.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cToolBinary } from "./c-tool.ts";
import type { ProtocolLevel } from "./mqtt-packets.ts";

const SOURCE = fileURLToPath(new URL("../tools/connstorm.c", import.meta.url));

/** Path of the compiled tool; compiles it (once per source version) if needed. */
export function connstormBinary(): string {
  return cToolBinary(SOURCE, "the storm generator");
}

export interface HoldReading {
  connected: number;
  elapsedMs: number;
  /** The tool's own CPU time (user + system) while connecting. */
  cpuSeconds: number;
  errors: number;
  firstError: string;
}

export interface ChurnReading {
  /** Cycles completed inside the window. */
  inWindow: number;
  windowMs: number;
  perSec: number;
  cpuSeconds: number;
  /** Failed cycles inside the window (refused, reset, timed out). */
  windowErrors: number;
  firstError: string;
}

/** A running `connstorm hold`: connections stay open until release(). */
export interface HoldRun {
  /** Resolves once every connection has its CONNACK (or the first failure). */
  connected: Promise<HoldReading>;
  /** DISCONNECTs and closes everything; resolves with how many the broker still had open. */
  release(): Promise<number>;
  kill(): void;
}

function lines(child: ReturnType<typeof spawn>): AsyncIterator<string> {
  let buf = "";
  const queue: string[] = [];
  const waiters: ((r: IteratorResult<string>) => void)[] = [];
  let ended = false;
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w !== undefined) w({ value: line, done: false });
      else queue.push(line);
    }
  });
  child.on("close", () => {
    ended = true;
    for (const w of waiters.splice(0)) w({ value: undefined, done: true });
  });
  return {
    next: () =>
      new Promise((resolve) => {
        const l = queue.shift();
        if (l !== undefined) resolve({ value: l, done: false });
        else if (ended) resolve({ value: undefined, done: true });
        else waiters.push(resolve);
      }),
  };
}

async function nextJson<T>(it: AsyncIterator<string>, stderr: () => string): Promise<T> {
  const r = await it.next();
  if (r.done === true) throw new Error(`connstorm exited without a result: ${stderr().trim() || "no output"}`);
  return JSON.parse(r.value) as T;
}

function start(args: string[]): { child: ReturnType<typeof spawn>; it: AsyncIterator<string>; stderr: () => string } {
  const child = spawn(connstormBinary(), args, { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  return { child, it: lines(child), stderr: () => err };
}

export function holdConnections(
  port: number,
  protocol: ProtocolLevel,
  prefix: string,
  connections: number,
  concurrency: number,
): HoldRun {
  const { child, it, stderr } = start([
    "hold",
    "127.0.0.1",
    String(port),
    String(protocol),
    prefix,
    String(connections),
    String(concurrency),
  ]);
  return {
    connected: nextJson<HoldReading>(it, stderr),
    async release() {
      child.stdin!.end("close\n");
      const r = await nextJson<{ stillOpen: number }>(it, stderr);
      return r.stillOpen;
    },
    kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

export async function churnConnections(
  port: number,
  protocol: ProtocolLevel,
  prefix: string,
  concurrency: number,
  warmupMs: number,
  windowMs: number,
): Promise<ChurnReading> {
  const { child, it, stderr } = start([
    "churn",
    "127.0.0.1",
    String(port),
    String(protocol),
    prefix,
    String(concurrency),
    String(warmupMs),
    String(windowMs),
  ]);
  try {
    return await nextJson<ChurnReading>(it, stderr);
  } finally {
    child.stdin!.end();
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}
