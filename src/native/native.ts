/**
 * tsrun's native helpers (tsrun.c beside this file): reduction kernels at memory speed and shared mappings for
 * the intra-host transport. The C file is compiled on first use with the machine's C compiler (`cc`, or $CC)
 * into a cache directory, keyed by its contents and the platform, then loaded as a Node-API module; nothing is
 * downloaded and no build runs at install time, so `npm install` stays a plain copy. The launcher builds it
 * once before it starts local ranks. Where there is no compiler, or TSRUN_NATIVE=0, tsrun runs on its
 * JavaScript kernels and ZeroMQ alone and says so once.
 *
 * Like Open MPI's "sm" and NCCL's SHM transports we map shared files; unlike a prebuilt addon (zeromq ships
 * those) a 200-line C file builds in under a second everywhere Node runs on Linux, and a self-test against the
 * JavaScript kernels guards the declarations before anything uses it.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setting } from '../settings.ts'

/** What tsrun.c exports. */
export interface NativeModule {
  /** `dst[i] = op(dst[i], src[i])` for `dst.length` elements; op codes as in `NATIVE_OPS` (`div`, floats only: `dst[i] / src[0]`). */
  reduce(op: number, dst: ArrayBufferView, src: ArrayBufferView): void
  /** The same on 16-bit float patterns (Uint16Arrays): format 0 float16, 1 bfloat16 (sum, prod, min, max). */
  reduceHalf?(op: number, format: number, dst: ArrayBufferView, src: ArrayBufferView): void
  /** Float32Array/Float64Array to half patterns (Uint16Array), rounded to nearest even, or back. */
  halfConvert?(format: number, src: ArrayBufferView, dst: ArrayBufferView): void
  /** Node-API's code of a TypedArray's type (0 Int8Array … 10 BigUint64Array). */
  typeOf(array: ArrayBufferView): number
  /**
   * Maps `path` shared and read-write; `create` makes a new file of `bytes` (failing if it exists) and reserves
   * its pages (a full tmpfs throws, code ENOSPC); opening, 0 bytes maps the whole file.
   */
  mapShared(path: string, bytes: number, create: boolean): ArrayBuffer
  /** Raises this process's soft limit on open files to its hard limit; 0, or the errno of setrlimit. */
  raiseFileLimit?(): number
  /** The address of a view's first byte in this process (for a peer's `cmaRead`). */
  addressOf?(view: ArrayBufferView): number
  /** Copies `dst.byteLength` bytes at `address` in process `pid` into `dst` (process_vm_readv); bytes, or -errno. */
  cmaRead?(pid: number, address: number, dst: ArrayBufferView): number
  /** 1 if this user's processes may read this one with `cmaRead` (Yama and seccomp permitting; see tsrun.c). */
  singleCopyProbe?(): number
  /** The shared-memory queue and fragment pool of transport/shm (shm.h says what each does). */
  shmInit(segment: ArrayBuffer, cells: number, cellBytes: number, frags: number, fragBytes: number, world: number): void
  shmPush(segment: ArrayBuffer, head: Uint8Array, body: Uint8Array): number
  shmPop(segment: ArrayBuffer, dst: Uint8Array): number
  shmArm(segment: ArrayBuffer, on: boolean): number
  shmWait(segment: ArrayBuffer, ns: number): number
  shmTake(segment: ArrayBuffer, hint: number): number
  shmFree(segment: ArrayBuffer, fragment: number): number
  shmWantSpace(segment: ArrayBuffer, rank: number): number
  shmSpaceWaiters(segment: ArrayBuffer, out: Int32Array): number
  shmMapped(segment: ArrayBuffer): number
  shmGeometry(segment: ArrayBuffer, out: Float64Array): number
}

/** Op codes of `reduce`. */
export const NATIVE_OPS = { sum: 0, prod: 1, min: 2, max: 3, band: 4, bor: 5, bxor: 6, div: 7 } as const

const TYPES = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
]

let loaded: { mod?: NativeModule; why?: string } | undefined

/** The native module, building it on first use; undefined where it cannot be had (see `nativeUnavailable`). */
export function native(): NativeModule | undefined {
  loaded ??= load()
  return loaded.mod
}

