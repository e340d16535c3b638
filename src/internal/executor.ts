import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ExecutionLog, type Fence } from "../ExecutionLog.js"
import type * as Flow from "../Flow.js"
import {
  CheckpointDecodeError,
  CheckpointEncodeError,
  type ExecutionError,
  FlowConflictError,
  InvalidInputError,
  LeaseLostError,
  StoreError
} from "../FlowError.js"
import { hashValue } from "./hash.js"
import * as json from "./json.js"
import * as validate from "./validate.js"
import { FlowInstance, type SuspendReason } from "./instance.js"
import { formatParseError } from "./journal.js"
import { newFlow } from "./records.js"
import * as wake from "./wake.js"

/** The outcome of one execution: the flow ended, or it is waiting for something. */
export type Outcome<A, E> =
  | { readonly _tag: "Completed"; readonly exit: Exit.Exit<A, E> }
  | { readonly _tag: "Suspended"; readonly reason: SuspendReason }

export interface ExecuteOptions {
  readonly id: string
  readonly fence?: Fence | undefined
  readonly suspendAfter?: Duration.DurationInput | undefined
  readonly version?: string | null | undefined
  readonly parent?: { readonly id: string; readonly key: string } | undefined
  readonly priority?: number | undefined
  /**
   * The flow was just claimed under `fence` (a worker): the claim already marked it running and
   * counted the attempt, so the first round does not write that again.
   */
  readonly claimed?: boolean | undefined
}

const DEFAULT_SUSPEND_AFTER = Duration.toMillis("1 minute")

const flowEvent = (flowId: string, flowType: string, event: string, details?: Record<string, unknown>) =>
  Effect.logDebug("ergon.flow", { event, flowId, flowType, ...details })

/** The engine error a failed flow row keeps, readable by any process. */
const engineErrorRecord = (error: { readonly _tag: string; readonly message: string }) => ({
  _tag: error._tag,
  message: error.message
})

const CHILD_RECHECK_MILLIS = Duration.toMillis("1 minute")

const runAfterOf = (reason: SuspendReason, now: number): number | null => {
  switch (reason._tag) {
    case "Timer":
      return reason.until
    case "Retry":
      return reason.at
    case "Signal":
      return reason.timeoutAt ?? null
    case "Child":
      // Woken when the child ends (in the child's completion write); looked at again after a
      // while all the same, in case the parent's own look after suspending was cut short (its
      // process killed between its suspension and that look, while the child was ending).
      return now + CHILD_RECHECK_MILLIS
  }
}

/** The input of an execution: given by the caller, or the one stored with the flow (workers). */
export type Input<I> = { readonly _tag: "Given"; readonly value: I } | { readonly _tag: "Stored" }

type AnyFlow<A, E, R, I> = Flow.Flow<string, { input: I; success: A; error: E; context: R; versions: string }>

/** Runs a flow to its end or its next suspension; see `Executor.execute`. */
export const execute = <A, E, R, I>(
  flow: AnyFlow<A, E, R, I>,
  input: I,
  options: ExecuteOptions
): Effect.Effect<Outcome<A, E>, ExecutionError, R | ExecutionLog> =>
  Effect.zipRight(checkEntry(flow, input, options), run(flow, { _tag: "Given", value: input }, options))

// ---------------------------------------------------------------------------------------------
// Values the store can never take (see ./json.js). Kept apart, to carry into any executor:
// checked at the entry before anything is written; refused later (a result over the size limit,
// a payload edited by hand into nonsense), the flow is failed with the typed error, once, and is
// not taken up again at every lease.
// ---------------------------------------------------------------------------------------------

/** `execute`'s checks before anything is written: ids, priority, the encoded input. */
const checkEntry = <A, E, R, I>(flow: AnyFlow<A, E, R, I>, input: I, options: ExecuteOptions) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    yield* validate.id("flow name", flow.name)
    yield* validate.id("flow id", options.id)
    yield* validate.priority(options.priority)
    if (options.parent !== undefined) {
      yield* validate.id("flow id", options.parent.id)
      yield* validate.id("journal key", options.parent.key)
    }
    const encoded = Schema.encodeEither(flow.input)(input)
    // (an input that does not encode is reported by the run, as before)
    if (Either.isRight(encoded)) yield* validate.payload(log, `the input of flow '${options.id}'`, encoded.right)
  })

