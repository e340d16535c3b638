/**
 * The executor: runs one flow to its end or to its next suspension, in four stages.
 *
 * - `admit`: find or create the flow's row, refuse a conflicting start, return an ended flow's
 *   result, mark the run started;
 * - `start`: build the run's instance around the journal;
 * - `runProgram`: run the flow's program under a supervisor, which resolves its durable waits in
 *   the order of time and suspends the flow when every live branch waits;
 * - `settle`: record how the run ended (completed, suspended, failed by an engine error).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
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
import { hasEnded } from "./child.js"
import * as Retryable from "../Retryable.js"
import * as RetryPolicy from "../RetryPolicy.js"
import { hashValue } from "./hash.js"
import {
  type Compensation,
  type EngineError,
  FlowInstance,
  scoped,
  type SingleReason,
  SuspendReason,
  type Wait
} from "./instance.js"
import {
  begin,
  complete,
  encodeExit,
  exitCodec,
  formatParseError,
  indexJournal,
  park,
  replay,
  skipUnclaimed,
  switchState
} from "./journal.js"
import * as json from "./json.js"
import * as validate from "./validate.js"
import { newFlow } from "./records.js"
import * as telemetry from "./telemetry.js"
import { flowClock } from "./timer.js"
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
   * counted the attempt, so the run is not marked started again.
   */
  readonly claimed?: boolean | undefined
  /** The row the claim returned: the run starts from it instead of reading the flow again. */
  readonly claimedRow?: ExecutionLog.FlowRecord | undefined
}

const DEFAULT_SUSPEND_AFTER = Duration.toMillis("1 minute")

/** The journal entry that counts a flow's failed attempts (a flow-level retry policy). */
const FLOW_RETRY_KEY = "$flow-retry"

/** The journal limit of a flow that sets none (`Flow.make`'s `maxJournalEntries`). */
export const DEFAULT_MAX_JOURNAL_ENTRIES = 20_000

/** How often a run that waits for a signal or a child while a step runs looks at the store (real time). */
const STORE_POLL = Duration.seconds(1)

/** The least time between two looks at the store for notifications, by one parked run (real time). */
const STORE_LOOK_GAP_MILLIS = 50

const flowEvent = (flowId: string, flowType: string, event: string, details?: Record<string, unknown>) =>
  Effect.logDebug("ergon.flow", { event, flowId, flowType, ...details })

/** The engine error a failed flow row keeps, readable by any process. */
const engineErrorRecord = (error: { readonly _tag: string; readonly message: string }) => ({
  _tag: error._tag,
  message: error.message
})

/** The input of an execution: given by the caller, or the one stored with the flow (workers). */
export type Input<I> = { readonly _tag: "Given"; readonly value: I } | { readonly _tag: "Stored" }

type AnyFlow<A, E, R, I> = Flow.Flow<string, { input: I; success: A; error: E; context: R; versions: string }>

const leaseLost = (flowId: string, fence: Fence | undefined) =>
  new LeaseLostError({ flowId, owner: fence?.owner ?? "", epoch: fence?.epoch ?? 0 })

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


/** Runs a flow: admit, start, run the program, settle. */
export const run = <A, E, R, I>(
  flow: AnyFlow<A, E, R, I>,
  input: Input<I>,
  options: ExecuteOptions
): Effect.Effect<Outcome<A, E>, ExecutionError, R | ExecutionLog> =>
  // Under a worker (a lease) each execution is the root of a trace of its own, linked to where
  // the flow was scheduled, not a child of the worker's process-long span.
  telemetry.execution(options.id, flow.name, options.fence !== undefined, (execution) => Effect.gen(function*() {
    const log = yield* ExecutionLog
    // In-process notifications seen so far: a cancel of this run can only come after this point.
    const seenAtStart = yield* wake.version(log)
    const admitted = yield* admit(log, flow, input, options)
    if (admitted._tag === "Ended") return admitted.outcome
    yield* telemetry.executionStarted(execution, {
      flowType: flow.name,
      version: admitted.version,
      attempt: admitted.attempt,
      resumed: admitted.resumed,
      traceContext: admitted.traceContext
    })
    const instance = start(log, flow, options, admitted, yield* Effect.clock, execution.traced)
    yield* flowEvent(options.id, flow.name, admitted.resumed ? "resumed" : "started", { journal: admitted.steps.length })
    const ended: Ended<A, E> = yield* runProgram(instance, flow.run(admitted.input), seenAtStart)
    return yield* settle(log, flow, instance, admitted, ended, seenAtStart, options)
  }))

// ---------------------------------------------------------------------------------------------
// Admit
// ---------------------------------------------------------------------------------------------

interface Admitted<I> {
  readonly _tag: "Admitted"
  readonly input: I
  readonly steps: ReadonlyArray<ExecutionLog.StepRecord>
  readonly resumed: boolean
  readonly version: string | null
  readonly parentId: string | null
  /** How many executions of the flow have started, this one included. */
  readonly attempt: number
  /** The span the flow was written in (see `./telemetry.js`). */
  readonly traceContext: string | null | undefined
  /** Its cancellation was asked (it registered compensations): this run replays it and runs them. */
  readonly cancelling: boolean
}

