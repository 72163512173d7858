// The benchmark's throwaway TLS material: one EC P-256 CA and a server certificate for localhost / 127.0.0.1,
// generated with openssl into a directory. Every broker of a run gets the same certificate (issue 13: compare
// TLS with the same key type and chain).
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface BenchPki {
  /** Paths of the PEM files. */
  ca: string;
  cert: string;
  key: string;
  /** The CA certificate itself, for clients. */
  caPem: Buffer;
}

export function makeCert(dir: string): BenchPki {
  const sh = (args: string[]): void => void execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  sh(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Bench CA"]);
  sh(["req", "-new", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  writeFileSync(join(dir, "server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  const x509 = ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
  sh([...x509, "-days", "2", "-extfile", "server.ext", "-out", "server.pem"]);
  // Mosquitto started as root drops to the mosquitto user: it must be able to read them (a throwaway test key).
  chmodSync(dir, 0o755);
  for (const f of ["ca.pem", "server.pem", "server.key"]) chmodSync(join(dir, f), 0o644);
  const ca = join(dir, "ca.pem");
  return { ca, cert: join(dir, "server.pem"), key: join(dir, "server.key"), caPem: readFileSync(ca) };
}