/**
 * A store error that can never succeed on a retry fails the flow with its typed cause (under the
 * fence, when the flow exists) instead of leaving it to be claimed again; others pass.
 */
const failIfRefused = (log: ExecutionLog.Service, flowId: string, fence: Fence | undefined) =>
(error: StoreError): Effect.Effect<never, ExecutionError> => {
  const refused = json.refusedValue(error)
  if (refused === undefined) return Effect.fail(error)
  return Effect.zipRight(Effect.ignore(markFailed(log, flowId, refused, fence)), Effect.fail(refused))
}


/**
 * Runs a flow, and runs it again at once when what it suspended for is already there (a signal
 * sent, or a child that ended, between its last look and its suspension), so no wake-up is lost.
 */
export const run = <A, E, R, I>(
  flow: AnyFlow<A, E, R, I>,
  input: Input<I>,
  options: ExecuteOptions
): Effect.Effect<Outcome<A, E>, ExecutionError, R | ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    for (let round = 0;; round++) {
      // After the first round the flow was suspended by this run: it is marked running again.
      const outcome = yield* runOnce(flow, input, round === 0 ? options : { ...options, claimed: false })
      if (outcome._tag === "Completed" || round >= 100) return outcome
      const reason = outcome.reason
      const ready = reason._tag === "Signal"
        ? yield* log.hasSignal(options.id, reason.name)
        : reason._tag === "Child"
        ? yield* Effect.map(log.getFlow(reason.childId), Option.exists((child) => child.status === "completed" || child.status === "cancelled"))
        : false
      if (!ready) return outcome
      yield* flowEvent(options.id, flow.name, "woken", { reason: reason._tag })
    }
  })

