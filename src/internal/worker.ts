import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { ExecutionLog, type Replays } from "../ExecutionLog.js"
import type * as Flow from "../Flow.js"
import {
  type ExecutionError,
  type InvalidVersionError,
  NoFlowsRegisteredError,
  type StoreError,
  type VersionMismatchError
} from "../FlowError.js"
import * as Version from "../Version.js"
import type { Options } from "../Worker.js"
import * as SignalSource from "../SignalSource.js"
import * as executor from "./executor.js"
import { purge } from "./client.js"
import * as skew from "./skew.js"
import * as logs from "./logs.js"
import * as workerRegistry from "./registry.js"
import * as stuck from "./stuck.js"
import * as telemetry from "./telemetry.js"
import * as wake from "./wake.js"

export interface WorkerConfig extends Options {
  readonly name: string
  readonly mode: Version.Mode
  readonly flows: ReadonlyArray<Flow.Any>
}

interface Running {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly epoch: number
  readonly type: string
}

/**
 * The least time between two lease renewals made on a wake-up rather than on the heartbeat: what
 * a cancellation from this process or, through its notifications, from another may wait before a
 * run parked in memory is stopped.
 */
const WAKE_RENEW_GAP_MILLIS = 200

const flowFields = (row: ExecutionLog.FlowRecord) => ({
  "ergon.flow.id": row.id,
  "ergon.flow.type": row.type,
  "ergon.flow.version": row.version
})

/** A flow that ended in failure (its own, or a defect) is logged at error level, with its cause. */
const logOutcome = (row: ExecutionLog.FlowRecord, outcome: executor.Outcome<unknown, unknown>): Effect.Effect<void> => {
  if (outcome._tag !== "Completed" || Exit.isSuccess(outcome.exit) || Cause.isInterruptedOnly(outcome.exit.cause)) {
    return Effect.void
  }
  return logs.log(
    "Error",
    `ergon: flow '${row.id}' (${row.type}) failed`,
    { "ergon.event": "flow-failed", ...flowFields(row), "ergon.flow.attempt": row.attempts },
    outcome.exit.cause
  )
}

/**
 * The lease on a running flow is gone: a cancellation (the flow is `cancelled`) is not a lease
 * lost, and is logged at debug level; anything else means another worker took the flow over after
 * this one stalled past its lease, a warning (and `ergon.leases.lost`).
 */
const leaseGone = (
  flowId: string,
  flowType: string,
  current: Option.Option<ExecutionLog.FlowRecord>,
  error?: string | undefined
): Effect.Effect<void> => {
  if (Option.isSome(current) && current.value.status === "cancelled") {
    return Effect.logDebug("ergon.worker", { event: "cancelled", flowId, flowType })
  }
  const owner = Option.isSome(current) ? current.value.leaseOwner : null
  return Effect.zipRight(
    logs.log(
      "Warning",
      `ergon: lost the lease on flow '${flowId}' (${flowType})${owner === null ? "" : ` to '${owner}'`}: this worker stalled past its lease and another took the flow over; its execution here is stopped`,
      {
        "ergon.event": "lease-lost",
        "ergon.flow.id": flowId,
        "ergon.flow.type": flowType,
        "ergon.lease.owner": owner,
        "ergon.error": error ?? null
      }
    ),
    telemetry.countLeaseLost(flowType)
  )
}

/**
 * An execution that stopped with an engine error: a lost lease (another worker took the flow over)
 * is a warning; a store error too (the flow is resumed later); the others stopped the flow for good
 * (it is `failed` until retried) and are logged at error level.
 */
const logExecutionError = (
  log: ExecutionLog.Service,
  row: ExecutionLog.FlowRecord,
  error: ExecutionError
): Effect.Effect<void> => {
  switch (error._tag) {
    case "LeaseLostError":
      return Effect.flatMap(
        Effect.map(Effect.option(log.getFlow(row.id)), (current) => Option.flatten(current)),
        (current) => leaseGone(row.id, row.type, current, error.message)
      )
    case "StoreError":
      return logs.log(
        "Warning",
        `ergon: the execution of flow '${row.id}' (${row.type}) stopped on a store error; it is resumed later: ${error.message}`,
        { "ergon.event": "execution-error", ...flowFields(row), "ergon.error": error.message }
      )
    default:
      return logs.log(
        "Error",
        `ergon: flow '${row.id}' (${row.type}) was stopped by ${error._tag}; it stays failed until retried ('ergon retry'): ${error.message}`,
        { "ergon.event": "flow-failed", ...flowFields(row), "ergon.error": error._tag }
      )
  }
}

