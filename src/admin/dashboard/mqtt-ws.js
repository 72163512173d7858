// A minimal MQTT 3.1.1 client over WebSocket for the dashboard's topic tester: CONNECT, SUBSCRIBE and PUBLISH
// at QoS 0, PINGREQ every 30 s. About 100 lines instead of shipping a 300 KB client library to the browser.
const enc = new TextEncoder();
const dec = new TextDecoder();

function varint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s) {
  const b = enc.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function packet(type, flags, body) {
  return new Uint8Array([(type << 4) | flags, ...varint(body.length), ...body]);
}

export class MqttWs {
  constructor(url, clientId) {
    this.onmessage = () => {};
    this.onclose = () => {};
    this.nextId = 1;
    this.buf = new Uint8Array(0);
    this.ready = new Promise((resolve, reject) => {
      this.ws = new WebSocket(url, "mqtt");
      this.ws.binaryType = "arraybuffer";
      this.ws.onopen = () => {
        // protocol name, level 4, flags: clean session, keepalive 60 s
        const body = [...str("MQTT"), 4, 0x02, 0, 60, ...str(clientId)];
        this.ws.send(packet(1, 0, body));
      };
      this.ws.onerror = () => reject(new Error("WebSocket error"));
      this.ws.onclose = () => {
        clearInterval(this.ping);
        reject(new Error("closed"));
        this.onclose();
      };
      this.ws.onmessage = (e) => this.#data(new Uint8Array(e.data), resolve, reject);
    });
    this.ping = setInterval(() => this.ws.readyState === 1 && this.ws.send(new Uint8Array([0xc0, 0])), 30000);
  }

  #data(chunk, resolve, reject) {
    const all = new Uint8Array(this.buf.length + chunk.length);
    all.set(this.buf);
    all.set(chunk, this.buf.length);
    let off = 0;
    for (;;) {
      let len = 0;
      let mul = 1;
      let i = off + 1;
      for (;;) {
        if (i >= all.length) {
          this.buf = all.slice(off);
          return;
        }
        const b = all[i++];
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (i + len > all.length) {
        this.buf = all.slice(off);
        return;
      }
      const type = all[off] >> 4;
      const body = all.subarray(i, i + len);
      if (type === 2) {
        if (body[1] === 0) resolve();
        else reject(new Error(`CONNACK return code ${body[1]}`));
      } else if (type === 3) {
        const tlen = (body[0] << 8) | body[1];
        const topic = dec.decode(body.subarray(2, 2 + tlen));
        const qos = (all[off] >> 1) & 3;
        const start = 2 + tlen + (qos > 0 ? 2 : 0);
        this.onmessage(topic, dec.decode(body.subarray(start)), (all[off] & 1) === 1);
      }
      off = i + len;
    }
  }

  subscribe(filter) {
    const id = this.nextId++;
    this.ws.send(packet(8, 2, [id >> 8, id & 0xff, ...str(filter), 0]));
  }

  publish(topic, payload, retain) {
    this.ws.send(packet(3, retain ? 1 : 0, [...str(topic), ...enc.encode(payload)]));
  }

  close() {
    clearInterval(this.ping);
    if (this.ws.readyState === 1) this.ws.send(new Uint8Array([0xe0, 0]));
    this.ws.close();
  }
}
