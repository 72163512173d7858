// Errors of the cluster layer: a stable `code` (CLUSTER_*) to branch on, the message for people.
import { WharfError } from "../util/index.ts";

export const ClusterErrorCode = {
  /** etcd did not answer (down, wrong endpoint, TLS refused) within the configured time. */
  EtcdUnavailable: "CLUSTER_ETCD_UNAVAILABLE",
  /** Another live node is registered with this node id. */
  NodeIdTaken: "CLUSTER_NODE_ID_TAKEN",
  /** A frame was sent to a node that is not a member. */
  UnknownPeer: "CLUSTER_UNKNOWN_PEER",
  /** A peer sent bytes that are not a valid frame (bad length, unknown handshake). */
  BadFrame: "CLUSTER_BAD_FRAME",
  /** A CONNECT's client id could not be claimed (owner silent, etcd unreachable, not a member): refused, retry. */
  SessionUnavailable: "CLUSTER_SESSION_UNAVAILABLE",
  /** The membership or transport was closed. */
  Closed: "CLUSTER_CLOSED",
} as const;
export type ClusterErrorCodeValue = (typeof ClusterErrorCode)[keyof typeof ClusterErrorCode];

export class ClusterError extends WharfError<ClusterErrorCodeValue> {
  override readonly name = "ClusterError";
}
