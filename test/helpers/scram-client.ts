// The client side of SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677), written independently of src/broker/auth so the
// tests check the server against a second implementation rather than against itself. Test use only: it derives the
// salted password synchronously.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

export interface ScramClientOptions {
  /** Client nonce; default 24 random base64 characters. */
  nonce?: string;
  /** gs2 header to send (default "n,,"); tests use it to try "y,," or "p=tls-unique,,". */
  gs2Header?: string;
}

const hmac = (key: Buffer, text: string): Buffer => createHmac("sha256", key).update(text, "utf8").digest();

/** RFC 5802 saslname: ',' and '=' are escaped. */
function encodeName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

export class ScramClient {
  readonly username: string;
  readonly password: string;
  readonly nonce: string;
  readonly gs2Header: string;
  #clientFirstBare = "";
  #serverSignature: Buffer | undefined;
  /** Parts of the last client-final, for tests that tamper with it. */
  lastFinal: { withoutProof: string; proof: string } | undefined;

  constructor(username: string, password: string, opts: ScramClientOptions = {}) {
    this.username = username;
    this.password = password;
    this.nonce = opts.nonce ?? randomBytes(18).toString("base64");
    this.gs2Header = opts.gs2Header ?? "n,,";
  }

  /** client-first-message. */
  first(): Buffer {
    this.#clientFirstBare = `n=${encodeName(this.username)},r=${this.nonce}`;
    return Buffer.from(this.gs2Header + this.#clientFirstBare, "utf8");
  }

  /** client-final-message for the server-first-message; throws if server-first is not acceptable. */
  final(serverFirst: Buffer): Buffer {
    const text = serverFirst.toString("utf8");
    const attrs = new Map<string, string>();
    for (const part of text.split(",")) attrs.set(part.slice(0, 1), part.slice(2));
    const combined = attrs.get("r");
    const salt = attrs.get("s");
    const iterations = Number(attrs.get("i"));
    if (combined === undefined || !combined.startsWith(this.nonce) || combined.length <= this.nonce.length) {
      throw new Error(`server-first does not extend the client nonce: ${text}`);
    }
    if (salt === undefined || !Number.isInteger(iterations) || iterations < 1) {
      throw new Error(`bad server-first: ${text}`);
    }
    // Normalize(password): NFKC is the part of SASLprep that matters for the passwords tests use.
    const salted = pbkdf2Sync(this.password.normalize("NFKC"), Buffer.from(salt, "base64"), iterations, 32, "sha256");
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const withoutProof = `c=${Buffer.from(this.gs2Header, "utf8").toString("base64")},r=${combined}`;
    const authMessage = `${this.#clientFirstBare},${text},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!)).toString("base64");
    this.#serverSignature = hmac(hmac(salted, "Server Key"), authMessage);
    this.lastFinal = { withoutProof, proof };
    return Buffer.from(`${withoutProof},p=${proof}`, "utf8");
  }

  /** True iff the server-final-message proves the server knows ServerKey. */
  verifyServerFinal(buf: Buffer): boolean {
    const text = buf.toString("utf8");
    if (this.#serverSignature === undefined || !text.startsWith("v=")) return false;
    return Buffer.from(text.slice(2), "base64").equals(this.#serverSignature);
  }
}
