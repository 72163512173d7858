// Opening LMDB data directories that cannot be used as they are: each must fail with a StorageError naming the
// directory and what to do — never a crash (LMDB segfaults on damaged files) and never an empty start.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { TestContext } from "node:test";
import { open } from "lmdb";
import type { Key as LmdbKey } from "lmdb";
import {
  DEFAULT_DATA_DIR,
  SCHEMA_VERSION,
  StorageError,
  StorageErrorCode,
  openLmdbStorage,
} from "../../../src/storage/index.ts";
import { message, storeQueued } from "../../helpers/storage-fixtures.ts";
import { tempDir } from "../../helpers/storage-harness.ts";

async function scratch(t: TestContext): Promise<string> {
  const dir = await tempDir("wharf-open-");
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A real store with some data, closed; returns its data file's bytes. */
async function validStore(path: string): Promise<Buffer> {
  const s = await openLmdbStorage({ path });
  for (let i = 0; i < 300; i++) storeQueued(s, `c${i % 3}`, message(i, { payload: Buffer.alloc(500, i) }));
  await s.close();
  return readFile(join(path, "data.mdb"));
}

async function assertRefused(path: string, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(openLmdbStorage({ path }), (e: unknown) => {
    assert.ok(e instanceof StorageError, `a StorageError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.path, path);
    assert.ok(e.message.includes(path), `names the path: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

const CORRUPT_ADVICE = /move .* aside \(or restore it from a backup\)/;

describe("lmdb data directory checks", { concurrency: 4 }, () => {
  test("garbage in data.mdb is STORAGE_CORRUPT, and the file is left as it was", async (t) => {
    const path = join(await scratch(t), "data");
    await mkdir(path);
    const garbage = Buffer.alloc(64 * 1024, 0x41);
    await writeFile(join(path, "data.mdb"), garbage);
    await assertRefused(path, StorageErrorCode.Corrupt, CORRUPT_ADVICE);
    assert.ok((await readFile(join(path, "data.mdb"))).equals(garbage), "nothing was written over it");
  });

  test("a truncated data.mdb is STORAGE_CORRUPT", async (t) => {
    const path = join(await scratch(t), "data");
    const bytes = await validStore(path);
    assert.ok(bytes.length > 64 * 1024);
    await truncate(join(path, "data.mdb"), 8192);
    await assertRefused(path, StorageErrorCode.Corrupt, CORRUPT_ADVICE);
  });

  test("zeroed header pages are STORAGE_CORRUPT", async (t) => {
    const path = join(await scratch(t), "data");
    const bytes = await validStore(path);
    bytes.fill(0, 0, 8192);
    await writeFile(join(path, "data.mdb"), bytes);
    await assertRefused(path, StorageErrorCode.Corrupt, CORRUPT_ADVICE);
  });

  test("an empty data.mdb is STORAGE_CORRUPT, not a new store", async (t) => {
    const path = join(await scratch(t), "data");
    await mkdir(path);
    await writeFile(join(path, "data.mdb"), "");
    await assertRefused(path, StorageErrorCode.Corrupt, /is empty/);
  });

  test("a file where the directory should be is STORAGE_UNREADABLE", async (t) => {
    const path = join(await scratch(t), "data");
    await writeFile(path, "not a directory");
    await assertRefused(path, StorageErrorCode.Unreadable, /not a directory/);
  });

  test("a directory where data.mdb should be is STORAGE_UNREADABLE", async (t) => {
    const path = join(await scratch(t), "data");
    await mkdir(join(path, "data.mdb"), { recursive: true });
    await assertRefused(path, StorageErrorCode.Unreadable, /not a regular file/);
  });

  test("another application's LMDB environment is refused as not a Wharf store", async (t) => {
    const path = join(await scratch(t), "data");
    const root = open({ path, maxDbs: 4, overlappingSync: false, noSubdir: false });
    await root.openDB({ name: "users" }).put("alice", { admin: true });
    await root.close();
    await assertRefused(path, StorageErrorCode.Corrupt, /databases Wharf does not use \(users\)/);
  });

  test("missing parent directories are created; a valid store reopens through the check process", async (t) => {
    const path = join(await scratch(t), "a", "b", "data");
    await validStore(path);
    const s = await openLmdbStorage({ path });
    t.after(() => s.close());
    assert.equal(s.path, path);
    assert.equal(s.loadAll().sessions.length, 3);
    assert.equal(s.verify().ok, true);
  });

  // Issue 10: lmdb-js infers noSubdir from an extension, so these were taken for data files ("Is a directory").
  for (const name of ["wharf.d", "x.1a2B", "data.mdb.dir", ".hidden"]) {
    test(`a data directory named ${name}: created new, then reopened with its data (existing directory)`, async (t) => {
      const path = join(await scratch(t), name);
      await validStore(path); // new: created by the open
      assert.ok((await stat(join(path, "data.mdb"))).isFile(), "the data file is inside the directory");
      const s = await openLmdbStorage({ path });
      t.after(() => s.close());
      assert.equal(s.loadAll().sessions.length, 3);
      assert.equal(s.verify().ok, true);
    });
  }

  test("an existing empty directory with a dot in its name is used as a new store", async (t) => {
    const path = join(await scratch(t), "wharf.d");
    await mkdir(path);
    const s = await openLmdbStorage({ path });
    storeQueued(s, "c", message(1));
    await s.close();
    const s2 = await openLmdbStorage({ path });
    t.after(() => s2.close());
    assert.equal(s2.sessions.readQueue("c").length, 1);
    assert.deepEqual((await readdir(path)).sort(), ["data.mdb", "lock.mdb", "wharf.lock"]);
  });

  test("durability modes can change between restarts of the same directory", async (t) => {
    const path = join(await scratch(t), "data");
    let n = 0;
    for (const durability of ["none", "sync", "batched", "none", "sync"] as const) {
      const s = await openLmdbStorage({ path, durability });
      assert.equal(s.sessions.readQueue("c").length, n, `before writing in ${durability}`);
      storeQueued(s, "c", message(n++));
      await s.commit();
      await s.close();
    }
    const s = await openLmdbStorage({ path });
    t.after(() => s.close());
    assert.equal(s.sessions.readQueue("c").length, n);
  });

  test("one store per data directory: a second open is STORAGE_LOCKED until the first closes", async (t) => {
    const path = join(await scratch(t), "data");
    const first = await openLmdbStorage({ path });
    await assertRefused(path, StorageErrorCode.Locked, /in use by this process/);
    await first.close();
    const again = await openLmdbStorage({ path });
    await again.close();
  });

  test("a lock file of a running process refuses the open; one of a dead process is taken over", async (t) => {
    const path = join(await scratch(t), "data");
    await validStore(path);
    await writeFile(join(path, "wharf.lock"), `${process.ppid}\n`); // the test runner: alive
    await assertRefused(path, StorageErrorCode.Locked, new RegExp(`process ${process.ppid}.*delete .*wharf\\.lock`));
    const dead = spawn(process.execPath, ["-e", ""]);
    await once(dead, "exit");
    await writeFile(join(path, "wharf.lock"), `${dead.pid}\n`);
    const s = await openLmdbStorage({ path });
    assert.equal((await readFile(join(path, "wharf.lock"), "utf8")).trim(), String(process.pid));
    await s.close();
  });

  test("a schema-1 store (values as msgpack records) opens, reads back, and is marked with the current schema before any write", async (t) => {
    const path = join(await scratch(t), "data");
    const s = await openLmdbStorage({ path });
    const id = s.messages.store(message(7, { payload: Buffer.from("old layout") }));
    const seq = s.queues.append("q", id, { s: 10, h: 99 });
    storeQueued(s, "c", message(8));
    await s.close();
    // Rewrite it as version 1 wrote it: lmdb-js's default encoding (records with inline definitions).
    const root = open({ path, maxDbs: 32, overlappingSync: false, noSubdir: false });
    const plain = { useRecords: false, mapsAsObjects: true }; // how this build reads
    const copies: [string, LmdbKey, unknown][] = [];
    for (const name of ["msg", "qlog", "queue", "qmeta"]) {
      const raw = root.openDB({ name, ...plain });
      for (const { key, value } of raw.getRange({})) copies.push([name, key, value]);
    }
    for (const [name, key, value] of copies) await root.openDB({ name }).put(key, value);
    await root.openDB({ name: "meta" }).put(["", "schema"], { version: 1, createdAt: 5 });
    assert.ok(!(root.openDB({ name: "qlog" }).get(["q", seq]) instanceof Map), "written as a record");
    await root.close();

    const s2 = await openLmdbStorage({ path });
    assert.equal(s2.queues.read("q", seq, 1)[0]?.message.payload.toString(), "old layout");
    assert.deepEqual(s2.queues.scan("q", 0, 10)[0]?.meta, { s: 10, h: 99 });
    assert.equal(s2.sessions.readQueue("c").length, 1);
    assert.equal(s2.verify().ok, true);
    await s2.close();
    const check = open({ path, maxDbs: 32, overlappingSync: false, noSubdir: false, readOnly: true });
    assert.deepEqual(
      check.openDB({ name: "meta", ...{ useRecords: false, mapsAsObjects: true } }).get(["", "schema"]),
      {
        version: SCHEMA_VERSION,
        createdAt: 5,
      },
    );
    await check.close();
  });

  test("the default data directory is ./data", () => {
    assert.equal(DEFAULT_DATA_DIR, "./data");
  });
});
