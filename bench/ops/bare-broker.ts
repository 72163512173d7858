// The `bare` variant of `npm run bench:ops` ("zero cost when disabled"): the broker core and its TCP listener,
// started without the server composition (src/server startServer). Nothing of operations exists in this process:
// no prom-client registry, no webhook dispatcher, no event-seam listeners, no tracer, no management server, no
// config reloader. Compared with `off` (`wharf start` with `management.enabled: false` and no webhook or tracing),
// it shows what the disabled operations wiring costs. What both still contain: the core's seams (one `tracer` field
// read per PUBLISH, `hasSubscribers` reads of the event channels, one field check per delivery), which cannot be
// compiled out. Usage: node --import tsx bench/ops/bare-broker.ts <port>
import { Broker } from "../../src/broker/index.ts";
import { createLogger, toBrokerOptions, toStorageOptions, validateConfig } from "../../src/server/index.ts";
import { startListeners, type StartedListener } from "../../src/server/listeners.ts";
import { openStorage } from "../../src/storage/index.ts";
import { systemClock } from "../../src/util/clock.ts";

const port = Number(process.argv[2]);
const config = validateConfig({
  listeners: [{ host: "127.0.0.1", port }],
  storage: { type: "memory" },
  log: { level: "warn" },
  sys: { interval: 0 },
});
const logger = createLogger(config.log);
const clock = systemClock;
const storage = await openStorage({ ...toStorageOptions(config.storage), clock, logger });
const broker = new Broker(toBrokerOptions(config), { clock, logger, storage });
const listeners: StartedListener[] = [];
await startListeners({ broker, logger, clock, maxPacketSize: config.mqtt.maxPacketSize }, config.listeners, listeners);

const stop = async (): Promise<void> => {
  await Promise.allSettled(listeners.map((l) => l.close()));
  await broker.close();
  await storage.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
console.log(`bare broker listening on ${listeners.map((l) => l.port).join(",")}`);
