// Routes each decoded packet to its handler according to the connection state. Returns a promise only when a
// handler has to wait (async auth hooks); the connection then holds back later packets.
import { PacketType, ReasonCode } from "../codec/index.ts";
import type { Packet } from "../codec/index.ts";
import { handleConnect } from "./connect.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext } from "./core.ts";
import { handleDisconnect } from "./disconnect.ts";
import { handleAuth, handlePacketBeforeConnack } from "./enhanced-auth.ts";
import { handlePubrel, handlePublish } from "./inbound.ts";
import { afterCommit } from "./persist.ts";
import { PubrecOutcome } from "./session.ts";
import { handleSubscribe, handleUnsubscribe } from "./subscribe.ts";

export function dispatch(c: ClientContext, p: Packet): void | Promise<void> {
  if (c.state !== ConnState.Connected) {
    if (p.type === PacketType.CONNECT && c.state === ConnState.AwaitConnect) return handleConnect(c, p);
    // 5.0 enhanced authentication waiting for the client's AUTH (5.0 [MQTT-3.1.2-30]).
    if (c.state === ConnState.Connecting && c.auth !== undefined) return handlePacketBeforeConnack(c, p);
    // The decoder refuses anything before CONNECT [MQTT-3.1.0-1]; packets after a refused CONNECT are not
    // processed [MQTT-3.1.4-5].
    c.abort();
    return;
  }
  const s = c.session!;
  switch (p.type) {
    case PacketType.PUBLISH:
      return handlePublish(c, p);
    case PacketType.PUBACK:
      if (!s.onPuback(p.packetId, p.reasonCode ?? 0))
        c.logger.debug({ packetId: p.packetId }, "PUBACK for an unknown packet id");
      return;
    case PacketType.PUBREC: {
      const outcome = s.onPubrec(p.packetId, p.reasonCode ?? 0);
      if (outcome === PubrecOutcome.SendPubrel) {
        // [MQTT-4.3.3-1]. With storage, once the PUBREL state is committed: a restart must not fall back to
        // resending a PUBLISH the client already released (it would deliver it twice).
        const id = p.packetId;
        afterCommit(c, () => c.writePubrel(id));
      } else if (outcome === PubrecOutcome.Unknown && c.version === 5) {
        c.send({ type: PacketType.PUBREL, packetId: p.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
      }
      return;
    }
    case PacketType.PUBREL:
      handlePubrel(c, p.packetId);
      return;
    case PacketType.PUBCOMP:
      if (!s.onPubcomp(p.packetId)) c.logger.debug({ packetId: p.packetId }, "PUBCOMP for an unknown packet id");
      return;
    case PacketType.SUBSCRIBE:
      return handleSubscribe(c, p);
    case PacketType.UNSUBSCRIBE:
      handleUnsubscribe(c, p);
      return;
    case PacketType.PINGREQ:
      c.send({ type: PacketType.PINGRESP }); // [MQTT-3.12.4-1]
      return;
    case PacketType.DISCONNECT:
      handleDisconnect(c, p);
      return;
    case PacketType.CONNECT:
      c.protocolError("second CONNECT [MQTT-3.1.0-2]");
      return;
    case PacketType.AUTH:
      handleAuth(c, p); // 5.0 re-authentication, or a protocol error (5.0 [MQTT-4.12.0-7])
      return;
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP only flow server to client.
      c.protocolError(`client sent server-only packet type ${p.type}`);
      return;
  }
}
