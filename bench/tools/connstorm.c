/*
 * connstorm: the connection-storm load generator (issue #10). A single-threaded epoll client in C, so that the
 * generator costs far less CPU per connect than any broker it measures (the Node generator it replaces cost about as
 * much per connect as the broker, and saturated its core against Mosquitto at ~9k connects/s).
 *
 * Built by the harness (bench/scenarios/storm-tool.ts) with `cc -O2`; it talks MQTT with its own pre-encoded
 * packets, independent of Wharf's codec.
 *
 *   connstorm hold  <host> <port> <protocol 4|5> <id prefix> <connections> <concurrency>
 *     Opens <connections> connections, at most <concurrency> connecting at once. One "connect" = TCP connect +
 *     CONNECT (clean session, keepalive 60 s) + a successful CONNACK. Prints one JSON line, keeps the connections
 *     open until a line arrives on stdin (or stdin closes), then writes DISCONNECT on every one, closes them,
 *     prints a second JSON line and exits.
 *
 *   connstorm churn <host> <port> <protocol 4|5> <id prefix> <concurrency> <warmup ms> <window ms>
 *     Keeps <concurrency> connect cycles going for warmup + window: one cycle = TCP connect + CONNECT + successful
 *     CONNACK + DISCONNECT + the broker closing its side (EOF) + close. Counts the cycles completed inside the
 *     window. Prints one JSON line.
 *
 * Both print the tool's own CPU time (getrusage) over the measured phase, so the harness can show its headroom.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_FREE = 0, ST_CONNECTING, ST_AWAIT_CONNACK, ST_OPEN, ST_AWAIT_EOF };

typedef struct {
  int fd;
  int state;
  int got; /* CONNACK bytes read so far (first 4 matter) */
  unsigned char ack[4];
  long long started_ns;
} conn_t;

static struct sockaddr_in addr;
static int epfd;
static int protocol = 4;
static const char *prefix;
static long long errors = 0;
static char first_error[256] = "";
static const unsigned char disconnect_pkt[2] = {0xe0, 0x00};

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void note_error(const char *what, long long idx) {
  errors++;
  if (first_error[0] == '\0') snprintf(first_error, sizeof first_error, "connection %lld: %s", idx, what);
}

/* CONNECT: clean session / clean start, keepalive 60 s, client id <prefix>-c<n>; 5.0 with empty properties. */
static int encode_connect(unsigned char *buf, long long n) {
  char id[128];
  int idlen = snprintf(id, sizeof id, "%s-c%lld", prefix, n);
  int vh = 10 + (protocol == 5 ? 1 : 0);
  int rem = vh + 2 + idlen;
  int i = 0;
  buf[i++] = 0x10;
  if (rem < 128) {
    buf[i++] = (unsigned char)rem;
  } else {
    buf[i++] = (unsigned char)((rem & 0x7f) | 0x80);
    buf[i++] = (unsigned char)(rem >> 7);
  }
  static const unsigned char name[6] = {0, 4, 'M', 'Q', 'T', 'T'};
  memcpy(buf + i, name, 6);
  i += 6;
  buf[i++] = (unsigned char)protocol;
  buf[i++] = 0x02; /* clean session */
  buf[i++] = 0;
  buf[i++] = 60; /* keepalive */
  if (protocol == 5) buf[i++] = 0; /* property length */
  buf[i++] = (unsigned char)(idlen >> 8);
  buf[i++] = (unsigned char)idlen;
  memcpy(buf + i, id, idlen);
  return i + idlen;
}

static long long next_id = 0;

/*
 * Starts a connection in slot c: non-blocking connect, then CONNECT at once. On loopback the handshake usually
 * completes inside connect(), so the write succeeds and the socket waits for the CONNACK straight away; otherwise
 * (EAGAIN / ENOTCONN) it waits to become writable first. No TCP_NODELAY: the client writes its next packet only
 * after the broker answered, when nothing of its own is unacknowledged, so Nagle never holds it back. Kernel work
 * dominates this tool's CPU, so every syscall saved per connect is headroom.
 */
static int start_conn(conn_t *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    note_error(strerror(errno), next_id);
    return -1;
  }
  c->fd = fd;
  c->got = 0;
  c->started_ns = now_ns();
  int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  if (r < 0 && errno != EINPROGRESS) {
    note_error(strerror(errno), next_id);
    close(fd);
    c->fd = -1;
    return -1;
  }
  unsigned char buf[256];
  int n = encode_connect(buf, next_id);
  if (write(fd, buf, n) == n) {
    next_id++;
    c->state = ST_AWAIT_CONNACK;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
  }
  c->state = ST_CONNECTING;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

