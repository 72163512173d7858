// V8's sampling heap profiler with collected objects included: what a code path allocates (garbage included, which
// is what the GC pays for), by allocation site. Used by bench/tools/conn-alloc.ts and bench/queues/engine-cpu.ts.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

export interface HeapSampling {
  /** Stops sampling: bytes by allocation site (built-ins named with their JS caller), largest first, and the total. */
  stop(): Promise<{ total: number; sites: [site: string, bytes: number][] }>;
}

export async function startHeapSampling(samplingInterval = 4096): Promise<HeapSampling> {
  const session = new Session();
  session.connect();
  await session.post("HeapProfiler.startSampling", {
    samplingInterval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop() {
      const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: { head: SamplingNode } };
      // WHARF_HEAP_PROFILE_OUT=<file>: the raw profile too (its call tree tells which caller made an allocation).
      const out = process.env["WHARF_HEAP_PROFILE_OUT"];
      if (out !== undefined && out !== "") writeFileSync(out, JSON.stringify(profile));
      session.disconnect();
      const bySite = new Map<string, number>();
      let total = 0;
      const frameName = (f: SamplingNode["callFrame"]): string =>
        `${f.functionName || "(anonymous)"}  ${f.url.replace(/^.*\/wt\/[^/]+\//, "")}:${f.lineNumber + 1}`;
      // Built-ins (Map, Array push, …) have no url: name their JS caller too.
      const walk = (n: SamplingNode, parent = ""): void => {
        const here = frameName(n.callFrame);
        if (n.selfSize > 0) {
          const key = n.callFrame.url === "" ? `${here} ← ${parent}` : here;
          bySite.set(key, (bySite.get(key) ?? 0) + n.selfSize);
          total += n.selfSize;
        }
        for (const c of n.children) walk(c, here);
      };
      walk(profile.head);
      return { total, sites: [...bySite].sort((a, b) => b[1] - a[1]) };
    },
  };
}
