/*
 * The shared-memory queues of the intra-host transport (transport/shm): each rank's segment holds one receive
 * queue (many producers, one consumer: a bounded ring of cells, each with its own sequence number, as in
 * Vyukov's MPMC queue) and the rank's pool of fragments for large messages. Layout (offsets in bytes; all
 * counters 32-bit and compared as signed differences, so they may wrap):
 *
 *   0 magic, 4 version, 8 cells, 12 cell bytes, 16 fragments, 20 fragment bytes, 24 world size, 28 mapped
 *   64 enqueue position (producers, CAS)     128 dequeue position (the owner only)
 *   192 armed: the owner sleeps, a producer that takes it from 1 to 0 rings the owner's doorbell
 *   256 wantFree: the owner waits for a fragment; a receiver that frees one takes it to 0 and rings
 *   320 anyWant: some producer waits for a free cell; 384.. one byte per world rank: which
 *   queue (4 KiB aligned): cells x { u32 seq, u32 len, len bytes of frame }
 *   fragment states: fragments x u32 (0 free, 1 in use), then (4 KiB aligned) the fragments
 *
 * Every function validates what it reads from the segment: a peer's segment is outside this process.
 */
#define SHM_MAGIC 0x314d4853u /* "SHM1" */
#define SHM_VERSION 1u
#define H_U32(b, off) ((uint32_t *)((char *)(b) + (off)))
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif
#define SHM_ALIGN(x) (((x) + 4095u) & ~(size_t)4095u)

napi_status napi_get_arraybuffer_info(napi_env, napi_value, void **, size_t *);
napi_status napi_get_value_uint32(napi_env, napi_value, uint32_t *);
napi_status napi_create_uint32(napi_env, uint32_t, napi_value *);

typedef struct {
  char *base;
  size_t bytes;
  uint32_t cells, cell_bytes, frags, frag_bytes, world;
  size_t queue_off, states_off, frags_off;
} seg_t;

static size_t seg_size(uint32_t cells, uint32_t cell_bytes, uint32_t frags, uint32_t frag_bytes, uint32_t world, size_t *q, size_t *s, size_t *f) {
  *q = SHM_ALIGN(384u + (size_t)world);
  *s = *q + (size_t)cells * cell_bytes;
  *f = SHM_ALIGN(*s + 4u * (size_t)frags);
  return *f + (size_t)frags * frag_bytes;
}

/* Reads the geometry of a mapped segment; 0 if it is whole and consistent. */
static int seg_of(char *base, size_t bytes, seg_t *s) {
  if (bytes < 4096 || *H_U32(base, 0) != SHM_MAGIC || *H_U32(base, 4) != SHM_VERSION) return -1;
  s->base = base;
  s->bytes = bytes;
  s->cells = *H_U32(base, 8);
  s->cell_bytes = *H_U32(base, 12);
  s->frags = *H_U32(base, 16);
  s->frag_bytes = *H_U32(base, 20);
  s->world = *H_U32(base, 24);
  if (s->cells == 0 || (s->cells & (s->cells - 1)) || s->cell_bytes < 64 || (s->cell_bytes & 7) || s->cell_bytes > (1u << 20)) return -1;
  if (s->world == 0 || s->world > (1u << 24) || s->frag_bytes > (1u << 30)) return -1;
  size_t need = seg_size(s->cells, s->cell_bytes, s->frags, s->frag_bytes, s->world, &s->queue_off, &s->states_off, &s->frags_off);
  return need <= bytes ? 0 : -1;
}

static uint32_t *cell_at(seg_t *s, uint32_t pos) { return H_U32(s->base, s->queue_off + (size_t)(pos & (s->cells - 1)) * s->cell_bytes); }

/* Parses (segment, ...) arguments: the segment into *s. */
static int seg_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, seg_t *s) {
  size_t argc = want;
  void *base;
  size_t bytes;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < want || napi_get_arraybuffer_info(env, argv[0], &base, &bytes) ||
      seg_of(base, bytes, s)) {
    napi_throw_error(env, "TSRUN_NATIVE", "not a tsrun shared-memory segment, or the wrong arguments");
    return -1;
  }
  return 0;
}

static napi_value u32_out(napi_env env, uint32_t v) {
  napi_value out;
  napi_create_uint32(env, v, &out);
  return out;
}

static int bytes_of(napi_env env, napi_value v, char **p, size_t *n) {
  int t;
  size_t len, off;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &t, &len, (void **)p, &ab, &off) || (t != T_U8 && t != T_I8 && t != T_U8C)) return -1;
  *n = len;
  return 0;
}

