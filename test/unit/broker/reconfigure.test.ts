// Broker.reconfigure(): only the live options, validated, all or nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Broker, BrokerError, BrokerErrorCode, LIVE_OPTIONS } from "../../../src/broker/index.ts";
import type { LiveOptions } from "../../../src/broker/index.ts";
import { silentLogger } from "../../../src/util/index.ts";

const refused = (e: unknown) => e instanceof BrokerError && e.code === BrokerErrorCode.InvalidOption;

test("reconfigure changes live options; other options and bad values are refused and change nothing", async (t) => {
  const broker = new Broker({ maxInflight: 10 }, { logger: silentLogger });
  t.after(() => broker.close());
  broker.reconfigure({ maxInflight: 7, publishRate: { burst: 5, perSecond: 2 }, aclDefault: "deny" });
  assert.equal(broker.options.maxInflight, 7);
  assert.deepEqual(broker.options.publishRate, { burst: 5, perSecond: 2 });
  assert.equal(broker.options.aclDefault, "deny");
  const bad: unknown[] = [
    { maxInflight: 3, maxPacketSize: 100 },
    { maxInflight: 0 },
    { maxKeepAlive: 70_000 },
    { maxSessions: -1 },
    { publishRate: { burst: 0, perSecond: 1 } },
    { acl: "deny all" },
    { aclDefault: "maybe" },
    { aclReadMode: "read" },
  ];
  for (const changes of bad) {
    assert.throws(() => broker.reconfigure(changes as LiveOptions), refused, JSON.stringify(changes));
  }
  assert.equal(broker.options.maxInflight, 7, "nothing of a refused call applied");
  assert.ok(LIVE_OPTIONS.includes("acl"));
});
