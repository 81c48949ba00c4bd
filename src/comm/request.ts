/**
 * Requests: handles on operations under way, for code ported from MPI (MPI_Request with Test, Wait, Waitall,
 * Waitany). Every tsrun call already starts at once and returns a promise; a Request wraps one so that it can
 * be polled (`test()`) as well as awaited. A Request is a thenable: `await req` works too.
 */
import { describe } from '../dtype.ts'
import { UsageError } from '../errors.ts'

/** What `test()` says: not done yet, or done with the operation's value. */
export type TestResult<T> = { done: false } | { done: true; value: T }

/**
 * An operation under way. `test()` sees completion once the event loop has run since it happened, so a
 * polling loop must yield between tests (`await new Promise(setImmediate)`), as MPI progress needs MPI calls.
 *
 * @example
 * ```ts
 * const req = world.irecv(0, { tag: 1 })
 * while (!req.test().done) await doSomeWork()          // doSomeWork awaits now and then
 * const { data } = await req
 * ```
 */
export class Request<T = unknown> implements PromiseLike<T> {
  private state: 'pending' | 'done' | 'failed' = 'pending'
  private value: T | undefined
  private error: unknown
  private readonly promise: Promise<T>

  constructor(operation: Promise<T>) {
    this.promise = operation
    // Settles the state; also keeps a failure that nobody has asked for yet from being an unhandled rejection.
    operation.then(
      (v) => {
        this.state = 'done'
        this.value = v
      },
      (e) => {
        this.state = 'failed'
        this.error = e
      },
    )
  }

  /** True once the operation has completed or failed. */
  get done(): boolean {
    return this.state !== 'pending'
  }

  /**
   * Whether the operation has completed, and its value (MPI_Test). Throws the operation's error if it failed.
   *
   * @example
   * ```ts
   * const t = req.test()
   * if (t.done) use(t.value)
   * ```
   */
  test(): TestResult<T> {
    if (this.state === 'failed') throw this.error
    return this.state === 'done' ? { done: true, value: this.value as T } : { done: false }
  }

  /**
   * Resolves with the operation's value (MPI_Wait).
   *
   * @example
   * ```ts
   * const { data } = await world.irecv(0).wait()
   * ```
   */
  wait(): Promise<T> {
    return this.promise
  }

  // biome-ignore lint/suspicious/noThenProperty: a Request is a thenable on purpose, so `await req` works (see the class doc)
  then<A = T, B = never>(onFulfilled?: ((v: T) => A | PromiseLike<A>) | null, onRejected?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.promise.then(onFulfilled, onRejected)
  }

  /**
   * Waits for every request; resolves to their values in order, or fails with the first failure (MPI_Waitall).
   *
   * @example
   * ```ts
   * const [a, b] = await Request.waitAll([world.irecv(0), world.irecv(1)])
   * ```
   */
  static waitAll<T>(requests: readonly Request<T>[]): Promise<T[]> {
    return Promise.all(check(requests).map((r) => r.promise))
  }

  /**
   * Waits for the first request to complete; resolves to its index and value (MPI_Waitany). An empty list
   * resolves to index -1.
   *
   * @example
   * ```ts
   * const { index, value } = await Request.waitAny(receives)
   * ```
   */
  static waitAny<T>(requests: readonly Request<T>[]): Promise<{ index: number; value: T | undefined }> {
    if (check(requests).length === 0) return Promise.resolve({ index: -1, value: undefined })
    return Promise.race(requests.map((r, index) => r.promise.then((value) => ({ index, value }))))
  }

  /**
   * Every request's value if all have completed, else `{ done: false }` (MPI_Testall).
   *
   * @example
   * ```ts
   * const t = Request.testAll(sends)
   * ```
   */
  static testAll<T>(requests: readonly Request<T>[]): TestResult<T[]> {
    const results = check(requests).map((r) => r.test())
    return results.every((t) => t.done) ? { done: true, value: results.map((t) => (t as { value: T }).value) } : { done: false }
  }

  /**
   * The index and value of a completed request, or undefined if none has completed (MPI_Testany).
   *
   * @example
   * ```ts
   * const first = Request.testAny(receives)
   * ```
   */
  static testAny<T>(requests: readonly Request<T>[]): { index: number; value: T } | undefined {
    for (const [index, r] of check(requests).entries()) {
      const t = r.test()
      if (t.done) return { index, value: t.value }
    }
    return undefined
  }
}

function check<T>(requests: readonly Request<T>[]): readonly Request<T>[] {
  if (!Array.isArray(requests) || !requests.every((r) => r instanceof Request)) {
    throw new UsageError(`expected an array of Requests (from isend, irecv, iallreduce, ...), got ${describe(requests)}`)
  }
  return requests
}
