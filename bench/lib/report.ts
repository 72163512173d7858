// Markdown tables of a bench run (printed to the console and written to docs/benchmarks.md).

import type { BrokerId } from "../brokers/index.ts";
import type { RunResult, StormRound } from "../scenarios/result.ts";
import { NOISY_MACHINE } from "../scenarios/settings.ts";
import type { MachineInfo, Pinning } from "./machine.ts";
import { median, pairedWins } from "./latency-rounds.ts";
import { formatMs, formatRate, formatRatio, ratio } from "./stats.ts";

export interface ReportMeta {
  startedAt: string;
  durationS: number;
  mode: "full" | "quick" | "partial";
  command: string;
  machine: MachineInfo;
  pinning: Pinning;
  brokers: { id: BrokerId; label: string; runnable: boolean; reason: string | null }[];
  settings: Record<string, number | string>;
}

const ORDER: readonly BrokerId[] = ["wharf", "mosquitto", "aedes"];

function byId(results: readonly RunResult[]): Map<string, Map<BrokerId, RunResult>> {
  const m = new Map<string, Map<BrokerId, RunResult>>();
  for (const r of results) {
    let row = m.get(r.id);
    if (row === undefined) m.set(r.id, (row = new Map()));
    row.set(r.broker, r);
  }
  return m;
}

/** A usable number only from a run that measured something (ok or loss-flagged), not from errors. */
function measured(r: RunResult | undefined): r is RunResult {
  return r !== undefined && (r.status === "ok" || r.status === "invalid");
}

function flag(r: RunResult): string {
  const f: string[] = [];
  const d = r.delivery;
  if (d !== undefined && d.lost > d.lostAtTail && d.expected > 0)
    f.push(`loss ${pct((d.lost - d.lostAtTail) / d.expected)}`);
  if (d !== undefined && d.lostAtTail > 0 && d.expected > 0)
    f.push(`undelivered at end ${pct(d.lostAtTail / d.expected)}`);
  if (d !== undefined && (d.duplicates > 0 || d.reordered > 0)) f.push("dup/reorder");
  if (r.status === "invalid") f.push("gen-saturated");
  if ((r.otherCpu ?? 0) > NOISY_MACHINE) f.push("noisy");
  return f.length > 0 ? ` (${f.join(", ")})` : "";
}

function pct(x: number): string {
  const p = x * 100;
  return `${p >= 10 ? p.toFixed(0) : p >= 0.1 ? p.toFixed(1) : p.toFixed(3)}%`;
}

function cell(r: RunResult | undefined, value: (r: RunResult) => string): string {
  if (r === undefined) return "–";
  if (r.status === "skipped") return "n/a";
  if (r.status === "error") return "error";
  return value(r) + flag(r);
}

const cpu = (r: RunResult | undefined): string =>
  measured(r) && r.brokerCpu !== undefined ? `${Math.round(r.brokerCpu * 100)}%` : "–";
const rssMb = (r: RunResult | undefined): string =>
  measured(r) && r.brokerRssKb !== undefined ? (r.brokerRssKb / 1024).toFixed(0) : "–";
