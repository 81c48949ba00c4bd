/*
 * tsrun's native helpers, built on first use by native.ts with the machine's C compiler (no node-gyp, no
 * downloads) and loaded as a Node-API module:
 * - reduce(op, dst, src): element-wise dst[i] = op(dst[i], src[i]) for every TypedArray type, with the exact
 *   results of the JavaScript kernels in collectives/reduce-ops.ts (integers wrap as in C, Uint8Clamped
 *   clamps, min/max order NaN and signed zeros as Math.min/Math.max do), so ranks with and without this
 *   module agree bit for bit;
 * - reduceHalf(op, format, dst, src): the same on float16 (format 0) or bfloat16 (1) bit patterns in Uint16Arrays:
 *   both operands decoded to doubles (exact), combined, rounded once to nearest-even, as half.ts does; and
 *   halfConvert(format, src, dst) between float arrays and half patterns;
 * - mapShared(path, bytes, create): a file of /dev/shm mapped into this process as an ArrayBuffer that
 *   other processes on the host map too (the shared-memory transport's slots);
 * - raiseFileLimit(): the soft limit on open files raised to the hard one;
 * - addressOf(view), cmaRead(pid, address, dst), singleCopyProbe(): single copy between ranks of a host
 *   (process_vm_readv, Linux's cross-memory attach; cma.h), for the host broadcast (transport/shm/host-broadcast.ts).
 *
 * Node-API is a stable C ABI: the few declarations below are all this file needs, so it builds without
 * Node's headers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- Node-API declarations (js_native_api.h / node_api.h, version 1) ---- */
typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* napi_ok is 0 */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
typedef void (*napi_finalize)(napi_env env, void *data, void *hint);
enum { T_I8, T_U8, T_U8C, T_I16, T_U16, T_I32, T_U32, T_F32, T_F64, T_I64, T_U64 }; /* napi_typedarray_type */
napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
napi_status napi_get_typedarray_info(napi_env, napi_value, int *, size_t *, void **, napi_value *, size_t *);
napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
napi_status napi_get_value_double(napi_env, napi_value, double *);
napi_status napi_get_value_bool(napi_env, napi_value, _Bool *);
napi_status napi_get_value_string_utf8(napi_env, napi_value, char *, size_t, size_t *);
napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
napi_status napi_create_external_arraybuffer(napi_env, void *, size_t, napi_finalize, void *, napi_value *);
napi_status napi_throw_error(napi_env, const char *, const char *);
napi_status napi_create_int32(napi_env, int32_t, napi_value *);
napi_status napi_create_double(napi_env, double, napi_value *);

/* ---- kernels ---- */
enum { OP_SUM, OP_PROD, OP_MIN, OP_MAX, OP_BAND, OP_BOR, OP_BXOR, OP_DIV /* floats: d[i] / s[0], avg's last pass */ };

/* The NaN that V8's Math.min/Math.max give on x86 (the processor's default NaN). */
static const union { uint64_t u; double d; } NAN64 = { 0xfff8000000000000ull };
static const union { uint32_t u; float f; } NAN32 = { 0xffc00000u };

/* Math.min / Math.max: NaN wins; -0 is below +0. */
#define MINMAX(T, NANV)                                                                 \
  static inline T min_##T(T a, T b) {                                                   \
    if (a != a || b != b) return NANV;                                                  \
    if (a != b) return a < b ? a : b;                                                   \
    return __builtin_signbit(a) ? a : b; /* equal: only the zeros' signs can differ */ \
  }                                                                                     \
  static inline T max_##T(T a, T b) {                                                   \
    if (a != a || b != b) return NANV;                                                  \
    if (a != b) return a > b ? a : b;                                                   \
    return __builtin_signbit(a) ? b : a;                                                \
  }
MINMAX(float, NAN32.f)
MINMAX(double, NAN64.d)