const runOnce = <A, E, R, I>(
  flow: AnyFlow<A, E, R, I>,
  input: Input<I>,
  options: ExecuteOptions
): Effect.Effect<Outcome<A, E>, ExecutionError, R | ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    const flowId = options.id
    const flowType = flow.name
    const fence = options.fence

    // In-process notifications seen so far: a cancel of this run can only come after this point.
    const seenAtStart = yield* wake.version(log)
    let loaded = yield* Effect.catchTag(log.loadFlow(flowId), "StoreError", failIfRefused(log, flowId, fence))
    let encodedInput: unknown = undefined
    let inputHash = ""
    if (input._tag === "Given") {
      const encoded = Schema.encodeEither(flow.input)(input.value)
      if (Either.isLeft(encoded)) {
        return yield* new InvalidInputError({ flowType, flowId, detail: formatParseError(encoded.left) })
      }
      encodedInput = encoded.right
      inputHash = hashValue(encoded.right)
    } else if (Option.isNone(loaded)) {
      return yield* new StoreError({ operation: "execute", detail: `flow '${flowId}' is not in the store` })
    }

    let storedInput: unknown = encodedInput
    let steps: ReadonlyArray<ExecutionLog.StepRecord> = []
    let resumed = false
    let version: string | null = options.version ?? null
    let parentId: string | null = options.parent?.id ?? null

    if (Option.isNone(loaded)) {
      const now = yield* Clock.currentTimeMillis
      const inserted = yield* validate.unwrapRefusal(log.insertFlow(newFlow({
        id: flowId,
        type: flowType,
        version: options.version ?? null,
        input: encodedInput,
        inputHash,
        status: "running",
        now,
        runAfter: null,
        parent: options.parent,
        priority: options.priority,
        attempts: 1
      })))
      // Lost a race with another starter of the same id: continue as a resume of its row.
      if (!inserted) loaded = yield* log.loadFlow(flowId)
    }

    if (Option.isSome(loaded)) {
      const { flow: row } = loaded.value
      if (row.type !== flowType) {
        return yield* new FlowConflictError({ flowId, reason: "type", existing: row.type, requested: flowType })
      }
      if (input._tag === "Given" && row.inputHash !== inputHash) {
        return yield* new FlowConflictError({ flowId, reason: "input", existing: row.inputHash, requested: inputHash })
      }
      if (row.status === "completed") {
        const decoded = flow.exitCodec.decode(row.result)
        if (Either.isLeft(decoded)) {
          return yield* new CheckpointDecodeError({
            flowType,
            flowId,
            key: "$result",
            schema: flow.exitCodec.description,
            detail: formatParseError(decoded.left)
          })
        }
        yield* flowEvent(flowId, flowType, "replayed-result")
        return { _tag: "Completed", exit: decoded.right } as const
      }
      if (row.status === "cancelled") {
        return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
      }
      const claimed = options.claimed === true && fence !== undefined
      if (!claimed) {
        const now = yield* Clock.currentTimeMillis
        const started = yield* log.updateFlow(flowId, {
          status: "running",
          error: null,
          suspendReason: null,
          runAfter: null,
          incrementAttempts: true,
          updatedAt: now
        }, fence)
        if (!started) {
          return yield* new LeaseLostError({ flowId, owner: fence?.owner ?? "", epoch: fence?.epoch ?? 0 })
        }
      } else if (row.leaseOwner !== fence.owner || row.leaseEpoch !== fence.epoch) {
        // Taken over between the claim and the load.
        return yield* new LeaseLostError({ flowId, owner: fence.owner, epoch: fence.epoch })
      }
      storedInput = row.input
      steps = loaded.value.steps
      // (a claim has counted this attempt already)
      resumed = row.attempts > (claimed ? 1 : 0)
      version = row.version
      parentId = row.parentId
    }

    const decodedInput = Schema.decodeUnknownEither(flow.input)(storedInput)
    if (Either.isLeft(decodedInput)) {
      const error = new CheckpointDecodeError({
        flowType,
        flowId,
        key: "$input",
        schema: String(flow.input.ast),
        detail: formatParseError(decodedInput.left)
      })
      yield* markFailed(log, flowId, error, fence)
      return yield* error
    }

    const instance: FlowInstance.Service = {
      flowId,
      flowType,
      log,
      fence,
      journal: new Map(steps.map((step) => [step.key, step])),
      counters: new Map(),
      abort: undefined,
      suspendAfterMillis: options.suspendAfter === undefined
        ? DEFAULT_SUSPEND_AFTER
        : Duration.toMillis(options.suspendAfter),
      version,
      // Without a lease (a plain executor), children run here and now; under a worker they are claimed.
      runChild: fence === undefined
        ? (child, childInput, childId, key) =>
          run(child, { _tag: "Given", value: childInput }, {
            id: childId,
            parent: { id: flowId, key },
            version,
            suspendAfter: options.suspendAfter
          })
        : undefined
    }
    yield* flowEvent(flowId, flowType, resumed ? "resumed" : "started", { journal: steps.length })

    const program = flow.run(decodedInput.right).pipe(Effect.provideService(FlowInstance, instance))
    // Under a worker, a cancellation takes the lease away (the heartbeat interrupts the run and
    // fenced writes are refused). Without one, watch for it here: a cancel in this process
    // interrupts the run, and nothing is written over the cancelled flow.
    const exit = fence === undefined
      ? yield* Effect.raceFirst(Effect.exit(program), Effect.as(awaitCancelled(log, flowId, seenAtStart), Exit.interrupt(FiberId.none)))
      : yield* Effect.exit(program)
    const aborted = instance.abort
    const now = yield* Clock.currentTimeMillis
    // Only when something was notified during the run can it have been cancelled: no read otherwise.
    if (fence === undefined && (yield* wake.version(log)) !== seenAtStart) {
      const current = yield* log.getFlow(flowId)
      if (Option.isSome(current) && current.value.status === "cancelled") {
        yield* flowEvent(flowId, flowType, "cancelled")
        return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
      }
    }

    if (aborted !== undefined && aborted._tag === "Suspend") {
      const reason = aborted.reason
      const written = yield* log.updateFlow(flowId, {
        status: "suspended",
        runAfter: runAfterOf(reason, now),
        suspendReason: reason,
        updatedAt: now
      }, fence)
      if (!written) {
        if (fence === undefined && (yield* isCancelled(log, flowId))) {
          return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
        }
        return yield* new LeaseLostError({ flowId, owner: fence?.owner ?? "", epoch: fence?.epoch ?? 0 })
      }
      yield* flowEvent(flowId, flowType, "suspended", { reason })
      return { _tag: "Suspended", reason } as const
    }
    if (aborted !== undefined) {
      const error = aborted.error
      // A store that fails or a lease that is gone: nothing more can be written; the flow resumes later.
      if (error._tag !== "StoreError" && error._tag !== "LeaseLostError") {
        yield* markFailed(log, flowId, error, fence)
      }
      yield* flowEvent(flowId, flowType, "failed", { error: error.message })
      return yield* error
    }

    const encodedExit = flow.exitCodec.encode(exit)
    if (Either.isLeft(encodedExit)) {
      const error = new CheckpointEncodeError({
        flowType,
        flowId,
        key: "$result",
        schema: flow.exitCodec.description,
        detail: formatParseError(encodedExit.left)
      })
      yield* markFailed(log, flowId, error, fence)
      return yield* error
    }
    // A child's parent, waiting for it, is made ready in the same write: no crash can come between.
    const written = yield* log.updateFlow(flowId, {
      status: "completed",
      result: encodedExit.right,
      runAfter: null,
      completedAt: now,
      updatedAt: now,
      ...(parentId !== null ? { wakeParent: parentId } : {})
    }, fence).pipe(Effect.catchTag("StoreError", failIfRefused(log, flowId, fence)))
    if (!written) {
      // Without a lease, only a cancellation refuses the write: the flow ended cancelled.
      if (fence === undefined && (yield* isCancelled(log, flowId))) {
        return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
      }
      return yield* new LeaseLostError({ flowId, owner: fence?.owner ?? "", epoch: fence?.epoch ?? 0 })
    }
    yield* flowEvent(flowId, flowType, "completed", { success: Exit.isSuccess(exit) })
    // Tell this process's workers and waiters (a parent to resume, a handle awaiting the result).
    yield* wake.notify(log)
    return { _tag: "Completed", exit } as const
  }).pipe(Effect.withSpan("ergon.execute", { attributes: { "ergon.flow.id": options.id, "ergon.flow.type": flow.name }, captureStackTrace: false }))

