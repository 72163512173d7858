// framesOf: how one coalesced write becomes the frames of one WebSocket message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { framesOf } from "../../../src/transport/ws/index.ts";

test("ws framesOf: small chunks are joined up to 64 KB per frame, a large chunk is a frame of its own, uncopied", () => {
  const small = Array.from({ length: 1500 }, (_, i) => Buffer.alloc(100, i % 251)); // 150,000 bytes of 100 B
  const big = Buffer.alloc(32 * 1024, 7);
  const frames = framesOf([...small.slice(0, 1000), big, ...small.slice(1000)]);
  assert.deepEqual(
    frames.map((f) => f.length),
    [65_600, 34_400, 32_768, 50_000],
  );
  assert.equal(frames[2], big, "the large chunk is not copied");
  assert.ok(Buffer.concat(frames).equals(Buffer.concat([...small.slice(0, 1000), big, ...small.slice(1000)])));
});
