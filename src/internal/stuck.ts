import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { StuckFlow, StuckReason } from "../Client.js"
import type { ExecutionLog, FlowGroup, WorkerRow } from "../ExecutionLog.js"
import type { StoreError } from "../FlowError.js"
import * as logs from "./logs.js"
import { accepts, isLive, shouldWarn } from "./registry.js"

/**
 * Flows that no live worker can make progress on, and why. Everything here reads the store's
 * registry of live workers (`ergon_workers`) and its flows; nothing is sent to or asked of workers.
 */

const versionText = (version: string | null): string => (version === null ? "unversioned" : `version '${version}'`)

/** The reason as a sentence (for logs and the command line). */
export const describe = (reason: StuckReason): string => {
  switch (reason._tag) {
    case "NoWorkerForType":
      return `no live worker registers flow type '${reason.type}'`
    case "NoWorkerForVersion":
      return `no live worker takes ${versionText(reason.version)} of '${reason.type}' (the live workers that register it take ${
        reason.liveVersions.map((version) => version === null ? "only unversioned flows" : `'${version}'`).join(", ")
      })`
    case "NoTimerWorker": {
      const what = reason.wait === "Retry"
        ? "a retry's backoff"
        : reason.wait === "SignalTimeout"
        ? "a signal's timeout"
        : reason.wait === "EventTimeout"
        ? "an event's timeout"
        : "a timer"
      return `it waits on ${what}, and no live worker that takes '${reason.type}' (${versionText(reason.version)}) runs withTimers()`
    }
    case "StuckChild":
      return `it waits for its child '${reason.childId}' (${reason.childType}), which is stuck: ${describe(reason.reason)}`
  }
}

/** A key per reason, not per flow: warnings are logged once per key. */
export const reasonKey = (reason: StuckReason): string => {
  switch (reason._tag) {
    case "StuckChild":
      return reasonKey(reason.reason)
    case "NoWorkerForVersion":
    case "NoWorkerForType":
    case "NoTimerWorker":
      return `${reason._tag}/${reason.type}/${reason.version ?? ""}`
  }
}

/** Why no live worker takes flows of `type` at `version`, or `undefined` when one does. */
export const unserved = (live: ReadonlyArray<WorkerRow>, type: string, version: string | null): StuckReason | undefined => {
  const registering = live.filter((worker) => worker.types.includes(type))
  if (registering.length === 0) return { _tag: "NoWorkerForType", type, version }
  if (version === null || registering.some((worker) => worker.version === version)) return undefined
  return {
    _tag: "NoWorkerForVersion",
    type,
    version,
    liveVersions: Array.from(new Set(registering.map((worker) => worker.version)))
  }
}

const timersServed = (live: ReadonlyArray<WorkerRow>, type: string, version: string | null): boolean =>
  live.some((worker) => worker.timers && accepts(worker, type, version))

/**
 * The timer a suspended flow waits on, read from its suspend reason, when only a worker with
 * timers can end the wait: a sleep, a retry's backoff, a signal's timeout that has passed (before
 * it, a signal may still come). A wait for a child is ended by the child. This is the one place
 * that reads suspend reasons.
 */
export const timerWait = (
  suspendReason: unknown,
  now: number
): { readonly wait: "Timer" | "Retry" | "SignalTimeout" | "EventTimeout"; readonly wakeAt: number } | undefined => {
  const reasons = waitsOf(suspendReason)
  const timers = reasons.map((reason) => timerOf(reason, now))
  // Several waits at once (a race): stuck on timers only when each of them is a timer.
  if (timers.length === 0 || timers.some((timer) => timer === undefined)) return undefined
  return timers.reduce((earliest, timer) => (timer!.wakeAt < earliest!.wakeAt ? timer : earliest))
}

type Reason = { readonly _tag?: unknown; readonly [field: string]: unknown }

