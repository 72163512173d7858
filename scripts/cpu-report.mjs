// Preloaded (`--import`) into the test runner and, through it, into every test file's process by scripts/test.mjs:
// at exit each one appends to $WHARF_CPU_LOG its own CPU seconds and those of the child processes it waited for
// (brokers, CLI runs, storage probes, npm, tsc, mosquitto…; /proc's cutime and cstime), so that `npm test` can say
// which test files the suite's CPU goes to. Linux only (/proc); elsewhere, or without the variable, it does nothing.
import { appendFileSync } from "node:fs";
import { selfCpuSeconds } from "./cpu-use.mjs";

const log = process.env["WHARF_CPU_LOG"];
if (log !== undefined && log !== "") {
  process.on("exit", () => {
    try {
      const { own, children } = selfCpuSeconds();
      appendFileSync(log, JSON.stringify({ file: process.argv[1] ?? "", own, children }) + "\n");
    } catch {
      // No /proc, or the log is gone: the figures are only informative.
    }
  });
}
