// Argument checks: the storage layer rejects caller bugs (bad packet ids, QoS, states) with
// STORAGE_INVALID_ARGUMENT before changing anything, instead of persisting nonsense.
import { StorageError, StorageErrorCode } from "./errors.ts";
import { MAX_PACKET_ID } from "../util/index.ts";
import type { SpaceName } from "./keys.ts";
import type { KvBackend } from "./kv.ts";
import { InflightState } from "./types.ts";
import type { InflightInit } from "./types.ts";

export function hasAny(kv: KvBackend, space: SpaceName): boolean {
  for (const _ of kv.keys(space)) return true; // leaving the loop closes the cursor
  return false;
}

export function invalid(message: string): StorageError {
  return new StorageError(StorageErrorCode.InvalidArgument, `storage: ${message}`);
}

export function checkQos(qos: number, what: string): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`${what}: QoS ${qos} is not 0, 1 or 2`);
}

export function checkPacketId(packetId: number): void {
  if (!Number.isInteger(packetId) || packetId < 1 || packetId > MAX_PACKET_ID) {
    throw invalid(`packet identifier ${packetId} is not in 1..65535 [MQTT-2.2.1-3]`);
  }
}

export function checkInflight(m: InflightInit): void {
  checkPacketId(m.packetId);
  checkQos(m.qos, "inflight");
  const ok =
    (m.qos === 1 && m.state === InflightState.AwaitPuback) ||
    (m.qos === 2 && (m.state === InflightState.AwaitPubrec || m.state === InflightState.AwaitPubcomp));
  if (!ok) throw invalid(`inflight state ${m.state} is not valid at QoS ${m.qos}`);
  if (m.state !== InflightState.AwaitPubcomp && m.messageId === undefined) {
    throw invalid(`inflight packet ${m.packetId} in state ${m.state} needs its message`);
  }
}