type Admission<A, E, I> = Admitted<I> | { readonly _tag: "Ended"; readonly outcome: Outcome<A, E> }

const admit = <A, E, R, I>(
  log: ExecutionLog.Service,
  flow: AnyFlow<A, E, R, I>,
  input: Input<I>,
  options: ExecuteOptions
): Effect.Effect<Admission<A, E, I>, ExecutionError> =>
  Effect.gen(function*() {
    const flowId = options.id
    const flowType = flow.name
    const fence = options.fence
    const claimedRow = options.claimedRow
    // A worker's run of a flow it just claimed: the claim's row is all there is.
    if (claimedRow !== undefined && fence !== undefined && input._tag === "Stored") {
      // Its first execution (every execution counts an attempt, and only executions write the
      // journal): nothing recorded to load, and the claim carried the input.
      if (claimedRow.attempts === 1 && claimedRow.input !== undefined) {
        return yield* admitted(log, flow, flowId, claimedRow.input, [], {
          resumed: false,
          version: claimedRow.version,
          parentId: claimedRow.parentId,
          attempt: 1,
          traceContext: claimedRow.traceContext,
          cancelling: cancelAsked(claimedRow),
          fence
        })
      }
      // A resume: its journal and input are read here.
      const loaded = yield* Effect.catchTag(log.loadFlow(flowId), "StoreError", failIfRefused(log, flowId, fence))
      if (Option.isNone(loaded)) {
        return yield* new StoreError({ operation: "execute", detail: `flow '${flowId}' is not in the store` })
      }
      const steps = loaded.value.steps
      return yield* admitted(log, flow, flowId, loaded.value.flow.input, steps, {
        resumed: claimedRow.attempts > 1,
        version: claimedRow.version,
        parentId: claimedRow.parentId,
        attempt: claimedRow.attempts,
        traceContext: claimedRow.traceContext,
        cancelling: cancelAsked(loaded.value.flow),
        fence
      })
    }

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
      if (inserted) {
        return yield* admitted(log, flow, flowId, encodedInput, [], {
          resumed: false,
          version: options.version ?? null,
          parentId: options.parent?.id ?? null,
          attempt: 1,
          traceContext: undefined,
          cancelling: false,
          fence
        })
      }
      // Lost a race with another starter of the same id: continue as a resume of its row.
      loaded = yield* log.loadFlow(flowId)
      if (Option.isNone(loaded)) {
        return yield* new StoreError({ operation: "execute", detail: `flow '${flowId}' is not in the store` })
      }
    }

    const { flow: row, steps } = loaded.value
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
      return { _tag: "Ended", outcome: { _tag: "Completed", exit: decoded.right } } as const
    }
    if (row.status === "cancelled") {
      return { _tag: "Ended", outcome: { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } } as const
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
      if (!started) return yield* leaseLost(flowId, fence)
    } else if (row.leaseOwner !== fence.owner || row.leaseEpoch !== fence.epoch) {
      // Taken over between the claim and the load.
      return yield* leaseLost(flowId, fence)
    }
    return yield* admitted(log, flow, flowId, row.input, steps, {
      // (a claim has counted this attempt already)
      resumed: row.attempts > (claimed ? 1 : 0),
      version: row.version,
      parentId: row.parentId,
      attempt: row.attempts + (claimed ? 0 : 1),
      traceContext: row.traceContext,
      cancelling: cancelAsked(row),
      fence
    })
  })

/** Whether the flow's cancellation was asked and waits for its compensations to run. */
const cancelAsked = (row: ExecutionLog.FlowRecord): boolean =>
  row.cancelRequestedAt !== undefined && row.cancelRequestedAt !== null

