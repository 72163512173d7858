// The config's enumerations that the command line offers as flag choices (`wharf start --log-level …`), in a module
// of their own: src/cli/program.ts, which every `wharf` command loads, takes them from here instead of the config's
// index, which loads the whole schema (the broker's options, auth, queues and overload schemas: ~80 compiled
// modules, ~0.06 s of CPU of a `wharf --version`'s ~0.13 s, 2026-12-07).
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "silent"] as const;
export const LOG_FORMATS = ["auto", "json", "pretty"] as const;
export const STORAGE_TYPES = ["lmdb", "memory"] as const;
