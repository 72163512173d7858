#!/usr/bin/env node
// `npm run lint` and `npm test`'s lint step: oxlint over the repository with .oxlintrc.jsonc, its type-aware rules
// included (oxlint-tsgolint builds its own typescript-go program, so the lint does not wait for the typecheck's).
// Prints the CPU seconds it took, oxlint and tsgolint included: on two cores every CPU second of `npm test` is about
// half a second of its wall time, and this step replaced a typed ESLint pass of 26-29 s (docs/benchmarks.md).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { selfCpuSeconds } from "./cpu-use.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const oxlint = join(root, "node_modules", "oxlint", "bin", "oxlint");
// --deny-warnings: every rule is an error, so a warning can only come from a rule set to "warn" by mistake.
const args = [oxlint, "--type-aware", "--deny-warnings", ...process.argv.slice(2)];
const t0 = performance.now();
const result = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
if (result.error) throw result.error;
const secs = (performance.now() - t0) / 1000;
let cpu = "";
try {
  cpu = `, ${selfCpuSeconds().children.toFixed(1)} s of CPU`; // oxlint and tsgolint, reaped
} catch {
  // no /proc: the time alone
}
const ok = result.status === 0;
console.log(`[lint] oxlint: ${ok ? "ok" : "FAILED"} in ${secs.toFixed(1)} s${cpu}`);
process.exit(result.status ?? 1);
