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
 * their exact times. Before each jump it lets the program settle: other fibers run, and real I/O
 * (a store over the network) finishes, until the set of pending wake-ups has stayed the same for
 * `quiet` of real time (default 5 ms). While nothing waits on the clock (the program is doing
 * I/O), it waits in real time rather than moving the clock.
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
  options?: {
    readonly maxTime?: Duration.DurationInput | undefined
    readonly quiet?: Duration.DurationInput | undefined
  }
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    const start = yield* TestClock.currentTimeMillis
    const limit = start + Duration.toMillis(options?.maxTime ?? Duration.days(365))
    const quiet = Duration.decode(options?.quiet ?? DEFAULT_QUIET)
    while (true) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      const next = yield* settle(quiet)
      if (Option.isSome(yield* Fiber.poll(fiber))) continue
      if (next === Infinity) continue // busy with I/O, or waiting on something else: settle again
      if (next > limit) return yield* Fiber.join(fiber)
      const now = yield* TestClock.currentTimeMillis
      if (next > now) yield* TestClock.setTime(next)
    }
  })

const DEFAULT_QUIET = Duration.millis(5)

const earliest = Effect.map(TestClock.sleeps(), (sleeps) => Chunk.reduce(sleeps, Infinity, (min, at) => Math.min(min, at)))

const signature = Effect.map(TestClock.sleeps(), (sleeps) => Chunk.join(Chunk.map(sleeps, String), ","))

/**
 * Lets the program settle: yields to other fibers, then waits in real time until the pending
 * wake-ups have not changed for `quiet`. Returns the earliest pending wake-up (Infinity: none).
 */
const settle = (quiet: Duration.Duration): Effect.Effect<number> =>
  Effect.gen(function*() {
    let previous = yield* Effect.zipRight(Effect.repeatN(Effect.yieldNow(), 10), signature)
    for (let round = 0; round < 100; round++) {
      yield* TestServices.provideLive(Effect.sleep(quiet))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      const current = yield* signature
      if (current === previous) break
      previous = current
    }
    return yield* earliest
  })

/**
 * Advances the `TestClock` by `duration` in jumps to each pending wake-up in between, letting the
 * program settle (as `runWithTestClock` does) before each jump, so the fibers that wake run before
 * the next one (unlike one `TestClock.adjust`, which fires them all at the end time).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const advance = (
  duration: Duration.DurationInput,
  options?: { readonly quiet?: Duration.DurationInput | undefined }
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const quiet = Duration.decode(options?.quiet ?? DEFAULT_QUIET)
    const target = (yield* TestClock.currentTimeMillis) + Duration.toMillis(duration)
    while (true) {
      const next = yield* settle(quiet)
      if (next > target) break
      const now = yield* TestClock.currentTimeMillis
      if (next > now) yield* TestClock.setTime(next)
      else yield* TestClock.adjust(0)
    }
    yield* TestClock.setTime(target)
    yield* settle(quiet)
  })
