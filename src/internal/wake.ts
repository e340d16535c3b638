import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ExecutionLog } from "../ExecutionLog.js"

/**
 * In-process wake-ups: scheduling a flow, sending a signal, a flow ending or being cancelled
 * notifies the workers and waiters of this process that share the same store, so they look again
 * at once instead of at their next poll. Across processes, they poll (with backoff) or use the
 * store's own notifications.
 *
 * A waiter passes the version it last saw, so a notification that came between its last look and
 * its wait is not lost.
 */
interface Hub {
  version: number
  readonly listeners: Set<() => void>
}

// Keyed by the store service, so each store (each Layer build) has its own hub, gone with it.
const hubs = new WeakMap<ExecutionLog.Service, Hub>()

const hubOf = (log: ExecutionLog.Service): Hub => {
  let hub = hubs.get(log)
  if (hub === undefined) {
    hub = { version: 0, listeners: new Set() }
    hubs.set(log, hub)
  }
  return hub
}

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

const liveClock = Clock.make()

/**
 * A poll interval, measured on the real clock even under `TestClock`: polling for work of other
 * processes is not durable time (timers, leases and backoffs are, and use the `Clock` service).
 */
export const pollSleep = (duration: Duration.Duration): Effect.Effect<void> =>
  Effect.withClock(Effect.sleep(duration), liveClock)
