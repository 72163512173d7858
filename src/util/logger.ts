// Minimal structured-logger interface the inner layers log through. pino's Logger satisfies it;
// the server builds a pino logger and hands it down, tests pass `silentLogger`.

export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
  /** Whether a line at `level` would be written (pino has it); absent = assume it would. Lets callers skip work. */
  isLevelEnabled?(level: string): boolean;
}

const noop: LogFn = () => undefined;

export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};
