// What the bench ran on, and CPU pinning: broker on CPU 0, load generator (this process) on CPU 1.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGb: number;
  kernel: string;
  node: string;
  mosquitto: string;
  aedes: string;
  wharfCommit: string;
}

function firstLine(cmd: string, args: string[]): string {
  try {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return `${r.stdout}${r.stderr}`.split("\n")[0]?.trim() ?? "";
  } catch {
    return "";
  }
}

export function collectMachineInfo(root: string, mosquittoBin: string): MachineInfo {
  let cpuModel = "unknown";
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  let aedes = "not installed";
  try {
    aedes = (JSON.parse(readFileSync(`${root}/node_modules/aedes/package.json`, "utf8")) as { version: string })
      .version;
  } catch {
    // reported as missing
  }
  return {
    nproc: os.cpus().length, // not availableParallelism(): that follows this process's (pinned) affinity
    cpuModel,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    mosquitto: existsSync(mosquittoBin)
      ? firstLine(mosquittoBin, ["-h"]).replace(/^mosquitto version /, "")
      : "not installed",
    aedes,
    wharfCommit: firstLine("git", ["-C", root, "rev-parse", "--short", "HEAD"]) || "unknown",
  };
}

export interface Pinning {
  enabled: boolean;
  brokerCpu: number | null;
  generatorCpu: number | null;
  note: string;
}

/**
 * With two or more CPUs and taskset available, pins this process (all its threads) to CPU 1 and
 * returns the CPU brokers must be started on (0). Otherwise explains why nothing is pinned.
 */
export function pinGenerator(disabled: boolean): Pinning {
  const n = os.cpus().length;
  const none = (note: string): Pinning => ({ enabled: false, brokerCpu: null, generatorCpu: null, note });
  if (disabled) return none("pinning disabled (--no-pin): broker and load generator share all CPUs");
  if (n < 2) return none(`only ${n} CPU: broker and load generator share it (results understate every broker)`);
  try {
    execFileSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
  } catch {
    return none("taskset not available (util-linux): broker and load generator are not pinned");
  }
  return {
    enabled: true,
    brokerCpu: 0,
    generatorCpu: 1,
    note: `broker pinned to CPU 0 (taskset -c 0), load generator to CPU 1 (taskset -c 1); ${n} CPUs`,
  };
}

/** Prefixes a command with `taskset -c <cpu>` when pinning is on. */
export function pinned(cpu: number | null, cmd: string, args: string[]): [string, string[]] {
  return cpu === null ? [cmd, args] : ["taskset", ["-c", String(cpu), cmd, ...args]];
}
