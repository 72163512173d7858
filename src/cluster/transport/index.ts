export * from "./frame.ts";
export * from "./frame-types.ts";
export * from "./peer-link.ts";
export * from "./transport.ts";
export * from "./wire-buffer.ts";
