export * from "./errors.ts";
export * from "./load.ts";
export type { ConfigIssue, Schema } from "./schema.ts";
export * from "./wharf-config.ts";
export * from "./ops-config.ts";
export * from "./cluster.ts";
