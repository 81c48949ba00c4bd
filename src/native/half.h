/*
 * Half precision for tsrun.c (included there, after its kernels): float16 (10 mantissa bits, bias 15) and
 * bfloat16 (7, bias 127) patterns in uint16_t, exactly as src/half.ts does, so ranks with and without the native
 * module agree bit for bit: a sum or product is formed in float32 (correctly rounded: the exact double result
 * rounded to float) and rounded once more to the half format, to nearest even, as the F16C instructions do; NaN
 * results become the format's canonical NaN. On x86 with F16C (every CPU since 2012) float16 work goes 8 lanes at
 * a time; bfloat16 rounding is a few integer operations that the compiler vectorises.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#endif
static float F16[65536];
static int f16_ready;

static void f16_table(void) {
  for (uint32_t b = 0; b < 65536; b++) {
    uint32_t sign = (b & 0x8000u) << 16, e = (b >> 10) & 31, m = b & 1023, bits;
    union { uint32_t u; float f; } v;
    if (e == 31) bits = sign | 0x7f800000u | (m << 13);
    else if (e == 0) {
      v.f = (float)m * 5.9604644775390625e-8f; /* m * 2^-24, exact */
      bits = v.u | sign;
    } else bits = sign | ((e + 112) << 23) | (m << 13);
    v.u = bits;
    F16[b] = v.f;
  }
  f16_ready = 1;
}

static inline double half_value(uint16_t b, int bf) {
  if (bf) {
    union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
    return v.f;
  }
  return F16[b];
}

/* Round a double to the nearest half (ties to even); NaN to the format's canonical NaN, overflow to infinity. */
static inline uint16_t half_bits(double x, int bf) {
  const int mant = bf ? 7 : 10, bias = bf ? 127 : 15;
  uint64_t u;
  memcpy(&u, &x, 8);
  uint16_t sign = (uint16_t)((u >> 48) & 0x8000u);
  uint64_t a = u & 0x7fffffffffffffffull;
  if (a > 0x7ff0000000000000ull) return bf ? 0x7fc0 : 0x7e00;
  int e = (int)(a >> 52) - 1023;
  if (e > bias) return sign | (uint16_t)((2 * bias + 1) << mant);
  int emin = 1 - bias;
  int shift = 52 - mant + (e < emin ? emin - e : 0);
  if (shift >= 54) return sign; /* below half the smallest subnormal (double subnormals included) */
  uint64_t m = (a & ((1ull << 52) - 1)) | (1ull << 52);
  uint64_t q = m >> shift, r = m & ((1ull << shift) - 1), halfway = 1ull << (shift - 1);
  if (r > halfway || (r == halfway && (q & 1))) q++;
  /* Normal: the implicit bit in q adds one to the exponent field, and a carry out of the mantissa rounds up into
     the next binade (or to infinity) by itself. Subnormal: q is the pattern. */
  return sign | (uint16_t)(e < emin ? q : ((uint64_t)(e + bias - 1) << mant) + q);
}

/* float -> bfloat16, nearest even (exact for what half_bits does with a float input). */
static inline uint16_t bf16_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline float bf16_value(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

#define HALF_LOOP(EXPR) for (size_t i = 0; i < n; i++) { double a = half_value(d[i], bf), b = half_value(s[i], bf); d[i] = half_bits((EXPR), bf); }

#if defined(__x86_64__)
static int has_f16c = -1;
/* Float16 sums and products 8 at a time: convert up, combine in float, convert down (nearest even). */
__attribute__((target("avx,f16c"))) static void f16_simd(int op, uint16_t *restrict d, const uint16_t *restrict s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(d + i)));
    __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i)));
    __m256 r = op == OP_SUM ? _mm256_add_ps(a, b) : _mm256_mul_ps(a, b);
    __m128i h = _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128((__m128i *)(d + i), h);
    __m256 nan = _mm256_cmp_ps(r, r, _CMP_UNORD_Q);
    if (!_mm256_testz_ps(nan, nan))
      for (size_t k = i; k < i + 8; k++) if ((d[k] & 0x7c00) == 0x7c00 && (d[k] & 0x3ff)) d[k] = 0x7e00;
  }
  for (; i < n; i++) {
    double a = F16[d[i]], b = F16[s[i]];
    d[i] = half_bits((float)(op == OP_SUM ? a + b : a * b), 0);
  }
}
/* float32 -> float16 and back, 8 at a time. */
__attribute__((target("avx,f16c"))) static void f16_from_f32_simd(const float *src, uint16_t *dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(src + i);
    _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    if (!_mm256_testz_ps(nan, nan)) for (size_t k = i; k < i + 8; k++) if (src[k] != src[k]) dst[k] = 0x7e00;
  }
  for (; i < n; i++) dst[i] = half_bits(src[i], 0);
}
__attribute__((target("avx,f16c"))) static void f16_to_f32_simd(const uint16_t *src, float *dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
  for (; i < n; i++) dst[i] = F16[src[i]];
}
static int f16c(void) {
  if (has_f16c < 0) has_f16c = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return has_f16c;
}
#else
static int f16c(void) { return 0; }
static void f16_simd(int op, uint16_t *d, const uint16_t *s, size_t n) { (void)op, (void)d, (void)s, (void)n; }
static void f16_from_f32_simd(const float *src, uint16_t *dst, size_t n) { (void)src, (void)dst, (void)n; }
static void f16_to_f32_simd(const uint16_t *src, float *dst, size_t n) { (void)src, (void)dst, (void)n; }
#endif

static int half_kernel(int op, int bf, uint16_t *restrict d, const uint16_t *restrict s, size_t n) {
  if (!f16_ready) f16_table();
  if (bf && (op == OP_SUM || op == OP_PROD)) {
    if (op == OP_SUM) for (size_t i = 0; i < n; i++) d[i] = bf16_of(bf16_value(d[i]) + bf16_value(s[i]));
    else for (size_t i = 0; i < n; i++) d[i] = bf16_of(bf16_value(d[i]) * bf16_value(s[i]));
    return 0;
  }
  if (!bf && (op == OP_SUM || op == OP_PROD) && f16c()) return f16_simd(op, d, s, n), 0;
  switch (op) {
    case OP_SUM: HALF_LOOP((float)(a + b)) return 0;
    case OP_PROD: HALF_LOOP((float)(a * b)) return 0;
    case OP_MIN: HALF_LOOP(min_double(a, b)) return 0;
    case OP_MAX: HALF_LOOP(max_double(a, b)) return 0;
  }
  return -1;
}

/* reduceHalf(op, format, dst, src): Uint16Arrays of float16 (format 0) or bfloat16 (1) patterns. */
static napi_value js_reduce_half(napi_env env, napi_callback_info info) {
  size_t argc = 4, nd, ns, off;
  napi_value argv[4], ab;
  int32_t op, format;
  int td, ts;
  void *pd, *ps;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < 4 || napi_get_value_int32(env, argv[0], &op) ||
      napi_get_value_int32(env, argv[1], &format) || napi_get_typedarray_info(env, argv[2], &td, &nd, &pd, &ab, &off) ||
      napi_get_typedarray_info(env, argv[3], &ts, &ns, &ps, &ab, &off) || td != T_U16 || ts != T_U16 || ns < nd) {
    napi_throw_error(env, "TSRUN_NATIVE", "reduceHalf(op, format, dst, src) needs an op code, a format and two Uint16Arrays");
    return NULL;
  }
  if (nd > 0 && half_kernel(op, format == 1, pd, ps, nd) != 0) napi_throw_error(env, "TSRUN_NATIVE", "reduceHalf: op does not apply");
  return NULL;
}

