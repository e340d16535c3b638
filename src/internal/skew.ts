/**
 * The worker's clock against the store's.
 *
 * Leases and timers are times of the workers' clocks, compared by the store with the time the
 * claiming worker gives (never the database's own clock, so `TestClock` drives tests). Workers
 * whose clocks disagree therefore disagree on leases: a worker whose clock is ahead by more than
 * two thirds of the lease takes over live leases at every renewal gap (steps run twice), and fires
 * timers early by its skew. So each worker measures its clock against the store's (PostgreSQL:
 * the server's `clock_timestamp()`; memory and SQLite have none apart from the machine's, and are
 * not checked) when it starts and then every third of its lease, on the real clock. Beyond the
 * bound (a sixth of the lease: 5 seconds with the default 30), it logs an error and claims nothing
 * until a measurement is back within it; flows it already runs go on.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type { ExecutionLog } from "../ExecutionLog.js"

/** The largest skew a worker claims under: a sixth of its lease. */
export const boundFor = (leaseMillis: number): number => Math.floor(leaseMillis / 6)

/** One measurement: the store's clock minus this process's, and how precise that is. */
export interface Measurement {
  readonly offsetMillis: number
  /** Half the round trip: the offset is known within this. */
  readonly uncertaintyMillis: number
}

const liveClock = Clock.make()

/** Measures the offset of the store's clock from this process's real clock (none without a store clock). */
export const measure = (log: ExecutionLog.Service): Effect.Effect<Measurement | undefined> => {
  const storeTime = log.storeTime
  if (storeTime === undefined) return Effect.succeed(undefined)
  return Effect.gen(function*() {
    const before = yield* liveClock.currentTimeMillis
    const store = yield* storeTime
    const after = yield* liveClock.currentTimeMillis
    return { offsetMillis: store - (before + after) / 2, uncertaintyMillis: (after - before) / 2 }
  }).pipe(
    // A store that cannot be reached says nothing about clocks: the claims will fail on their own.
    Effect.orElseSucceed(() => undefined)
  )
}

/** Whether a measurement shows a skew beyond `bound` for certain (its uncertainty taken off). */
export const beyond = (measurement: Measurement, bound: number): boolean =>
  Math.abs(measurement.offsetMillis) - measurement.uncertaintyMillis > bound

/**
 * Checks the clock now and then every third of the lease, for as long as the scope is open, and
 * tells whether the worker may claim. Logs `clock-skew` (an error) when a measurement goes beyond
 * the bound, and `clock-skew-resolved` when it comes back.
 */
export const guard = (
  log: ExecutionLog.Service,
  leaseMillis: number
): Effect.Effect<Effect.Effect<boolean>, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (log.storeTime === undefined) return Effect.succeed(true)
    const bound = boundFor(leaseMillis)
    const allowed = yield* Ref.make(true)
    const check = Effect.gen(function*() {
      const measurement = yield* measure(log)
      if (measurement === undefined) return
      const skewed = beyond(measurement, bound)
      const was = yield* Ref.getAndSet(allowed, !skewed)
      const details = {
        offsetMillis: Math.round(measurement.offsetMillis),
        uncertaintyMillis: Math.round(measurement.uncertaintyMillis),
        boundMillis: bound
      }
      if (skewed) {
        yield* Effect.logError("ergon.worker", {
          event: "clock-skew",
          ...details,
          detail: "this machine's clock differs from the store's by more than the bound: the worker claims nothing until it is back within it (see docs/deployment.md, clock skew)"
        })
      } else if (!was) {
        yield* Effect.logWarning("ergon.worker", { event: "clock-skew-resolved", ...details })
      }
    })
    yield* check
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(Math.max(1, leaseMillis / 3))), check)).pipe(
        Effect.withClock(liveClock)
      )
    )
    return Ref.get(allowed)
  })