/** Decodes the stored input; one that no longer decodes fails the flow with a `CheckpointDecodeError`. */
const admitted = <A, E, R, I>(
  log: ExecutionLog.Service,
  flow: AnyFlow<A, E, R, I>,
  flowId: string,
  storedInput: unknown,
  steps: ReadonlyArray<ExecutionLog.StepRecord>,
  fields: Omit<Admitted<I>, "_tag" | "input" | "steps"> & { readonly fence: Fence | undefined }
): Effect.Effect<Admitted<I>, CheckpointDecodeError | StoreError> => {
  const decoded = Schema.decodeUnknownEither(flow.input)(storedInput)
  if (Either.isRight(decoded)) {
    return Effect.succeed({
      _tag: "Admitted",
      input: decoded.right,
      steps,
      resumed: fields.resumed,
      version: fields.version,
      parentId: fields.parentId,
      attempt: fields.attempt,
      traceContext: fields.traceContext,
      cancelling: fields.cancelling
    })
  }
  const error = new CheckpointDecodeError({
    flowType: flow.name,
    flowId,
    key: "$input",
    schema: String(flow.input.ast),
    detail: formatParseError(decoded.left)
  })
  return Effect.zipRight(markFailed(log, flowId, error, fields.fence), Effect.fail(error))
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

/** The supervisor's end of the instance: the pokes it waits for. */
interface Pokes {
  count: number
  listener: (() => void) | undefined
}

interface Started extends FlowInstance.Service {
  readonly pokes: Pokes
}

const start = <A, E, R, I>(
  log: ExecutionLog.Service,
  flow: AnyFlow<A, E, R, I>,
  options: ExecuteOptions,
  admitted: Admitted<I>,
  clock: Clock.Clock,
  traced: boolean
): Started => {
  const pokes: Pokes = { count: 0, listener: undefined }
  const instance: Started = {
    flowId: options.id,
    flowType: flow.name,
    log,
    fence: options.fence,
    journal: new Map(),
    placed: new Map(),
    counters: new Map(),
    positions: new Map(),
    abort: undefined,
    suspendAfterMillis: options.suspendAfter === undefined ? DEFAULT_SUSPEND_AFTER : Duration.toMillis(options.suspendAfter),
    version: admitted.version,
    traced,
    // Without a lease (a plain executor), children run here and now; under a worker they are claimed.
    runChild: options.fence === undefined
      ? (child, childInput, childId, key) =>
        run(child, { _tag: "Given", value: childInput }, {
          id: childId,
          parent: { id: options.id, key },
          version: admitted.version,
          suspendAfter: options.suspendAfter
        })
      : undefined,
    clock,
    busy: 0,
    progress: 0,
    waits: new Map(),
    waitsChanged: 0,
    resolving: 0,
    gate: undefined,
    nextSeq: 1,
    replayOrder: [],
    replayWaiting: new Map(),
    patches: flow.patches ?? [],
    unpatched: [],
    cancelling: admitted.cancelling,
    compensations: [],
    maxJournalEntries: flow.maxJournalEntries ?? DEFAULT_MAX_JOURNAL_ENTRIES,
    encodeInput: Schema.encodeEither(flow.input as Schema.Schema<unknown, unknown>),
    flowRetry: flow.retry === undefined ? undefined : {
      policy: flow.retry,
      retryable: flow.retryable,
      failedAttempts: admitted.steps.find((step) => step.key === FLOW_RETRY_KEY)?.attempts ?? 0,
      scheduled: false
    },
    pokes,
    poke: () => {
      pokes.count++
      const listener = pokes.listener
      if (listener !== undefined) {
        pokes.listener = undefined
        listener()
      }
    }
  }
  indexJournal(instance, admitted.steps)
  return instance
}

// ---------------------------------------------------------------------------------------------
// Run the program
// ---------------------------------------------------------------------------------------------

/** How the program's run ended. */
type Ended<A, E> =
  | { readonly _tag: "Exit"; readonly exit: Exit.Exit<A, E> }
  | { readonly _tag: "Suspended"; readonly reason: SuspendReason }
  | { readonly _tag: "Aborted"; readonly error: EngineError }
  | { readonly _tag: "Cancelled" }
  /** Its cancellation was asked: the program stopped there and its compensations ran (`failures`: those that failed). */
  | { readonly _tag: "CancelCompensated"; readonly failures: ReadonlyArray<Cause.Cause<unknown>> }
  | { readonly _tag: "ContinueAsNew"; readonly input: unknown }

/** Waits for a poke newer than `seen`. */
const nextPoke = (pokes: Pokes, seen: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (pokes.count !== seen) return resume(Effect.void)
    pokes.listener = () => resume(Effect.void)
    return Effect.sync(() => {
      pokes.listener = undefined
    })
  })

/** One turn of the event loop: what was ready to run (microtasks, I/O callbacks) has run. */
const macrotask: Effect.Effect<void> = Effect.async<void>((resume) => {
  const immediate = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(immediate))
})

/**
 * Whether the run is idle: no operation in progress and nothing moved for three turns of the
 * event loop, so every live branch waits (on a durable wait, or on something that is not the
 * engine's). Taken wrongly (a branch about to go on after a long stretch of pure computation),
 * the flow suspends early and is resumed: as after a crash, nothing is lost.
 */
const isIdle = (instance: Started): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 3; turn++) {
      if (instance.busy > 0 || instance.resolving > 0) return false
      const before = instance.progress
      yield* macrotask
      if (instance.busy > 0 || instance.resolving > 0 || instance.progress !== before) return false
    }
    return true
  })

/** A wait that can be met now, and when what meets it happened (for the order of time). */
interface Ready {
  readonly wait: Wait
  readonly at: number
  readonly resolution: "time" | "ready"
}

