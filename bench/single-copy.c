/*
 * Is single copy (process_vm_readv, Linux's cross-memory attach) worth it on this machine? A child holds a
 * buffer; the parent reads it with process_vm_readv (one copy, the kernel walks and pins the pages), and, for
 * comparison, copies a buffer of its own with memcpy: the fragment path of transport/shm costs two such copies
 * (into the sender's fragment, out of it), the second usually from cache.
 *   cc -O2 -o /tmp/single-copy bench/single-copy.c && /tmp/single-copy 1 8 64     # sizes in MiB
 *   /tmp/single-copy 16K 64K 256K                                                  # or in KiB
 * Prints GB/s and µs per copy of each, the median of 5 rounds of 20 copies (2000 below 1 MiB).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MiB|KiB-K [...]\n", argv[0]);
    return 2;
  }
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    size_t n = (size_t)atoi(arg) << (arg[strlen(arg) - 1] == 'K' ? 10 : 20);
    int reps = n < (1u << 20) ? 2000 : 20;
    char *src = malloc(n), *dst = malloc(n);
    if (!src || !dst || n == 0) return 2;
    memset(src, 1, n);
    memset(dst, 0, n);
    pid_t child = fork();
    if (child == 0) {
      memset(src, 2, n); /* its own pages, not the parent's copy-on-write ones */
      pause();
      return 0;
    }
    usleep(200000);
    double cma[5], cpy[5];
    for (int r = 0; r < 5; r++) {
      double t0 = now();
      for (int i = 0; i < reps; i++) {
        struct iovec local = {dst, n}, remote = {src, n};
        if (process_vm_readv(child, &local, 1, &remote, 1, 0) != (ssize_t)n) {
          fprintf(stderr, "process_vm_readv: %s (single copy is not permitted here)\n", strerror(errno));
          kill(child, SIGKILL);
          return 1;
        }
      }
      cma[r] = (double)n * reps / (now() - t0) / 1e9;
      t0 = now();
      for (int i = 0; i < reps; i++) {
        memcpy(dst, src, n);
        __asm__ volatile("" : : "r"(dst) : "memory"); /* each copy happens */
      }
      cpy[r] = (double)n * reps / (now() - t0) / 1e9;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    qsort(cma, 5, sizeof cma[0], cmp);
    qsort(cpy, 5, sizeof cpy[0], cmp);
    printf("%6s: process_vm_readv %5.1f GB/s (%.2f us), memcpy %5.1f GB/s (%.2f us)\n", arg, cma[2], n / cma[2] / 1e3, cpy[2], n / cpy[2] / 1e3);
    free(src);
    free(dst);
  }
  return 0;
}
