// Unit-test shard 1 of 2: see shard.ts for why the unit tests share a process.
import { runShard } from "./shard.ts";

await runShard(1, 2);
