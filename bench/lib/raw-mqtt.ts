// A minimal MQTT 3.1.1 client for the persist and queue benches: CONNECT, PUBLISH QoS 1 out, PUBACK in (or the
// reverse), over a raw socket with no library in the way, plus a growable latency sample buffer.
import net from "node:net";
import { varintBytes } from "./mqtt-packets.ts";

export function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

export function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varintBytes(body.length)]), body]);
}

export function connectPacket(clientId: string, clean: boolean): Buffer {
  return packet(0x10, Buffer.concat([str("MQTT"), Buffer.from([4, clean ? 0x02 : 0x00, 0, 0]), str(clientId)]));
}

/** Splits a byte stream into packets: (first byte, body) for each. */
export class Framer {
  #carry: Buffer | undefined;
  constructor(private readonly onPacket: (first: number, buf: Buffer, start: number, end: number) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#carry !== undefined) {
      buf = Buffer.concat([this.#carry, chunk]);
      this.#carry = undefined;
    }
    let p = 0;
    while (p < buf.length) {
      if (buf.length - p < 2) break;
      let len = 0;
      let mul = 1;
      let q = p + 1;
      let complete = false;
      while (q < buf.length && q < p + 5) {
        const b = buf[q++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || q + len > buf.length) break;
      this.onPacket(buf[p]!, buf, q, q + len);
      p = q + len;
    }
    if (p < buf.length) this.#carry = Buffer.from(buf.subarray(p));
  }
}

/** Connects (MQTT 3.1.1) and waits for CONNACK 0. */
export async function open(port: number, clientId: string, clean: boolean): Promise<net.Socket> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(connectPacket(clientId, clean));
  await new Promise<void>((resolve, reject) => {
    socket.once("data", (d: Buffer) =>
      d[0] === 0x20 && d[3] === 0 ? resolve() : reject(new Error(`${clientId}: CONNACK refused`)),
    );
  });
  return socket;
}

/** Latency samples in ms, growable. */
export class Samples {
  #a = new Float64Array(1 << 16);
  n = 0;
  add(v: number): void {
    if (this.n === this.#a.length) {
      const b = new Float64Array(this.#a.length * 2);
      b.set(this.#a);
      this.#a = b;
    }
    this.#a[this.n++] = v;
  }
  take(): Float64Array {
    return this.#a.slice(0, this.n);
  }
}

export async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
