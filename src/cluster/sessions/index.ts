export * from "./ownership.ts";
export * from "./frames.ts";
export * from "./registry.ts";
