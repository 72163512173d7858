// The index snapshot under kill -9 (src/storage/snapshot.ts): a store closed cleanly has a snapshot; a process that
// opens it (the snapshot is used and removed at open), writes, and is SIGKILLed must leave a store whose next open
// finds no snapshot, scans, and holds every committed append and none of the committed removals. After a clean
// close the snapshot is written and used again, to the same state.
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
import { nodeArgsFor } from "../../helpers/ts-child.ts";

const CHILD = fileURLToPath(new URL("../../helpers/storage-snapshot-child.ts", import.meta.url));

/** Runs the child until it has logged `killAfter` lines after OPEN, SIGKILLs it, returns its log. */
function crashRun(path: string, killAfter: number, logFile: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgsFor(CHILD), path, logFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let lines = 0;
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (!line.startsWith("OPEN") && !line.startsWith("I ") && ++lines === killAfter) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child ended with code ${code} signal ${signal}: ${stderr}`));
      else
        resolve(
          readFileSync(logFile, "utf8")
            .split("\n")
            .filter((l) => l !== ""),
        );
    });
  });
}

test("index snapshot: kill -9 after an open that used it leaves no snapshot; the scan finds every committed change", async (t) => {
  const dir = await tempDir("wharf-snap-crash-");
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "data");
  const expected = new Set<number>();
  const s0 = await openLmdbStorage({ path, durability: "none", snapshotMinEntries: 1 });
  for (let i = 0; i < 5_000; i++) {
    expected.add(
      s0.queues.append("q", s0.messages.store({ topic: "pre", payload: Buffer.alloc(20), qos: 1, retain: false }), {
        s: 20,
      }),
    );
  }
  await s0.close(); // clean: writes the snapshot

  for (let run = 1; run <= 3; run++) {
    const log = await crashRun(path, 50 + Math.floor(Math.random() * 250), join(dir, `run-${run}.log`));
    // Run 1 opens after a clean close (snapshot used); later runs after a kill (none).
    assert.equal(log[0], run === 1 ? "OPEN used" : "OPEN absent");
    const removing = new Set<number>();
    // The last append issued may be committed without its "A": the kill can land between LMDB's fsync'd commit (on
    // its write thread) and the child's log line. It may be there or not; every other seq must be reported.
    let unreported: number | undefined;
    for (const line of log.slice(1)) {
      const [kind, seq] = line.split(" ");
      if (kind === "I") unreported = Number(seq);
      else if (kind === "A") {
        expected.add(Number(seq));
        if (unreported === Number(seq)) unreported = undefined;
      } else if (kind === "X") removing.add(Number(seq));
      else if (kind === "D") expected.delete(Number(seq));
    }
    const s = await openLmdbStorage({ path, durability: "sync", snapshotMinEntries: 1 });
    assert.equal(s.openSnapshot.status, "absent", "removed by the killed process's open");
    assert.equal(s.openReport.repaired, false);
    const have = new Set(s.queues.scan("q", 0, 1_000_000).map((e) => e.seq));
    for (const seq of expected) {
      if (!removing.has(seq)) assert.ok(have.has(seq), `committed append ${seq} survives`);
    }
    for (const seq of have) {
      assert.ok(expected.has(seq) || removing.has(seq) || seq === unreported, `seq ${seq}: not committed, or removed`);
    }
    if (unreported !== undefined && have.has(unreported)) expected.add(unreported);
    for (const seq of removing) if (!have.has(seq)) expected.delete(seq);
    assert.equal(s.verify().ok, true);
    const before = s.queues.scan("q", 0, 1_000_000);
    if (run === 3) {
      await s.close(); // clean: the snapshot comes back and gives the same index
      const s2 = await openLmdbStorage({ path, durability: "sync", snapshotMinEntries: 1 });
      assert.equal(s2.openSnapshot.status, "used");
      assert.deepEqual(s2.queues.scan("q", 0, 1_000_000), before);
      await s2.close();
    } else {
      // Closed without a snapshot (as a kill would leave it), so the next child's open scans.
      await s.close();
      const s2 = await openLmdbStorage({ path, durability: "sync", snapshotMinEntries: 0 });
      assert.equal(s2.openSnapshot.status, "used");
      await s2.close();
    }
  }
});
