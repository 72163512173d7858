export * from "./cluster-router.ts";
export * from "./frame-types.ts";
export * from "./interest.ts";
export * from "./message-codec.ts";
