// Child process of the LMDB crash test (test/unit/storage/lmdb-crash.test.ts): writes to a sync-mode store from
// several concurrent writers until it is SIGKILLed, logging each change only after its commit() resolved.
//
//   node --import tsx storage-crash-child.ts <dir> <run> <log file>
//
// The log is the record of truth: each line is written with a synchronous write(2) to a file, so it is in the
// page cache — and survives the kill — before the child does anything else. (process.stdout to a pipe is
// asynchronous: lines queued there die with the process.) stdout only carries the same lines as progress.
//
// Lines: "READY" once open; "E <client> <seq> <marker>" = queue entry committed (message topic crash/<marker>);
// "X <client> <seq>" = its removal is about to be issued (may or may not get committed); "D <client> <seq>" =
// the removal committed.
import { openSync, writeSync } from "node:fs";
import { InflightState, openLmdbStorage } from "../../src/storage/index.ts";

const [path, runArg, logFile] = process.argv.slice(2);
if (path === undefined || runArg === undefined || logFile === undefined) {
  throw new Error("usage: storage-crash-child.ts <dir> <run> <log file>");
}
const run = Number(runArg);
const log = openSync(logFile, "a");
const store = await openLmdbStorage({ path, durability: "sync" });
const out = (line: string): void => {
  writeSync(log, line + "\n");
  process.stdout.write(line + "\n");
};
out("READY");

const committed: { client: string; seq: number }[] = [];
let counter = 0;
let packetId = 0;

async function writer(w: number): Promise<void> {
  for (;;) {
    const n = counter++;
    const marker = `${run}-${n}`;
    const big = n % 17 === 0;
    const payload = Buffer.alloc(big ? 64 * 1024 : 10 + (n % 300), n & 0xff);
    const id = store.messages.store({ topic: `crash/${marker}`, payload, qos: 1, retain: false });
    const entries: string[] = [];
    const client = `c${n % 4}`;
    entries.push(`E ${client} ${store.sessions.enqueue(client, id, { qos: 1, retain: false })} ${marker}`);
    if (n % 3 === 0) entries.push(`E c9 ${store.sessions.enqueue("c9", id, { qos: 1, retain: false })} ${marker}`); // shared body
    if (n % 7 === 0) store.retained.set(`r/${n % 5}`, id); // replaces, releasing the old body
    if (n % 11 === 0) {
      packetId = (packetId % 65535) + 1;
      store.sessions.putInflight(`c${w}`, {
        packetId,
        messageId: id,
        state: InflightState.AwaitPuback,
        qos: 1,
        retain: false,
      });
      if (packetId > 3) store.sessions.removeInflight(`c${w}`, packetId - 3);
    }
    const removed: string[] = [];
    if (n % 5 === 0 && committed.length > 10) {
      const victim = committed.splice(n % committed.length, 1)[0]!;
      out(`X ${victim.client} ${victim.seq}`); // before the removal can possibly be committed
      if (store.sessions.dequeue(victim.client, victim.seq)) removed.push(`D ${victim.client} ${victim.seq}`);
    }
    await store.commit();
    for (const e of entries) {
      out(e);
      const [, c, s] = e.split(" ");
      committed.push({ client: c!, seq: Number(s) });
    }
    for (const d of removed) out(d);
  }
}

await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
