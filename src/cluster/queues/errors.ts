// Typed errors of the clustered queue layer (stable codes, MQTT reason codes for the wire).
import { ReasonCode } from "../../codec/index.ts";
import { WharfError } from "../../util/index.ts";

export const ClusterQueueErrorCode = {
  /** A write by a node that does not hold the slot's current epoch (fencing token). */
  Fenced: "CLUSTER_QUEUE_FENCED",
  /** Sync replication could not reach a replica in time: the write is not acknowledged. */
  NotReplicated: "CLUSTER_QUEUE_NOT_REPLICATED",
  /** The slot has no owner right now (failover or handoff in progress). */
  NoOwner: "CLUSTER_QUEUE_NO_OWNER",
} as const;
export type ClusterQueueErrorCodeValue = (typeof ClusterQueueErrorCode)[keyof typeof ClusterQueueErrorCode];

export class ClusterQueueError extends WharfError<ClusterQueueErrorCodeValue> {
  override readonly name = "ClusterQueueError";

  constructor(code: ClusterQueueErrorCodeValue, message: string) {
    // 0x83 Implementation specific error: the publisher was not acknowledged and may retry (nothing was stored
    // durably on its behalf); 5.0 has no reason code for "not the owner".
    super(code, message, { reasonCode: ReasonCode.ImplementationSpecificError });
  }
}
