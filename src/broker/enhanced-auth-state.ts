// Per-connection state of 5.0 enhanced authentication (§4.12). Kept apart from the exchange logic in
// enhanced-auth.ts so the client context (core.ts) can name it without importing the handlers.
import type { ConnectPacket, Properties } from "../codec/index.ts";
import type { TimerHandle } from "../util/index.ts";
import type { AuthSession } from "./auth/index.ts";
import type { AuthResult } from "./hooks.ts";

/** What a successful CONNECT exchange hands to the normal CONNECT acceptance. */
export interface EnhancedAuthOutcome {
  /** The identity proven (the authenticator's, else the CONNECT User Name). */
  username: string | undefined;
  /** Authentication Method and Data for the CONNACK [MQTT-4.12.0-5]. */
  properties: Properties;
}

/** The CONNECT waiting for the exchange, and how to accept (or refuse) it once the exchange ends. */
export interface PendingConnect {
  readonly p: ConnectPacket;
  readonly clientId: string;
  /** Continues the CONNECT acceptance of connect.ts (bound to the connection and the packet). */
  readonly complete: (auth: AuthResult, enhanced?: EnhancedAuthOutcome) => void | Promise<void>;
}

/** Per-connection state; exists when the CONNECT carried an Authentication Method. */
export class EnhancedAuthState {
  /** The method of the CONNECT; every AUTH must carry it [MQTT-4.12.0-5] [MQTT-4.12.1-1]. */
  readonly method: string;
  /** Identity proven by the last successful exchange (re-authentication must prove the same one). */
  identity: string | undefined = undefined;
  /** The exchange in progress, undefined between exchanges. */
  exchange: AuthSession | undefined = undefined;
  /** Re-authentication: a step is running. */
  stepping = false;
  /** The CONNECT waiting for the exchange to succeed (undefined once connected). */
  connect: PendingConnect | undefined;
  /** Re-authentication deadline (connectTimeout). */
  timer: TimerHandle | undefined = undefined;

  constructor(method: string, connect: PendingConnect) {
    this.method = method;
    this.connect = connect;
  }

  /** The connection is finished: drop the exchange and its timer. */
  end(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.exchange = undefined;
    this.connect = undefined;
  }
}
