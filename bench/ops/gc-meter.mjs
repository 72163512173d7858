// Preloaded into each broker of `npm run bench:ops` (node --import): the broker's garbage-collection pauses on its
// main thread, written at exit to the file named by WHARF_GC_LOG as { entries: [[start ms since the epoch, duration
// ms, 1 if a mark-compact], ...], oldSpace: [[ms since the epoch, MB], ...] }, so the bench can give each run's GC
// share of its measurement window. Why: fan-in QoS 1 runs fall into two modes, the GC at ~5 % or at 26-38 % of the
// broker's CPU, whatever the variant (docs/benchmarks.md); with the share printed per run, a variant's rounds can be
// compared within one mode instead of by how many fell into the slow one.
// A GC performance observer costs ~1 µs per collection (hundreds a second here), the same in every variant.
// Plain JavaScript: it is preloaded by node's --import before bin/wharf.js registers tsx.
import { writeFileSync } from "node:fs";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";

const file = process.env["WHARF_GC_LOG"];
if (file !== undefined && file !== "") {
  /** @type {number[][]} */
  const entries = [];
  const origin = performance.timeOrigin;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = /** @type {{ detail?: { kind?: number } }} */ (e).detail?.kind ?? 0;
      entries.push([origin + e.startTime, e.duration, kind === constants.NODE_PERFORMANCE_GC_MAJOR ? 1 : 0]);
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  // The old generation's size every 250 ms ([ms since the epoch, MB]): the bench reads it at the window's start (a
  // larger one reaches V8's first mark-compact sooner: docs/benchmarks.md, stop 12).
  /** @type {number[][]} */
  const oldSpace = [];
  setInterval(() => {
    const old = getHeapSpaceStatistics().find((s) => s.space_name === "old_space");
    oldSpace.push([Date.now(), (old?.space_used_size ?? Number.NaN) / 2 ** 20]);
  }, 250).unref();
  process.on("exit", () => {
    try {
      writeFileSync(file, JSON.stringify({ entries, oldSpace }));
    } catch {
      // the bench reports "?" for this run
    }
  });
}