/* The connect completed: write CONNECT, wait for CONNACK. */
static int on_connected(conn_t *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    note_error(strerror(err), next_id);
    return -1;
  }
  unsigned char buf[256];
  int n = encode_connect(buf, next_id++);
  if (write(c->fd, buf, n) != n) {
    note_error("short CONNECT write", next_id);
    return -1;
  }
  c->state = ST_AWAIT_CONNACK;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  return 0;
}

/* Reads the CONNACK. Returns 1 when a successful one is complete, 0 for more to come, -1 on failure. */
static int on_connack(conn_t *c) {
  unsigned char buf[512];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n == 0) {
    note_error("closed by the broker before CONNACK", next_id);
    return -1;
  }
  if (n < 0) {
    if (errno == EAGAIN) return 0;
    note_error(strerror(errno), next_id);
    return -1;
  }
  for (ssize_t i = 0; i < n && c->got < 4; i++) c->ack[c->got++] = buf[i];
  if (c->got < 4) return 0;
  /* CONNACK: type 2; the return / reason code is the 4th byte in both 3.1.1 and 5.0. */
  if (c->ack[0] != 0x20 || c->ack[3] != 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "no successful CONNACK (got %02x%02x%02x%02x)", c->ack[0], c->ack[1], c->ack[2], c->ack[3]);
    note_error(msg, next_id);
    return -1;
  }
  return 1;
}

static void drop(conn_t *c) {
  if (c->fd >= 0) close(c->fd); /* close() also removes it from the epoll set */
  c->fd = -1;
  c->state = ST_FREE;
}

static void setup(const char *host, const char *port) {
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(port));
  inet_pton(AF_INET, host, &addr.sin_addr);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

static int hold(long long total, int concurrency) {
  conn_t *conns = calloc((size_t)total, sizeof(conn_t));
  for (long long i = 0; i < total; i++) conns[i].fd = -1;
  struct epoll_event evs[256];
  long long started = 0, done = 0, pending = 0;
  double cpu0 = cpu_seconds();
  long long t0 = now_ns();
  const long long deadline = t0 + 60LL * 1000000000LL;
  while (done < total && errors == 0) {
    while (pending < concurrency && started < total) {
      if (start_conn(&conns[started]) < 0) break;
      started++;
      pending++;
    }
    if (errors > 0 || now_ns() > deadline) break;
    int n = epoll_wait(epfd, evs, 256, 100);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      int r;
      if (c->state == ST_CONNECTING) {
        if (on_connected(c) < 0) drop(c);
        continue;
      }
      if (c->state == ST_AWAIT_CONNACK) {
        r = on_connack(c);
        if (r < 0) {
          drop(c);
          pending--;
        } else if (r == 1) {
          c->state = ST_OPEN;
          /* Idle from here on: no reader (the broker sends nothing to an idle 3.1.1 client). */
          epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
          pending--;
          done++;
        }
      } else if (c->state == ST_OPEN) {
        note_error("event on an idle connection", -1);
      }
    }
  }
  long long t1 = now_ns();
  double cpu1 = cpu_seconds();
  printf("{\"mode\":\"hold\",\"connected\":%lld,\"elapsedMs\":%.3f,\"cpuSeconds\":%.6f,\"errors\":%lld,\"firstError\":\"%s\"}\n",
         done, (t1 - t0) / 1e6, cpu1 - cpu0, errors, first_error);
  fflush(stdout);
  /* Hold until told (or stdin closes); then DISCONNECT everything and check the broker still had them open. */
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) line[0] = '\0';
  long long stillOpen = 0;
  for (long long i = 0; i < total; i++) {
    conn_t *c = &conns[i];
    if (c->state != ST_OPEN) {
      drop(c);
      continue;
    }
    /* A broker that dropped the idle connection has sent EOF: a non-blocking read tells. */
    unsigned char b[16];
    ssize_t r = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
    if (r < 0 && errno == EAGAIN) stillOpen++;
    if (write(c->fd, disconnect_pkt, 2) != 2) { /* already closed by the broker */
    }
    drop(c);
  }
  printf("{\"mode\":\"closed\",\"stillOpen\":%lld}\n", stillOpen);
  fflush(stdout);
  return 0;
}

