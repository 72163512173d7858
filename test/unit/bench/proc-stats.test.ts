import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  cpuBusy,
  cpuTicks,
  parseNetstatCounter,
  parseProcStatBusyTicks,
  parseStatCpuTicks,
  parseStatusMemory,
  processCpuSeconds,
  processIo,
  processMemory,
} from "../../../bench/lib/proc-stats.ts";

test("parseStatCpuTicks sums utime and stime even when comm holds spaces and parentheses", () => {
  const stat = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 8 0 100 1000000 2000 0";
  assert.equal(parseStatCpuTicks(stat), 1234 + 567);
});

test("parseStatusMemory reads VmRSS and VmHWM in KiB", () => {
  const status = "Name:\tnode\nVmPeak:\t  900000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70001 kB\nThreads:\t7\n";
  assert.deepEqual(parseStatusMemory(status), { rssKb: 70001, peakKb: 81234 });
  assert.ok(Number.isNaN(parseStatusMemory("Name:\tx\n").rssKb));
});

test("readings of this process are plausible; of a missing pid NaN", () => {
  assert.ok(processCpuSeconds(process.pid) > 0);
  assert.ok(processMemory(process.pid).rssKb > 1000);
  assert.ok(Number.isNaN(processCpuSeconds(2 ** 30)));
});

test("processIo counts this process's reads and their bytes; a missing pid reads NaN", () => {
  const before = processIo(process.pid);
  readFileSync("/proc/self/status"); // at least one read(2) of a few hundred bytes
  const after = processIo(process.pid);
  assert.ok(after.reads > before.reads);
  assert.ok(after.readBytes - before.readBytes >= 100);
  assert.ok(after.writes >= before.writes);
  assert.ok(Number.isNaN(processIo(2 ** 30).reads));
});

test("parseProcStatBusyTicks: user + nice + system + steal of the aggregate line, not irq/softirq/idle", () => {
  const stat = "cpu  100 5 50 9000 7 3 11 2 0 0\ncpu0 50 2 25 4500 3 1 5 1 0 0\nintr 123\n";
  assert.equal(parseProcStatBusyTicks(stat), 100 + 5 + 50 + 2);
  assert.throws(() => parseProcStatBusyTicks("intr 1\n"));
});

test("parseNetstatCounter finds a named TcpExt counter", () => {
  const netstat =
    "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 1 620 621\nIpExt: InNoRoutes\nIpExt: 0\n";
  assert.equal(parseNetstatCounter(netstat, "TcpExt", "ListenOverflows"), 620);
  assert.ok(Number.isNaN(parseNetstatCounter(netstat, "TcpExt", "Nope")));
});

test("cpuBusy: the busy share of each CPU between two readings; NaN when a CPU has no ticks in between", () => {
  const before = [
    { busy: 100, total: 200 },
    { busy: 50, total: 400 },
  ];
  const after = [
    { busy: 175, total: 300 },
    { busy: 50, total: 400 },
  ];
  const [c0, c1] = cpuBusy(before, after);
  assert.equal(c0, 0.75);
  assert.ok(Number.isNaN(c1));
  const now = cpuTicks();
  if (now.length > 0) assert.ok(now.every((c) => c.busy <= c.total));
});
