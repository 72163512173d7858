// The harness's small C load generators (bench/tools/*.c): compiled on first use with the system C compiler into a
// cache directory keyed by the source's hash (a changed source is rebuilt, concurrent harnesses never run a
// half-written binary). They inherit the harness's CPU affinity, so with pinning on they run on the generator's CPU.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const built = new Map<string, string>();

/** Path of the compiled tool for `source` (an absolute .c path); compiles it once per source version. */
export function cToolBinary(source: string, what: string): string {
  const known = built.get(source);
  if (known !== undefined) return known;
  const src = readFileSync(source);
  const hash = createHash("sha256").update(src).digest("hex").slice(0, 16);
  const dir = path.join(os.tmpdir(), "wharf-bench-tools");
  const bin = path.join(dir, `${path.basename(source, ".c")}-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    const cc = process.env.CC ?? "cc";
    try {
      execFileSync(cc, ["-O2", "-o", tmp, source], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (err) {
      throw new Error(
        `${what} needs a C compiler (${cc}: ${(err as Error).message.split("\n")[0]}); ` +
          "install gcc (apt-get install gcc) or set CC",
      );
    }
    renameSync(tmp, bin); // atomic
  }
  built.set(source, bin);
  return bin;
}