const gen = (r: RunResult | undefined): string =>
  measured(r) && r.generatorCpu !== undefined ? `${Math.round(r.generatorCpu * 100)}%` : "–";

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function renderResults(results: readonly RunResult[], brokers: readonly BrokerId[]): string {
  const cols = ORDER.filter((b) => brokers.includes(b));
  const label = (b: BrokerId): string => b[0]!.toUpperCase() + b.slice(1);
  const rows = byId(results);
  const out: string[] = [];
  const slash = (f: (r: RunResult | undefined) => string, row: Map<BrokerId, RunResult>): string =>
    cols.map((b) => f(row.get(b))).join(" / ");
  const ratioCols = (row: Map<BrokerId, RunResult>, v: (r: RunResult) => number | undefined): string[] => {
    const w = row.get("wharf");
    return cols
      .filter((b) => b !== "wharf")
      .map((b) => {
        const o = row.get(b);
        return measured(w) && measured(o) ? formatRatio(ratio(v(w), v(o))) : "–";
      });
  };
  const ratioHead = cols.includes("wharf") ? cols.filter((b) => b !== "wharf").map((b) => `W/${label(b)[0]}`) : [];
  const cpuHead = `broker CPU ${cols.map((b) => label(b)[0]).join("/")}`;
  const rssHead = `RSS MB ${cols.map((b) => label(b)[0]).join("/")}`;
  const genHead = `gen CPU ${cols.map((b) => label(b)[0]).join("/")}`;

  const tp = [...rows].filter(([, row]) => [...row.values()].some((r) => r.kind === "throughput"));
  if (tp.length > 0) {
    out.push("### Throughput (msgs/s delivered to subscribers)\n");
    out.push(
      table(
        [
          "scenario",
          ...cols.map((b) => `${label(b)} msg/s`),
          ...(cols.includes("wharf") ? ratioHead : []),
          cpuHead,
          rssHead,
          genHead,
        ],
        tp.map(([id, row]) => [
          id,
          ...cols.map((b) => cell(row.get(b), (r) => formatRate(r.msgsPerSec ?? Number.NaN))),
          ...(cols.includes("wharf") ? ratioCols(row, (r) => r.msgsPerSec) : []),
          slash(cpu, row),
          slash(rssMb, row),
          slash(gen, row),
        ]),
      ),
    );
  }

  const lat = [...rows].filter(([, row]) => [...row.values()].some((r) => r.kind === "latency"));
  if (lat.length > 0) {
    out.push("\n### Latency at a fixed rate (publish → receive)\n");
    out.push(latencyTable(lat, cols, label));
  }

  const slow = [...rows].filter(([, row]) => [...row.values()].some((r) => r.kind === "slow"));
  if (slow.length > 0) {
    out.push("\n### Slow consumer (1 publisher → 10 subscribers, one never reads; QoS 0, 100 B, open loop)\n");
    const srows: string[][] = [];
    for (const [id, row] of slow) {
      for (const b of cols) {
        const r = row.get(b);
        const s = measured(r) ? r.slow : undefined;
        srows.push([
          id,
          label(b),
          cell(r, () => (s ? `${formatRate(s.baselinePerSec)} → ${formatRate(s.stuckPerSec)}` : "–")),
          s ? pct(s.healthyShare) : "–",
          s ? String(s.healthyLost) : "–",
          s
            ? `${(s.rssStartKb / 1024).toFixed(0)} → ${(s.rssEndKb / 1024).toFixed(0)}${s.rssLimitHit ? " (hit 2 GiB: stopped)" : ""}`
            : "–",
          s ? `${(s.stuckMs / 1000).toFixed(0)} s` : "–",
          s ? String(s.stuckMissed) : "–",
          s ? (s.brokerDropped === null ? "–" : String(s.brokerDropped)) : "–",
          cpu(r),
        ]);
      }
    }
    out.push(
      table(
        [
          "scenario",
          "broker",
          "healthy deliveries/s: all read → one stuck",
          "share",
          "healthy lost",
          "RSS MB start → end",
          "stuck window",
          "stuck one missed",
          "broker's dropped count",
          "broker CPU",
        ],
        srows,
      ),
    );
  }

  const storm = [...rows].filter(([, row]) => [...row.values()].some((r) => r.kind === "storm"));
  if (storm.length > 0) {
    out.push(
      "\n### Connection storm (hold: connect + CONNACK, held idle; churn: connect + CONNACK + DISCONNECT + close)\n",
    );
    const srows: string[][] = [];
    for (const [id, row] of storm) {
      for (const b of cols) {
        const r = row.get(b);
        const s = measured(r) ? r.storm : undefined;
        // Several fresh-broker rounds (held storm): the medians, with the range over the rounds beside them.
        const rounds = s?.rounds !== undefined && s.rounds.length > 1 ? s.rounds : undefined;
        const range = (f: (x: StormRound) => number | undefined, fmt: (v: number) => string): string => {
          if (rounds === undefined) return "";
          const v = rounds.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
          return v.length > 1 ? ` (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})` : "";
        };
        const rate = (v: number): string => formatRate(v);
        const us = (v: number): string => v.toFixed(0);
        const kb = (v: number): string => v.toFixed(2);
        const pct = (v: number): string => `${Math.round(v * 100)}%`;
        srows.push([
          id,
          label(b),
          cell(r, () =>
            s
              ? `${formatRate(s.connectsPerSec)}${range((x) => x.connectsPerSec, rate)}` +
                (rounds !== undefined ? `, median of ${rounds.length}` : "")
              : "–",
          ),
          s?.brokerCpuUsPerConnect !== undefined
            ? `${us(s.brokerCpuUsPerConnect)}${range((x) => x.brokerCpuUsPerConnect, us)}`
            : "–",
          s ? `${(s.rssBeforeKb / 1024).toFixed(1)} → ${(s.rssAfterKb / 1024).toFixed(1)}` : "–",
          s?.rssPerConnectionKb !== undefined
            ? `${kb(s.rssPerConnectionKb)}${range((x) => x.rssPerConnectionKb, kb)}`
            : "–",
          `${cpu(r)}${range((x) => x.brokerCpu, pct)}`,
          `${gen(r)}${range((x) => x.generatorCpu, pct)}`,
        ]);
      }
    }
    out.push(
      table(
        [
          "scenario",
          "broker",
          "connects/s",
          "broker CPU µs per connect",
          "RSS MB before → after",
          "KB per idle connection",
          "broker CPU",
          "gen CPU",
        ],
        srows,
      ),
    );
  }

  const pending = [...rows].filter(([, row]) => [...row.values()].every((r) => r.kind === "pending"));
  if (pending.length > 0) {
    out.push("\n### Not yet measured\n");
    for (const [id, row] of pending) out.push(`- ${id}: ${[...row.values()][0]?.notes[0] ?? "not yet"}`);
  }

  const flagged = results.filter((r) => r.notes.length > 0 && r.status !== "skipped" && r.kind !== "pending");
  if (flagged.length > 0) {
    out.push("\n### Notes (loss, duplicates, saturation, errors, persistence semantics)\n");
    for (const r of flagged) out.push(`- ${r.id} · ${r.broker}: ${r.notes.join("; ")}`);
  }
  const skippedReasons = new Set(
    results
      .filter((r) => r.status === "skipped" && r.kind !== "pending")
      .map((r) => `${r.broker}: ${r.notes[0] ?? ""}`),
  );
  if (skippedReasons.size > 0) {
    out.push("\n### Skipped\n");
    for (const s of skippedReasons) out.push(`- ${s}`);
  }
  return out.join("\n");
}

