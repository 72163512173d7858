export * from "./types.ts";
export * from "./reason-codes.ts";
export * from "./errors.ts";
