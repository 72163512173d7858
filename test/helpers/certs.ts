// Test certificates, generated at test time with openssl (EC P-256: fast to make and to handshake). Nothing here
// is committed: every call writes into a fresh temporary directory removed after the test.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** CA certificate file. */
  ca: string;
  caKey: string;
  /** A leaf certificate signed by this CA (`san` like "DNS:localhost,IP:127.0.0.1,email:a@b"). */
  issue(name: string, opts?: { cn?: string; san?: string; days?: number; passphrase?: string }): CertFiles;
  read(file: string): Buffer;
  /** TLS options for a client that trusts this CA (server name "localhost") and, when given, presents `issued`. */
  client(issued?: CertFiles): { ca: Buffer; servername: string; cert?: Buffer; key?: Buffer };
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A fresh CA in a temporary directory; `t.after` removes it. */
export function makePki(t: { after(fn: () => void): void }, caName = "Wharf Test CA"): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "wharf-pki-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  openssl(
    ["req", "-x509", ...ec, "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", `/CN=${caName}`],
    dir,
  );
  return {
    dir,
    ca: join(dir, "ca.pem"),
    caKey: join(dir, "ca.key"),
    issue(name, opts = {}) {
      const key = join(dir, `${name}.key`);
      const cert = join(dir, `${name}.pem`);
      openssl(
        ["req", "-new", ...ec, "-nodes", "-keyout", key, "-out", `${name}.csr`, "-subj", `/CN=${opts.cn ?? name}`],
        dir,
      );
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        opts.san === undefined
          ? "basicConstraints=CA:FALSE\n"
          : `basicConstraints=CA:FALSE\nsubjectAltName=${opts.san}\n`,
      );
      const days = String(opts.days ?? 2);
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `${name}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-CAcreateserial",
          "-days",
          days,
          "-out",
          cert,
          "-extfile",
          ext,
        ],
        dir,
      );
      if (opts.passphrase !== undefined) {
        const encrypted = join(dir, `${name}.enc.key`);
        openssl(["pkey", "-in", key, "-out", encrypted, "-aes256", "-passout", `pass:${opts.passphrase}`], dir);
        return { cert, key: encrypted };
      }
      return { cert, key };
    },
    read: (file) => readFileSync(file),
    client: (issued) => ({
      ca: readFileSync(join(dir, "ca.pem")),
      servername: "localhost",
      ...(issued === undefined ? {} : { cert: readFileSync(issued.cert), key: readFileSync(issued.key) }),
    }),
  };
}
