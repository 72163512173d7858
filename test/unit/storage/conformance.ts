// The storage conformance suite: every test runs unchanged against each implementation (memory.test.ts,
// lmdb.test.ts). "Reopen" is a real close and open on the same disk for both: a new store over the same
// MemoryKv, or the same LMDB directory.
import { describe } from "node:test";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";
import { lifecycleTests } from "./conformance-lifecycle.ts";
import { messageTests } from "./conformance-messages.ts";
import { deferredQueueTests } from "./conformance-queue-deferred.ts";
import { firstDeliveryTests } from "./conformance-queue-first.ts";
import { bodyInsideTests } from "./conformance-queue-inside.ts";
import { queueTests } from "./conformance-queues.ts";
import { sessionTests } from "./conformance-sessions.ts";
import { snapshotTests } from "./conformance-snapshot.ts";

export type { HarnessFactory, StorageHarness } from "../../helpers/storage-harness.ts";

/** Registers the suite. Tests are independent (a fresh disk each), so they run a few at a time. */
export function runConformance(name: string, factory: HarnessFactory): void {
  describe(`storage conformance: ${name}`, { concurrency: 4 }, () => {
    messageTests(name, factory);
    sessionTests(name, factory);
    lifecycleTests(name, factory);
    queueTests(name, factory);
    deferredQueueTests(name, factory);
    firstDeliveryTests(name, factory);
    bodyInsideTests(name, factory);
    snapshotTests(name, factory);
  });
}
