// How fast the machine runs right now, for bench:ops (bench/lib/cpu-probe.ts runs it before and after each round):
//   1. CPU speed: a fixed chain of dependent loads from a 256 KiB table (in L2, past L1) with integer arithmetic
//      between them, on the first CPU given, in ns of this process's CPU time per iteration;
//   2. the latency between the two CPUs given (broker's and load generator's): one cache line bounced between two
//      threads pinned to them, ns per round trip, the fastest of 200 batches of 1,000 (a batch during which either thread
//      was preempted by another process is many times slower and is not the figure). On a VM the two vCPUs share a core
//      complex (L3) or not, as the host schedules them, and may move: every message of a TCP benchmark crosses
//      between the two CPUs (socket buffers, wake-ups), so its cost per message moves with this latency.
// Prints "<ns per iteration> <ns per round trip> <checksum>".
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_ns(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static double l2_chain(long iters, uint32_t *checksum) {
  const uint32_t n = 1u << 16; /* 65,536 x 4 B = 256 KiB */
  uint32_t *t = malloc(n * sizeof *t);
  if (t == NULL) return -1;
  uint32_t x = 2463534242u;
  for (uint32_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    t[i] = x;
  }
  uint32_t acc = 0, idx = 0;
  for (long i = 0; i < iters / 10; i++) idx = t[(idx + (uint32_t)i) & (n - 1)]; /* warm the table */
  double t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  for (long i = 0; i < iters; i++) {
    idx = t[(idx + (uint32_t)i) & (n - 1)];
    acc += idx * 2654435761u;
    acc ^= acc >> 15;
  }
  double t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  *checksum = acc ^ idx;
  free(t);
  return (t1 - t0) / (double)iters;
}

enum { BATCHES = 200, TRIPS = 1000 };
static _Alignas(64) atomic_long line;
static int other_cpu;

static void *bounce_back(void *arg) {
  (void)arg;
  pin(other_cpu);
  for (long i = 0; i < (long)BATCHES * TRIPS; i++) {
    while (atomic_load_explicit(&line, memory_order_acquire) != 2 * i + 1) {
    }
    atomic_store_explicit(&line, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int cpu = argc > 1 ? atoi(argv[1]) : 0;
  other_cpu = argc > 2 ? atoi(argv[2]) : 1;
  long iters = argc > 3 ? atol(argv[3]) : 20000000L;
  pin(cpu);
  uint32_t checksum = 0;
  double per_iter = l2_chain(iters, &checksum);
  pthread_t t;
  if (pthread_create(&t, NULL, bounce_back, NULL) != 0) return 2;
  double best = 1e18;
  for (long b = 0; b < BATCHES; b++) {
    double t0 = clock_ns(CLOCK_MONOTONIC);
    for (long i = b * TRIPS; i < (b + 1) * TRIPS; i++) {
      atomic_store_explicit(&line, 2 * i + 1, memory_order_release);
      while (atomic_load_explicit(&line, memory_order_acquire) != 2 * i + 2) {
      }
    }
    double ns = (clock_ns(CLOCK_MONOTONIC) - t0) / TRIPS;
    if (ns < best) best = ns;
  }
  pthread_join(t, NULL);
  printf("%.4f %.1f %u\n", per_iter, best, checksum);
  return 0;
}
