// Entry point of the `wharf` command (bin/wharf.js runs its bundle, `npm start` this one through tsx).
// Each command's module is loaded when the command runs: `wharf status` or `wharf --version` need neither the
// broker nor its storage, and loading everything took 0.6 s of CPU per invocation.
import { runCli, stdio, type CliActions } from "./program.ts";

const actions: CliActions = {
  start: async (flags) => (await import("./start.ts")).start(flags, stdio),
  checkConfig: async (file, opts) => (await import("./check-config.ts")).checkConfig(file, opts, stdio),
  passwd: async (file, user, opts) => (await import("./passwd.ts")).passwd(file, user, opts, stdio),
  queues: async (action, queue, flags) => (await import("./queues.ts")).queuesCommand(action, queue, flags, stdio),
};

// No top-level await: the shipped bundle is one CommonJS file (scripts/bundle-cli.mjs, for V8's code cache).
// Exit by setting the code, not process.exit(): pending output is written first. "running"
// leaves the server (and its signal handlers) in charge. A rejection stays unhandled: Node prints it and exits 1.
void runCli(process.argv.slice(2), actions).then((result) => {
  if (result !== "running") process.exitCode = result;
});
