"""A paho client holding a Will with a Will Delay Interval and will properties. It prints {"ready": true} once
connected and then waits to be killed (SIGKILL: the broker sees a network failure, not a DISCONNECT)."""
import time

from v5_common import PacketTypes, Properties, connect, emit, parser

p = parser(__doc__)
p.add_argument("--client-id", required=True)
p.add_argument("--will-topic", required=True)
p.add_argument("--will-payload", default="gone")
p.add_argument("--will-delay", type=int, default=0)
p.add_argument("--session-expiry", type=int, default=0)
p.add_argument("--will-qos", type=int, default=1)
args = p.parse_args()

will_props = Properties(PacketTypes.WILLMESSAGE)
will_props.WillDelayInterval = args.will_delay
will_props.MessageExpiryInterval = 120
will_props.ContentType = "text/plain"
will_props.ResponseTopic = args.will_topic + "/reply"
will_props.CorrelationData = b"\x00will-corr"
will_props.PayloadFormatIndicator = 1
will_props.UserProperty = ("w", "1")
will_props.UserProperty = ("v", "2")
will_props.UserProperty = ("w", "3")
conn_props = Properties(PacketTypes.CONNECT)
conn_props.SessionExpiryInterval = args.session_expiry
client = connect(args, args.client_id, properties=conn_props, will={
    "topic": args.will_topic, "payload": args.will_payload, "qos": args.will_qos, "properties": will_props,
})
emit({"ready": True})
while True:
    time.sleep(60)
