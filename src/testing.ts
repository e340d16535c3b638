/**
 * Helpers for testing flows with Effect's `TestClock`: hours of durable sleep, retry backoffs
 * and timeouts run in milliseconds of test time.
 *
 * ```ts
 * it.effect("ships after the two-hour wait", () =>
 *   Effect.gen(function* () {
 *     const outcome = yield* Testing.runWithTestClock(Executor.execute(OrderFlow, order, { id: "o-1" }))
 *     // …
 *   }).pipe(Effect.provide(ExecutionLog.layerMemory)))
 * ```
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"

/**
 * Runs `effect` while driving the `TestClock`: whenever everything waits on the clock, time jumps
 * to the earliest pending wake-up (never past it), so sleeps and backoffs fire in order and at
 * their exact times. Between jumps it lets other fibers (and real I/O, such as a store's writes)
 * make progress.
 *
 * Stops moving time once `maxTime` (default 365 days) of test time has passed and then waits for
 * the effect like `Fiber.join`. Use it for effects that end (an execution, a flow's result), not
 * for a worker loop that runs forever.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const runWithTestClock = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options?: { readonly maxTime?: Duration.DurationInput | undefined }
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    const start = yield* TestClock.currentTimeMillis
    const limit = start + Duration.toMillis(options?.maxTime ?? Duration.days(365))
    while (true) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      yield* settle
      if (Option.isSome(yield* Fiber.poll(fiber))) continue
      const sleeps = yield* TestClock.sleeps()
      const next = Chunk.reduce(sleeps, Infinity, (min, at) => Math.min(min, at))
      if (next === Infinity || next > limit) return yield* Fiber.join(fiber)
      const now = yield* TestClock.currentTimeMillis
      if (next > now) yield* TestClock.setTime(next)
    }
  })

/** Lets other fibers run until they block, with a short real pause for I/O to finish. */
const settle = Effect.zipRight(
  Effect.repeatN(Effect.yieldNow(), 10),
  TestServices.provideLive(Effect.sleep(Duration.millis(1)))
)

/**
 * Advances the `TestClock` by `duration` in jumps to each pending wake-up in between, letting the
 * fibers that wake run before the next jump (unlike one `TestClock.adjust`, which fires them all
 * at the end time).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const advance = (duration: Duration.DurationInput): Effect.Effect<void> =>
  Effect.gen(function*() {
    const target = (yield* TestClock.currentTimeMillis) + Duration.toMillis(duration)
    while (true) {
      yield* settle
      const sleeps = yield* TestClock.sleeps()
      const next = Chunk.reduce(sleeps, Infinity, (min, at) => Math.min(min, at))
      if (next > target) break
      const now = yield* TestClock.currentTimeMillis
      if (next > now) yield* TestClock.setTime(next)
      else yield* TestClock.adjust(0)
    }
    yield* TestClock.setTime(target)
    yield* settle
  })