/** The waits of a suspend reason: one, or each of an `Any`. */
const waitsOf = (suspendReason: unknown): ReadonlyArray<Reason> => {
  if (typeof suspendReason !== "object" || suspendReason === null) return []
  const reason = suspendReason as Reason
  return reason._tag === "Any" && Array.isArray(reason.reasons)
    ? reason.reasons.filter((r): r is Reason => typeof r === "object" && r !== null)
    : [reason]
}

const timerOf = (
  reason: Reason,
  now: number
): { readonly wait: "Timer" | "Retry" | "SignalTimeout" | "EventTimeout"; readonly wakeAt: number } | undefined => {
  if (reason._tag === "Timer" && typeof reason.until === "number") return { wait: "Timer", wakeAt: reason.until }
  if (reason._tag === "Retry" && typeof reason.at === "number") return { wait: "Retry", wakeAt: reason.at }
  if (reason._tag === "Signal" && typeof reason.timeoutAt === "number" && reason.timeoutAt <= now) {
    return { wait: "SignalTimeout", wakeAt: reason.timeoutAt }
  }
  if (reason._tag === "Event" && typeof reason.timeoutAt === "number" && reason.timeoutAt <= now) {
    return { wait: "EventTimeout", wakeAt: reason.timeoutAt }
  }
  return undefined
}

/** The child a suspended flow waits for, when that is all it waits for. */
const childWait = (suspendReason: unknown): string | undefined => {
  const reasons = waitsOf(suspendReason)
  const reason = reasons.length === 1 ? reasons[0]! : undefined
  return reason?._tag === "Child" && typeof reason.childId === "string" ? reason.childId : undefined
}

/**
 * Why no live worker can make progress on this one flow (or on the child it waits for, down the
 * tree), or `undefined` when one can or when it has ended.
 */
export const reasonFor = (
  log: ExecutionLog.Service,
  flow: ExecutionLog.FlowRecord,
  live: ReadonlyArray<WorkerRow>,
  now: number,
  depth = 0
): Effect.Effect<StuckReason | undefined, StoreError> =>
  Effect.gen(function*() {
    if (flow.status !== "pending" && flow.status !== "running" && flow.status !== "suspended") return undefined
    if (flow.status === "running" && flow.leaseExpiresAt !== null && flow.leaseExpiresAt >= now) return undefined
    const unservedReason = unserved(live, flow.type, flow.version)
    if (unservedReason !== undefined) return unservedReason
    if (flow.status !== "suspended") return undefined
    const timer = timerWait(flow.suspendReason, now)
    if (timer !== undefined && !timersServed(live, flow.type, flow.version)) {
      return { _tag: "NoTimerWorker", type: flow.type, version: flow.version, ...timer }
    }
    const childId = childWait(flow.suspendReason)
    if (childId === undefined || depth >= 20) return undefined
    const child = yield* log.getFlow(childId)
    if (Option.isNone(child)) return undefined
    const childReason = yield* reasonFor(log, child.value, live, now, depth + 1)
    return childReason === undefined
      ? undefined
      : { _tag: "StuckChild", childId, childType: child.value.type, reason: childReason }
  })

const PAGE = 500

/** Every flow of a group, newest first, a page at a time, until `visit` says stop. */
const scanGroup = (
  log: ExecutionLog.Service,
  group: FlowGroup,
  visit: (flow: ExecutionLog.FlowRecord) => boolean
): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    let before: { readonly createdAt: number; readonly id: string } | undefined = undefined
    while (true) {
      const page: ReadonlyArray<ExecutionLog.FlowRecord> = yield* log.pageFlows({
        type: group.type,
        version: group.version,
        status: group.status,
        limit: PAGE,
        before
      })
      for (const flow of page) if (!visit(flow)) return
      if (page.length < PAGE) return
      const last = page[page.length - 1]!
      before = { createdAt: last.createdAt, id: last.id }
    }
  })

const stuckFlow = (flow: ExecutionLog.FlowRecord, reason: StuckReason): StuckFlow => ({
  id: flow.id,
  type: flow.type,
  version: flow.version,
  status: flow.status,
  createdAt: flow.createdAt,
  parentId: flow.parentId,
  reason,
  message: describe(reason)
})

