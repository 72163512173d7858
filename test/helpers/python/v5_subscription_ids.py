"""Subscription Identifiers with paho: one client holds overlapping subscriptions with identifiers 7 (QoS 0) and
300000 (QoS 1) plus one without an identifier (QoS 0); reports every PUBLISH it gets for one message
([MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4])."""
import time

from v5_common import Collector, PacketTypes, Properties, connect, emit, parser, subscribe, unique

args = parser(__doc__).parse_args()
base = unique("wharf-e2e/paho-subids")
sub = connect(args, unique("paho-sub"))
inbox = Collector(sub)
codes = []
for flt, qos, ident in ((base + "/+", 0, 7), (base + "/#", 1, 300000), (base + "/a", 0, None)):
    props = None
    if ident is not None:
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = ident
    codes.append(subscribe(sub, flt, qos=qos, properties=props))
pub = connect(args, unique("paho-pub"))
pub.publish(base + "/a", "one", qos=2).wait_for_publish(5)
pub.publish(base + "/b/c", "two", qos=2).wait_for_publish(5)
inbox.wait(2)
time.sleep(0.5)  # any extra copy of the messages would arrive by now
for c in (pub, sub):
    c.disconnect()
    c.loop_stop()
emit({"suback": codes, "received": inbox.messages})
