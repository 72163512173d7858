// Graceful shutdown on SIGINT/SIGTERM. Process hooks are injected so that the two-signal logic
// is unit-testable without sending real signals.
import type { Logger } from "../util/logger.ts";
import { ExitCode } from "./program.ts";

export interface ShutdownHooks {
  onSignal(signal: NodeJS.Signals, fn: (signal: NodeJS.Signals) => void): void;
  exit(code: number): void;
}

export const processHooks: ShutdownHooks = {
  onSignal: (signal, fn) => process.on(signal, fn),
  exit: (code) => process.exit(code),
};

/**
 * First SIGINT/SIGTERM: `close()` (stop accepting, close clients cleanly, flush), then exit 0
 * (1 if closing failed). A second signal while that is under way forces exit 1 at once.
 */
export function exitOnSignals(
  close: () => Promise<void>,
  logger: Logger,
  hooks: ShutdownHooks = processHooks,
  signals: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"],
): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, "second signal: forcing exit");
      hooks.exit(ExitCode.Failure);
      return;
    }
    stopping = true;
    logger.info({ signal }, "shutting down (send the signal again to force)");
    close().then(
      () => hooks.exit(ExitCode.Ok),
      (err: unknown) => {
        logger.error({ err }, "error while shutting down");
        hooks.exit(ExitCode.Failure);
      },
    );
  };
  for (const s of signals) hooks.onSignal(s, handler);
}