/** The waits that can be met now: by time (in memory), or by what the store has (when asked to look). */
const readyWaits = (instance: Started, now: number, lookInStore: boolean): Effect.Effect<Array<Ready>, StoreError> =>
  Effect.gen(function*() {
    const ready: Array<Ready> = []
    const waits = Array.from(instance.waits.values())
    for (const wait of waits) {
      if (wait.until !== undefined && wait.until <= now) ready.push({ wait, at: wait.until, resolution: "time" })
    }
    if (!lookInStore) return ready
    const signalWaits = waits.filter((wait) => wait.signal !== undefined)
    if (signalWaits.length > 0) {
      const signals = yield* instance.log.listSignals(instance.flowId)
      for (const wait of signalWaits) {
        // Unconsumed, or consumed by this very wait (taken before a crash, not yet recorded).
        const first = signals.find((signal) =>
          signal.name === wait.signal && (signal.consumedBy === null || signal.consumedBy === wait.key)
        )
        if (first !== undefined) ready.push({ wait, at: first.createdAt, resolution: "ready" })
      }
    }
    for (const wait of waits) {
      if (wait.event === undefined) continue
      const event = yield* instance.log.getEvent(wait.event)
      if (Option.isSome(event)) ready.push({ wait, at: event.value.createdAt, resolution: "ready" })
    }
    for (const wait of waits) {
      if (wait.childId === undefined) continue
      const child = yield* instance.log.getFlow(wait.childId)
      if (Option.isSome(child) && hasEnded(child.value)) {
        ready.push({ wait, at: child.value.completedAt ?? child.value.updatedAt, resolution: "ready" })
      }
    }
    return ready
  })

const earliest = (ready: ReadonlyArray<Ready>): Ready | undefined =>
  ready.reduce<Ready | undefined>(
    (best, candidate) =>
      best === undefined || candidate.at < best.at || (candidate.at === best.at && candidate.wait.key < best.wait.key)
        ? candidate
        : best,
    undefined
  )

const earliestUntil = (waits: ReadonlyArray<Wait>): number | null =>
  waits.reduce<number | null>(
    (min, wait) => (wait.until !== undefined && (min === null || wait.until < min) ? wait.until : min),
    null
  )

const reasonOf = (waits: ReadonlyArray<Wait>): SuspendReason => {
  const reasons: Array<SingleReason> = waits.map((wait) => wait.reason)
  return reasons.length === 1 ? reasons[0]! : SuspendReason.Any({ reasons })
}

/**
 * Runs the program in a fiber of its own, under a supervisor. Durable waits park in memory
 * (`journal.park`); the supervisor resolves them one at a time in the order of time — a timer at
 * its time, a signal or a child's end once the store has it — and, when every live branch of the
 * program waits, suspends the flow on all its waits at once (one conditional store operation).
 * A suspension or an engine error interrupts the program from outside, so no handler of the flow
 * can catch it; its finalizers run, and nothing more is written to the journal.
 */
const runProgram = <A, E, R>(
  instance: Started,
  program: Effect.Effect<A, E, R | FlowInstance>,
  seenAtStart: number
): Effect.Effect<Ended<A, E>, StoreError, R> =>
  // Only a run without a lease watches for its cancellation in a fiber of its own (in a scope).
  instance.fence === undefined
    ? Effect.scoped(Effect.flatMap(Effect.scope, (scope) => supervise(instance, program, seenAtStart, (watch) => Effect.forkIn(watch, scope))))
    : supervise(instance, program, seenAtStart, () => Effect.void)

/**
 * Forks `effect` as the flow's program: on the flow's clock, with its instance, and observed (its
 * end pokes the supervisor). The fiber's services and context are switched around the fork (the
 * child inherits them) and put back, rather than set by `withClock` and `provideService` regions.
 */
const forkProgram = <X, Y, R>(instance: Started, effect: Effect.Effect<X, Y, R | FlowInstance>) =>
  Effect.uninterruptible(Effect.withFiberRuntime<Fiber.RuntimeFiber<X, Y>, never, R>((parent) => {
    const state = switchState(parent, flowClock(instance), [FlowInstance, instance])
    return Effect.zipRight(
      state.enter,
      Effect.flatMap(Effect.fork(Effect.interruptible(effect as Effect.Effect<X, Y, R>)), (fiber) => {
        fiber.addObserver(() => instance.poke())
        return Effect.as(state.leave, fiber)
      })
    )
  }))

