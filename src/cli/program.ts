// The `wharf` command line: commands, flags, help. Actions are injected so that parsing and
// exit codes are unit-testable without starting a server.
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
// The flag choices alone: the config index loads the whole schema (see choices.ts).
import { LOG_FORMATS, LOG_LEVELS, STORAGE_TYPES } from "../server/config/choices.ts";
import { addAdminCommands } from "./admin.ts";
import type { StartFlags } from "./flags.ts";

/** `wharf queues` flags (src/cli/queues.ts). */
export interface QueuesFlags {
  /** Management API (either one selects it over the control socket). */
  url?: string;
  token?: string;
  dataDir?: string;
  socket?: string;
  limit?: string;
  json?: boolean;
}

/** Process exit codes. */
export const ExitCode = {
  Ok: 0,
  /** Runtime failure: e.g. a listener could not bind, or shutdown failed. */
  Failure: 1,
  /** Bad usage or bad configuration (`check-config` uses 1 for an invalid file, see below). */
  BadConfig: 2,
} as const;

/** What an action resolves to: an exit code, or "running" (the server keeps the process alive). */
export type ActionResult = number | "running";

export interface CliActions {
  start(flags: StartFlags): Promise<ActionResult>;
  checkConfig(file: string, opts: { print: boolean }): Promise<ActionResult>;
  /** `wharf passwd` (src/cli/passwd.ts); optional so that tests of other commands need not provide it. */
  passwd?(file: string, user: string, opts: { delete: boolean; passwordStdin: boolean }): Promise<ActionResult>;
  /** `wharf queues` (src/cli/queues.ts); optional like passwd. */
  queues?(action: string, queue: string | undefined, flags: QueuesFlags): Promise<ActionResult>;
}

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  const version = typeof pkg === "object" && pkg !== null && "version" in pkg ? pkg.version : undefined;
  return typeof version === "string" ? version : "0.0.0";
}

/** `--port`: digits only here; the range is checked with the rest of the config. */
function parsePort(value: string): number {
  if (!/^\d{1,10}$/.test(value)) throw new InvalidArgumentError("expected an integer 0..65535.");
  return Number(value);
}

export function buildProgram(actions: CliActions, io: CliIo, onResult: (r: ActionResult) => void): Command {
  const program = new Command("wharf")
    .description("Wharf: an MQTT 3.1 / 3.1.1 / 5.0 broker")
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show help")
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  program
    .command("start")
    .description("run the broker (config: defaults <- --config file <- flags)")
    .addOption(new Option("-c, --config <file>", "YAML config file (see docs/configuration.md)").env("WHARF_CONFIG"))
    .option("--host <host>", "listen address of the first listener (config: listeners[0].host)")
    .option("-p, --port <port>", "port of the first listener; 0 = any free port (listeners[0].port)", parsePort)
    .addOption(new Option("--log-level <level>", "log level (log.level)").choices(LOG_LEVELS).env("WHARF_LOG_LEVEL"))
    .addOption(
      new Option("--log-format <format>", "auto: pretty on a terminal, else JSON (log.format)")
        .choices(LOG_FORMATS)
        .env("WHARF_LOG_FORMAT"),
    )
    .addOption(new Option("--storage <type>", "session/retained state store (storage.type)").choices(STORAGE_TYPES))
    .option("--data-dir <dir>", "directory of persistent state (storage.dataDir)")
    .option(
      "--management-port <port>",
      "port of the management HTTP server; 0 = any free port (management.port)",
      parsePort,
    )
    .action(async (flags: StartFlags) => onResult(await actions.start(flags)));

  program
    .command("check-config")
    .description("validate a config file: prints every error and exits 1 if it is invalid")
    .argument("<file>", "YAML config file")
    .option("--print", "print the effective config (defaults filled in) as YAML")
    .action(async (file: string, opts: { print?: boolean }) =>
      onResult(await actions.checkConfig(file, { print: opts.print === true })),
    );

  program
    .command("passwd")
    .description("add or change a user of an argon2id password file (auth.passwordFile), or delete it with -D")
    .argument("<file>", "password file (created if missing)")
    .argument("<user>", "user name")
    .option("-D, --delete", "delete the user")
    .option("--password-stdin", "read the password from standard input instead of prompting")
    .action(async (file: string, user: string, opts: { delete?: boolean; passwordStdin?: boolean }) => {
      if (actions.passwd === undefined) throw new Error("passwd is not available");
      onResult(
        await actions.passwd(file, user, { delete: opts.delete === true, passwordStdin: opts.passwordStdin === true }),
      );
    });

  addAdminCommands(program, io, onResult);
  program
    .command("queues")
    .description(
      "manage the durable queues of a running broker: ls | stats <queue> | purge <queue> | redrive <queue> | delete <queue>",
    )
    .argument("<action>", "ls, stats, purge, redrive or delete")
    .argument("[queue]", "queue name (redrive: the queue or its DLQ)")
    .option("--data-dir <dir>", "the broker's data directory (its control socket is <dir>/control.sock)", "./data")
    .option("--socket <path>", "the control socket itself")
    .addOption(
      new Option("--url <url>", "use the management API at this URL instead of the control socket").env("WHARF_URL"),
    )
    .addOption(
      new Option("--token <token>", "admin token for the management API (default URL http://127.0.0.1:8080)").env(
        "WHARF_TOKEN",
      ),
    )
    .option("--limit <n>", "redrive: at most n messages")
    .option("--json", "JSON output")
    .action(async (action: string, queue: string | undefined, flags: QueuesFlags) => {
      if (actions.queues === undefined) throw new Error("queues is not available");
      onResult(await actions.queues(action, queue, flags));
    });

  return program;
}

/**
 * Parses `args` (without node and script) and runs the chosen action. `npm start` already
 * passes `start`, so a repeated `start` (`npm start -- start --port 1`) is tolerated.
 */
export async function runCli(args: readonly string[], actions: CliActions, io: CliIo = stdio): Promise<ActionResult> {
  const argv = args[0] === "start" && args[1] === "start" ? args.slice(1) : [...args];
  let result: ActionResult = ExitCode.Ok;
  const program = buildProgram(actions, io, (r) => {
    result = r;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    // --help / --version end with exit code 0; every parse error (unknown flag, bad value, …) is
    // a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.BadConfig;
    throw err;
  }
  return result;
}
