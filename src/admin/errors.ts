// Errors of the management API: every one is answered as JSON `{ error: { code, message } }` with a stable
// `code` (docs/operations.md lists them) and the HTTP status that goes with it.

export const AdminErrorCode = {
  /** No or wrong bearer token. */
  Unauthorized: "UNAUTHORIZED",
  /** No admin token is configured: the admin API is closed until one is (`management.tokens`). */
  NoTokensConfigured: "NO_ADMIN_TOKENS",
  NotFound: "NOT_FOUND",
  MethodNotAllowed: "METHOD_NOT_ALLOWED",
  BadRequest: "BAD_REQUEST",
  PayloadTooLarge: "PAYLOAD_TOO_LARGE",
  /** The resource is in a state that refuses the call (e.g. deleting a queue that still has consumers). */
  Conflict: "CONFLICT",
  /** The config file did not validate: nothing was changed. */
  ConfigInvalid: "CONFIG_INVALID",
  /** A feature the running broker does not have (e.g. reload without a config file). */
  Unavailable: "UNAVAILABLE",
  Internal: "INTERNAL",
} as const;
export type AdminErrorCodeValue = (typeof AdminErrorCode)[keyof typeof AdminErrorCode];

const STATUS: Record<AdminErrorCodeValue, number> = {
  UNAUTHORIZED: 401,
  NO_ADMIN_TOKENS: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BAD_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  CONFLICT: 409,
  CONFIG_INVALID: 422,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export class AdminError extends Error {
  override readonly name = "AdminError";
  readonly code: AdminErrorCodeValue;
  readonly status: number;
  /** Extra machine-readable detail (e.g. the config issues of a rejected reload). */
  readonly details: unknown;

  constructor(code: AdminErrorCodeValue, message: string, details?: unknown) {
    super(message);
    this.code = code;
    this.status = STATUS[code];
    this.details = details;
  }
}

export function notFound(what: string): AdminError {
  return new AdminError(AdminErrorCode.NotFound, `${what} not found`);
}

export function badRequest(message: string): AdminError {
  return new AdminError(AdminErrorCode.BadRequest, message);
}
