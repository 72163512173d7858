"""User Properties through the broker: a paho publisher sends PUBLISHes with repeated and unicode keys; a paho
subscriber reports what it received, in wire order ([MQTT-3.3.2-17] [MQTT-3.3.2-18])."""
from v5_common import Collector, PacketTypes, Properties, connect, emit, parser, subscribe, unique

args = parser(__doc__).parse_args()
topic = unique("wharf-e2e/paho-userprops")
sent = [["k", "1"], ["a", "x"], ["k", "2"], ["\u00e9t\u00e9", "\u2603"], ["empty", ""], ["k", "3"]]

sub = connect(args, unique("paho-sub"))
inbox = Collector(sub)
subscribe(sub, topic, qos=1)
pub = connect(args, unique("paho-pub"))
for qos in (0, 1, 2):
    props = Properties(PacketTypes.PUBLISH)
    for k, v in sent:
        props.UserProperty = (k, v)
    pub.publish(topic, "qos%d" % qos, qos=qos, properties=props).wait_for_publish(5)
received = inbox.wait(3)
for c in (pub, sub):
    c.disconnect()
    c.loop_stop()
emit({"sent": sent, "received": [{"payload": m["payload"], "userProperties": m["userProperties"]} for m in received]})
