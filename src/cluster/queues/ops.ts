// The writes of a slot's queue engine as data: what the owner replicates to its replicas, in order.
import type { GroupRecord, PendingRecord, QueueRecord } from "../../queues/index.ts";

export type StoreOp =
  | { op: "append"; queue: string; seq: number; record: QueueRecord }
  | { op: "remove"; queue: string; seq: number }
  | { op: "putGroup"; queue: string; group: string; record: GroupRecord }
  | { op: "deleteGroup"; queue: string; group: string }
  | { op: "putPending"; queue: string; group: string; seq: number; record: PendingRecord }
  | { op: "deletePending"; queue: string; group: string; seq: number }
  | { op: "putDone"; queue: string; group: string; seq: number }
  | { op: "deleteDone"; queue: string; group: string; seq: number }
  | { op: "drop"; queue: string };
