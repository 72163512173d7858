import { ReasonCode } from "../codec/reason-codes.ts";
import { WharfError } from "../util/errors.ts";

/** Stable machine-readable codes of storage errors. */
export const StorageErrorCode = {
  /** The data directory holds something that is not a readable Wharf store (garbage, truncated, foreign data). */
  Corrupt: "STORAGE_CORRUPT",
  /** The data directory cannot be used at all: not a directory, no permission, I/O error. */
  Unreadable: "STORAGE_UNREADABLE",
  /** Another process (or another store in this process) has the data directory open. */
  Locked: "STORAGE_LOCKED",
  /** The store was written by a newer Wharf with a schema this build does not know. */
  VersionUnsupported: "STORAGE_VERSION_UNSUPPORTED",
  /** A commit failed (disk full, I/O error). The in-memory view no longer matches the disk: stop the broker. */
  WriteFailed: "STORAGE_WRITE_FAILED",
  /** The store was used after close(). */
  Closed: "STORAGE_CLOSED",
  /** A caller bug: bad packet id, QoS, state, or a message id that was never stored or is already released. */
  InvalidArgument: "STORAGE_INVALID_ARGUMENT",
} as const;
export type StorageErrorCodeValue = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

/**
 * Every error the storage layer throws or rejects with. `path` is the data directory when one is involved;
 * `reasonCode` is what a 5.0 server reports to a client whose request failed because of it (Unspecified error:
 * the client did nothing wrong, so nothing more specific applies).
 */
export class StorageError extends WharfError<StorageErrorCodeValue> {
  override readonly name = "StorageError";
  declare readonly reasonCode: number;
  readonly path: string | undefined;

  constructor(code: StorageErrorCodeValue, message: string, options?: { path?: string; cause?: unknown }) {
    super(code, message, { reasonCode: ReasonCode.UnspecifiedError, cause: options?.cause });
    this.path = options?.path;
  }
}

/** STORAGE_CORRUPT naming the directory and what to do about it. */
export function corruptError(path: string | undefined, what: string, cause?: unknown): StorageError {
  const where = path === undefined ? "the in-memory store" : `data directory ${path}`;
  const advice =
    path === undefined
      ? ""
      : ` Stop the broker, move ${path} aside (or restore it from a backup) and start again; Wharf never replaces a damaged store with an empty one on its own.`;
  return new StorageError(
    StorageErrorCode.Corrupt,
    `storage: ${where} is damaged or not a Wharf store: ${what}.${advice}`,
    {
      path,
      cause,
    },
  );
}
