import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import type { ExecutionLog, WorkerRow } from "../ExecutionLog.js"
import type { StoreError } from "../FlowError.js"
import * as wake from "./wake.js"

/**
 * The registry of live workers in the store: a worker registers when it starts, refreshes its
 * registration with its heartbeat and removes it when it stops gracefully; a registration whose
 * `expiresAt` has passed is a dead worker's. Readers (the client, the scheduler's check, the
 * workers' own stuck checks) judge liveness with the Clock's time.
 */

/** Whether a registration is live at `now`. */
export const isLive = (row: WorkerRow, now: number): boolean => row.expiresAt >= now

/**
 * Whether a worker takes flows of `type` at `version`: it registered the type, and a versioned
 * worker takes its version and unversioned flows, an unversioned one only unversioned flows.
 */
export const accepts = (row: WorkerRow, type: string, version: string | null): boolean =>
  row.types.includes(type) && (version === null || row.version === version)

/** How long a dead worker's registration is kept (shown as dead) before a starting worker prunes it. */
const KEEP_DEAD_MILLIS = Duration.toMillis("1 day")

/** What a worker registers. */
export interface Registration {
  readonly id: string
  readonly name: string
  readonly version: string | null
  readonly types: ReadonlyArray<string>
  readonly timers: boolean
  readonly signals: boolean
  readonly concurrency: number
}

/**
 * Registers a worker for as long as the scope is open: written now, refreshed every `beat` (on the
 * real clock: it is about the process being alive, not durable time) to live until `ttl` after the
 * Clock's time, and removed when the scope closes. A registration that vanished (pruned by another
 * worker after this one could not reach the store for a day) is written again.
 */
export const register = (
  log: ExecutionLog.Service,
  registration: Registration,
  options: { readonly beat: Duration.Duration; readonly ttl: Duration.Duration; readonly inFlight: () => number }
): Effect.Effect<WorkerRow, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const ttl = Duration.toMillis(options.ttl)
    const now = yield* Clock.currentTimeMillis
    const row: WorkerRow = {
      ...registration,
      host: os.hostname(),
      pid: process.pid,
      inFlight: 0,
      startedAt: now,
      heartbeatAt: now,
      expiresAt: now + ttl
    }
    yield* log.registerWorker(row)
    yield* Effect.ignore(log.pruneWorkers(now - KEEP_DEAD_MILLIS))
    invalidate(log)
    const beat = Effect.gen(function*() {
      yield* wake.pollSleep(options.beat)
      const at = yield* Clock.currentTimeMillis
      const inFlight = options.inFlight()
      const refreshed = yield* log.heartbeatWorker(row.id, at, at + ttl, inFlight)
      if (!refreshed) yield* log.registerWorker({ ...row, heartbeatAt: at, expiresAt: at + ttl, inFlight })
    }).pipe(Effect.ignore)
    const fiber = yield* Effect.forkDaemon(Effect.forever(beat))
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Fiber.interrupt(fiber),
        Effect.ignore(log.removeWorker(row.id)).pipe(Effect.ensuring(Effect.sync(() => invalidate(log))))
      )
    )
    return row
  })

// ---------------------------------------------------------------------------------------------
// The scheduler's view: live workers, cached for a few seconds per store
// ---------------------------------------------------------------------------------------------

interface Cached {
  /** When they were read, in real time. */
  readonly at: number
  /** The registrations that were live then (by the Clock). */
  readonly live: ReadonlyArray<WorkerRow>
}

// Keyed by the store service, as wake-ups are: each store (each Layer build) has its own.
const caches = new WeakMap<ExecutionLog.Service, Cached>()

/** How long `schedule` trusts the registrations it read, in real time. */
const CACHE_MILLIS = 5_000

/** Forgets the cached registrations of `log` (a worker of this process registered or stopped). */
const invalidate = (log: ExecutionLog.Service): void => {
  caches.delete(log)
}

/**
 * The live workers of `log`, read at most every few seconds (in real time): `schedule` checks
 * what it scheduled against them without a query per flow. A worker of this process that starts
 * or stops is seen at once.
 */
export const cachedLiveWorkers = (log: ExecutionLog.Service): Effect.Effect<ReadonlyArray<WorkerRow>, StoreError> =>
  Effect.suspend(() => {
    const cached = caches.get(log)
    const realNow = Date.now()
    if (cached !== undefined && realNow - cached.at < CACHE_MILLIS) return Effect.succeed(cached.live)
    return Effect.gen(function*() {
      const workers = yield* log.listWorkers()
      const now = yield* Clock.currentTimeMillis
      const live = workers.filter((worker) => isLive(worker, now))
      caches.set(log, { at: realNow, live })
      return live
    })
  })

// ---------------------------------------------------------------------------------------------
// Warnings: once per reason, then at most every ten minutes while it lasts
// ---------------------------------------------------------------------------------------------

const warned = new WeakMap<ExecutionLog.Service, Map<string, number>>()

/** How long a warning about one reason stays quiet once logged, in real time. */
export const WARN_EVERY_MILLIS = Duration.toMillis("10 minutes")

/** Whether a warning with this key may be logged now (and, if so, notes that it was). */
export const shouldWarn = (log: ExecutionLog.Service, key: string): Effect.Effect<boolean> =>
  Effect.sync(() => {
    let byKey = warned.get(log)
    if (byKey === undefined) {
      byKey = new Map()
      warned.set(log, byKey)
    }
    const realNow = Date.now()
    const last = byKey.get(key)
    if (last !== undefined && realNow - last < WARN_EVERY_MILLIS) return false
    byKey.set(key, realNow)
    return true
  })
