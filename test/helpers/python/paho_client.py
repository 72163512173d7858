#!/usr/bin/python3
"""Scriptable paho-mqtt 1.6.1 client for Wharf's end-to-end tests.

Usage: paho_client.py '<json spec>'. The spec holds the connection settings and a list of steps; every event is
printed to stdout as one JSON object per line (flushed), so the Node test can follow along:
  {"event": "connack", "rc": 0, "session_present": 0}
  {"event": "suback", "granted": [1]}
  {"event": "message", "topic": "...", "payload": "...", "qos": 1, "retain": false, "dup": false}
  {"event": "published", "mid": 1}          (after PUBACK/PUBCOMP for QoS 1/2, at once for QoS 0)
  {"event": "disconnected", "rc": 0}
  {"event": "done"} / {"event": "error", "message": "..."}
Steps: {"subscribe": [["topic", qos], ...]}, {"publish": {"topic", "payload", "qos", "retain"}},
{"wait_messages": n, "timeout": s}, {"sleep": s}, {"disconnect": true}, {"hold": true} (until killed).
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def emit(event, **fields):
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main():
    spec = json.loads(sys.argv[1])
    protocol = {3: mqtt.MQTTv31, 4: mqtt.MQTTv311}[spec.get("protocol", 4)]
    client = mqtt.Client(
        client_id=spec.get("client_id", ""), clean_session=spec.get("clean", True), protocol=protocol
    )
    connected = threading.Event()
    subscribed = threading.Event()
    lock = threading.Lock()
    state = {"messages": 0, "rc": None}

    def on_connect(_c, _u, flags, rc):
        state["rc"] = rc
        emit("connack", rc=rc, session_present=flags.get("session present", 0))
        connected.set()

    def on_subscribe(_c, _u, _mid, granted):
        emit("suback", granted=list(granted))
        subscribed.set()

    def on_message(_c, _u, msg):
        with lock:
            state["messages"] += 1
        emit(
            "message",
            topic=msg.topic,
            payload=msg.payload.decode("latin-1"),
            qos=msg.qos,
            retain=bool(msg.retain),
            dup=bool(msg.dup),
        )

    def on_disconnect(_c, _u, rc):
        emit("disconnected", rc=rc)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    will = spec.get("will")
    if will:
        client.will_set(will["topic"], will.get("payload", ""), will.get("qos", 0), will.get("retain", False))
    if spec.get("username") is not None:
        client.username_pw_set(spec["username"], spec.get("password"))
    tls = spec.get("tls")
    if tls:
        client.tls_set(ca_certs=tls["ca"], certfile=tls.get("cert"), keyfile=tls.get("key"))
    client.connect(spec.get("host", "127.0.0.1"), spec["port"], spec.get("keepalive", 60))
    client.loop_start()
    if not connected.wait(10):
        emit("error", message="no CONNACK")
        return 1
    if state["rc"] != 0:
        client.loop_stop()
        emit("done")
        return 0

    for step in spec.get("steps", []):
        if "subscribe" in step:
            subscribed.clear()
            client.subscribe([(t, q) for t, q in step["subscribe"]])
            if not subscribed.wait(10):
                emit("error", message="no SUBACK")
                return 1
        elif "publish" in step:
            p = step["publish"]
            info = client.publish(p["topic"], p.get("payload", ""), p.get("qos", 0), p.get("retain", False))
            info.wait_for_publish(10)
            emit("published", mid=info.mid)
        elif "wait_messages" in step:
            deadline = time.time() + step.get("timeout", 10)
            while time.time() < deadline:
                with lock:
                    if state["messages"] >= step["wait_messages"]:
                        break
                time.sleep(0.01)
        elif "sleep" in step:
            time.sleep(step["sleep"])
        elif "disconnect" in step:
            client.disconnect()
        elif "hold" in step:
            while True:
                time.sleep(1)
    time.sleep(0.05)
    client.loop_stop()
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
