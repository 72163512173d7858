// `wharf start`: load the config, start the server, shut down gracefully on SIGINT/SIGTERM.
import {
  ConfigError,
  createLogger,
  loadConfig,
  startServer,
  TlsConfigError,
  type WharfConfig,
} from "../server/index.ts";
import { StorageError } from "../storage/index.ts";
import { PasswordFileError } from "../server/auth/index.ts";
import { reportConfigError } from "./check-config.ts";
import { startOverrides, type StartFlags } from "./flags.ts";
import { ExitCode, type ActionResult, type CliIo } from "./program.ts";
import { exitOnSignals, processHooks } from "./shutdown.ts";

export async function start(flags: StartFlags, io: CliIo): Promise<ActionResult> {
  let config: WharfConfig;
  try {
    config = loadConfig(flags.config, startOverrides(flags));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${reportConfigError(err)}\n`);
    return ExitCode.BadConfig;
  }
  const logger = createLogger(config.log);
  const overrides = startOverrides(flags);
  const starting = startServer(config, {
    logger,
    overrides,
    ...(flags.config === undefined ? {} : { configFile: flags.config }),
    // The server stopped itself: its store failed (disk full, I/O error). Say so plainly and exit non-zero.
    onStorageFailure: (error) => {
      io.err(`wharf: ${error.message}\n`);
      processHooks.exit(ExitCode.Failure);
    },
  });
  // Handlers go in before the "listening" line is logged: whoever waits for that line to send
  // a signal must never hit the default (immediate death) action.
  exitOnSignals(async () => (await starting).close(), logger);
  try {
    const server = await starting;
    // SIGHUP: reload the config file and re-read TLS certificates (renewals) without dropping connections (as
    // POST /api/v1/config/reload does); the outcome is logged, and an invalid file changes nothing.
    // Without a config file there is nothing to reload, but renewed certificates are still re-read.
    process.on("SIGHUP", () => {
      if (flags.config === undefined) server.reloadCertificates();
      else void server.reload();
    });
    return "running";
  } catch (err) {
    logger.error({ err }, "could not start");
    // A data directory that cannot be used is the operator's to fix: say plainly which one and how (the
    // message names the path and the remedy). Never a silent empty start.
    if (err instanceof StorageError || err instanceof PasswordFileError || err instanceof TlsConfigError) {
      io.err(`wharf: ${err.message}\n`);
    }
    return ExitCode.Failure;
  }
}
