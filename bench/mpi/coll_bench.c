/*
 * The same collectives benchmark as bench/collectives.ts, in C on MPI, so tsrun and an MPI can be measured in
 * one run with one method (bench/mpi.ts builds and runs it for --compare-mpi):
 *   coll_bench IMPL OPS SIZES SECONDS      e.g.  coll_bench openmpi-tcp allreduce,bcast,barrier 4,65536 0.4
 * For every op and size: check the result once, warm up until a batch takes >= 200 ms on the slowest rank, then
 * time each iteration on its own followed by an untimed barrier. Prints CSV rows
 *   impl,op,np,bytes,avg_us,algbw_GBps,busbw_GBps
 * with avg_us averaged over ranks; busbw as nccl-tests (allreduce algbw*2(n-1)/n, bcast algbw, allgatherv and
 * alltoallv algbw*(n-1)/n, scan algbw). The v-calls have uneven blocks (vcounts below), as bench/collectives.ts.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, np;
/* The v-calls' blocks: rank r's allgatherv block, and what rank r sends to rank d in alltoallv, are
   unit * (1 + (r + d) % np) elements (d = 0 for allgatherv), with unit chosen so a rank's total is about `count`. */
static int *scounts, *sdispls, *rcounts, *rdispls;
static float *vout;

static void vcounts(int count, int alltoall) {
  int unit = count / (np * (np + 1) / 2) > 0 ? count / (np * (np + 1) / 2) : 1;
  long at_s = 0, at_r = 0;
  for (int d = 0; d < np; d++) {
    scounts[d] = unit * (1 + (rank + d) % np);
    rcounts[d] = alltoall ? unit * (1 + (d + rank) % np) : unit * (1 + d % np);
    sdispls[d] = (int)at_s;
    rdispls[d] = (int)at_r;
    at_s += scounts[d];
    at_r += rcounts[d];
  }
  vout = realloc(vout, (size_t)(at_r > at_s ? at_r : at_s) * sizeof(float));
}

static void run_once(const char *op, float *buf, int count) {
  if (strcmp(op, "allreduce") == 0) MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  else if (strcmp(op, "bcast") == 0) MPI_Bcast(buf, count, MPI_FLOAT, 0, MPI_COMM_WORLD);
  else if (strcmp(op, "allgatherv") == 0) MPI_Allgatherv(buf, rcounts[rank], MPI_FLOAT, vout, rcounts, rdispls, MPI_FLOAT, MPI_COMM_WORLD);
  else if (strcmp(op, "alltoallv") == 0) MPI_Alltoallv(buf, scounts, sdispls, MPI_FLOAT, vout, rcounts, rdispls, MPI_FLOAT, MPI_COMM_WORLD);
  else if (strcmp(op, "scan") == 0) MPI_Scan(buf, vout, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  else MPI_Barrier(MPI_COMM_WORLD);
}

/* One op and size: the average time of one call over ranks, in microseconds. */
static double measure(const char *op, long bytes, double seconds) {
  int count = bytes / 4 > 0 ? (int)(bytes / 4) : 1;
  float *buf = malloc((size_t)count * sizeof(float));
  if (!buf) { fprintf(stderr, "coll_bench: no memory for %ld bytes\n", bytes); MPI_Abort(MPI_COMM_WORLD, 2); }
  int alltoall = strcmp(op, "alltoallv") == 0;
  vcounts(count, alltoall);
  if (strcmp(op, "scan") == 0) vout = realloc(vout, (size_t)count * sizeof(float));
  if (alltoall && sdispls[np - 1] + scounts[np - 1] > count) buf = realloc(buf, (size_t)(sdispls[np - 1] + scounts[np - 1]) * sizeof(float));
  /* Correctness once: every element of the sum is the number of ranks; a broadcast carries the root's values;
     a scan of ones gives rank + 1. */
  for (int i = 0; i < count; i++) buf[i] = strcmp(op, "bcast") == 0 ? (rank == 0 ? 7.0f : 0.0f) : 1.0f;
  run_once(op, buf, count);
  if (strcmp(op, "scan") == 0)
    for (int i = 0; i < count; i++)
      if (vout[i] != (float)(rank + 1)) { fprintf(stderr, "coll_bench: scan of %ld bytes is wrong at %d\n", bytes, i); MPI_Abort(MPI_COMM_WORLD, 3); }
  float want = strcmp(op, "allreduce") == 0 ? (float)np : 7.0f;
  if (strcmp(op, "barrier") != 0 && (strcmp(op, "allreduce") == 0 || strcmp(op, "bcast") == 0))
    for (int i = 0; i < count; i++)
      if (buf[i] != want) { fprintf(stderr, "coll_bench: %s of %ld bytes is wrong at %d\n", op, bytes, i); MPI_Abort(MPI_COMM_WORLD, 3); }
  long warm = 2;
  double per = 0;
  for (;;) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (long i = 0; i < warm; i++) run_once(op, buf, count);
    double mine = (MPI_Wtime() - t0) / warm;
    MPI_Allreduce(&mine, &per, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (per * warm >= 0.2 || warm >= 16384) break;
    warm *= 4;
  }
  long iters = (long)(seconds / (per > 1e-9 ? per : 1e-9));
  if (iters < 5) iters = 5;
  if (iters > 1000000) iters = 1000000;
  double busy = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  for (long i = 0; i < iters; i++) {
    double t0 = MPI_Wtime();
    run_once(op, buf, count);
    busy += MPI_Wtime() - t0;
    MPI_Barrier(MPI_COMM_WORLD);
  }
  double mine = busy / iters * 1e6, sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  free(buf);
  return sum / np;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  scounts = calloc((size_t)np, sizeof(int));
  sdispls = calloc((size_t)np, sizeof(int));
  rcounts = calloc((size_t)np, sizeof(int));
  rdispls = calloc((size_t)np, sizeof(int));
  if (argc != 5) {
    if (rank == 0) fprintf(stderr, "usage: coll_bench IMPL OPS SIZES SECONDS\n");
    MPI_Finalize();
    return 2;
  }
  const char *impl = argv[1];
  double seconds = atof(argv[4]);
  char *ops = strdup(argv[2]);
  for (char *op = strtok(ops, ","); op; op = strtok(NULL, ",")) {
    if (strcmp(op, "allreduce") && strcmp(op, "bcast") && strcmp(op, "barrier") && strcmp(op, "allgatherv") && strcmp(op, "alltoallv") &&
        strcmp(op, "scan"))
      continue; /* not measured here */
    char *sizes = strdup(argv[3]), *save = NULL;
    for (char *s = strtok_r(sizes, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
      long bytes = strcmp(op, "barrier") == 0 ? 0 : atol(s);
      double us = measure(op, bytes, seconds);
      if (rank == 0) {
        if (bytes == 0) printf("%s,%s,%d,0,%.2f,,\n", impl, op, np, us);
        else {
          double alg = bytes / us / 1000.0;
          double factor = strcmp(op, "allreduce") == 0 ? 2.0 * (np - 1) / np : strncmp(op, "all", 3) == 0 ? (double)(np - 1) / np : 1.0;
          printf("%s,%s,%d,%ld,%.2f,%.4f,%.4f\n", impl, op, np, bytes, us, alg, alg * factor);
        }
        fflush(stdout);
      }
      if (bytes == 0) break; /* a barrier has no size */
    }
    free(sizes);
  }
  free(ops);
  MPI_Finalize();
  return 0;
}
