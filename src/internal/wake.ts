import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ExecutionLog, Hub } from "../ExecutionLog.js"

/**
 * In-process wake-ups: scheduling a flow, sending a signal, a flow ending or being cancelled
 * notifies the workers and waiters of this process that share the same store, so they look again
 * at once instead of at their next poll. Across processes, they poll (with backoff) or, when the
 * store has notifications (`ExecutionLog.Service.changes`, PostgreSQL's LISTEN/NOTIFY), `follow`
 * turns those into the same in-process wake-ups.
 *
 * A waiter passes the version it last saw, so a notification that came between its last look and
 * its wait is not lost.
 */
// Each store service (each Layer build) has its hub, gone with it.
const hubOf = (log: ExecutionLog.Service): Hub => log.hub

/** The current notification count: pass it to `wait` to wait for anything newer. */
export const version = (log: ExecutionLog.Service): Effect.Effect<number> => Effect.sync(() => hubOf(log).version)

/** Wakes every waiter on this store. */
export const notify = (log: ExecutionLog.Service): Effect.Effect<void> =>
  Effect.sync(() => {
    const hub = hubOf(log)
    hub.version++
    const listeners = Array.from(hub.listeners)
    hub.listeners.clear()
    for (const listener of listeners) listener()
  })

/** Waits for a notification newer than `seen` (at once if there already is one). */
export const wait = (log: ExecutionLog.Service, seen: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const hub = hubOf(log)
    if (hub.version !== seen) return resume(Effect.void)
    const listener = () => resume(Effect.void)
    hub.listeners.add(listener)
    return Effect.sync(() => void hub.listeners.delete(listener))
  })

/** A flow's end, as a run of this process wrote it. */
export type Ended = Hub["ended"] extends Map<string, infer E> ? E : never

// A handle gone (garbage collected) no longer awaits its flow.
const released = new FinalizationRegistry<{ readonly hub: Hub; readonly id: string }>(({ hub, id }) => {
  const count = (hub.awaited.get(id) ?? 1) - 1
  if (count > 0) return void hub.awaited.set(id, count)
  hub.awaited.delete(id)
  hub.ended.delete(id)
})

/**
 * `holder`, a handle of this process, may await flow `id`: when a run of this process writes the
 * flow's end, the end is kept for it (see `takeEnded`), so the await needs no read of the store.
 * Kept until a handle takes it, or every handle that could is gone.
 */
export const expectEnd = (log: ExecutionLog.Service, id: string, holder: object): void => {
  const hub = hubOf(log)
  hub.awaited.set(id, (hub.awaited.get(id) ?? 0) + 1)
  released.register(holder, { hub, id })
}

/** A run of this process wrote the end of flow `id` (committed): kept when a handle awaits it. */
export const ended = (log: ExecutionLog.Service, id: string, end: Ended): Effect.Effect<void> =>
  Effect.sync(() => {
    const hub = hubOf(log)
    if (hub.awaited.has(id)) hub.ended.set(id, end)
  })

/** A worker of this process starts running flow `id` (its end will be `ended` here, if it ends). */
export const runningHere = (log: ExecutionLog.Service, id: string): void => {
  const local = hubOf(log).local
  local.set(id, (local.get(id) ?? 0) + 1)
}

/** That run is over (ended, suspended, or stopped): call `notify` after it. */
export const notRunningHere = (log: ExecutionLog.Service, id: string): void => {
  const local = hubOf(log).local
  const count = (local.get(id) ?? 1) - 1
  if (count > 0) local.set(id, count)
  else local.delete(id)
}

/** Whether a worker of this process runs flow `id` now: its end comes through `ended`, not a read. */
export const isRunningHere = (log: ExecutionLog.Service, id: string): boolean => hubOf(log).local.has(id)

/** The end of flow `id` a run of this process wrote, taken (a later await reads the store). */
export const takeEnded = (log: ExecutionLog.Service, id: string): Ended | undefined => {
  const hub = hubOf(log)
  const end = hub.ended.get(id)
  if (end !== undefined) hub.ended.delete(id)
  return end
}

const liveClock = Clock.make()

/**
 * A poll interval, measured on the real clock even under `TestClock`: polling for work of other
 * processes is not durable time (timers, leases and backoffs are, and use the `Clock` service).
 */
export const pollSleep = (duration: Duration.Duration): Effect.Effect<void> =>
  Effect.withClock(Effect.sleep(duration), liveClock)

// Subscribing again after the store's notifications failed (a lost connection): from 100 ms,
// doubling, at most every 10 seconds, forever; on the real clock, like polling.
const resubscribe = Schedule.exponential(Duration.millis(100)).pipe(
  Schedule.either(Schedule.spaced(Duration.seconds(10))),
  Schedule.resetAfter(Duration.minutes(1))
)

/**
 * Follows the store's notifications from other processes (`log.changes`), for as long as the scope
 * is open: each one wakes this process's waiters on `log` (`notify`). Does nothing when the store
 * has no notifications (memory, SQLite): waiters then rely on their polls. One subscription serves
 * every follower of the same store in the process.
 *
 * When the subscription fails (the connection was lost), it is logged and subscribed again with
 * backoff (100 ms doubling to 10 s); each new subscription wakes every waiter once, since
 * notifications sent while it was down are lost. Waiters keep polling meanwhile.
 */
export const follow = (log: ExecutionLog.Service): Effect.Effect<void, never, Scope.Scope> => {
  const changes = log.changes
  if (changes === undefined) return Effect.void
  const subscription = Stream.runForEach(changes, () => notify(log)).pipe(
    // A failed stream (or a defect in its finalizers, as an UNLISTEN on a dead connection).
    Effect.catchAllCause((cause) =>
      Effect.zipRight(Effect.logWarning("ergon.wake", { event: "changes-lost", cause }), Effect.fail(cause))
    ),
    Effect.retry(resubscribe),
    Effect.withClock(liveClock),
    Effect.ignore
  )
  return Effect.acquireRelease(
    Effect.suspend(() => {
      // One subscription per store, however many workers and waiters follow it.
      const current = log.hub.followers
      if (current !== undefined) {
        current.count++
        return Effect.void
      }
      // `interruptible`: a fiber forked in `acquireRelease`'s acquire would inherit its
      // uninterruptibility, and stopping it would wait forever.
      return Effect.map(Effect.forkDaemon(Effect.interruptible(subscription)), (fiber) => {
        log.hub.followers = { count: 1, stop: Effect.asVoid(Fiber.interrupt(fiber)) }
      })
    }),
    () =>
      Effect.suspend(() => {
        const current = log.hub.followers
        if (current === undefined || --current.count > 0) return Effect.void
        log.hub.followers = undefined
        return current.stop
      })
  )
}
