// Integration group "cli" of test/shards/integration.json: see shard.ts for why these files share a process.
import { runIntegrationGroup } from "./shard.ts";

await runIntegrationGroup("cli");