#define LOOP(EXPR) for (size_t i = 0; i < n; i++) { d[i] = (EXPR); }
/* The kernels stay functions of their own (noinline): inlined into js_reduce they lose `restrict`, and gcc then
   left the float loops scalar, at a speed that depended on where the code happened to land (float32 sums 3.6-11
   GB/s); as functions they are vectorised (27-35 GB/s in cache, bench/kernels.ts). */

/* Integers: arithmetic in the unsigned type of the same width, which wraps as JavaScript's stores do. */
#define INT_KERNEL(NAME, T, U) \
  __attribute__((noinline)) static int NAME(int op, T *restrict d, const T *restrict s, size_t n) { \
    switch (op) { \
      case OP_SUM: LOOP((T)((U)d[i] + (U)s[i])) return 0; \
      case OP_PROD: LOOP((T)((U)d[i] * (U)s[i])) return 0; \
      case OP_MIN: LOOP(s[i] < d[i] ? s[i] : d[i]) return 0; \
      case OP_MAX: LOOP(s[i] > d[i] ? s[i] : d[i]) return 0; \
      case OP_BAND: LOOP(d[i] & s[i]) return 0; \
      case OP_BOR: LOOP(d[i] | s[i]) return 0; \
      case OP_BXOR: LOOP(d[i] ^ s[i]) return 0; \
    } return -1; }
INT_KERNEL(k_i8, int8_t, uint8_t) INT_KERNEL(k_u8, uint8_t, uint8_t) INT_KERNEL(k_i16, int16_t, uint16_t)
INT_KERNEL(k_u16, uint16_t, uint16_t) INT_KERNEL(k_i32, int32_t, uint32_t) INT_KERNEL(k_u32, uint32_t, uint32_t)
INT_KERNEL(k_i64, int64_t, uint64_t) INT_KERNEL(k_u64, uint64_t, uint64_t)

/* Uint8ClampedArray stores clamp to 0..255. */
static int k_u8c(int op, uint8_t *restrict d, const uint8_t *restrict s, size_t n) {
  switch (op) {
    case OP_SUM: LOOP((uint8_t)((unsigned)d[i] + s[i] > 255u ? 255u : (unsigned)d[i] + s[i])) return 0;
    case OP_PROD: LOOP((uint8_t)((unsigned)d[i] * s[i] > 255u ? 255u : (unsigned)d[i] * s[i])) return 0;
    default: return k_u8(op, d, s, n);
  }
}

