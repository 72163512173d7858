// Preload for a benchmarked broker (`node --import ./bench/tools/loop-stats.mjs …`): what stalls its event loop
// over a measurement window. SIGUSR2 starts the window (event-loop delay histogram and GC pauses reset), the next
// SIGUSR2 ends it and appends one JSON line to $WHARF_LOOP_STATS: event-loop delay percentiles (ms) and GC pauses
// (count, total, longest, how many over 2 / 5 / 10 ms, by kind), plus each pause as [start, duration] on the
// CLOCK_MONOTONIC millisecond scale (what the C latency generator stamps, so the latency scenario can tell which of
// its slowest messages were in flight during a broker GC). bench/lib/wharf-cli.ts (`loopStats`) wires it.
// Storage commits over the window (the storage layer's "wharf:storage:commit" channel, src/storage/events.ts):
// batches, ops and the time they took, so a run's LMDB ops per message show how many messages were written at a
// batch cut (a queue message settled between two cuts costs none).
// With $WHARF_LOOP_STALLS set, the window also records the loop's stalls: a 1 ms JavaScript interval notes every
// gap of more than 2 ms between its runs as [start, duration] (the same clock), GC or not, so a latency tail can be
// told apart into GC pauses, other long turns of the broker, and neither (the load generator, the machine).
// With $WHARF_ALLOC_SITES set, the window also runs V8's sampling heap profiler (collected objects included: what
// the GC pays for) and the line gets `alloc`: bytes allocated in the window in all and by site (top 40).
import diagnostics from "node:diagnostics_channel";
import { appendFileSync } from "node:fs";
import { Session } from "node:inspector";
import { PerformanceObserver, constants, monitorEventLoopDelay } from "node:perf_hooks";

const file = process.env.WHARF_LOOP_STATS;
if (file) {
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  const loop = monitorEventLoopDelay({ resolution: 1 });
  // performance.now() counts from this process's start on the monotonic clock (libuv's hrtime): shift it to
  // CLOCK_MONOTONIC's origin.
  const monoOrigin = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  let pauses = [];
  let storage = { batches: 0, ops: 0, seconds: 0 };
  const onCommit = (e) => {
    storage.batches++;
    storage.ops += e.ops;
    storage.seconds += e.seconds;
  };
  let stalls = [];
  let stallProbe;
  let lastProbe = 0;
  let gc;
  let since = 0;
  let open = false;
  const reset = () => {
    gc = { count: 0, totalMs: 0, maxMs: 0, over2: 0, over5: 0, over10: 0, byKind: {} };
    pauses = [];
    stalls = [];
    storage = { batches: 0, ops: 0, seconds: 0 };
    loop.reset();
    since = performance.now();
  };
  reset();
  new PerformanceObserver((list) => {
    if (!open) return;
    for (const e of list.getEntries()) {
      const d = e.duration;
      if (pauses.length < 5000)
        pauses.push([Math.round((monoOrigin + e.startTime) * 1000) / 1000, Math.round(d * 1000) / 1000]);
      gc.count++;
      gc.totalMs += d;
      gc.maxMs = Math.max(gc.maxMs, d);
      if (d > 2) gc.over2++;
      if (d > 5) gc.over5++;
      if (d > 10) gc.over10++;
      const k = kinds[e.detail?.kind] ?? String(e.detail?.kind);
      const b = (gc.byKind[k] ??= { count: 0, totalMs: 0, maxMs: 0 });
      b.count++;
      b.totalMs += d;
      b.maxMs = Math.max(b.maxMs, d);
    }
  }).observe({ entryTypes: ["gc"] });
  const sampler = process.env.WHARF_ALLOC_SITES ? new Session() : undefined;
  sampler?.connect();
  let alloc;
  const startSampling = () =>
    sampler?.post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  const stopSampling = () =>
    sampler?.post("HeapProfiler.stopSampling", (err, res) => {
      if (err) return;
      const bySite = new Map();
      let total = 0;
      const name = (f) =>
        `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/wt\/[^/]+\//, "")}:${f.lineNumber + 1}`;
      const walk = (n, parent) => {
        const here = name(n.callFrame);
        if (n.selfSize > 0) {
          const key = n.callFrame.url === "" ? `${here} <- ${parent}` : here;
          bySite.set(key, (bySite.get(key) ?? 0) + n.selfSize);
          total += n.selfSize;
        }
        for (const c of n.children) walk(c, here);
      };
      walk(res.profile.head, "");
      alloc = { total, sites: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 40) };
    });
  process.on("SIGUSR2", () => {
    if (!open) {
      reset();
      loop.enable();
      startSampling();
      open = true;
      diagnostics.subscribe("wharf:storage:commit", onCommit);
      if (process.env.WHARF_LOOP_STALLS) {
        lastProbe = performance.now();
        stallProbe = setInterval(() => {
          const now = performance.now();
          const gap = now - lastProbe;
          if (gap > 2 && stalls.length < 5000)
            stalls.push([Math.round((monoOrigin + lastProbe) * 1000) / 1000, Math.round(gap * 1000) / 1000]);
          lastProbe = now;
        }, 1);
      }
      return;
    }
    open = false;
    loop.disable();
    diagnostics.unsubscribe("wharf:storage:commit", onCommit);
    if (stallProbe !== undefined) clearInterval(stallProbe);
    stallProbe = undefined;
    stopSampling(); // the inspector answers synchronously: `alloc` is set below
    const ms = (x) => Math.round((x / 1e6) * 100) / 100;
    const out = {
      spanMs: Math.round(performance.now() - since),
      loopMs: {
        p50: ms(loop.percentile(50)),
        p99: ms(loop.percentile(99)),
        p999: ms(loop.percentile(99.9)),
        max: ms(loop.max),
      },
      gc,
      storage,
      pauses,
      stalls: process.env.WHARF_LOOP_STALLS ? stalls : undefined,
      alloc,
    };
    appendFileSync(file, JSON.stringify(out) + "\n");
  });
}