static int churn(int concurrency, long long warmup_ms, long long window_ms) {
  conn_t *conns = calloc((size_t)concurrency, sizeof(conn_t));
  for (int i = 0; i < concurrency; i++) conns[i].fd = -1;
  struct epoll_event evs[256];
  long long t_start = now_ns();
  long long w0 = t_start + warmup_ms * 1000000LL, w1 = w0 + window_ms * 1000000LL;
  long long cycles = 0, in_window = 0, started = 0;
  double cpu_w0 = -1, cpu_w1 = -1;
  long long real_w0 = 0, real_w1 = 0;
  long long last_scan = t_start;
  long long errors_at_w0 = 0;
  for (int i = 0; i < concurrency; i++)
    if (start_conn(&conns[i]) == 0) started++;
  for (;;) {
    long long now = now_ns();
    if (cpu_w0 < 0 && now >= w0) {
      cpu_w0 = cpu_seconds();
      real_w0 = now;
      errors_at_w0 = errors;
    }
    if (now >= w1) {
      cpu_w1 = cpu_seconds();
      real_w1 = now;
      break;
    }
    if (errors > 1000) break;
    int n = epoll_wait(epfd, evs, 256, 50);
    now = now_ns();
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      int failed = 0;
      if (c->state == ST_CONNECTING) {
        if (on_connected(c) < 0) failed = 1;
      } else if (c->state == ST_AWAIT_CONNACK) {
        int r = on_connack(c);
        if (r < 0) failed = 1;
        else if (r == 1) {
          if (write(c->fd, disconnect_pkt, 2) != 2) failed = 1, note_error("DISCONNECT write failed", -1);
          else c->state = ST_AWAIT_EOF; /* still EPOLLIN: wait for the broker to close its side */
        }
      } else if (c->state == ST_AWAIT_EOF) {
        unsigned char b[64];
        ssize_t r = read(c->fd, b, sizeof b);
        if (r > 0 || (r < 0 && errno == EAGAIN)) continue; /* 5.0 brokers may send nothing; anything else ignored */
        if (r < 0 && errno != ECONNRESET) {
          note_error(strerror(errno), -1);
          failed = 1;
        } else {
          cycles++;
          if (now >= w0 && now < w1) in_window++;
          drop(c);
          if (start_conn(c) == 0) started++;
          continue;
        }
      }
      if (failed) {
        drop(c);
        if (start_conn(c) == 0) started++;
      }
    }
    /* A broker that never closes after DISCONNECT is an error, not a stall: give up on it after 5 s. */
    if (now - last_scan > 100000000LL) {
      last_scan = now;
      for (int i = 0; i < concurrency; i++) {
        conn_t *c = &conns[i];
        if (c->state != ST_FREE && now - c->started_ns > 5000000000LL) {
          note_error(c->state == ST_AWAIT_EOF ? "broker did not close after DISCONNECT within 5 s"
                                              : "no CONNACK within 5 s",
                     -1);
          drop(c);
          if (start_conn(c) == 0) started++;
        }
      }
    }
  }
  double secs = (real_w1 - real_w0) / 1e9;
  printf("{\"mode\":\"churn\",\"cycles\":%lld,\"inWindow\":%lld,\"windowMs\":%.3f,\"perSec\":%.1f,"
         "\"cpuSeconds\":%.6f,\"errors\":%lld,\"windowErrors\":%lld,\"firstError\":\"%s\"}\n",
         cycles, in_window, secs * 1000, in_window / secs, cpu_w1 - cpu_w0, errors, errors - errors_at_w0,
         first_error);
  fflush(stdout);
  for (int i = 0; i < concurrency; i++) drop(&conns[i]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: connstorm hold|churn ...\n");
    return 2;
  }
  if (strcmp(argv[1], "hold") == 0 && argc == 8) {
    setup(argv[2], argv[3]);
    protocol = atoi(argv[4]);
    prefix = argv[5];
    return hold(atoll(argv[6]), atoi(argv[7]));
  }
  if (strcmp(argv[1], "churn") == 0 && argc == 9) {
    setup(argv[2], argv[3]);
    protocol = atoi(argv[4]);
    prefix = argv[5];
    return churn(atoi(argv[6]), atoll(argv[7]), atoll(argv[8]));
  }
  fprintf(stderr, "usage: connstorm hold <host> <port> <4|5> <prefix> <connections> <concurrency>\n"
                  "       connstorm churn <host> <port> <4|5> <prefix> <concurrency> <warmup ms> <window ms>\n");
  return 2;
}