#define FLOAT_KERNEL(NAME, T) \
  __attribute__((noinline)) static int NAME(int op, T *restrict d, const T *restrict s, size_t n) { \
    switch (op) { \
      case OP_SUM: LOOP(d[i] + s[i]) return 0; \
      case OP_PROD: LOOP(d[i] * s[i]) return 0; \
      case OP_MIN: LOOP(min_##T(d[i], s[i])) return 0; \
      case OP_MAX: LOOP(max_##T(d[i], s[i])) return 0; \
      case OP_DIV: { const T v = s[0]; LOOP(d[i] / v) return 0; } \
    } return -1; }
FLOAT_KERNEL(k_f32, float) FLOAT_KERNEL(k_f64, double)

static int kernel(int type, int op, void *d, const void *s, size_t n) {
  switch (type) {
    case T_I8: return k_i8(op, d, s, n);
    case T_U8: return k_u8(op, d, s, n);
    case T_U8C: return k_u8c(op, d, s, n);
    case T_I16: return k_i16(op, d, s, n);
    case T_U16: return k_u16(op, d, s, n);
    case T_I32: return k_i32(op, d, s, n);
    case T_U32: return k_u32(op, d, s, n);
    case T_F32: return k_f32(op, d, s, n);
    case T_F64: return k_f64(op, d, s, n);
    case T_I64: return k_i64(op, d, s, n);
    case T_U64: return k_u64(op, d, s, n);
  }
  return -1;
}

#include "half.h" /* float16 / bfloat16 kernels and conversions */
#include "shm.h"  /* the intra-host transport's queues and fragment pools */
#include "cma.h"  /* single copy between ranks of a host */

/* halfConvert(format, src, dst): Float32Array/Float64Array -> Uint16Array of half patterns (rounded), or back. */
static napi_value js_half_convert(napi_env env, napi_callback_info info) {
  size_t argc = 3, ns, nd, off;
  napi_value argv[3], ab;
  int32_t format;
  int ts, td;
  void *ps, *pd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < 3 || napi_get_value_int32(env, argv[0], &format) ||
      napi_get_typedarray_info(env, argv[1], &ts, &ns, &ps, &ab, &off) ||
      napi_get_typedarray_info(env, argv[2], &td, &nd, &pd, &ab, &off) || nd < ns) {
    napi_throw_error(env, "TSRUN_NATIVE", "halfConvert(format, src, dst) needs a format and two TypedArrays, dst at least as long");
    return NULL;
  }
  int bf = format == 1;
  if (!f16_ready) f16_table();
  if (td == T_U16 && ts == T_F32 && bf) for (size_t i = 0; i < ns; i++) ((uint16_t *)pd)[i] = bf16_of(((float *)ps)[i]);
  else if (td == T_U16 && ts == T_F32 && f16c()) f16_from_f32_simd(ps, pd, ns);
  else if (ts == T_U16 && td == T_F32 && !bf && f16c()) f16_to_f32_simd(ps, pd, ns);
  else if (td == T_U16 && ts == T_F32) for (size_t i = 0; i < ns; i++) ((uint16_t *)pd)[i] = half_bits(((float *)ps)[i], bf);
  else if (td == T_U16 && ts == T_F64) for (size_t i = 0; i < ns; i++) ((uint16_t *)pd)[i] = half_bits(((double *)ps)[i], bf);
  else if (ts == T_U16 && td == T_F32) for (size_t i = 0; i < ns; i++) ((float *)pd)[i] = (float)half_value(((uint16_t *)ps)[i], bf);
  else if (ts == T_U16 && td == T_F64) for (size_t i = 0; i < ns; i++) ((double *)pd)[i] = half_value(((uint16_t *)ps)[i], bf);
  else napi_throw_error(env, "TSRUN_NATIVE", "halfConvert: one side must be a Uint16Array, the other a Float32Array or Float64Array");
  return NULL;
}

/* reduce(op, dst, src): both TypedArrays of the same type; src at least as long as dst (for OP_DIV, one element). */
static napi_value js_reduce(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t op;
  int td, ts;
  size_t nd, ns, off;
  void *pd, *ps;
  napi_value ab;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < 3 || napi_get_value_int32(env, argv[0], &op) ||
      napi_get_typedarray_info(env, argv[1], &td, &nd, &pd, &ab, &off) ||
      napi_get_typedarray_info(env, argv[2], &ts, &ns, &ps, &ab, &off) || td != ts || ns < (op == OP_DIV ? 1 : nd)) {
    napi_throw_error(env, "TSRUN_NATIVE", "reduce(op, dst, src) needs an op code and two TypedArrays of one type");
    return NULL;
  }
  if (nd > 0 && kernel(td, op, pd, ps, nd) != 0) napi_throw_error(env, "TSRUN_NATIVE", "reduce: op does not apply to this type");
  return NULL;
}

/* typeOf(array): the Node-API type code, so the loader can check these declarations against the running Node. */
static napi_value js_type_of(napi_env env, napi_callback_info info) {
  size_t argc = 1, n, off;
  napi_value argv[1], ab, out;
  int t;
  void *p;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || napi_get_typedarray_info(env, argv[0], &t, &n, &p, &ab, &off)) t = -1;
  napi_create_int32(env, t, &out);
  return out;
}

static void unmap(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)hint);
}

