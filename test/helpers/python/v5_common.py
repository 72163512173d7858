"""Shared plumbing of the paho-mqtt (1.6.1, MQTT 5.0) helpers of the MQTT 5.0 acceptance suite.

Each v5_*.py script takes --host/--port (and its own options), runs one scenario against the broker and prints one
JSON object on the last line of stdout, which test/integration/mqtt5/harness.ts (runPaho) parses.
"""
import argparse
import json
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["mqtt", "PacketTypes", "Properties", "parser", "connect", "subscribe", "emit", "Collector", "unique"]


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    return p


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def connect(args, client_id, clean_start=True, properties=None, will=None, timeout=5.0):
    """An MQTT 5.0 paho client, connected (CONNACK 0x00) with its network loop running in a thread."""
    client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    result = {}

    def on_connect(_client, _userdata, flags, reason_code, props):
        result["rc"] = reason_code
        result["flags"] = flags
        result["properties"] = props
        connected.set()

    client.on_connect = on_connect
    if will is not None:
        client.will_set(will["topic"], will["payload"], qos=will.get("qos", 0), retain=will.get("retain", False),
                        properties=will.get("properties"))
    client.connect(args.host, args.port, keepalive=30, clean_start=clean_start, properties=properties)
    client.loop_start()
    if not connected.wait(timeout):
        raise RuntimeError("no CONNACK within %.1f s" % timeout)
    if result["rc"] != 0:
        raise RuntimeError("connection refused: %s" % result["rc"])
    client.connack = result
    return client


def subscribe(client, topic, qos=1, properties=None, timeout=5.0):
    """Subscribes and waits for the SUBACK; returns the reason codes as ints."""
    done = threading.Event()
    codes = {}

    def on_subscribe(_client, _userdata, mid, reason_codes, _props):
        codes[mid] = [rc.value for rc in reason_codes]
        done.set()

    client.on_subscribe = on_subscribe
    _rc, mid = client.subscribe(topic, qos=qos, properties=properties)
    if not done.wait(timeout):
        raise RuntimeError("no SUBACK within %.1f s" % timeout)
    return codes.get(mid)


class Collector:
    """Records every message a client receives (topic, payload, properties as plain JSON)."""

    def __init__(self, client):
        self.messages = []
        self.cond = threading.Condition()
        client.on_message = self.on_message

    def on_message(self, _client, _userdata, msg):
        props = msg.properties
        entry = {
            "topic": msg.topic,
            "payload": msg.payload.decode("utf-8", "replace"),
            "qos": msg.qos,
            "retain": bool(msg.retain),
            "userProperties": [list(kv) for kv in getattr(props, "UserProperty", [])] if props else [],
            "subscriptionIdentifiers": list(getattr(props, "SubscriptionIdentifier", [])) if props else [],
            "responseTopic": getattr(props, "ResponseTopic", None) if props else None,
            "correlationData": (getattr(props, "CorrelationData", b"") or b"").hex() if props else "",
        }
        with self.cond:
            self.messages.append(entry)
            self.cond.notify_all()

    def wait(self, n, timeout=5.0):
        end = time.time() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = end - time.time()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.messages)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