/** The options of `find`. */
export interface FindOptions {
  /** At most this many flows. Defaults to 1,000. */
  readonly limit?: number | undefined
  /** Called with the number of flows looked at so far, as the scan goes. */
  readonly onProgress?: ((scanned: number) => void) | undefined
}

/**
 * Every flow that no live worker can make progress on, with its reason: flows whose type or
 * version no live worker takes (except running ones whose lease is still held), suspended flows
 * on a timer that no live worker that takes them fires, and parents that wait on such flows.
 */
export const find = (log: ExecutionLog.Service, options: FindOptions = {}): Effect.Effect<ReadonlyArray<StuckFlow>, StoreError> =>
  Effect.gen(function*() {
    const limit = options.limit ?? 1_000
    const now = yield* Clock.currentTimeMillis
    const live = (yield* log.listWorkers()).filter((worker) => isLive(worker, now))
    const groups = yield* log.flowGroups(now)
    const found: Array<StuckFlow> = []
    const seen = new Set<string>()
    let scanned = 0
    const add = (flow: ExecutionLog.FlowRecord, reason: StuckReason): boolean => {
      if (!seen.has(flow.id)) {
        seen.add(flow.id)
        found.push(stuckFlow(flow, reason))
      }
      return found.length < limit
    }
    for (const group of groups) {
      if (found.length >= limit) break
      const reason = unserved(live, group.type, group.version)
      if (reason !== undefined) {
        yield* scanGroup(log, group, (flow) => {
          options.onProgress?.(++scanned)
          // A running flow whose lease is held is being run (by a worker that is not registered,
          // or by `Executor.execute`): not stuck while it lasts.
          if (flow.status === "running" && flow.leaseExpiresAt !== null && flow.leaseExpiresAt >= now) return true
          return add(flow, reason)
        })
      } else if (group.status === "suspended" && !timersServed(live, group.type, group.version)) {
        yield* scanGroup(log, group, (flow) => {
          options.onProgress?.(++scanned)
          const timer = timerWait(flow.suspendReason, now)
          return timer === undefined ? true : add(flow, { _tag: "NoTimerWorker", type: flow.type, version: flow.version, ...timer })
        })
      }
    }
    // Parents waiting on a stuck child are stuck too, up the tree.
    for (let i = 0; i < found.length && found.length < limit; i++) {
      const child = found[i]!
      if (child.parentId === null || seen.has(child.parentId)) continue
      const parent = yield* log.getFlow(child.parentId)
      if (Option.isNone(parent) || parent.value.status !== "suspended") continue
      if (childWait(parent.value.suspendReason) !== child.id) continue
      add(parent.value, { _tag: "StuckChild", childId: child.id, childType: child.type, reason: child.reason })
    }
    return found
  })

/**
 * A worker's look at the store (see `Worker`): for each reason that work ready for some time
 * (`grace`) cannot be taken by any live worker, one warning, then at most one every ten minutes
 * while it lasts. Reads the counts by type and version, and looks at a few suspended flows only
 * where timers are missing.
 */
