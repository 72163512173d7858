// mTLS identities: a client whose certificate the TLS listener verified (TransportConnection.peerIdentity) is
// that identity. The user name is taken from the certificate (Subject CN by default, or its SHA-256 fingerprint),
// like Mosquitto's use_identity_as_username. A client without a verified certificate is passed on.
import type { AuthenticateContext } from "../../broker/index.ts";
import { PASS, type AuthMethod, type MethodOutcome } from "./method.ts";

export const MTLS_USERNAME_SOURCES = ["commonName", "fingerprint256"] as const;
export type MtlsUsernameSource = (typeof MTLS_USERNAME_SOURCES)[number];

export class MtlsMethod implements AuthMethod {
  readonly name = "mtls";

  constructor(private readonly usernameFrom: MtlsUsernameSource) {}

  authenticate(ctx: AuthenticateContext): MethodOutcome {
    const id = ctx.peerIdentity;
    if (id === undefined) return PASS;
    const username = this.usernameFrom === "commonName" ? id.commonName : id.fingerprint256;
    if (username === undefined || username === "") return { kind: "reject", reason: "certificate without identity" };
    // A User Name sent alongside must name the same identity.
    if (ctx.username !== undefined && ctx.username !== "" && ctx.username !== username) {
      return { kind: "reject", reason: "user name differs from the certificate's" };
    }
    return { kind: "accept", username };
  }
}
