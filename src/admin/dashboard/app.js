// Wharf dashboard: plain ES module, no framework. Talks to /api/v1 with the admin token kept in sessionStorage
// (gone when the tab closes). Polls every 2 s while a view is open.
import { MqttWs } from "./mqtt-ws.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
const HISTORY = 150; // 5 minutes of 2 s samples
let token = sessionStorage.getItem("wharf-token") ?? "";
let view = "overview";
let timer;
let last;
const series = { in: [], out: [], conns: [] };
let mqtt;

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.error?.message ?? res.statusText), { status: res.status });
  return body;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function draw(canvas, lines, colors) {
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...lines.flat());
  ctx.font = "12px system-ui";
  ctx.fillStyle = "#888";
  ctx.fillText(String(Math.round(max)), 4, 12);
  lines.forEach((pts, k) => {
    ctx.strokeStyle = colors[k];
    ctx.beginPath();
    pts.forEach((v, i) => {
      const x = (i / (HISTORY - 1)) * w;
      const y = h - (v / max) * (h - 16);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  });
}

function push(arr, v) {
  arr.push(v);
  if (arr.length > HISTORY) arr.shift();
}

const views = {
  async overview() {
    const info = await api("/api/v1/broker");
    const s = info.stats;
    const now = Date.now();
    if (last) {
      const dt = (now - last.t) / 1000;
      push(series.in, (s.messagesReceived - last.s.messagesReceived) / dt);
      push(series.out, (s.messagesSent - last.s.messagesSent) / dt);
    }
    push(series.conns, s.clientsConnected);
    last = { t: now, s };
    const cards = [
      ["Connected clients", s.clientsConnected],
      ["Sessions", s.clientsTotal],
      ["Subscriptions", s.subscriptions],
      ["Retained", s.retained],
      ["Messages in", s.messagesReceived],
      ["Messages out", s.messagesSent],
      ["Queued", s.queued],
      ["In flight", s.inflight],
      ["Dropped", s.droppedQos0 + s.queueRejected],
      ["Uptime (s)", s.uptime],
    ];
    const dl = $("cards");
    dl.replaceChildren(
      ...cards.map(([k, v]) => {
        const div = document.createElement("div");
        const dt = document.createElement("dt");
        const dd = document.createElement("dd");
        dt.textContent = k;
        dd.textContent = String(v);
        div.append(dt, dd);
        return div;
      }),
    );
    const css = getComputedStyle(document.documentElement);
    draw($("chart-throughput"), [series.in, series.out], [css.getPropertyValue("--in"), css.getPropertyValue("--out")]);
    draw($("chart-connections"), [series.conns], [css.getPropertyValue("--in")]);
  },
  async clients() {
    const prefix = $("clients-prefix").value;
    const page = await api(`/api/v1/clients?limit=200${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ""}`);
    const body = $("clients-body");
    body.replaceChildren();
    for (const c of page.items) {
      const row = body.insertRow();
      row.dataset.clientId = c.clientId;
      cell(row, c.clientId);
      cell(row, c.username);
      cell(row, c.protocolVersion === 5 ? "5.0" : c.protocolVersion === 4 ? "3.1.1" : "3.1");
      cell(row, c.remoteAddress);
      cell(row, String(c.subscriptions));
      cell(row, String(c.queued));
      cell(row, String(c.inflight));
      cell(row, "").append(
        button(`Disconnect`, async () => {
          await api(`/api/v1/clients/${encodeURIComponent(c.clientId)}/disconnect`, { method: "POST" });
          refresh();
        }),
      );
    }
    $("clients-total").textContent = `${page.total} connected`;
  },
  async subscriptions() {
    const page = await api("/api/v1/subscriptions?limit=500");
    const body = $("subs-body");
    body.replaceChildren();
    for (const s of page.items) {
      const row = body.insertRow();
      cell(row, s.clientId);
      cell(row, s.filter);
      cell(row, String(s.qos));
      cell(row, s.shareGroup);
    }
    $("subs-total").textContent = `${page.total} subscriptions`;
  },
  async retained() {
    const filter = $("retained-filter").value || "#";
    const page = await api(`/api/v1/retained?limit=200&filter=${encodeURIComponent(filter)}`);
    const body = $("retained-body");
    body.replaceChildren();
    for (const m of page.items) {
      const row = body.insertRow();
      cell(row, m.topic);
      cell(row, String(m.qos));
      cell(row, String(m.payloadSize));
      cell(row, m.payload ?? `(binary) ${m.payloadBase64.slice(0, 40)}`, "payload");
      cell(row, "").append(
        button("Delete", async () => {
          await api(`/api/v1/retained/${encodeURIComponent(m.topic)}`, { method: "DELETE" });
          refresh();
        }),
      );
    }
    $("retained-total").textContent = `${page.total} retained messages`;
  },
  async queues() {
    const page = await api("/api/v1/queues?limit=500");
    const body = $("queues-body");
    body.replaceChildren();
    for (const q of page.items) {
      const row = body.insertRow();
      row.dataset.queue = q.name;
      cell(row, q.name);
      cell(row, q.type);
      cell(row, String(q.depth), "num");
      cell(row, String(q.inflight), "num");
      cell(row, q.dlq ? `${q.dlqDepth} (${q.dlq})` : "-", "num");
      cell(row, String(q.groups.reduce((n, g) => n + g.consumers.length, 0)), "num");
      cell(row, String(q.counters.published), "num");
      cell(row, String(q.counters.acked), "num");
      const actions = cell(row, "");
      if (q.dlqDepth > 0) {
        const b = button("Redrive DLQ", async () => {
          b.disabled = true;
          try {
            const r = await api(`/api/v1/queues/${encodeURIComponent(q.name)}/redrive`, { method: "POST" });
            $("queues-status").textContent = `Moved ${r.moved} dead letters back to ${q.name}.`;
          } catch (err) {
            $("queues-status").textContent = `Redrive of ${q.name} failed: ${err.message}`;
          }
          refresh();
        });
        b.setAttribute("aria-label", `Redrive the dead letters of ${q.name}`);
        actions.append(b);
      }
    }
    $("queues-total").textContent = `${page.total} queues`;
  },
  async webhooks() {
    const { items } = await api("/api/v1/webhooks");
    const body = $("webhooks-body");
    body.replaceChildren();
    for (const w of items) {
      const row = body.insertRow();
      cell(row, w.name);
      cell(row, w.url);
      cell(row, w.breaker);
      cell(row, String(w.buffered));
      cell(row, String(w.delivered));
      cell(
        row,
        Object.entries(w.dropped)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k}: ${n}`)
          .join(", ") || "0",
      );
    }
  },
  async tester() {
    if (mqtt) return;
    const info = await api("/api/v1/broker");
    const ws = info.listeners.find((l) => l.type === "ws" || l.type === "wss");
    if (!ws) {
      $("tester-status").textContent =
        "No WebSocket listener is configured: the topic tester needs one (listeners[].type: ws).";
      return;
    }
    const host = ws.host === "0.0.0.0" || ws.host === "::" ? location.hostname : ws.host;
    const url = `${ws.type}://${host.includes(":") ? `[${host}]` : host}:${ws.port}${ws.path ?? "/mqtt"}`;
    mqtt = new MqttWs(url, `wharf-dashboard-${Math.random().toString(36).slice(2, 10)}`);
    mqtt.onmessage = (topic, payload, retain) => {
      const li = document.createElement("li");
      li.textContent = `${topic}${retain ? " (retained)" : ""}: ${payload}`;
      $("tester-log").prepend(li);
    };
    mqtt.onclose = () => {
      mqtt = undefined;
      $("tester-status").textContent = "Disconnected.";
    };
    try {
      await mqtt.ready;
      $("tester-status").textContent = `Connected to ${url}`;
    } catch (err) {
      $("tester-status").textContent = `Could not connect to ${url}: ${err.message}`;
      mqtt = undefined;
    }
  },
};

async function refresh() {
  clearTimeout(timer);
  try {
    await views[view]();
  } catch (err) {
    if (err.status === 401 || err.status === 403) return logout(err.message);
  }
  timer = setTimeout(refresh, POLL_MS);
}

function show(name) {
  view = name;
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== name;
  for (const b of document.querySelectorAll("#nav [data-view]")) {
    if (b.dataset.view === name) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  refresh();
}

function logout(message = "") {
  clearTimeout(timer);
  token = "";
  sessionStorage.removeItem("wharf-token");
  mqtt?.close();
  $("nav").hidden = true;
  for (const s of document.querySelectorAll(".view")) s.hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
}

async function login(candidate) {
  token = candidate;
  try {
    await api("/api/v1/broker");
  } catch (err) {
    return logout(err.message);
  }
  sessionStorage.setItem("wharf-token", token);
  $("login").hidden = true;
  $("nav").hidden = false;
  show(view);
}

// Table headers come from each table's data-columns ("A|B|"; an empty name is an actions column, named for screen
// readers only), so index.html states each table's columns once.
for (const table of document.querySelectorAll("table[data-columns]")) {
  const row = table.createTHead().insertRow();
  for (const name of table.dataset.columns.split("|")) {
    const th = document.createElement("th");
    th.scope = "col";
    if (name) th.textContent = name;
    else th.append(Object.assign(document.createElement("span"), { className: "sr-only", textContent: "Actions" }));
    row.append(th);
  }
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  login($("token").value.trim());
});
$("logout").addEventListener("click", () => logout());
for (const b of document.querySelectorAll("#nav [data-view]")) b.addEventListener("click", () => show(b.dataset.view));
$("clients-prefix").addEventListener("input", () => refresh());
$("retained-filter").addEventListener("change", () => refresh());
$("tester-sub").addEventListener("submit", (e) => {
  e.preventDefault();
  mqtt?.subscribe($("tester-filter").value);
});
$("tester-pub").addEventListener("submit", (e) => {
  e.preventDefault();
  mqtt?.publish($("tester-topic").value, $("tester-payload").value, $("tester-retain").checked);
});
if (token) login(token);
