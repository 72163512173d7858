export * from "./clock.ts";
export * from "./logger.ts";
export * from "./token-bucket.ts";
export * from "./semaphore.ts";
export * from "./log-limiter.ts";
export * from "./errors.ts";
export * from "./limits.ts";
export * from "./fifo.ts";