/**
 * How a worker of `version` claims each pinned flow it registered (see `ExecutionLog.Replays`):
 * also the executions stamped with the other versions the flow lists (its code can run, and
 * replay, executions stamped with any of them), and only those not last run under a newer
 * version than its own, so an execution never goes back to older code. None for an unversioned
 * worker (it registers no pinned flow).
 */
export const replaysOf = (
  flows: ReadonlyArray<Flow.Any>,
  version: string | null
): ReadonlyArray<Replays> =>
  version === null ? [] : flows.flatMap((flow) => {
    const pins = flow.versions
    if (pins === undefined || !pins.includes(version)) return []
    return [{
      type: flow.name,
      versions: pins.filter((pin) => pin !== version),
      ranUnder: pins.filter((pin) => Version.compare(pin, version) <= 0)
    }]
  })

/** The versions each pinned flow lists, by type: what the registry of live workers records. */
export const pinsOf = (flows: ReadonlyArray<Flow.Any>): Record<string, ReadonlyArray<string>> =>
  Object.fromEntries(flows.flatMap((flow) => (flow.versions === undefined ? [] : [[flow.name, [...flow.versions]]])))

/**
 * The worker loop: claim ready flows under a lease, run each in its own fiber through the
 * executor (every write fenced by the lease), renew leases by heartbeat, and sleep until the next
 * due time or an in-process wake-up. On interruption it interrupts its executions and releases
 * their flows so another worker takes them at once.
 */
