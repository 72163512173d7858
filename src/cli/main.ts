// Entry point of the `wharf` command (bin/wharf.js and `npm start` run this file through tsx).
import { checkConfig } from "./check-config.ts";
import { runCli, stdio, type CliActions } from "./program.ts";
import { passwd } from "./passwd.ts";
import { queuesCommand } from "./queues.ts";
import { start } from "./start.ts";

const actions: CliActions = {
  start: (flags) => start(flags, stdio),
  checkConfig: (file, opts) => Promise.resolve(checkConfig(file, opts, stdio)),
  passwd: (file, user, opts) => passwd(file, user, opts, stdio),
  queues: (action, queue, flags) => queuesCommand(action, queue, flags, stdio),
};

const result = await runCli(process.argv.slice(2), actions);
// Exit by setting the code, not process.exit(): pending output is written first. "running"
// leaves the server (and its signal handlers) in charge.
if (result !== "running") process.exitCode = result;