/* mapShared(path, bytes, create): the file mapped shared, read-write, as an ArrayBuffer (unmapped when collected). */
static napi_value js_map_shared(napi_env env, napi_callback_info info) {
  size_t argc = 3, len;
  napi_value argv[3], out = NULL;
  char path[4096], msg[4200];
  double bytes_d;
  _Bool create;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < 3 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) || len >= sizeof path - 1 ||
      napi_get_value_double(env, argv[1], &bytes_d) || napi_get_value_bool(env, argv[2], &create) || bytes_d < 0 || (bytes_d == 0 && create)) {
    napi_throw_error(env, "TSRUN_NATIVE", "mapShared(path, bytes, create) needs a path, a size and a boolean");
    return NULL;
  }
  size_t bytes = (size_t)bytes_d;
  int fd = open(path, create ? O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC : O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 || (create && ftruncate(fd, (off_t)bytes) != 0)) {
    snprintf(msg, sizeof msg, "%s %s: %s", create ? "cannot create" : "cannot open", path, strerror(errno));
    if (fd >= 0) close(fd);
    napi_throw_error(env, "TSRUN_NATIVE", msg);
    return NULL;
  }
  /* The pages are reserved now: a full tmpfs is an error here, never a SIGBUS at the first touch later. */
  int rc = create ? posix_fallocate(fd, 0, (off_t)bytes) : 0;
  if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
    snprintf(msg, sizeof msg, "cannot reserve %zu bytes for %s: %s", bytes, path, strerror(rc));
    close(fd);
    unlink(path);
    napi_throw_error(env, "ENOSPC", msg);
    return NULL;
  }
  struct stat st;
  if (!create && bytes == 0 && fstat(fd, &st) == 0) bytes = (size_t)st.st_size; /* 0: the whole file */
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < bytes || bytes == 0) {
    close(fd);
    napi_throw_error(env, "TSRUN_NATIVE", "shared file is smaller than expected");
    return NULL;
  }
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    snprintf(msg, sizeof msg, "cannot map %s: %s", path, strerror(errno));
    napi_throw_error(env, "TSRUN_NATIVE", msg);
    return NULL;
  }
  if (napi_create_external_arraybuffer(env, p, bytes, unmap, (void *)bytes, &out)) {
    munmap(p, bytes);
    napi_throw_error(env, "TSRUN_NATIVE", "cannot wrap the shared mapping in an ArrayBuffer");
    return NULL;
  }
  return out;
}

/* raiseFileLimit(): the soft limit on open files raised to the hard one, as Open MPI's launcher does; 0 or errno. */
static napi_value js_raise_file_limit(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  int rc = 0;
  napi_value out;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) rc = errno;
  else if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rc = errno;
  }
  napi_create_int32(env, rc, &out);
  return out;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, (size_t)-1, cb, NULL, &fn) == 0) napi_set_named_property(env, exports, name, fn);
}

napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  export_fn(env, exports, "reduce", js_reduce);
  export_fn(env, exports, "reduceHalf", js_reduce_half);
  export_fn(env, exports, "halfConvert", js_half_convert);
  export_fn(env, exports, "typeOf", js_type_of);
  export_fn(env, exports, "mapShared", js_map_shared);
  export_fn(env, exports, "raiseFileLimit", js_raise_file_limit);
  export_fn(env, exports, "addressOf", js_address_of);
  export_fn(env, exports, "cmaRead", js_cma_read);
  export_fn(env, exports, "singleCopyProbe", js_single_copy_probe);
  export_fn(env, exports, "shmInit", js_shm_init);
  export_fn(env, exports, "shmPush", js_shm_push);
  export_fn(env, exports, "shmPop", js_shm_pop);
  export_fn(env, exports, "shmArm", js_shm_arm);
  export_fn(env, exports, "shmWait", js_shm_wait);
  export_fn(env, exports, "shmTake", js_shm_take);
  export_fn(env, exports, "shmFree", js_shm_free);
  export_fn(env, exports, "shmWantSpace", js_shm_want_space);
  export_fn(env, exports, "shmSpaceWaiters", js_shm_space_waiters);
  export_fn(env, exports, "shmMapped", js_shm_mapped);
  export_fn(env, exports, "shmGeometry", js_shm_geometry);
  return exports;
}
