export * from "./errors.ts";
export * from "./validate.ts";
export * from "./match.ts";
export * from "./subscription-index.ts";