const supervise = <A, E, R>(
  instance: Started,
  program: Effect.Effect<A, E, R | FlowInstance>,
  seenAtStart: number,
  watch: (effect: Effect.Effect<void, StoreError>) => Effect.Effect<unknown>
): Effect.Effect<Ended<A, E>, StoreError, R> =>
  Effect.gen(function*() {
    const log = instance.log
    const supervised = <X, Y>(effect: Effect.Effect<X, Y, R | FlowInstance>) => forkProgram<X, Y, R>(instance, effect)
    let fiber: Fiber.RuntimeFiber<unknown, unknown> = yield* supervised(compensated(instance, program))
    // Once the flow's cancellation stopped the program here: its compensations run in its place.
    let compensating = false
    // Without a lease (a plain executor), a cancellation is seen through this process's wake-ups.
    let cancelled = false
    if (instance.fence === undefined) {
      yield* watch(Effect.asVoid(Effect.tap(awaitCancelled(log, instance.flowId, seenAtStart), (how) =>
        Effect.sync(() => {
          if (how === "cancelled") cancelled = true
          // Asked while the program runs: it stops where it is. A run that replays for the
          // cancellation stops at its own point (the first thing it has not done).
          else if (instance.cancelling !== true && !compensating && instance.abort === undefined) instance.abort = { _tag: "Cancel" }
          instance.poke()
        }))))
    }
    const stop = <X extends Ended<A, E>>(ended: X): Effect.Effect<X> => Effect.as(Fiber.interrupt(fiber), ended)
    let lookedAt = -1
    let storeSeen = yield* wake.version(log)
    let polled = false
    let lastLook = 0

    while (true) {
      const seen = instance.pokes.count
      const done = fiber.unsafePoll()
      if (instance.abort !== undefined && instance.abort._tag === "EngineError") {
        return yield* stop({ _tag: "Aborted", error: instance.abort.error } as const)
      }
      if (instance.abort !== undefined && instance.abort._tag === "ContinueAsNew") {
        return yield* stop({ _tag: "ContinueAsNew", input: instance.abort.input } as const)
      }
      if (instance.abort !== undefined && instance.abort._tag === "Cancel" && !compensating) {
        // The cancellation point: the program stops (its finalizers run), and the compensations it
        // registered run newest first, each recorded once done, supervised as the program was.
        yield* Fiber.interrupt(fiber)
        instance.abort = undefined
        instance.cancelling = false
        compensating = true
        fiber = yield* supervised(compensateAll(instance))
        continue
      }
      if (done !== null) {
        if (compensating) {
          const failures = Exit.isSuccess(done) ? (done.value as ReadonlyArray<Cause.Cause<unknown>>) : [done.cause]
          return { _tag: "CancelCompensated", failures } as const
        }
        return { _tag: "Exit", exit: done as Exit.Exit<A, E> } as const
      }
      if (cancelled) return yield* stop({ _tag: "Cancelled" } as const)

      // Nothing waits (the common case: steps one after another): only the end or a wait matters.
      // A resolved wait is being recorded: let the flow react (a race settle) before the next.
      if (instance.resolving > 0 || (instance.waits.size === 0 && instance.replayWaiting.size === 0)) {
        yield* nextPoke(instance.pokes, seen)
        continue
      }

      const storeWaits = Array.from(instance.waits.values()).some((wait) =>
        wait.signal !== undefined || wait.childId !== undefined || wait.event !== undefined
      )
      // Notifications come for every change of the store (from every process, on PostgreSQL):
      // they make a parked run look again at most every STORE_LOOK_GAP.
      const notified = (yield* wake.version(log)) !== storeSeen && performance.now() - lastLook >= STORE_LOOK_GAP_MILLIS
      const lookInStore = storeWaits && (lookedAt !== instance.waitsChanged || notified || polled)
      if (lookInStore) {
        lastLook = performance.now()
        lookedAt = instance.waitsChanged
        storeSeen = yield* wake.version(log)
        polled = false
      }
      const now = yield* Clock.currentTimeMillis
      const next = earliest(yield* readyWaits(instance, now, lookInStore).pipe(
        Effect.catchTag("StoreError", (error) => Effect.as(abortRun(instance, error), []))
      ))
      if (next !== undefined) {
        next.wait.resolve(next.resolution)
        // One turn of the event loop, so the branch it wakes starts recording before we look again.
        yield* macrotask
        continue
      }

      // Idle with waits: suspend on them, unless the earliest is a timer due soon enough to be
      // spent in memory (then nothing needs to be decided: the timer will resolve it).
      const waits = Array.from(instance.waits.values())
      const until = waits.reduce<number | undefined>(
        (min, wait) => (wait.until !== undefined && (min === undefined || wait.until < min) ? wait.until : min),
        undefined
      )
      const inMemory = until !== undefined && until - now <= instance.suspendAfterMillis
      if ((instance.replayWaiting.size > 0 || (waits.length > 0 && !inMemory)) && (yield* isIdle(instance))) {
        // Recorded results that no branch asks for (a race's losers): skip them.
        if (skipUnclaimed(instance)) continue
        if (instance.waits.size > 0) {
          const parked = Array.from(instance.waits.values())
          const current = yield* Clock.currentTimeMillis
          const suspended = yield* suspend<A, E>(instance, parked, earliestUntil(parked), current)
          if (suspended !== undefined) return yield* stop(suspended)
          // One of the waits was met meanwhile: look in the store again.
          polled = true
          continue
        }
      }

      // Wait for something to happen: a poke (a wait parked or left, an operation ended, the
      // program ended), the earliest timer, or, while signals or children are awaited, a
      // notification in this process or the store's poll.
      const events: Array<Effect.Effect<void>> = [nextPoke(instance.pokes, seen)]
      const times = Array.from(instance.waits.values()).flatMap((wait) => (wait.until === undefined ? [] : [wait.until]))
      if (times.length > 0) events.push(Effect.sleep(Duration.millis(Math.max(0, Math.min(...times) - now))))
      if (storeWaits) {
        const gap = STORE_LOOK_GAP_MILLIS - (performance.now() - lastLook)
        events.push(gap > 0 ? Effect.zipRight(wake.pollSleep(Duration.millis(gap)), wake.wait(log, storeSeen)) : wake.wait(log, storeSeen))
        events.push(Effect.map(wake.pollSleep(STORE_POLL), () => {
          polled = true
        }))
      }
      yield* Effect.raceAll(events)
    }
  })

