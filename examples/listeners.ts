// A broker embedded in a TypeScript program, with an MQTT listener on an ephemeral port and LMDB storage.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker, type BrokerConfigInput, type WharfBroker } from "wharfmq";

const dataDir = mkdtempSync(join(tmpdir(), "wharf-example-"));
const options: BrokerConfigInput = {
  listeners: [{ host: "127.0.0.1", port: 0 }],
  storage: { type: "lmdb", dataDir },
};
const broker: WharfBroker = await createBroker(options);
const [tcp] = broker.listeners;
console.log(`listening: ${tcp !== undefined && tcp.port > 0 ? "yes" : "no"}, storage: ${broker.config.storage.type}`);
await broker.close();
rmSync(dataDir, { recursive: true, force: true });

// prints: listening: yes, storage: lmdb
