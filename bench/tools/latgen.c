/*
 * latgen: the fixed-rate latency generator (issue #10). One single-threaded epoll process in C holds the QoS 1
 * publishers and the subscriber, so the figure has no generator garbage collection, JIT or JS timers in it: the
 * Node generator's own event loop stalled for 2-8 ms at p99 on the busy dev VM, which lands in whichever broker's
 * p99 is being measured (bench/lib/loop-probe.ts measures that for the Node path).
 *
 * Built by the harness (bench/lib/latgen.ts) with `cc -O2`; it talks MQTT with its own packets, independent of
 * Wharf's codec.
 *
 *   latgen <host> <port> <protocol 4|5> <id prefix> <publishers> <rate msg/s> <warmup ms> <window ms>
 *          <drain max ms> <payload bytes> <in-flight per publisher> <samples file>
 *
 * Connects one subscriber (clean session, SUBSCRIBE bench/latency at QoS 1) and <publishers> publishers. A
 * timerfd ticks every 1 ms; on each tick every publisher writes the PUBLISHes (QoS 1, 100 B) due at its share of
 * <rate> since the start, at most <in-flight> unacknowledged. Each payload carries its stream (publisher), its
 * sequence number and CLOCK_MONOTONIC at the write. The subscriber PUBACKs everything it read in one write per
 * read. Latency = receive time - send time of each message SENT inside the window (after the warm-up), written
 * to <samples file> as float64 pairs (send time on CLOCK_MONOTONIC, latency; ms), in arrival order. After the window publishing stops and the tool waits (up to
 * <drain max ms>) until every message arrived and every PUBACK came back, so late messages stay in the tail.
 *
 * Prints "window open" and "window closed" as the window opens and closes (the harness reads the broker's CPU
 * over the same span), then one JSON line: counts (sent, delivered inside the window, lost, duplicates, reordered), the tool's own
 * CPU over the window (getrusage), and how late its 1 ms ticks fired (p99 / max, ms): a late tick means this
 * process itself was not running, i.e. its CPU was taken, and such a stall delays the reading of deliveries too.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TOPIC "bench/latency"
#define MAX_PUBS 64
#define RBUF (256 * 1024)

typedef struct {
  int fd;
  /* Unsent output (a write the kernel did not take whole): sent on EPOLLOUT. */
  unsigned char *out;
  size_t outLen, outCap;
  /* Partial input (a packet split across reads). */
  unsigned char *in;
  size_t inLen;
  int inflight;
  uint16_t nextPid;
  uint64_t sent;
} conn_t;

static int protocol;
static char errbuf[256];

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *msg) {
  printf("{\"error\":\"%s\"}\n", msg);
  exit(1);
}

static size_t varint(unsigned char *p, size_t n) {
  size_t i = 0;
  do {
    unsigned char b = n % 128;
    n /= 128;
    if (n > 0) b |= 0x80;
    p[i++] = b;
  } while (n > 0);
  return i;
}

/* Blocking write of a whole buffer (setup only). */
static void writeAll(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

/* Blocking read of one packet (setup only): returns its type; body in buf. */
static int readPacket(int fd, unsigned char *buf, size_t cap, size_t *len) {
  unsigned char h;
  if (read(fd, &h, 1) != 1) fail("broker closed during setup");
  size_t n = 0, mul = 1;
  for (int i = 0; i < 4; i++) {
    unsigned char b;
    if (read(fd, &b, 1) != 1) fail("broker closed during setup");
    n += (b & 127) * mul;
    mul *= 128;
    if (!(b & 128)) break;
  }
  if (n > cap) fail("setup packet too large");
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) fail("broker closed during setup");
    got += (size_t)r;
  }
  *len = n;
  return h >> 4;
}

