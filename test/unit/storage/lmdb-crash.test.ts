// Crash consistency of the LMDB store in sync mode: a child process writes from 8 concurrent writers and logs
// each change after its commit() resolved; it is SIGKILLed at a random point, several times on the same
// directory. After each kill the store must open without repairs, hold every change logged as committed
// (zero loss), none logged as removed, and have consistent reference counts.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { openLmdbStorage } from "../../../src/storage/index.ts";
import { tempDir } from "../../helpers/storage-harness.ts";
import { exitWithParent } from "../../helpers/spawn-wharf.ts";
import { nodeArgsFor } from "../../helpers/ts-child.ts";

const CHILD = fileURLToPath(new URL("../../helpers/storage-crash-child.ts", import.meta.url));
const RUNS = 5;

interface RunResult {
  entries: Map<string, string>; // "client seq" → marker
  /** Removal issued: the entry may be gone. */
  removing: Set<string>;
  /** Removal committed: the entry must be gone. */
  removed: Set<string>;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the child until it has reported `killAfter` changes (progress on stdout), SIGKILLs it, then reads what
 * it logged synchronously to `logFile` — the record of what was committed before the kill.
 */
function crashRun(path: string, run: number, killAfter: number, logFile: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...exitWithParent, ...nodeArgsFor(CHILD), path, String(run), logFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let lines = 0;
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line !== "READY" && ++lines === killAfter) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const result: RunResult = { entries: new Map(), removing: new Set(), removed: new Set(), signal };
      const log = readFileSync(logFile, "utf8").split("\n");
      if (log[0] !== "READY" || signal !== "SIGKILL") {
        reject(new Error(`child ended with code ${code} signal ${signal}: ${stderr}`));
        return;
      }
      for (const line of log) {
        const [kind, client, seq, marker] = line.split(" ");
        if (kind === "E") result.entries.set(`${client} ${seq}`, marker!);
        else if (kind === "X") result.removing.add(`${client} ${seq}`);
        else if (kind === "D") result.removed.add(`${client} ${seq}`);
      }
      resolve(result);
    });
  });
}

test("lmdb crash consistency: SIGKILL during sync-mode writes loses nothing acknowledged and leaves counts consistent", async (t) => {
  const dir = await tempDir("wharf-crash-");
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "data");
  const expected = new Map<string, string>(); // committed queue entries still expected present
  let committedTotal = 0;
  let removedTotal = 0;
  for (let run = 1; run <= RUNS; run++) {
    const killAfter = 30 + Math.floor(Math.random() * 570);
    const r = await crashRun(path, run, killAfter, join(dir, `run-${run}.log`));
    committedTotal += r.entries.size;
    removedTotal += r.removed.size;
    for (const [k, v] of r.entries) expected.set(k, v);
    for (const k of r.removing) expected.delete(k);

    const store = await openLmdbStorage({ path });
    try {
      assert.deepEqual(
        store.openReport,
        { ...store.openReport, refcountMismatches: 0, orphanMessages: 0, danglingReferences: 0, repaired: false },
        "a crash in sync mode leaves nothing to repair",
      );
      const present = new Map<string, string>();
      for (const s of store.loadAll().sessions) {
        for (const q of s.queue) {
          const topic = store.messages.get(q.messageId)?.topic;
          present.set(`${s.clientId} ${q.seq}`, topic?.slice("crash/".length) ?? "<missing body>");
        }
      }
      const lost = [...expected].filter(([k, marker]) => present.get(k) !== marker);
      const resurrected = [...r.removed].filter((k) => present.has(k));
      const integrity = store.verify();
      t.diagnostic(
        `run ${run}: killed after ${killAfter} reported changes; committed entries ${r.entries.size}, committed removals ${r.removed.size}; ` +
          `store holds ${present.size} entries, ${integrity.messages} bodies, ${integrity.references} references; lost ${lost.length}`,
      );
      assert.deepEqual(lost, [], "every entry logged as committed is present with its message");
      assert.deepEqual(resurrected, [], "no entry logged as removed came back");
      assert.equal(integrity.ok, true, JSON.stringify(integrity));
    } finally {
      await store.close();
    }
  }
  t.diagnostic(
    `total over ${RUNS} kills: ${committedTotal} committed entries, ${removedTotal} committed removals, 0 lost`,
  );
  assert.ok(committedTotal >= RUNS * 20, "the child made progress before each kill");
});
