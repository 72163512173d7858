// Broker unit tests with storage: the broker harness over a memory store on a TestDisk, which can hold writes
// (to see what waits for a commit), fail them, and "crash" (drop everything not yet written, as kill -9 would).
// restart() reopens the broker on the same disk, cleanly or after a crash, optionally later in (fake) time.
import { StorageEngine } from "../../../src/storage/engine.ts";
import { MemoryKv } from "../../../src/storage/index.ts";
import type { DurabilityMode, Storage } from "../../../src/storage/index.ts";
import type { Key, SpaceName } from "../../../src/storage/keys.ts";
import type { KvBackend, KvEntry, KvOp } from "../../../src/storage/kv.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { harness } from "./harness.ts";
import type { Harness, HarnessOptions } from "./harness.ts";

export class TestDisk implements KvBackend {
  readonly kind = "memory";
  /** Writes (batches) applied. */
  writes = 0;
  #held: (() => void)[] | undefined;
  #failure: Error | undefined;
  #crashed = false;

  constructor(readonly inner = new MemoryKv()) {}

  write(ops: readonly KvOp[]): Promise<void> {
    if (this.#crashed) return new Promise<void>(() => undefined); // the process is dead: never written
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#held !== undefined) {
      return new Promise<void>((resolve) =>
        this.#held!.push(() => {
          if (this.#crashed) return;
          void this.inner.write(ops).then(() => {
            this.writes++;
            resolve();
          });
        }),
      );
    }
    this.writes++;
    return this.inner.write(ops);
  }

  /** Writes from now on wait for release(). */
  hold(): void {
    this.#held ??= [];
  }

  /** Applies the held writes, in order, and stops holding. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const w of held) w();
  }

  /** Every write from now on fails (disk full). */
  fail(error: Error): void {
    this.#failure = error;
  }

  /** The process dies: nothing more reaches the disk. Returns the disk as the next process sees it. */
  crash(): TestDisk {
    this.#crashed = true;
    return new TestDisk(this.inner);
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }
  get(space: SpaceName, key: Key): unknown {
    return this.inner.get(space, key);
  }
  range(space: SpaceName, group: string, from: number, limit?: number): KvEntry[] {
    return this.inner.range(space, group, from, limit);
  }
  group(space: SpaceName, group: string): Iterable<KvEntry> {
    return this.inner.group(space, group);
  }
  lastId(space: SpaceName, group: string): number | undefined {
    return this.inner.lastId(space, group);
  }
  count(space: SpaceName): number {
    return this.inner.count(space);
  }
  generation(): number {
    return this.inner.generation();
  }
  entries(space: SpaceName): Iterable<KvEntry> {
    return this.inner.entries(space);
  }
  keys(space: SpaceName): Iterable<Key> {
    return this.inner.keys(space);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export interface PersistentHarness extends Harness {
  readonly storage: Storage;
  readonly disk: TestDisk;
  /**
   * Stops this broker (cleanly: close() then storage.close(); or `crash`: nothing more is written) and starts a
   * new one on the same disk, `advanceMs` later.
   */
  restart(o?: { crash?: boolean; advanceMs?: number }): Promise<PersistentHarness>;
}

export interface PersistentHarnessOptions extends Omit<HarnessOptions, "storage" | "clock"> {
  durability?: DurabilityMode;
  disk?: TestDisk;
  clock?: FakeClock;
}

export async function persistentHarness(o: PersistentHarnessOptions = {}): Promise<PersistentHarness> {
  const { durability = "sync", disk = new TestDisk(), clock = new FakeClock(), ...options } = o;
  const storage = await StorageEngine.open(disk, { durability, clock });
  const h = harness({ ...options, storage, clock });
  return {
    ...h,
    storage,
    disk,
    async restart({ crash = false, advanceMs = 0 } = {}) {
      let next = disk;
      if (crash) {
        next = disk.crash();
      } else {
        await h.broker.close();
        await storage.close();
      }
      const later = new FakeClock(clock.now() + advanceMs);
      return persistentHarness({ ...o, disk: next, clock: later });
    },
  };
}
