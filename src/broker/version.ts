/** Broker version string, published on $SYS/broker/version. Keep in step with package.json. */
export const BROKER_VERSION = "0.1.0";
export const BROKER_NAME = "wharf";
