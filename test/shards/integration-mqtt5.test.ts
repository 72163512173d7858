// Integration group "mqtt5" of test/shards/integration.json: see shard.ts for why these files share a process.
import { runIntegrationGroup } from "./shard.ts";

await runIntegrationGroup("mqtt5");