export function renderMeta(meta: ReportMeta): string {
  const m = meta.machine;
  return [
    `- Run: ${meta.startedAt}, ${meta.mode} mode, ${meta.durationS.toFixed(0)} s (\`${meta.command}\`)`,
    `- Machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGb} GB RAM, ${m.kernel}`,
    `- Software: Node ${m.node}, Mosquitto ${m.mosquitto}, Aedes ${m.aedes}, Wharf @ ${m.wharfCommit}`,
    `- Pinning: ${meta.pinning.note}`,
    `- Settings: ${Object.entries(meta.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
    ...meta.brokers.filter((b) => !b.runnable).map((b) => `- ${b.id}: not runnable yet (${b.reason ?? "?"})`),
  ].join("\n");
}

/** "median (min–max)" of one percentile over a result's latency rounds; the plain value for a single round. */
function spread(r: RunResult, f: (x: { p99: number; p999: number }) => number, median: number): string {
  const vals = (r.latencyRounds ?? []).map(f).filter((x) => Number.isFinite(x));
  if (vals.length <= 1) return formatMs(median);
  const bare = (x: number): string => formatMs(x).replace(" ms", "");
  return `${formatMs(median)} (${bare(Math.min(...vals))}–${bare(Math.max(...vals))})`;
}

/**
 * Latency rows: medians over the interleaved rounds with their range, the pooled percentiles, the rounds in which
 * Wharf's p99 was at most the other broker's (paired: same minute), and what could be charged to the generator
 * (its own event-loop delay, worst round) and to the machine (the largest 1-minute load of the rounds).
 */
function latencyTable(
  lat: [string, Map<BrokerId, RunResult>][],
  cols: readonly BrokerId[],
  label: (b: BrokerId) => string,
): string {
  const lrows: string[][] = [];
  for (const [id, row] of lat) {
    const w = row.get("wharf");
    for (const b of cols) {
      const r = row.get(b);
      const l = measured(r) ? r.latency : undefined;
      const pooled = measured(r) ? r.pooledLatency : undefined;
      const rounds = measured(r) ? (r.latencyRounds ?? []) : [];
      const other = b !== "wharf" && measured(w) && measured(r);
      const wins = other ? pairedWins(w, r, (x) => x.p99) : undefined;
      const genLoop = rounds.map((x) => x.generator?.loopMaxMs ?? Number.NaN).filter((x) => Number.isFinite(x));
      const loads = rounds.map((x) => x.load1).filter((x) => Number.isFinite(x));
      const inGc = rounds.filter((x) => x.gcInTail !== undefined);
      const gcShare = (f: (t: { p99: number; p999: number }) => number): string =>
        `${Math.round(median(inGc.map((x) => f(x.gcInTail!))) * 100)}%`;
      lrows.push([
        id,
        label(b),
        String(rounds.length || (measured(r) ? 1 : 0)),
        cell(r, () => (l ? formatMs(l.p50) : "–")),
        l && r ? spread(r, (x) => x.p99, l.p99) : "–",
        l && r ? spread(r, (x) => x.p999, l.p999) : "–",
        l ? formatMs(l.max) : "–",
        pooled ? `${formatMs(pooled.p99)} / ${formatMs(pooled.p999)}` : "–",
        other ? formatRatio(ratio(w.latency?.p99, r.latency?.p99)) : "",
        wins && wins.of > 0 ? `${wins.wins}/${wins.of}` : "",
        genLoop.length > 0 ? formatMs(Math.max(...genLoop)) : "–",
        loads.length > 0 ? Math.max(...loads).toFixed(2) : "–",
        inGc.length > 0 ? `${gcShare((t) => t.p99)} / ${gcShare((t) => t.p999)}` : "–",
        cpu(r),
        rssMb(r),
      ]);
    }
  }
  return table(
    [
      "scenario",
      "broker",
      "rounds",
      "p50",
      "p99 median (range)",
      "p99.9 median (range)",
      "max",
      "pooled p99 / p99.9",
      "p99 W/x",
      "rounds W ≤ x",
      "gen loop delay max",
      "load",
      "tail in broker GC (p99 / p99.9)",
      "broker CPU",
      "RSS MB",
    ],
    lrows,
  );
}

/** Targets of issue #6 (goals, not assertions), evaluated for Wharf when it ran. */
export function renderTargets(results: readonly RunResult[]): string {
  const rows = byId(results);
  const lines: string[] = [];
  const check = (name: string, ok: boolean | null, detail: string): void => {
    lines.push(`- ${ok === null ? "·" : ok ? "✅" : "❌"} ${name}: ${detail}`);
  };
  for (const [id, row] of rows) {
    const w = row.get("wharf");
    if (!measured(w)) continue;
    const m = row.get("mosquitto");
    const a = row.get("aedes");
    const rm = measured(m) ? ratio(w.msgsPerSec, m.msgsPerSec) : null;
    const ra = measured(a) ? ratio(w.msgsPerSec, a.msgsPerSec) : null;
    if (w.kind === "throughput" && (id.startsWith("tls/") || id.startsWith("ws/"))) {
      // Issue 13: TLS ≥ 1.5× Mosquitto; WebSocket ≥ 1.5× Mosquitto and ≥ 3× Aedes (Aedes has no TLS listener).
      const ws = id.startsWith("ws/");
      const lost = w.delivery?.lost ?? 0;
      const acked = w.ackedLost ?? 0;
      const ok = rm !== null && rm >= 1.5 && (!ws || ra === null || ra >= 3) && lost === 0 && acked === 0;
      check(
        id,
        rm === null ? null : ok,
        `${formatRatio(rm)} Mosquitto (≥1.5×)${ws ? `, ${formatRatio(ra)} Aedes (≥3×)` : ""}, loss ${lost}`,
      );
    } else if (w.kind === "throughput" && id.includes("/qos0/")) {
      const lossFree = (w.delivery?.lost ?? 0) === 0;
      const tail = w.delivery?.lostAtTail ?? 0;
      const ok = rm !== null && rm >= 2 && (ra === null || ra >= 3) && lossFree;
      check(
        id,
        rm === null ? null : ok,
        `${formatRatio(rm)} Mosquitto (≥2×), ${formatRatio(ra)} Aedes (≥3×), loss ${w.delivery?.lost ?? "?"}` +
          (tail > 0 ? ` (${tail} of it undelivered at the end of the drain wait, not dropped mid-stream)` : ""),
      );
    } else if (w.kind === "throughput" && id.startsWith("fan-in/qos1/")) {
      const acked = w.ackedLost ?? 0;
      check(
        id,
        rm === null ? null : rm >= 1.5 && acked === 0,
        `${formatRatio(rm)} Mosquitto (≥1.5×), ${acked} PUBACKed messages lost (0)`,
      );
    } else if (w.kind === "slow" && w.slow) {
      const s = w.slow;
      check(
        id,
        s.healthyShare >= 0.9 && s.healthyLost === 0 && !s.rssLimitHit,
        `healthy subscribers at ${pct(s.healthyShare)} of their rate without the stuck one (≥90%), ` +
          `${s.healthyLost} lost, RSS ${(s.rssStartKb / 1024).toFixed(0)} → ${(s.rssEndKb / 1024).toFixed(0)} MB ` +
          `over ${(s.stuckMs / 1000).toFixed(0)} s`,
      );
    } else if (w.kind === "latency") {
      // Median over the interleaved rounds; the paired count says whether that holds round by round.
      const wp = w.latency?.p99;
      const mp = measured(m) ? m.latency?.p99 : undefined;
      const wins = measured(m) ? pairedWins(w, m, (x) => x.p99) : { wins: 0, of: 0 };
      const paired = wins.of > 1 ? `, Wharf ≤ Mosquitto in ${wins.wins} of ${wins.of} paired rounds` : "";
      check(
        id,
        wp === undefined || mp === undefined ? null : wp <= mp,
        `p99 ${formatMs(wp ?? NaN)} vs Mosquitto ${formatMs(mp ?? NaN)} (median of rounds${paired})`,
      );
    } else if (w.kind === "storm" && w.storm) {
      const perConn = w.storm.rssPerConnectionKb;
      // With several fresh-broker rounds the check is on the median; how many rounds held it is shown beside it.
      const rounds = w.storm.rounds !== undefined && w.storm.rounds.length > 1 ? w.storm.rounds : undefined;
      const held = (ok: (x: StormRound) => boolean): string =>
        rounds === undefined
          ? ""
          : ` (median of ${rounds.length} fresh-broker rounds; ${rounds.filter(ok).length} of ${rounds.length} held it)`;
      if (perConn !== undefined)
        check(
          `${id} memory`,
          perConn <= 4,
          `${perConn.toFixed(2)} KB per idle connection (≤4)${held((x) => (x.rssPerConnectionKb ?? Infinity) <= 4)}`,
        );
      check(
        `${id} rate`,
        w.storm.connectsPerSec >= 10_000,
        `${formatRate(w.storm.connectsPerSec)} connects/s (≥10k)${held((x) => x.connectsPerSec >= 10_000)}`,
      );
    }
  }
  return lines.length === 0 ? "" : `### Targets (Wharf, issues #6, #10 and #13)\n\n${lines.join("\n")}`;
}