static int dial(const char *host, int port, const char *clientId) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) fail("bad host");
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* CONNECT: clean session, keepalive 0, no will/credentials; 5.0 with Receive Maximum 1000 (as the Node client). */
  unsigned char body[256], pkt[300];
  size_t b = 0, idLen = strlen(clientId);
  const unsigned char head[] = {0, 4, 'M', 'Q', 'T', 'T', (unsigned char)protocol, 0x02, 0, 0};
  memcpy(body, head, sizeof head);
  b += sizeof head;
  if (protocol == 5) {
    const unsigned char props[] = {3, 0x21, 1000 >> 8, 1000 & 0xff};
    memcpy(body + b, props, sizeof props);
    b += sizeof props;
  }
  body[b++] = (unsigned char)(idLen >> 8);
  body[b++] = (unsigned char)idLen;
  memcpy(body + b, clientId, idLen);
  b += idLen;
  size_t p = 0;
  pkt[p++] = 0x10;
  p += varint(pkt + p, b);
  memcpy(pkt + p, body, b);
  writeAll(fd, pkt, p + b);
  unsigned char ack[256];
  size_t len;
  if (readPacket(fd, ack, sizeof ack, &len) != 2 || len < 2) fail("no CONNACK");
  if (ack[1] != 0) {
    snprintf(errbuf, sizeof errbuf, "CONNACK refused 0x%02x", ack[1]);
    fail(errbuf);
  }
  return fd;
}

static void subscribe(int fd) {
  unsigned char pkt[64];
  size_t topicLen = strlen(TOPIC), body = 2 + (protocol == 5 ? 1 : 0) + 2 + topicLen + 1, p = 0;
  pkt[p++] = 0x82;
  p += varint(pkt + p, body);
  pkt[p++] = 0;
  pkt[p++] = 1; /* packet id 1 */
  if (protocol == 5) pkt[p++] = 0;
  pkt[p++] = 0;
  pkt[p++] = (unsigned char)topicLen;
  memcpy(pkt + p, TOPIC, topicLen);
  p += topicLen;
  pkt[p++] = 1; /* QoS 1 */
  writeAll(fd, pkt, p);
  unsigned char ack[64];
  size_t len;
  if (readPacket(fd, ack, sizeof ack, &len) != 9) fail("no SUBACK");
  if (ack[len - 1] != 1) fail("SUBACK did not grant QoS 1");
}

static void setNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void append(conn_t *c, const unsigned char *p, size_t n) {
  if (c->outLen + n > c->outCap) {
    c->outCap = (c->outLen + n) * 2;
    c->out = realloc(c->out, c->outCap);
    if (!c->out) fail("out of memory");
  }
  memcpy(c->out + c->outLen, p, n);
  c->outLen += n;
}

