// The inter-node frame codec: any chunking of a stream decodes to the same frames; impossible lengths are refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterErrorCode, FrameDecoder, encodeFrame } from "../../../src/cluster/index.ts";

function frames(n: number): { type: number; body: Buffer }[] {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ type: 16 + (i % 200), body: Buffer.alloc((i * 37) % 3000, i & 0xff) });
  return out;
}

test("frames decode the same under every chunking of the stream", () => {
  const sent = frames(300);
  const stream = Buffer.concat(sent.map((f) => encodeFrame(f.type, f.body)));
  for (const maxChunk of [1, 2, 3, 5, 7, 64, 1000, 4096, stream.length]) {
    const got: { type: number; body: Buffer }[] = [];
    const d = new FrameDecoder((type, body) => got.push({ type, body: Buffer.from(body) }));
    let seed = maxChunk;
    for (let off = 0; off < stream.length;) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = 1 + (seed % maxChunk);
      d.push(stream.subarray(off, off + n));
      off += n;
    }
    assert.equal(got.length, sent.length, `chunks of up to ${maxChunk}`);
    got.forEach((g, i) => {
      assert.equal(g.type, sent[i]!.type);
      assert.ok(g.body.equals(sent[i]!.body));
    });
    assert.equal(d.buffered, 0);
  }
});

test("a frame in one chunk is a zero-copy slice of it", () => {
  const chunk = encodeFrame(20, Buffer.from("hello"));
  let body: Buffer | undefined;
  new FrameDecoder((_t, b) => (body = b)).push(chunk);
  assert.equal(body!.buffer, chunk.buffer);
});

test("a length of 0 or beyond the maximum is refused: not a frame stream", () => {
  const zero = Buffer.from([0, 0, 0, 0, 1]);
  assert.throws(
    () => new FrameDecoder(() => {}).push(zero),
    (e: Error & { code?: string }) => e.code === ClusterErrorCode.BadFrame,
  );
  const http = Buffer.from("GET / HTTP/1.1\r\n\r\n");
  assert.throws(
    () => new FrameDecoder(() => {}, 1024).push(http),
    (e: Error & { code?: string }) => e.code === ClusterErrorCode.BadFrame,
  );
  // Refused as soon as the header is in, before the body arrives (no buffering of a huge claimed frame).
  const d = new FrameDecoder(() => {}, 1024);
  d.push(Buffer.from([0, 0]));
  assert.throws(() => d.push(Buffer.from([0x10, 0, 1])));
});

test("after a frame split across chunks, the next chunk's other frames are still zero-copy slices of it", () => {
  const a = encodeFrame(20, Buffer.alloc(100, 1));
  const b = encodeFrame(21, Buffer.alloc(50, 2));
  const c = encodeFrame(22, Buffer.alloc(30, 3));
  const stream = Buffer.concat([a, b, c]);
  const second = Buffer.alloc(stream.length - 60); // not from the shared pool: its own ArrayBuffer
  stream.copy(second, 0, 60); // the end of a, then b and c whole
  const got: { type: number; body: Buffer }[] = [];
  const d = new FrameDecoder((type, body) => got.push({ type, body }));
  d.push(Buffer.from(stream.subarray(0, 60)));
  d.push(second);
  assert.deepEqual(
    got.map((g) => [g.type, g.body.length]),
    [
      [20, 100],
      [21, 50],
      [22, 30],
    ],
  );
  assert.notEqual(got[0]!.body.buffer, second.buffer, "the split frame was joined");
  assert.equal(got[1]!.body.buffer, second.buffer, "b is a slice of the chunk, not a copy");
  assert.equal(got[2]!.body.buffer, second.buffer);
});
