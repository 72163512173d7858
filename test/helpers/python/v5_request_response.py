"""Request/response with paho: a requester publishes with Response Topic and Correlation Data; a responder answers
on the Response Topic echoing the Correlation Data; both report what they saw ([MQTT-3.3.2-15] [MQTT-3.3.2-16])."""
import threading

from v5_common import Collector, PacketTypes, Properties, connect, emit, parser, subscribe, unique

args = parser(__doc__).parse_args()
req_topic = unique("wharf-e2e/paho-req")
resp_topic = unique("wharf-e2e/paho-resp")
correlation = bytes([0, 1, 2, 0xFE, 0xFF]) + b"req-42"

responder = connect(args, unique("paho-responder"))
seen_requests = []
answered = threading.Event()


def on_request(client, _userdata, msg):
    p = msg.properties
    seen_requests.append({
        "payload": msg.payload.decode(),
        "responseTopic": getattr(p, "ResponseTopic", None),
        "correlationData": (getattr(p, "CorrelationData", b"") or b"").hex(),
    })
    out = Properties(PacketTypes.PUBLISH)
    out.CorrelationData = p.CorrelationData
    client.publish(p.ResponseTopic, "response to " + msg.payload.decode(), qos=1, properties=out)
    answered.set()


responder.on_message = on_request
subscribe(responder, req_topic, qos=1)

requester = connect(args, unique("paho-requester"))
inbox = Collector(requester)
subscribe(requester, resp_topic, qos=1)
props = Properties(PacketTypes.PUBLISH)
props.ResponseTopic = resp_topic
props.CorrelationData = correlation
requester.publish(req_topic, "ping", qos=1, properties=props).wait_for_publish(5)
answered.wait(5)
responses = inbox.wait(1)
for c in (requester, responder):
    c.disconnect()
    c.loop_stop()
emit({
    "responseTopic": resp_topic,
    "correlationData": correlation.hex(),
    "requests": seen_requests,
    "responses": responses,
})
