// The `overload` section of the config: backpressure marks, the stall limit and the slow-consumer policy
// (BrokerOptions.overload; src/broker/backpressure.ts; docs/configuration.md "overload"). Its own module so that
// other sections' changes do not touch it.
import { DEFAULT_OVERLOAD_OPTIONS } from "../../broker/backpressure.ts";
import { int, object, refine } from "./schema.ts";

const o = DEFAULT_OVERLOAD_OPTIONS;
const GIB = 1024 * 1024 * 1024;

export const overloadSchema = refine(
  object({
    highWaterBytes: int({ min: 1, max: GIB, default: o.highWaterBytes }),
    lowWaterBytes: int({ min: 0, max: GIB, default: o.lowWaterBytes }),
    highWaterMessages: int({ min: 1, max: 10_000_000, default: o.highWaterMessages }),
    lowWaterMessages: int({ min: 0, max: 10_000_000, default: o.lowWaterMessages }),
    stallLimitMs: int({ min: 0, max: 3_600_000, default: o.stallLimitMs }),
    slowConsumerDisconnectMs: int({ min: 0, max: 86_400_000, default: o.slowConsumerDisconnectMs }),
  }),
  (v, path, issues) => {
    const at = (key: string): string => (path === "" ? key : `${path}.${key}`);
    if (v.lowWaterBytes > v.highWaterBytes) {
      issues.push({
        path: at("lowWaterBytes"),
        message: `expected at most highWaterBytes (${v.highWaterBytes}), got ${v.lowWaterBytes}`,
        value: v.lowWaterBytes,
      });
    }
    if (v.lowWaterMessages > v.highWaterMessages) {
      issues.push({
        path: at("lowWaterMessages"),
        message: `expected at most highWaterMessages (${v.highWaterMessages}), got ${v.lowWaterMessages}`,
        value: v.lowWaterMessages,
      });
    }
    if (v.slowConsumerDisconnectMs !== 0 && v.slowConsumerDisconnectMs < v.stallLimitMs) {
      issues.push({
        path: at("slowConsumerDisconnectMs"),
        message: `expected 0 (never) or at least stallLimitMs (${v.stallLimitMs}), got ${v.slowConsumerDisconnectMs}`,
        value: v.slowConsumerDisconnectMs,
      });
    }
  },
);