/**
 * The program, then, if it failed (its typed error or a defect), the compensations it registered
 * (`Flow.withCompensation`), newest first, before its end is written. Each is recorded in the
 * journal once done, so a replay after a crash runs only those not done yet. A run that stops
 * (suspension, engine error, continue-as-new) runs none: it has not ended. A compensation that
 * fails is added to the flow's cause as a defect; the others still run.
 */
const compensated = <A, E, R>(
  instance: Started,
  program: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | FlowInstance> =>
  Effect.flatMap(Effect.exit(Effect.zipRight(flowBackoff(instance), program)), (exit) => {
    const registered = instance.compensations ?? []
    if (Exit.isSuccess(exit) || instance.abort !== undefined) return exit
    if (registered.length === 0) {
      willRetry(instance, exit.cause)
      return exit
    }
    if (Cause.isInterruptedOnly(exit.cause)) return exit
    // Another attempt of the whole flow comes: compensations wait for the last one.
    if (willRetry(instance, exit.cause)) return exit
    return Effect.flatMap(
      Effect.forEach(registered.slice().reverse(), (compensation, index) => compensate(compensation, exit.cause, index + 1)),
      (failures) => {
        const failed = failures.filter((cause): cause is Cause.Cause<unknown> => cause !== undefined)
        return failed.length === 0
          ? exit
          : Exit.failCause(failed.reduce<Cause.Cause<E>>((cause, more) => Cause.sequential(cause, Cause.die(Cause.squash(more))), exit.cause))
      }
    )
  })

/**
 * A cancelled flow's compensations, newest first, each recorded once done (a crash resumes with
 * those not done); the causes of those that failed (the others still run).
 */
const compensateAll = (instance: Started): Effect.Effect<ReadonlyArray<Cause.Cause<unknown>>, never, FlowInstance> =>
  Effect.map(
    Effect.forEach(
      (instance.compensations ?? []).slice().reverse(),
      (compensation, index) => compensate(compensation, Cause.interrupt(FiberId.none), index + 1)
    ),
    (failures) => failures.filter((cause): cause is Cause.Cause<unknown> => cause !== undefined)
  )

/**
 * Whether a failure of the flow's program is retried by the flow's policy (a retryable error, or a
 * defect when the policy says so, with attempts left); marks the run so that `settle` schedules it.
 */
const willRetry = (instance: Started, cause: Cause.Cause<unknown>): boolean => {
  const retry = instance.flowRetry
  if (retry === undefined || Cause.isInterruptedOnly(cause)) return false
  const failure = Cause.failureOption(cause)
  const retryable = Option.isSome(failure)
    ? Retryable.isRetryable(failure.value) || (retry.retryable !== undefined && retry.retryable(failure.value))
    : retry.policy.retryDefects && Cause.isDie(cause)
  retry.scheduled = retryable && RetryPolicy.allowsRetryAfter(retry.policy, retry.failedAttempts + 1)
  return retry.scheduled
}

/**
 * The backoff before a flow's next attempt (a flow-level retry), as a durable wait: a run that
 * comes before its time waits (in memory when it is short, suspended otherwise).
 */
const flowBackoff = (instance: Started): Effect.Effect<void> =>
  Effect.suspend(() => {
    const entry = instance.flowRetry === undefined ? undefined : instance.journal.get(FLOW_RETRY_KEY)
    const at = entry?.nextAttemptAt ?? null
    // A cancelled run does not wait for another attempt: its replay finds where it stopped.
    if (entry === undefined || at === null || instance.cancelling === true) return Effect.void
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      at <= now ? Effect.void : park(instance, {
        key: FLOW_RETRY_KEY,
        reason: SuspendReason.Retry({ key: FLOW_RETRY_KEY, at, attempt: entry.attempts + 1 }),
        until: at,
        signal: undefined,
        childId: undefined
      }, () => Effect.void))
  })

/**
 * Schedules the flow's next attempt after its program failed: its failed attempts are counted in
 * the journal, its failed entries are dropped, and it is suspended until the policy's backoff has
 * passed (a durable wait, like a step's retry).
 */
