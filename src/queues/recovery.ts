// Engine startup (engine.ts): every queue rebuilt from its QueueStore, the persistent members remembered.
import type { Clock, Logger } from "../util/index.ts";
import { QueueType } from "./config.ts";
import { EPHEMERAL_GROUP_PREFIX } from "./engine-api.ts";
import { QueueError, QueueErrorCode } from "./errors.ts";
import type { Queue } from "./queue.ts";
import type { MemberRecord, QueueStore } from "./store.ts";

/** What recovery needs of the engine. */
export interface RecoveryHost {
  readonly store: QueueStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** JSON of [client id, filter] → record. */
  readonly members: Map<string, MemberRecord>;
  readonly queues: ReadonlyMap<string, Queue>;
  create(name: string): Queue;
  schedule(q: Queue, at: number): void;
}

/**
 * Rebuilds every queue from the store: the message index (paged: no bodies are read when the store keeps the
 * index fields with its log entries), groups with their floors, pending counts, done markers.
 */
export function recoverQueues(e: RecoveryHost): void {
  for (const m of e.store.loadMembers()) e.members.set(JSON.stringify([m.clientId, m.filter]), m.record);
  const loaded = e.store.load();
  let restored = 0;
  for (const lq of loaded) {
    const q = e.create(lq.name);
    q.setNextSeq(lq.nextSeq);
    for (const m of lq.messages) {
      if (m.record === undefined && e.store.read === undefined) {
        // A wrapper store that delegates load() but not read(): its bodies could never be delivered.
        throw new QueueError(
          QueueErrorCode.NotFound,
          `queue store: load() returned message ${m.seq} of ${lq.name} without its body and the store has no read(); ` +
            "a QueueStore wrapper must delegate read() and written() too",
        );
      }
      q.restore(m, m.record);
      restored++;
    }
    for (const lg of lq.groups) {
      if (lg.name.startsWith(EPHEMERAL_GROUP_PREFIX)) {
        e.store.deleteGroup(lq.name, lg.name); // its consumers ended with the previous process
        continue;
      }
      const g = q.addGroupRestored(lg.name, lg.record.floor);
      for (const seq of lg.done) if (seq > g.floor) g.restoreDone(seq);
      for (const seq of q.index.seqs()) {
        if (g.isSettled(seq)) continue;
        const pending = lg.pending.get(seq);
        if (pending !== undefined) g.restorePending(seq, q.partitionOf(seq), pending);
        else g.offer(seq, q.partitionOf(seq));
      }
    }
    if (q.settings.type === QueueType.Classic && q.groups.size > 0) {
      const groups = [...q.groups.values()];
      for (const seq of q.index.seqs()) if (groups.every((g) => g.isSettled(seq))) q.remove(seq);
    }
  }
  const now = e.clock.now();
  for (const q of e.queues.values()) {
    const n = q.tick(now);
    if (n !== Number.POSITIVE_INFINITY) e.schedule(q, n);
  }
  if (loaded.length > 0) {
    e.logger.info({ queues: loaded.length, messages: restored }, "queues restored from storage");
  }
}
