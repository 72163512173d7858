// Starts the real Wharf CLI (`wharf start --config`) on a free loopback port with LMDB storage in `dataDir` (or
// memory storage), for the benches that need durable storage (persist, queues).
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnManaged, waitForPort } from "./children.ts";
import type { ManagedProcess } from "./children.ts";
import { wharfCommand } from "./wharf-launcher.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * `mode`: a storage durability (`sync`, `batched`, `none`) or `memory`. `extra`: further YAML lines (top-level
 * keys). The config file goes next to `dataDir`. `loopStats`: a file the broker appends its event-loop delay and
 * GC pauses to, over a window opened and closed by SIGUSR2 (bench/tools/loop-stats.mjs); `loopStalls`: with its
 * loop's stalls (gaps of its 1 ms probe) too.
 */
export async function startWharf(
  mode: string,
  dataDir: string,
  extra: readonly string[],
  options: { loopStats?: string; loopStalls?: boolean } = {},
): Promise<{ proc: ManagedProcess; port: number }> {
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const storage =
    mode === "memory"
      ? "storage: { type: memory }"
      : `storage: { type: lmdb, dataDir: ${JSON.stringify(dataDir)}, durability: ${mode} }`;
  const config = join(dataDir, "..", "wharf.yaml");
  const lines = [`listeners: [{ host: 127.0.0.1, port: ${port} }]`, storage, ...extra];
  writeFileSync(config, [...lines, "sys: { interval: 0 }", "log: { level: warn, format: json }"].join("\n"));
  // WHARF_BENCH_NODE_ARGS: extra node flags for the broker (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.WHARF_BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  const env: Record<string, string> = {};
  if (options.loopStats !== undefined) {
    nodeArgs.push("--import", join(root, "bench", "tools", "loop-stats.mjs"));
    env.WHARF_LOOP_STATS = options.loopStats;
    if (options.loopStalls === true) env.WHARF_LOOP_STALLS = "1";
  }
  // Through bin/wharf.js, the launcher users run: the broker gets the node flags it chooses (bench/lib/wharf-launcher.ts).
  const command = wharfCommand(root, ["start", "--config", config], nodeArgs);
  const proc = spawnManaged(command.cmd, command.args, root, { ...env, ...command.env });
  // WHARF_BENCH_BROKER_OUT: a file that gets the broker's stdout and stderr (e.g. with "--trace-gc" above).
  const out = process.env.WHARF_BENCH_BROKER_OUT;
  if (out !== undefined && out !== "") {
    const file = createWriteStream(out, { flags: "a" });
    proc.child.stdout?.pipe(file);
    proc.child.stderr?.pipe(file);
  }
  await waitForPort(proc, port, 30_000);
  return { proc, port };
}