/* shmInit(segment, cells, cellBytes, frags, fragBytes, world): writes a fresh segment's header and cells. */
static napi_value js_shm_init(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  uint32_t v[5];
  void *base;
  size_t bytes, q, st, f;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < 6 || napi_get_arraybuffer_info(env, argv[0], &base, &bytes)) goto bad;
  for (int i = 0; i < 5; i++)
    if (napi_get_value_uint32(env, argv[i + 1], &v[i])) goto bad;
  if (v[0] == 0 || (v[0] & (v[0] - 1)) || v[1] < 64 || (v[1] & 7) || seg_size(v[0], v[1], v[2], v[3], v[4], &q, &st, &f) > bytes) goto bad;
  memset(base, 0, q);
  uint32_t *h = base;
  h[2] = v[0], h[3] = v[1], h[4] = v[2], h[5] = v[3], h[6] = v[4], h[7] = 1; /* mapped by its owner */
  *H_U32(base, 192) = 1; /* armed until the owner spins */
  for (uint32_t i = 0; i < v[0]; i++) *H_U32(base, q + (size_t)i * v[1]) = i;
  memset((char *)base + st, 0, 4u * (size_t)v[2]);
  h[1] = SHM_VERSION;
  __atomic_store_n(&h[0], SHM_MAGIC, __ATOMIC_RELEASE);
  return NULL;
bad:
  napi_throw_error(env, "TSRUN_NATIVE", "shmInit(segment, cells, cellBytes, frags, fragBytes, world): bad geometry");
  return NULL;
}

/* shmPush(segment, head, body): one frame (head, then body) into the queue. 0: full; 1: queued; 2: queued and the
   owner sleeps (ring its doorbell). */
