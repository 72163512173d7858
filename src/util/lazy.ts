// Optional dependencies loaded on first use. `wharf start` used to load every package any feature might need
// (undici for webhooks and HTTP auth, jose for JWT, argon2 for password files, pino-pretty, yaml, ws, the
// OpenTelemetry API…): 20-90 ms of CPU each, about half of a start's 0.55 s of CPU, for features most
// configurations leave off. A feature now loads its package when it is first used.
import { createRequire } from "node:module";

/**
 * `load` (an `import()`) run once, on the first call; later calls return the same promise. For code that is
 * already asynchronous where the package is needed (an HTTP request, a listener start).
 */
export function lazyImport<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}

const requireHere = createRequire(import.meta.url);

/**
 * A CommonJS package `require`d on the first call, for synchronous code (config parsing, logger setup). `T` is
 * the package's type: `lazyRequire<typeof import("yaml")>("yaml")`.
 */
export function lazyRequire<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(name) as T);
}
