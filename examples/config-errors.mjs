// createBroker validates its options with the YAML config's schema: every problem, by path, in one ConfigError.
import { createBroker, ConfigError } from "wharfmq";

try {
  await createBroker({ listeners: [{ port: 70000 }], storage: { type: "sqlite" } });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.log(err.code);
  for (const issue of err.errors) console.log(`${issue.path}: ${issue.message}`);
}

// No listeners, memory storage: a purely in-process broker.
const broker = await createBroker();
console.log(`listeners: ${broker.listeners.length}, storage: ${broker.config.storage.type}`);
await broker.close();

// prints: CONFIG_INVALID
// prints: listeners[0].port: expected an integer 0..65535, got 70000
// prints: storage.type: expected one of "lmdb", "memory", got "sqlite"
// prints: listeners: 0, storage: memory