/** Why the native module is not in use, or undefined when it is. */
export function nativeUnavailable(): string | undefined {
  loaded ??= load()
  return loaded.why
}

/** Builds the module if it is not in the cache yet (the launcher calls this before starting ranks). */
export function prepareNative(): string | undefined {
  return nativeUnavailable()
}

function load(): { mod?: NativeModule; why?: string } {
  if (!setting('TSRUN_NATIVE')) return { why: 'TSRUN_NATIVE=0' }
  if (process.platform === 'win32') return { why: 'not supported on Windows' }
  const source = fileURLToPath(new URL('./tsrun.c', import.meta.url))
  let path: string
  try {
    const cc = setting('CC')
    const key = createHash('sha256')
      .update(readFileSync(source))
      .update(readFileSync(fileURLToPath(new URL('./half.h', import.meta.url))))
      .update(readFileSync(fileURLToPath(new URL('./shm.h', import.meta.url))))
      .update(readFileSync(fileURLToPath(new URL('./cma.h', import.meta.url))))
      .update(`${process.platform}/${process.arch}/${process.versions.modules}/${cc}`)
      .digest('hex')
      .slice(0, 16)
    path = join(tsrunCacheDir(), `tsrun-native-${key}.node`)
    if (!existsSync(path)) build(cc, source, path)
  } catch (err) {
    return { why: (err as Error).message }
  }
  try {
    const m = { exports: {} as NativeModule }
    process.dlopen(m, path)
    selfTest(m.exports)
    return { mod: m.exports }
  } catch (err) {
    return { why: `${path} does not work here: ${(err as Error).message}` }
  }
}

/** tsrun's cache directory on this host (TSRUN_CACHE_DIR, the XDG cache, ~/.cache/tsrun or a private one in /tmp). */
export function tsrunCacheDir(): string {
  const xdg = setting('XDG_CACHE_HOME')
  const dirs = [
    setting('TSRUN_CACHE_DIR'),
    xdg && join(xdg, 'tsrun'),
    join(homedir(), '.cache', 'tsrun'),
    join(tmpdir(), `tsrun-cache-${process.getuid?.() ?? 'user'}`),
  ]
  for (const dir of dirs) {
    if (!dir) continue
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      return dir
    } catch {
      // not writable: try the next one
    }
  }
  throw new Error('no writable cache directory (set TSRUN_CACHE_DIR)')
}

/** Compiles into a private temporary name, then renames: ranks that build at once never load half a file. */
function build(cc: string, source: string, path: string): void {
  const tmp = `${path}.${process.pid}.tmp`
  const args = ['-O3', '-std=gnu11', '-fPIC', '-shared', ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []), '-o', tmp, source]
  try {
    execFileSync(cc, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 })
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer }
    const why =
      e.code === 'ENOENT'
        ? `no C compiler (${cc}) found; install one (e.g. apt-get install gcc) or set CC`
        : `${cc} failed: ${String(e.stderr ?? e.message)
            .trim()
            .split('\n')
            .slice(0, 3)
            .join(' ')}`
    throw new Error(why)
  }
}

/** The declarations in tsrun.c must match this Node: type codes, and a few results that JavaScript also computes. */
function selfTest(m: NativeModule): void {
  TYPES.forEach((T, code) => {
    if (m.typeOf(new T(1)) !== code) throw new Error(`type code of ${T.name} is ${m.typeOf(new T(1))}, expected ${code}`)
  })
  const d = new Float64Array([1, -0, NaN, 3])
  m.reduce(NATIVE_OPS.sum, d, new Float64Array([2, 0, 1, 4]))
  const i = new Int32Array([2147483647, -3])
  m.reduce(NATIVE_OPS.prod, i, new Int32Array([2147483647, 5]))
  const q = new Float32Array([1, -7, 0.1])
  m.reduce(NATIVE_OPS.div, q, new Float32Array([3]))
  if (
    d[0] !== 3 ||
    !Object.is(d[1], 0) ||
    !Number.isNaN(d[2]) ||
    d[3] !== 7 ||
    i[0] !== 1 ||
    i[1] !== -15 ||
    q[0] !== Math.fround(1 / 3) ||
    q[2] !== Math.fround(Math.fround(0.1) / 3)
  )
    throw new Error('self-test results differ from JavaScript')
}
