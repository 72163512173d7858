// Enhanced authentication (MQTT 5.0 section 4.12): the authenticator interface and the SCRAM-SHA-256 method.
export * from "./authenticator.ts";
export * from "./scram.ts";
export { saslPrep } from "./saslprep.ts";