/* Writes what the kernel takes; the rest waits for EPOLLOUT. */
static void flushOut(int ep, conn_t *c) {
  size_t off = 0;
  while (off < c->outLen) {
    ssize_t w = write(c->fd, c->out + off, c->outLen - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      die("write");
    }
    off += (size_t)w;
  }
  memmove(c->out, c->out + off, c->outLen - off);
  c->outLen -= off;
  struct epoll_event ev = {.events = EPOLLIN | (c->outLen > 0 ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int cmpDouble(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 13) {
    fprintf(stderr, "usage: latgen host port protocol prefix publishers rate warmupMs windowMs drainMs payload "
                    "inflight samplesFile\n");
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  protocol = atoi(argv[3]);
  const char *prefix = argv[4];
  int npub = atoi(argv[5]);
  double rate = atof(argv[6]), warmupMs = atof(argv[7]), windowMs = atof(argv[8]), drainMs = atof(argv[9]);
  int payload = atoi(argv[10]), maxInflight = atoi(argv[11]);
  const char *samplesFile = argv[12];
  if (npub < 1 || npub > MAX_PUBS || payload < 16 || (protocol != 4 && protocol != 5)) fail("bad arguments");

  char id[128];
  snprintf(id, sizeof id, "%s-s0", prefix);
  conn_t sub = {.fd = dial(host, port, id)};
  subscribe(sub.fd);
  conn_t pubs[MAX_PUBS];
  memset(pubs, 0, sizeof pubs);
  for (int i = 0; i < npub; i++) {
    snprintf(id, sizeof id, "%s-p%d", prefix, i);
    pubs[i].fd = dial(host, port, id);
  }

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  setNonBlocking(sub.fd);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &sub};
  epoll_ctl(ep, EPOLL_CTL_ADD, sub.fd, &ev);
  for (int i = 0; i < npub; i++) {
    setNonBlocking(pubs[i].fd);
    ev.data.ptr = &pubs[i];
    epoll_ctl(ep, EPOLL_CTL_ADD, pubs[i].fd, &ev);
  }
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
  timerfd_settime(tfd, 0, &its, NULL);
  ev.data.ptr = NULL; /* the timer */
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

  /* PUBLISH template: 0x32 | remaining length | topic | packet id | (5.0: properties 0) | payload. */
  size_t topicLen = strlen(TOPIC);
  size_t rem = 2 + topicLen + 2 + (protocol == 5 ? 1 : 0) + (size_t)payload;
  unsigned char tmpl[512];
  size_t t = 0;
  tmpl[t++] = 0x32;
  t += varint(tmpl + t, rem);
  tmpl[t++] = 0;
  tmpl[t++] = (unsigned char)topicLen;
  memcpy(tmpl + t, TOPIC, topicLen);
  t += topicLen;
  size_t pidOff = t;
  t += 2;
  if (protocol == 5) tmpl[t++] = 0;
  size_t payOff = t;
  memset(tmpl + t, 'w', (size_t)payload);
  t += (size_t)payload;
  size_t pktLen = t;
  unsigned char *batch = malloc(pktLen * (size_t)(maxInflight + 1));

  /* Per stream: which sequence numbers arrived (a bitset sized for twice the planned messages). */
  uint64_t perStream = (uint64_t)(rate / npub * (warmupMs + windowMs) / 1000.0 * 2) + 10000;
  uint8_t *seen[MAX_PUBS];
  int64_t maxSeen[MAX_PUBS];
  for (int i = 0; i < npub; i++) {
    seen[i] = calloc(perStream / 8 + 1, 1);
    maxSeen[i] = -1;
  }
  size_t sampleCap = (size_t)(rate * windowMs / 1000.0 * 2) + 1000, nSamples = 0;
  double *samples = malloc(2 * sampleCap * sizeof(double));
  size_t lateCap = (size_t)(windowMs + 1000), nLate = 0;
  double *late = malloc(lateCap * sizeof(double));

  uint64_t delivered = 0, duplicates = 0, reordered = 0, deliveredInWindow = 0, sentInWindow = 0;
  uint64_t windowFullTicks = 0, totalSent = 0;
  double t0 = nowMs(), windowStart = t0 + warmupMs, windowEnd = windowStart + windowMs, lastTick = t0;
  double drainUntil = 0;
  int publishing = 1, inWindow = 0;
  struct rusage ru0, ru1;
  unsigned char *rbuf = malloc(RBUF);
  unsigned char *acks = malloc(RBUF);
  struct epoll_event events[MAX_PUBS + 2];

  for (;;) {
    int n = epoll_wait(ep, events, MAX_PUBS + 2, 50);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    double now = nowMs();
    if (publishing && !inWindow && now >= windowStart) {
      inWindow = 1;
      printf("window open\n"); /* the harness starts its broker CPU meter (and loop stats) on this line */
      fflush(stdout);
      getrusage(RUSAGE_SELF, &ru0);
      sentInWindow = totalSent;
      deliveredInWindow = delivered;
    }
    if (publishing && now >= windowEnd) {
      publishing = 0;
      getrusage(RUSAGE_SELF, &ru1);
      printf("window closed\n");
      fflush(stdout);
      sentInWindow = totalSent - sentInWindow;
      deliveredInWindow = delivered - deliveredInWindow;
      drainUntil = now + drainMs;
    }
    for (int e = 0; e < n; e++) {
      conn_t *c = events[e].data.ptr;
      if (c == NULL) {
        uint64_t exp;
        if (read(tfd, &exp, sizeof exp) < 0) continue;
        /* How late this tick ran past the previous one + 1 ms: time this process did not get to run. */
        if (inWindow && publishing && nLate < lateCap) late[nLate++] = now - lastTick - 1.0 > 0 ? now - lastTick - 1.0 : 0;
        lastTick = now;
        if (!publishing) continue;
        for (int i = 0; i < npub; i++) {
          conn_t *p = &pubs[i];
          int64_t due = (int64_t)((now - t0) * rate / npub / 1000.0) - (int64_t)p->sent;
          int64_t k = due;
          if (k > maxInflight - p->inflight) k = maxInflight - p->inflight;
          if (k < due) windowFullTicks++;
          if (k <= 0) continue;
          size_t off = 0;
          for (int64_t m = 0; m < k; m++) {
            unsigned char *q = batch + off;
            memcpy(q, tmpl, pktLen);
            uint16_t pid = p->nextPid = (uint16_t)(p->nextPid == 0xffff ? 1 : p->nextPid + 1);
            q[pidOff] = (unsigned char)(pid >> 8);
            q[pidOff + 1] = (unsigned char)pid;
            uint32_t stream = (uint32_t)i, seq = (uint32_t)p->sent++;
            memcpy(q + payOff, &stream, 4);
            memcpy(q + payOff + 4, &seq, 4);
            memcpy(q + payOff + 8, &now, 8);
            off += pktLen;
          }
          p->inflight += (int)k;
          totalSent += (uint64_t)k;
          append(p, batch, off);
          flushOut(ep, p);
        }
        continue;
      }
      if (events[e].events & EPOLLOUT) flushOut(ep, c);
      if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = read(c->fd, rbuf, RBUF);
      if (r == 0) fail("broker closed a connection");
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        die("read");
      }
      double at = nowMs();
      /* Leftover of the previous read + this one. */
      unsigned char *data = rbuf;
      size_t len = (size_t)r;
      if (c->inLen > 0) {
        c->in = realloc(c->in, c->inLen + len);
        memcpy(c->in + c->inLen, rbuf, len);
        data = c->in;
        len += c->inLen;
        c->inLen = 0;
      }
      size_t pos = 0, nAcks = 0;
      while (pos < len) {
        size_t hdr = 1, body = 0, mul = 1;
        int complete = 0;
        while (pos + hdr < len && hdr <= 4) {
          unsigned char b = data[pos + hdr++];
          body += (b & 127) * mul;
          mul *= 128;
          if (!(b & 128)) {
            complete = 1;
            break;
          }
        }
        if (!complete || pos + hdr + body > len) break;
        unsigned char type = data[pos] >> 4, *bp = data + pos + hdr;
        if (type == 3 && c == &sub) {
          int qos = (data[pos] >> 1) & 3;
          size_t q = 2 + ((size_t)bp[0] << 8 | bp[1]);
          uint16_t pid = 0;
          if (qos > 0) {
            pid = (uint16_t)(bp[q] << 8 | bp[q + 1]);
            q += 2;
          }
          if (protocol == 5) { /* skip the properties (a varint length) */
            size_t plen = 0, m2 = 1;
            unsigned char b;
            do {
              b = bp[q++];
              plen += (b & 127) * m2;
              m2 *= 128;
            } while (b & 128);
            q += plen;
          }
          uint32_t stream, seq;
          double sentAt;
          memcpy(&stream, bp + q, 4);
          memcpy(&seq, bp + q + 4, 4);
          memcpy(&sentAt, bp + q + 8, 8);
          if (stream < (uint32_t)npub && seq < perStream) {
            uint8_t bit = (uint8_t)(1u << (seq & 7));
            if (seen[stream][seq >> 3] & bit) {
              duplicates++;
            } else {
              seen[stream][seq >> 3] |= bit;
              delivered++;
              if ((int64_t)seq < maxSeen[stream]) reordered++;
              else maxSeen[stream] = seq;
              if (sentAt >= windowStart && sentAt < windowEnd && nSamples < sampleCap) {
                samples[2 * nSamples] = sentAt;
                samples[2 * nSamples++ + 1] = at - sentAt;
              }
            }
          }
          if (qos > 0) {
            unsigned char *a = acks + nAcks * 4;
            a[0] = 0x40;
            a[1] = 2;
            a[2] = (unsigned char)(pid >> 8);
            a[3] = (unsigned char)pid;
            if (++nAcks * 4 + 4 > RBUF) {
              append(c, acks, nAcks * 4);
              nAcks = 0;
            }
          }
        } else if (type == 4 && c != &sub) {
          c->inflight--;
        } else if (type == 14) {
          fail("broker sent DISCONNECT");
        }
        pos += hdr + body;
      }
      if (pos < len) { /* keep the partial packet */
        unsigned char *keep = malloc(len - pos);
        memcpy(keep, data + pos, len - pos);
        free(c->in);
        c->in = keep;
        c->inLen = len - pos;
      }
      if (nAcks > 0) append(c, acks, nAcks * 4);
      if (c->outLen > 0) flushOut(ep, c);
    }
    if (!publishing) {
      int pending = delivered < totalSent;
      for (int i = 0; i < npub; i++) pending |= pubs[i].inflight > 0;
      if (!pending || nowMs() >= drainUntil) break;
    }
  }

  FILE *f = fopen(samplesFile, "wb");
  if (!f) die("samples file");
  fwrite(samples, sizeof(double), 2 * nSamples, f);
  fclose(f);
  qsort(late, nLate, sizeof(double), cmpDouble);
  double lateP99 = nLate ? late[(size_t)(nLate * 0.99 + 0.5) >= nLate ? nLate - 1 : (size_t)(nLate * 0.99 + 0.5)] : 0;
  double lateMax = nLate ? late[nLate - 1] : 0;
  double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
               ((ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec)) / 1e6;
  int inflightLeft = 0;
  for (int i = 0; i < npub; i++) inflightLeft += pubs[i].inflight;
  uint64_t perPub[MAX_PUBS];
  printf("{\"sent\":%llu,\"delivered\":%llu,\"lost\":%llu,\"duplicates\":%llu,\"reordered\":%llu,"
         "\"sentInWindow\":%llu,\"deliveredInWindow\":%llu,\"windowMs\":%.3f,\"samples\":%zu,\"cpuSeconds\":%.6f,"
         "\"tickLateP99Ms\":%.4f,\"tickLateMaxMs\":%.4f,\"windowFullTicks\":%llu,\"unacked\":%d,\"perPublisher\":[",
         (unsigned long long)totalSent, (unsigned long long)delivered,
         (unsigned long long)(totalSent - delivered), (unsigned long long)duplicates, (unsigned long long)reordered,
         (unsigned long long)sentInWindow, (unsigned long long)deliveredInWindow, windowMs, nSamples, cpu, lateP99,
         lateMax, (unsigned long long)windowFullTicks, inflightLeft);
  for (int i = 0; i < npub; i++) {
    uint64_t got = 0;
    for (uint64_t s = 0; s < pubs[i].sent && s < perStream; s++) got += (seen[i][s >> 3] >> (s & 7)) & 1;
    perPub[i] = got;
    printf("%s{\"sent\":%llu,\"received\":%llu}", i ? "," : "", (unsigned long long)pubs[i].sent,
           (unsigned long long)perPub[i]);
  }
  printf("]}\n");
  /* DISCONNECT everyone. */
  const unsigned char disc[] = {0xe0, 0};
  for (int i = 0; i < npub; i++) (void)!write(pubs[i].fd, disc, 2);
  (void)!write(sub.fd, disc, 2);
  return 0;
}
