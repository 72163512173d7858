// Child process of the snapshot crash test (test/unit/storage/lmdb-snapshot-crash.test.ts): opens a sync-mode store
// (which has an index snapshot from a clean close), appends to and removes from a queue log until it is SIGKILLed,
// logging each change only after its commit resolved, with a synchronous write(2) (it survives the kill).
//
//   node --import tsx storage-snapshot-child.ts <dir> <log file>
//
// Lines: "OPEN <snapshot status>"; "I <seq>" = append issued (its commit may complete before a kill that comes
// before "A"); "A <seq>" = append committed; "X <seq>" = removal about to be issued; "D <seq>" = removal committed.
import { openSync, writeSync } from "node:fs";
import { openLmdbStorage } from "../../src/storage/index.ts";

const [path, logFile] = process.argv.slice(2);
if (path === undefined || logFile === undefined) throw new Error("usage: storage-snapshot-child.ts <dir> <log file>");
const log = openSync(logFile, "a");
const out = (line: string): void => {
  writeSync(log, line + "\n");
  process.stdout.write(line + "\n");
};
const store = await openLmdbStorage({ path, durability: "sync", snapshotMinEntries: 1 });
out(`OPEN ${store.openSnapshot.status}`);
for (let n = 0; ; n++) {
  const id = store.messages.store({ topic: `snap/${n}`, payload: Buffer.alloc(20, n & 0xff), qos: 1, retain: false });
  const seq = store.queues.append("q", id, { s: 20 });
  out(`I ${seq}`);
  let removed: number | undefined;
  if (n % 3 === 0) {
    removed = store.queues.scan("q", 0, 1)[0]?.seq ?? store.queues.list()[0]?.firstSeq;
    if (removed !== undefined && removed !== seq) {
      out(`X ${removed}`);
      store.queues.remove("q", removed);
    } else removed = undefined;
  }
  await store.commit();
  out(`A ${seq}`);
  if (removed !== undefined) out(`D ${removed}`);
}