const retryLater = <A, E>(
  instance: Started,
  attempt: number,
  policy: RetryPolicy.RetryPolicy,
  cause: Cause.Cause<unknown>
): Effect.Effect<Outcome<A, E>, ExecutionError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const delay = yield* RetryPolicy.delayFor(policy, attempt)
    const at = now + Duration.toMillis(delay)
    const reason = SuspendReason.Retry({ key: FLOW_RETRY_KEY, at, attempt: attempt + 1 })
    const written = yield* instance.log.putStep({
      flowId: instance.flowId,
      key: FLOW_RETRY_KEY,
      inputHash: null,
      status: "retrying",
      exit: undefined,
      attempts: attempt,
      nextAttemptAt: at,
      startedAt: now,
      completedAt: null
    }, instance.fence)
    if (!written) return yield* leaseLost(instance.flowId, instance.fence)
    const dropKeys = Array.from(instance.journal.values())
      .filter((step) => step.status === "completed" && (step.exit as { _tag?: string } | undefined)?._tag === "Failure")
      .map((step) => step.key)
    const scheduled = yield* instance.log.retryFlowLater(instance.flowId, { runAfter: at, suspendReason: reason, dropKeys, now }, instance.fence)
    if (!scheduled) return yield* leaseLost(instance.flowId, instance.fence)
    yield* flowEvent(instance.flowId, instance.flowType, "retrying", { attempt, at, cause: Cause.pretty(cause) })
    return { _tag: "Suspended", reason } as const
  })

const compensationCodec = exitCodec(Schema.Void, Schema.Never)

/**
 * Runs the `n`th compensation (in the order they run) as a journal entry of its own, in a key scope
 * of its own (`$compensation/n`, which its steps share), unless it is recorded as done.
 */
const compensate = (
  compensation: Compensation,
  cause: Cause.Cause<unknown>,
  n: number
): Effect.Effect<Cause.Cause<unknown> | undefined, never, any> =>
  Effect.flatMap(FlowInstance, (instance) =>
    scoped(
      `$compensation/${n}`,
      Effect.flatMap(begin(instance, "$compensate", "compensation"), (begun) => {
        const recorded = begun.recorded
        if (recorded?.status === "completed") {
          return Effect.map(replay(instance, { ...begun, recorded }, compensationCodec), (exit) =>
            Exit.isFailure(exit) ? exit.cause : undefined)
        }
        return Effect.gen(function*() {
          const startedAt = yield* Clock.currentTimeMillis
          const exit = yield* Effect.exit(compensation.run(cause))
          if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
          const recordedExit: Exit.Exit<void> = Exit.isSuccess(exit) ? Exit.void : Exit.die(Cause.squash(exit.cause))
          const now = yield* Clock.currentTimeMillis
          yield* complete(instance, begun, {
            inputHash: null,
            exit: yield* encodeExit(instance, begun.key, compensationCodec, recordedExit),
            attempts: 1,
            startedAt,
            completedAt: now
          })
          return Exit.isFailure(recordedExit) ? recordedExit.cause : undefined
        })
      })
    ))

/** Records an engine error on the run (the supervisor then stops the program). */
const abortRun = (instance: Started, error: EngineError): Effect.Effect<void> =>
  Effect.sync(() => {
    if (instance.abort === undefined) instance.abort = { _tag: "EngineError", error }
  })

/**
 * Suspends the flow on its waits, unless one of them was met meanwhile. While the store decides,
 * operations that begin wait (`instance.gate`); once it has suspended, nothing more is written.
 */
const suspend = <A, E>(
  instance: Started,
  waits: ReadonlyArray<Wait>,
  runAfter: number | null,
  now: number
): Effect.Effect<Ended<A, E> | undefined, StoreError> =>
  Effect.gen(function*() {
    const reason = reasonOf(waits)
    const latch = yield* Effect.makeLatch(false)
    instance.gate = latch.await
    // Decided: what waited at the gate goes on (and stops at once when the run stops).
    const open = Effect.suspend(() => {
      instance.gate = undefined
      return latch.open
    })
    const result = yield* instance.log.suspendFlow(instance.flowId, {
      runAfter,
      suspendReason: reason,
      signals: Array.from(new Set(waits.flatMap((wait) => (wait.signal === undefined ? [] : [wait.signal])))),
      children: waits.flatMap((wait) => (wait.childId === undefined ? [] : [wait.childId])),
      events: Array.from(new Set(waits.flatMap((wait) => (wait.event === undefined ? [] : [wait.event])))),
      now
    }, instance.fence).pipe(Effect.onError(() => open))
    if (result === "suspended") {
      instance.abort = { _tag: "Suspend", reason }
      yield* open
      yield* flowEvent(instance.flowId, instance.flowType, "suspended", { reason })
      return { _tag: "Suspended", reason } as const
    }
    if (result === "satisfied") {
      yield* open
      return undefined
    }
    // Refused: the flow is no longer ours to run (cancelled, or its lease is gone).
    const row = yield* instance.log.getFlow(instance.flowId).pipe(Effect.onError(() => open))
    const ended: Ended<A, E> = Option.isSome(row) && row.value.status === "cancelled"
      ? { _tag: "Cancelled" }
      : { _tag: "Aborted", error: leaseLost(instance.flowId, instance.fence) }
    instance.abort = { _tag: "Suspend", reason }
    yield* open
    return ended
  })

// ---------------------------------------------------------------------------------------------
// Settle
// ---------------------------------------------------------------------------------------------

