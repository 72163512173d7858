// Child-process check of an LMDB data directory, run by lmdb-check.ts before the broker opens it. LMDB trusts
// its file: a damaged page makes it read through wild pointers and the process dies of SIGSEGV/SIGBUS, which no
// try/catch can stop. So a throwaway process opens the directory read-only and reads every entry of every
// database; the parent learns from its exit whether the file is safe to map. Plain JavaScript, so it runs with
// bare `node` however the broker itself was started.
//
// argv: <directory> <maxDbs>. Prints one JSON line: {"ok":true,"databases":{name:entries}} or
// {"ok":false,"message":"…","code":…}.
import { createRequire } from "node:module";

// require(), not import: lmdb's CommonJS build is one file, and an ESM import of it goes through Node 20's ESM loader
// and its CommonJS export scan: 26 ms of CPU against 45-52 ms per probe, and a broker start with existing data runs
// one probe (2026-12-07).
const { open } = createRequire(import.meta.url)("lmdb");

const [path, maxDbs] = process.argv.slice(2);
let root;
try {
  root = open({ path, maxDbs: Number(maxDbs), overlappingSync: false, readOnly: true, noSubdir: false });
  const databases = {};
  // Names first: opening a database while a cursor on the root is live crashes lmdb-js in read-only mode.
  const names = [...root.getKeys({})];
  for (const name of names) {
    if (typeof name !== "string") {
      databases[String(name)] = -1;
      continue;
    }
    // Raw bytes: walking every page is the point, not decoding (msgpack-decoding every value doubled the cost:
    // 4.1 s against 2.0 s of CPU for 1 M queued messages). Malformed values are the open's decoders' business.
    const db = root.openDB({ name, encoding: "binary", keyEncoding: "binary" });
    let n = 0;
    for (const entry of db.getRange({})) {
      if (entry.value === undefined) throw new Error(`entry ${JSON.stringify(entry.key)} of ${name} has no value`);
      n++;
    }
    databases[name] = n;
  }
  process.stdout.write(JSON.stringify({ ok: true, databases }) + "\n");
} catch (error) {
  const e = error instanceof Error ? error : new Error(String(error));
  process.stdout.write(JSON.stringify({ ok: false, message: e.message, code: e.code ?? null }) + "\n");
} finally {
  await root?.close();
}