export const warnUnserved = (log: ExecutionLog.Service, graceMillis: number): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const live = (yield* log.listWorkers()).filter((worker) => isLive(worker, now))
    const waiting = (yield* log.flowGroups(now)).filter((group) =>
      group.ready > 0 && group.readySince !== null && group.readySince <= now - graceMillis
    )
    const reasons = new Map<string, { reason: StuckReason; flows: number; example: string | undefined }>()
    const note = (reason: StuckReason, flows: number, example?: string) => {
      const key = reasonKey(reason)
      const entry = reasons.get(key)
      if (entry === undefined) reasons.set(key, { reason, flows, example })
      else entry.flows += flows
    }
    for (const group of waiting) {
      const reason = unserved(live, group.type, group.version)
      if (reason !== undefined) note(reason, group.ready)
      else if (group.status === "suspended" && !timersServed(live, group.type, group.version)) {
        // The suspended flows that are due may wait on timers, or be parents looking at their children.
        const sample = yield* log.pageFlows({ type: group.type, version: group.version, status: "suspended", limit: 100 })
        for (const flow of sample) {
          const timer = timerWait(flow.suspendReason, now)
          if (timer !== undefined && timer.wakeAt <= now - graceMillis) {
            note({ _tag: "NoTimerWorker", type: flow.type, version: flow.version, ...timer }, 1, flow.id)
          }
        }
      }
    }
    for (const [key, { example, flows, reason }] of reasons) {
      if (!(yield* shouldWarn(log, `worker/${key}`))) continue
      yield* logs.log(
        "Warning",
        `ergon: ${flows} ready flow${flows === 1 ? "" : "s"} cannot be taken: ${describe(reason)} (see 'ergon stuck')`,
        {
          "ergon.event": "stuck",
          "ergon.stuck.reason": reason._tag,
          "ergon.flow.type": "type" in reason ? reason.type : null,
          "ergon.flow.version": "version" in reason ? reason.version : null,
          "ergon.stuck.flows": flows,
          "ergon.flow.id": example ?? null
        }
      )
    }
  })

/**
 * How long `schedule` gives the workers before it says that none takes what it wrote: a worker
 * forked just before the `schedule` call (or starting beside it in another process) registers
 * within this time, and is not a reason to warn.
 */
export const SCHEDULE_GRACE_MILLIS = 2_000

/** The reasons a look after the grace period is already under way for, per store. */
const looking = new WeakMap<ExecutionLog.Service, Set<string>>()

/** Waits in real time without keeping the process alive (a program that ends does not wait for it). */
const sleepUnref = (millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    timer.unref()
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * `schedule`'s check of what it has just written. When no live worker takes the flow's type and
 * version, it looks again after `SCHEDULE_GRACE_MILLIS`, in a fiber of its own, and warns (once
 * per reason, then at most once every ten minutes) only if nobody has taken the flow by then and
 * still no live worker would. Reads the registrations at most every few seconds on the caller's
 * path; never fails or delays the scheduling.
 */
export const warnIfUnserved = (
  log: ExecutionLog.Service,
  flowId: string,
  type: string,
  version: string | null,
  liveWorkers: Effect.Effect<ReadonlyArray<WorkerRow>, StoreError>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const first = unserved(yield* liveWorkers, type, version)
    if (first === undefined) return
    const key = reasonKey(first)
    let keys = looking.get(log)
    if (keys === undefined) {
      keys = new Set()
      looking.set(log, keys)
    }
    if (keys.has(key)) return
    keys.add(key)
    const done = keys
    const lookAgain = Effect.gen(function*() {
      yield* sleepUnref(SCHEDULE_GRACE_MILLIS)
      const flow = yield* log.getFlow(flowId)
      // Taken (or ended, or gone) meanwhile: somebody does take it.
      if (Option.isNone(flow) || flow.value.status !== "pending" || flow.value.attempts > 0) return
      const now = yield* Clock.currentTimeMillis
      const live = (yield* log.listWorkers()).filter((worker) => isLive(worker, now))
      const reason = unserved(live, type, version)
      if (reason === undefined || !(yield* shouldWarn(log, `schedule/${reasonKey(reason)}`))) return
      yield* logs.log(
        "Warning",
        `ergon: flow '${flowId}' was scheduled, but ${describe(reason)}: it waits until one does (see 'ergon stuck')`,
        {
          "ergon.event": "stuck",
          "ergon.stuck.reason": reason._tag,
          "ergon.flow.id": flowId,
          "ergon.flow.type": type,
          "ergon.flow.version": version
        }
      )
    }).pipe(Effect.ignore, Effect.ensuring(Effect.sync(() => done.delete(key))))
    yield* Effect.forkDaemon(lookAgain)
  }).pipe(Effect.ignore)
