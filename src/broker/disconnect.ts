// DISCONNECT from the client: the 5.0 Session Expiry Interval it may carry, whether the will is kept (0x04 only),
// then a client-initiated close (ClientContext.closeByClient).
import { ReasonCode } from "../codec/index.ts";
import type { DisconnectPacket } from "../codec/index.ts";
import type { ClientContext } from "./core.ts";

export function handleDisconnect(c: ClientContext, p: DisconnectPacket): void {
  const s = c.session!;
  if (c.version === 5) {
    const expiry = p.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      // 5.0 [MQTT-3.14.2-2 (client side)]: a session that was to end with the connection cannot be extended here.
      if (s.expiryInterval === 0 && expiry !== 0) {
        c.protocolError("DISCONNECT sets a session expiry after CONNECT had 0");
        return;
      }
      s.expiryInterval = expiry;
    }
    // 0x04 Disconnect with Will Message keeps the will; any other reason discards it.
    if (p.reasonCode !== ReasonCode.DisconnectWithWillMessage) c.will = undefined;
  } else {
    c.will = undefined; // [MQTT-3.1.2-10] [MQTT-3.14.4-3]
  }
  c.closeByClient();
}
