/**
 * Durable timers: `Flow.sleep`, `Flow.sleepUntil`.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { FlowInstance, SuspendReason } from "./instance.js"
import * as journal from "./journal.js"

const TimerRecord = Schema.Struct({ until: Schema.Number })
const decodeTimer = Schema.decodeUnknownEither(TimerRecord)

/**
 * A durable timer: the fire time is computed once (from `Clock`) and recorded, then the timer is
 * a durable wait (spent in memory when it is short, suspending the flow otherwise). A timer whose
 * recorded time has passed meanwhile still waits its turn: of several due waits, the earliest
 * fires first, as it would have had the process never stopped.
 */
export const sleepUntil = (name: string, fireAt: (now: number) => number): Effect.Effect<void, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(journal.begin(instance, name, "timer"), (begun) =>
      Effect.gen(function*() {
        const recorded = begun.recorded
        if (recorded?.status === "completed") return yield* journal.inTurn(instance, recorded)
        const now = yield* Clock.currentTimeMillis
        let until: number
        if (recorded?.status === "waiting") {
          until = (yield* journal.decode(
            instance,
            begun.key,
            String(TimerRecord.ast),
            (u) => Either.map(decodeTimer(u), (timer) => timer.until),
            recorded.exit
          ))
        } else {
          until = fireAt(now)
          // A time already past fires at once: nothing to wait for, nothing to declare.
          if (until <= now) {
            yield* journal.complete(instance, begun, {
              inputHash: null,
              exit: { until },
              attempts: 1,
              startedAt: now,
              completedAt: now
            })
            return
          }
          yield* journal.declare(instance, begun, {
            inputHash: null,
            status: "waiting",
            exit: { until },
            attempts: 0,
            nextAttemptAt: until,
            startedAt: now,
            completedAt: null
          })
        }
        const startedAt = recorded?.startedAt ?? now
        yield* journal.park(instance, {
          key: begun.key,
          reason: SuspendReason.Timer({ key: begun.key, until }),
          until,
          signal: undefined,
          childId: undefined
        }, () =>
          Effect.flatMap(Clock.currentTimeMillis, (firedAt) =>
            Effect.asVoid(journal.complete(instance, begun, {
              inputHash: null,
              exit: { until },
              attempts: 1,
              startedAt,
              completedAt: firedAt
            }))))
      })))

/**
 * The clock a flow's program runs on: the process's time, and a `sleep` that is a durable timer.
 * So whatever sleeps in a flow — `Effect.sleep`, `Effect.timeout`, `Effect.retry` with a
 * `Schedule`, `Effect.delay` — waits on durable time, and races with it have the semantics of
 * time. Steps run on the process's own clock.
 */
export const flowClock = (instance: FlowInstance.Service): Clock.Clock => {
  const clock = instance.clock
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => clock.unsafeCurrentTimeMillis(),
    currentTimeMillis: clock.currentTimeMillis,
    unsafeCurrentTimeNanos: () => clock.unsafeCurrentTimeNanos(),
    currentTimeNanos: clock.currentTimeNanos,
    sleep: (duration) => {
      const millis = Duration.toMillis(duration)
      return Effect.provideService(sleepUntil("$sleep", (now) => now + millis), FlowInstance, instance)
    }
  }
}