static napi_value js_shm_push(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  seg_t s;
  char *hp, *bp;
  size_t hn, bn;
  if (seg_args(env, info, 3, argv, &s) || bytes_of(env, argv[1], &hp, &hn) || bytes_of(env, argv[2], &bp, &bn) || hn + bn > s.cell_bytes - 8) {
    napi_throw_error(env, "TSRUN_NATIVE", "shmPush: the frame does not fit a cell");
    return NULL;
  }
  uint32_t *enq = H_U32(s.base, 64), pos = __atomic_load_n(enq, __ATOMIC_RELAXED), *cell;
  for (;;) {
    cell = cell_at(&s, pos);
    int32_t dif = (int32_t)(__atomic_load_n(&cell[0], __ATOMIC_ACQUIRE) - pos);
    if (dif == 0) {
      if (__atomic_compare_exchange_n(enq, &pos, pos + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
    } else if (dif < 0) {
      return u32_out(env, 0);
    } else {
      pos = __atomic_load_n(enq, __ATOMIC_RELAXED);
    }
  }
  memcpy(&cell[2], hp, hn);
  if (bn) memcpy((char *)&cell[2] + hn, bp, bn);
  cell[1] = (uint32_t)(hn + bn);
  __atomic_store_n(&cell[0], pos + 1, __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return u32_out(env, __atomic_exchange_n(H_U32(s.base, 192), 0, __ATOMIC_SEQ_CST) ? 2 : 1);
}

static int queue_ready(seg_t *s) {
  uint32_t pos = *H_U32(s->base, 128);
  return (int32_t)(__atomic_load_n(&cell_at(s, pos)[0], __ATOMIC_ACQUIRE) - (pos + 1)) >= 0;
}

/* shmPop(segment, dst): the next frame copied into dst; its length, or 0 when the queue is empty. */
static napi_value js_shm_pop(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  seg_t s;
  char *dp;
  size_t dn;
  if (seg_args(env, info, 2, argv, &s) || bytes_of(env, argv[1], &dp, &dn) || dn < s.cell_bytes - 8) {
    napi_throw_error(env, "TSRUN_NATIVE", "shmPop(segment, dst): dst must hold a cell");
    return NULL;
  }
  uint32_t *deq = H_U32(s.base, 128), pos = *deq, *cell = cell_at(&s, pos);
  if ((int32_t)(__atomic_load_n(&cell[0], __ATOMIC_ACQUIRE) - (pos + 1)) < 0) return u32_out(env, 0);
  uint32_t len = cell[1];
  if (len > s.cell_bytes - 8) len = 0; /* torn or forged: handed up as empty, dropped there */
  memcpy(dp, &cell[2], len);
  __atomic_store_n(&cell[0], pos + s.cells, __ATOMIC_RELEASE);
  *deq = pos + 1;
  return u32_out(env, len ? len : 0xffffffffu);
}

/* shmArm(segment, on): on, the owner is about to sleep: producers must ring; returns 1 if a frame is already
   waiting (drain instead of sleeping). Off: the owner polls; producers need not ring. */
static napi_value js_shm_arm(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  seg_t s;
  _Bool on;
  if (seg_args(env, info, 2, argv, &s) || napi_get_value_bool(env, argv[1], &on)) return NULL;
  __atomic_store_n(H_U32(s.base, 192), on ? 1 : 0, __ATOMIC_SEQ_CST);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return u32_out(env, (uint32_t)queue_ready(&s));
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* shmWait(segment, ns): polls for up to ns nanoseconds. 1: a frame waits; 2: a receiver freed a fragment the
   owner waited for; 0: nothing came. */
static napi_value js_shm_wait(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  seg_t s;
  uint32_t ns;
  if (seg_args(env, info, 2, argv, &s) || napi_get_value_uint32(env, argv[1], &ns)) return NULL;
  uint32_t *want_free = H_U32(s.base, 256);
  uint32_t wanted = __atomic_load_n(want_free, __ATOMIC_ACQUIRE);
  uint64_t end = now_ns() + ns;
  for (unsigned spin = 0;; spin++) {
    if (queue_ready(&s)) return u32_out(env, 1);
    if (wanted && !__atomic_load_n(want_free, __ATOMIC_ACQUIRE)) return u32_out(env, 2);
    if ((spin & 63) == 63 && now_ns() >= end) return u32_out(env, 0);
    CPU_RELAX();
  }
}

/* shmTake(segment, hint): a free fragment of the owner's pool, marked in use; -1 when none is free (wantFree is
   then set, so that the receiver that frees one rings). */
static napi_value js_shm_take(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  seg_t s;
  uint32_t hint;
  if (seg_args(env, info, 2, argv, &s) || napi_get_value_uint32(env, argv[1], &hint)) return NULL;
  uint32_t *st = H_U32(s.base, s.states_off);
  for (int round = 0; round < 2; round++) {
    for (uint32_t k = 0; k < s.frags; k++) {
      uint32_t i = (hint + k) % s.frags;
      if (__atomic_load_n(&st[i], __ATOMIC_ACQUIRE) == 0) {
        st[i] = 1;
        napi_create_int32(env, (int32_t)i, &out);
        return out;
      }
    }
    if (round == 0) {
      __atomic_store_n(H_U32(s.base, 256), 1, __ATOMIC_SEQ_CST);
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
  }
  napi_create_int32(env, -1, &out);
  return out;
}

/* shmFree(segment, i): a receiver is done with fragment i of the segment's owner. 1: the owner waits for it (ring);
   0: it does not; 3: i is not a fragment in use (a forged notice). */
static napi_value js_shm_free(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  seg_t s;
  uint32_t i;
  if (seg_args(env, info, 2, argv, &s) || napi_get_value_uint32(env, argv[1], &i)) return NULL;
  uint32_t *st = H_U32(s.base, s.states_off);
  if (i >= s.frags || __atomic_load_n(&st[i], __ATOMIC_ACQUIRE) != 1) return u32_out(env, 3);
  __atomic_store_n(&st[i], 0, __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return u32_out(env, __atomic_exchange_n(H_U32(s.base, 256), 0, __ATOMIC_SEQ_CST) ? 1 : 0);
}

/* shmWantSpace(segment, rank): producer `rank` found the queue full: it asks to be rung; returns 1 if a cell came
   free meanwhile (try again at once). */
static napi_value js_shm_want_space(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  seg_t s;
  uint32_t r;
  if (seg_args(env, info, 2, argv, &s) || napi_get_value_uint32(env, argv[1], &r) || r >= s.world) return NULL;
  __atomic_store_n((uint8_t *)s.base + 384 + r, 1, __ATOMIC_SEQ_CST);
  __atomic_store_n(H_U32(s.base, 320), 1, __ATOMIC_SEQ_CST);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  uint32_t pos = __atomic_load_n(H_U32(s.base, 64), __ATOMIC_RELAXED);
  return u32_out(env, (int32_t)(__atomic_load_n(&cell_at(&s, pos)[0], __ATOMIC_ACQUIRE) - pos) >= 0);
}

/* shmSpaceWaiters(segment, out Int32Array): the owner, after taking cells: which producers asked to be rung
   (cleared); their number. */
static napi_value js_shm_space_waiters(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  seg_t s;
  int t;
  size_t n, off;
  int32_t *out;
  napi_value ab;
  if (seg_args(env, info, 2, argv, &s) || napi_get_typedarray_info(env, argv[1], &t, &n, (void **)&out, &ab, &off) || t != T_I32) return NULL;
  if (!__atomic_exchange_n(H_U32(s.base, 320), 0, __ATOMIC_SEQ_CST)) return u32_out(env, 0);
  uint32_t k = 0;
  uint8_t *want = (uint8_t *)s.base + 384;
  for (uint32_t r = 0; r < s.world && k < n; r++)
    if (__atomic_exchange_n(&want[r], 0, __ATOMIC_SEQ_CST)) out[k++] = (int32_t)r;
  return u32_out(env, k);
}

/* shmMapped(segment): one more rank has mapped the segment; the new count (the last unlinks the file). */
static napi_value js_shm_mapped(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  seg_t s;
  if (seg_args(env, info, 1, argv, &s)) return NULL;
  return u32_out(env, __atomic_add_fetch(H_U32(s.base, 28), 1, __ATOMIC_SEQ_CST));
}

/* shmGeometry(segment): [cells, cellBytes, frags, fragBytes, world, fragsOffset] of a valid segment. */
static napi_value js_shm_geometry(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  seg_t s;
  int t;
  size_t n, off;
  double *out;
  napi_value ab;
  if (seg_args(env, info, 2, argv, &s) || napi_get_typedarray_info(env, argv[1], &t, &n, (void **)&out, &ab, &off) || t != T_F64 || n < 6) return NULL;
  out[0] = s.cells, out[1] = s.cell_bytes, out[2] = s.frags, out[3] = s.frag_bytes, out[4] = s.world, out[5] = (double)s.frags_off;
  return u32_out(env, 1);
}
