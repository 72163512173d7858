// Unit-test shard 2 of 2: see shard.ts for why the unit tests share a process.
import { runShard } from "./shard.ts";

await runShard(2, 2);
