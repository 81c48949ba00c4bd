/*
 * Half precision for tsrun.c (included there, after its kernels): float16 (10 mantissa bits, bias 15) and
 * bfloat16 (7, bias 127) patterns in uint16_t, decoded to doubles exactly and rounded back once, to nearest
 * even, exactly as src/half.ts does, so ranks with and without the native module agree bit for bit.
 */
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

#define HALF_LOOP(EXPR) for (size_t i = 0; i < n; i++) { double a = half_value(d[i], bf), b = half_value(s[i], bf); d[i] = half_bits((EXPR), bf); }

static int half_kernel(int op, int bf, uint16_t *restrict d, const uint16_t *restrict s, size_t n) {
  if (!f16_ready) f16_table();
  switch (op) {
    case OP_SUM: HALF_LOOP(a + b) return 0;
    case OP_PROD: HALF_LOOP(a * b) return 0;
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

