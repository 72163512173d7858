// The in-process API (docs/embedding.md): another face of the broker core, without a socket.
export { LocalBroker } from "./local-broker.ts";
export type { InprocMetrics, LocalBrokerOptions, MemoryUsage } from "./local-broker.ts";
export { InprocError, InprocErrorCode } from "./errors.ts";
export type { InprocErrorCodeValue } from "./errors.ts";
export { DEFAULT_PRIORITY, PRIORITY_PROPERTY, Priority } from "./priority.ts";
export { DEAD_LETTER_PREFIX, DeadLetterProperty } from "./dead-letters.ts";
export type { DeadLetterStats, DeadLetters } from "./dead-letters.ts";
export { Transaction, TransactionState } from "./transaction.ts";
export type { TransactionOptions, TransactionStateValue } from "./transaction.ts";
export type * from "./types.ts";