const settle = <A, E, R, I>(
  log: ExecutionLog.Service,
  flow: AnyFlow<A, E, R, I>,
  instance: Started,
  admitted: Admitted<I>,
  ended: Ended<A, E>,
  seenAtStart: number,
  options: ExecuteOptions
): Effect.Effect<Outcome<A, E>, ExecutionError, R | ExecutionLog> =>
  Effect.gen(function*() {
    const flowId = instance.flowId
    const flowType = flow.name
    const fence = instance.fence
    switch (ended._tag) {
      case "Suspended":
        return { _tag: "Suspended", reason: ended.reason } as const
      case "ContinueAsNew": {
        const now = yield* Clock.currentTimeMillis
        const continued = yield* log.continueAsNew(flowId, {
          input: ended.input,
          inputHash: hashValue(ended.input),
          result: { _tag: "ContinueAsNew", input: ended.input },
          now
        }, fence)
        if (!continued) return yield* leaseLost(flowId, fence)
        yield* flowEvent(flowId, flowType, "continued-as-new")
        // The next execution, at once, under the same lease: it admits the flow's stored row.
        return yield* run(flow, { _tag: "Stored" }, {
          ...options,
          claimed: fence !== undefined,
          claimedRow: undefined
        })
      }
      case "Cancelled":
        yield* flowEvent(flowId, flowType, "cancelled")
        return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
      case "CancelCompensated": {
        for (const failure of ended.failures) {
          yield* Effect.logError("ergon.flow", { event: "compensation-failed", flowId, cause: Cause.pretty(failure) })
        }
        // Its end as any flow's: under the lease, its parent woken in the same write.
        const now = yield* Clock.currentTimeMillis
        const written = yield* log.updateFlow(flowId, {
          status: "cancelled",
          runAfter: null,
          completedAt: now,
          updatedAt: now,
          ...(admitted.parentId !== null ? { wakeParent: admitted.parentId } : {})
        }, fence)
        if (!written) return yield* leaseLost(flowId, fence)
        yield* flowEvent(flowId, flowType, "cancelled", { compensated: true })
        yield* wake.notify(log)
        return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
      }
      case "Aborted": {
        const error = ended.error
        // A store that fails or a lease that is gone: nothing more can be written; the flow resumes later.
        if (error._tag !== "StoreError" && error._tag !== "LeaseLostError") yield* markFailed(log, flowId, error, fence)
        yield* flowEvent(flowId, flowType, "failed", { error: error.message })
        return yield* error
      }
      case "Exit":
        break
    }
    const exit = ended.exit
    const flowRetry = instance.flowRetry
    if (flowRetry?.scheduled === true && Exit.isFailure(exit)) {
      return yield* retryLater<A, E>(instance, flowRetry.failedAttempts + 1, flowRetry.policy, exit.cause)
    }
    // Only when something was notified during the run can it have been cancelled: no read otherwise.
    if (fence === undefined && (yield* wake.version(log)) !== seenAtStart) {
      const current = yield* log.getFlow(flowId)
      if (Option.isSome(current) && current.value.status === "cancelled") {
        yield* flowEvent(flowId, flowType, "cancelled")
        return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
      }
    }
    const now = yield* Clock.currentTimeMillis
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
      ...(admitted.parentId !== null ? { wakeParent: admitted.parentId } : {})
    }, fence).pipe(Effect.catchTag("StoreError", failIfRefused(log, flowId, fence)))
    if (!written) {
      // Without a lease, only a cancellation refuses the write: the flow ended cancelled.
      if (fence === undefined && (yield* isCancelled(log, flowId))) {
        return { _tag: "Completed", exit: Exit.interrupt(FiberId.none) } as const
      }
      return yield* leaseLost(flowId, fence)
    }
    yield* flowEvent(flowId, flowType, "completed", { success: Exit.isSuccess(exit) })
    // Tell this process's workers and waiters (a parent to resume, a handle awaiting the result,
    // which takes the end from here rather than read it back).
    yield* wake.ended(log, flowId, { status: "completed", result: encodedExit.right })
    yield* wake.notify(log)
    return { _tag: "Completed", exit } as const
  })

const isCancelled = (log: ExecutionLog.Service, flowId: string) =>
  Effect.map(log.getFlow(flowId), Option.exists((row) => row.status === "cancelled"))

/**
 * Completes once the flow is cancelled, or its cancellation asked (it has compensations to run),
 * seen through this process's wake-ups.
 */
const awaitCancelled = (
  log: ExecutionLog.Service,
  flowId: string,
  seenAtStart: number
): Effect.Effect<"cancelled" | "asked", StoreError> =>
  Effect.gen(function*() {
    let seen = seenAtStart
    while (true) {
      // The flow is read only after a notification, not once per execution.
      yield* wake.wait(log, seen)
      seen = yield* wake.version(log)
      // Not interrupted mid-query (when the flow ends first): an interrupted query is cancelled by
      // the driver, which costs a round trip and, on PostgreSQL, a timer of its own.
      const row = yield* Effect.uninterruptible(log.getFlow(flowId))
      if (Option.isSome(row) && row.value.status === "cancelled") return "cancelled" as const
      if (Option.isSome(row) && cancelAsked(row.value)) return "asked" as const
    }
  }).pipe(Effect.catchAll(() => Effect.never))

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
