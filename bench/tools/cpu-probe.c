// A fixed piece of CPU work timed in this process's own CPU time (bench/lib/cpu-probe.ts runs it on the broker's CPU
// before and after each bench:ops round). Prints nanoseconds of CPU per iteration and a checksum (so the work cannot
// be optimised away). The work is a chain of dependent loads from a 256 KiB table (in L2, past L1) with integer
// arithmetic between them: the same iterations take longer when the CPU itself runs slower (another guest on the
// same physical core, a lower clock), which the guest's own accounting (steal time, load) does not show.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 20000000L;
  const uint32_t n = 1u << 16; /* 65,536 x 4 B = 256 KiB */
  uint32_t *t = malloc(n * sizeof *t);
  if (t == NULL || iters <= 0) return 2;
  uint32_t x = 2463534242u;
  for (uint32_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    t[i] = x;
  }
  uint32_t acc = 0, idx = 0;
  for (long i = 0; i < iters / 10; i++) idx = t[(idx + (uint32_t)i) & (n - 1)]; /* warm the table */
  double t0 = cpu_ns();
  for (long i = 0; i < iters; i++) {
    idx = t[(idx + (uint32_t)i) & (n - 1)];
    acc += idx * 2654435761u;
    acc ^= acc >> 15;
  }
  double t1 = cpu_ns();
  printf("%.4f %u\n", (t1 - t0) / (double)iters, acc ^ idx);
  free(t);
  return 0;
}