const isCancelled = (log: ExecutionLog.Service, flowId: string) =>
  Effect.map(log.getFlow(flowId), Option.exists((row) => row.status === "cancelled"))

/** Completes once the flow is cancelled (seen through this process's wake-ups). */
const awaitCancelled = (log: ExecutionLog.Service, flowId: string, seenAtStart: number): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    let seen = seenAtStart
    while (true) {
      // The flow is read only after a notification, not once per execution.
      yield* wake.wait(log, seen)
      seen = yield* wake.version(log)
      // Not interrupted mid-query (when the flow ends first): an interrupted query is cancelled by
      // the driver, which costs a round trip and, on PostgreSQL, a timer of its own.
      const row = yield* Effect.uninterruptible(log.getFlow(flowId))
      if (Option.isSome(row) && row.value.status === "cancelled") return
    }
  })

const markFailed = (
  log: ExecutionLog.Service,
  flowId: string,
  error: { readonly _tag: string; readonly message: string },
  fence: Fence | undefined
) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    log.updateFlow(flowId, { status: "failed", error: engineErrorRecord(error), updatedAt: now }, fence))

/** `execute` as `Executor` exports it. `any`: `Flow.Any` carries its schemas as `Schema.All`, so the typed signature is asserted here. */
export const executeTyped: <F extends Flow.Any>(
  flow: F,
  input: Flow.Flow.Input<F>,
  options: ExecuteOptions
) => Effect.Effect<Outcome<Flow.Flow.Success<F>, Flow.Flow.Error<F>>, ExecutionError, Flow.Flow.Context<F> | ExecutionLog> =
  execute as any