export const run = (
  config: WorkerConfig,
  resolveVersion: Effect.Effect<string | null, InvalidVersionError>,
  checkPins: (flow: Flow.Any, version: string | null) => Effect.Effect<void, VersionMismatchError>
): Effect.Effect<never, StoreError | NoFlowsRegisteredError | InvalidVersionError | VersionMismatchError, any> =>
  Effect.gen(function*() {
    if (config.flows.length === 0) return yield* new NoFlowsRegisteredError({ worker: config.name })
    const log = yield* ExecutionLog
    // Notifications from other processes (PostgreSQL LISTEN/NOTIFY), while the worker runs.
    yield* wake.follow(log)
    const version = yield* resolveVersion
    yield* Effect.forEach(config.flows, (flow) => checkPins(flow, version), { discard: true })
    const registry = new Map(config.flows.map((flow) => [flow.name, flow]))
    const types = Array.from(registry.keys())
    const versions: ReadonlyArray<string | null> = version === null ? [null] : [version, null]
    // A flow that lists this worker's version replays the executions of the other versions it lists.
    const replays = replaysOf(config.flows, version)
    const pins = pinsOf(config.flows)
    const owner = `${config.name}/${crypto.randomUUID().slice(0, 8)}`
    const leaseMillis = Duration.toMillis(config.lease)
    const running = new Map<string, Running>()
    // Claims only while this machine's clock agrees with the store's (see ./skew.js).
    const clockAgrees = yield* skew.guard(log, leaseMillis)
    // Wakes the heartbeat when the first execution starts (it sleeps while nothing runs).
    const started = yield* Queue.sliding<void>(1)

    // Everything this worker logs, its executions' logs included (they are forked from here and
    // inherit it), is annotated with its id: set once, not per execution.
    yield* Effect.annotateLogsScoped({ "ergon.worker": owner })

    const start = (row: ExecutionLog.FlowRecord) =>
      Effect.gen(function*() {
        // `any`: the registry holds flows of every registered type; the executor only needs their schemas.
        const flow = registry.get(row.type)!
        const fence = { owner, epoch: row.leaseEpoch }
        wake.runningHere(log, row.id)
        const fiber = yield* executor.run(flow as any, { _tag: "Stored" }, {
          id: row.id,
          fence,
          claimed: true,
          claimedRow: row,
          suspendAfter: config.suspendAfter
        }).pipe(
          Effect.tap((outcome) => logOutcome(row, outcome)),
          Effect.tapError((error) => logExecutionError(log, row, error)),
          Effect.catchAllDefect((defect) =>
            logs.log(
              "Error",
              `ergon: the execution of flow '${row.id}' (${row.type}) died: ${String(defect)}`,
              { "ergon.event": "execution-defect", ...flowFields(row) },
              Cause.die(defect)
            )
          ),
          Effect.ensuring(Effect.suspend(() => {
            running.delete(row.id)
            wake.notRunningHere(log, row.id)
            return Effect.zipRight(telemetry.inFlight(-1), wake.notify(log))
          })),
          Effect.forkDaemon
        )
        yield* telemetry.inFlight(1)
        const idle = running.size === 0
        running.set(row.id, { fiber, epoch: row.leaseEpoch, type: row.type })
        // (the heartbeat waits for this only while nothing runs)
        if (idle) yield* Queue.offer(started, undefined)
      })

    // When the leases were last renewed (process clock): a wake-up renews them only when the
    // heartbeat has not for a while, so a busy worker's wake-ups (one per flow that ends) are not
    // each a statement that locks every running flow.
    let renewedAt = 0
    /** Renews the leases held; an execution whose lease is gone (taken over, cancelled) is interrupted. */
    const heartbeat = Effect.gen(function*() {
      renewedAt = performance.now()
      if (running.size === 0) return
      const ids = Array.from(running.keys())
      const now = yield* Clock.currentTimeMillis
      const renewed = new Set(yield* log.renewLeases(owner, ids, now, leaseMillis))
      for (const id of ids) {
        const held = running.get(id)
        if (held === undefined || renewed.has(id)) continue
        // Not renewed: either the lease is gone (taken over, or cleared by a cancel), or the run
        // has just written its own end or suspension and is finishing. Only the first is a lost
        // lease; the second must not be cut short.
        const row = yield* log.getFlow(id)
        const stillOurs = Option.isSome(row) && row.value.leaseOwner === owner && row.value.leaseEpoch === held.epoch
        if (stillOurs || running.get(id) !== held) continue
        running.delete(id)
        yield* leaseGone(id, held.type, row)
        yield* Fiber.interruptFork(held.fiber)
      }
    })

    const shutdown = Effect.gen(function*() {
      const held = Array.from(running.entries())
      running.clear()
      yield* Effect.forEach(held, ([, { fiber }]) => Fiber.interrupt(fiber), { discard: true, concurrency: "unbounded" })
      const now = yield* Clock.currentTimeMillis
      yield* Effect.forEach(held, ([id, { epoch }]) =>
        log.releaseFlow(id, { owner, epoch }, now).pipe(Effect.ignore), { discard: true })
      yield* wake.notify(log)
      yield* logs.log(
        "Info",
        `ergon: worker '${config.name}' stopped (${held.length} flow${held.length === 1 ? "" : "s"} released)`,
        { "ergon.event": "worker-stopped", "ergon.worker.name": config.name, "ergon.worker.id": owner, "ergon.released": held.length }
      )
    })

    // In the store's registry of live workers while it runs (see `Client.workers`), refreshed at
    // the pace of lease renewals; dead once a lease's length has passed without a heartbeat.
    const beatMillis = Math.max(1, leaseMillis / 3)
    const registered = yield* workerRegistry.register(log, {
      id: owner,
      name: config.name,
      version,
      types,
      pins,
      timers: config.timers,
      signals: config.signals,
      concurrency: config.concurrency
    }, { beat: Duration.millis(beatMillis), ttl: config.lease, inFlight: () => running.size })
    yield* logs.log(
      "Info",
      `ergon: worker '${config.name}' started (${logs.versionText(version)}; flows ${types.join(", ")}; concurrency ${config.concurrency}; timers ${
        config.timers ? "on" : "off"
      }, signals ${config.signals ? "on" : "off"}; lease ${Duration.format(config.lease)})`,
      {
        "ergon.event": "worker-started",
        "ergon.worker.name": config.name,
        "ergon.worker.id": owner,
        "ergon.worker.version": version,
        "ergon.worker.types": types.join(","),
        "ergon.worker.concurrency": config.concurrency,
        "ergon.worker.timers": config.timers,
        "ergon.worker.signals": config.signals,
        "ergon.worker.host": registered.host,
        "ergon.worker.pid": registered.pid
      }
    )
    // Looks for work nobody can take (see `Client.stuck`) every six beats, and warns once per
    // reason about flows ready for at least that long.
    const checkMillis = beatMillis * 6
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(
        wake.pollSleep(Duration.millis(checkMillis)),
        Effect.ignore(stuck.warnUnserved(log, checkMillis))
      ))
    )
    // Renews leases every third of the lease (on the Clock, like lease expiry), while anything runs.
    const beat = Effect.gen(function*() {
      if (running.size === 0) yield* Queue.take(started)
      yield* Effect.sleep(Duration.millis(Math.max(1, leaseMillis / 3)))
      yield* Effect.ignore(heartbeat)
    })
    yield* Effect.forkDaemon(Effect.forever(beat)).pipe(
      Effect.flatMap((fiber) => Effect.addFinalizer(() => Fiber.interrupt(fiber)))
    )
    yield* Effect.addFinalizer(() => shutdown)
    if (config.signals) {
      // Deliver outside signals (when a SignalSource Layer with a source is provided).
      const source = yield* Effect.serviceOption(SignalSource.SignalSource)
      if (source._tag === "Some") {
        yield* Effect.forkScoped(Effect.provideService(SignalSource.run, SignalSource.SignalSource, source.value))
      }
    }

    const retention = config.retention
    if (retention !== undefined) {
      // Deletes old ended flows now and then; a failure is logged, and tried again next time.
      const purgeOld = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const purged = yield* purge({ status: retention.status, finishedBefore: now - Duration.toMillis(retention.olderThan) })
        if (purged.flows > 0) yield* Effect.logDebug("ergon.worker", { event: "purged", flows: purged.flows })
      }).pipe(
        Effect.catchAll((error) => Effect.logWarning("ergon.worker", { event: "purge-failed", error: error.message }))
      )
      yield* Effect.forkScoped(
        Effect.forever(Effect.zipRight(purgeOld, Effect.sleep(retention.every)))
      )
    }

    // Renews now, or, when the leases were renewed less than WAKE_RENEW_GAP_MILLIS ago, once that
    // gap has passed (in a fiber of its own, one at a time): a wake-up is never left unchecked.
    let renewPending = false
    const renewSoon = Effect.suspend(() => {
      const wait = WAKE_RENEW_GAP_MILLIS - (performance.now() - renewedAt)
      if (wait <= 0) return heartbeat
      if (renewPending) return Effect.void
      renewPending = true
      return Effect.asVoid(Effect.forkScoped(Effect.zipRight(
        wake.pollSleep(Duration.millis(wait)),
        Effect.suspend(() => {
          renewPending = false
          return Effect.ignore(heartbeat)
        })
      )))
    })

    let idle = Duration.toMillis(config.pollInterval)
    let failures = 0
    /** One round: claim what is ready, then sleep until there may be more. */
    const round = Effect.gen(function*() {
      const seen = yield* wake.version(log)
      const free = config.concurrency - running.size
      let claimed: ReadonlyArray<ExecutionLog.FlowRecord> = []
      if (free > 0 && (yield* clockAgrees)) {
        const now = yield* Clock.currentTimeMillis
        claimed = yield* log.claimFlows({
          owner,
          now,
          leaseMillis,
          limit: free,
          types,
          versions,
          replays,
          runVersion: version,
          timers: config.timers
        })
        for (const row of claimed) {
          if (row.runAfter !== null) yield* telemetry.recordClaimLatency(row.type, now - row.runAfter)
          yield* start(row)
        }
      }
      if (claimed.length > 0 && claimed.length === free) return
      // Sleep until the next due time this worker knows of (on the Clock), a wake-up in this
      // process, or the poll for other processes' work (on the real clock).
      const now = yield* Clock.currentTimeMillis
      const next = yield* log.nextWakeAt(types, versions, replays)
      const due = Option.getOrUndefined(next)
      // Something is due that this worker did not claim (a timer, without withTimers): not a reason to spin.
      if (due === undefined || due > now || claimed.length === 0) {
        const poll = claimed.length > 0 ? Duration.toMillis(config.pollInterval) : idle
        const waits: Array<Effect.Effect<void>> = [wake.wait(log, seen), wake.pollSleep(Duration.millis(poll))]
        if (due !== undefined && due > now) waits.push(Effect.sleep(Duration.millis(due - now)))
        yield* Effect.raceAll(waits)
        // A cancellation may have come: drop what is no longer ours soon (a run that writes finds
        // out at its next write anyway; one that waits in memory would only at the heartbeat).
        if (running.size > 0) yield* renewSoon
      }
      // Back off while idle, across processes (in-process work wakes the loop at once).
      idle = claimed.length > 0 ? Duration.toMillis(config.pollInterval) : Math.min(idle * 2, Duration.toMillis(config.pollInterval) * 10)
    })
    while (true) {
      yield* round.pipe(
        Effect.tap(() => {
          failures = 0
        }),
        // The store is unreachable (a restart, a network cut): keep going, backing off, and carry
        // on once it is back. Leases held meanwhile may expire; their flows are then replayed.
        Effect.catchTag("StoreError", (error) => {
          failures++
          const backoff = Math.min(5_000, 50 * 2 ** Math.min(failures, 7))
          return Effect.zipRight(
            logs.log("Warning", `ergon: worker '${config.name}' cannot reach the store, retrying in ${backoff} ms: ${error.message}`, {
              "ergon.event": "store-error",
              "ergon.worker.name": config.name,
              "ergon.error": error.message
            }),
            wake.pollSleep(Duration.millis(backoff))
          )
        })
      )
    }
  }).pipe(
    Effect.scoped,
    Effect.withSpan(telemetry.SpanNames.worker, { attributes: { [telemetry.Attributes.worker]: config.name }, captureStackTrace: false })
  )

