// Protocol limits of MQTT (3.1.1 and 5.0), defined once. Every layer takes them from here rather than
// re-typing the numbers; configuration limits are expressed in terms of these.

/** Largest Remaining Length a 4-byte Variable Byte Integer can express [MQTT-2.2.3] / 5.0 §1.5.5. */
export const MAX_REMAINING_LENGTH = 268_435_455;

/** Largest whole packet: 1 byte fixed header + 4 length bytes + MAX_REMAINING_LENGTH [MQTT-2.1.4]. */
export const MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5; // 268,435,460

/**
 * Largest Two Byte Integer: the packet identifier range 1..65535 [MQTT-2.3.1-1], the byte length of a UTF-8
 * string or binary data field [MQTT-1.5.3], the keepalive in seconds, 5.0 Receive Maximum and Topic Alias Maximum.
 */
export const MAX_UINT16 = 65_535;

/** Largest packet identifier (they run 1..65535; 0 is not allowed [MQTT-2.3.1-1]). */
export const MAX_PACKET_ID = MAX_UINT16;

/** Longest UTF-8 encoded string / topic in bytes [MQTT-1.5.3] [MQTT-4.7.3-3]. */
export const MAX_STRING_BYTES = MAX_UINT16;

/** Largest Four Byte Integer: 5.0 Session Expiry Interval 0xFFFFFFFF means "never expires" (5.0 §3.1.2.11.2). */
export const MAX_UINT32 = 0xffff_ffff;
