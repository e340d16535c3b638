import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ExecutionLog, type FlowFilter, type FlowStatus } from "../ExecutionLog.js"
import type * as Flow from "../Flow.js"
import {
  CheckpointDecodeError,
  FlowCancelledError,
  FlowConflictError,
  FlowEndedError,
  FlowFailedError,
  FlowNotFoundError,
  InvalidEventError,
  type InvalidIdError,
  InvalidInputError,
  type InvalidOptionError,
  InvalidSignalError,
  type StoreError,
  type UnstorableValueError
} from "../FlowError.js"
import * as json from "./json.js"
import * as validate from "./validate.js"
import { hashValue } from "./hash.js"
import { formatParseError } from "./journal.js"
import { newFlow } from "./records.js"
import { emitInFlow } from "./event.js"
import { FlowInstance } from "./instance.js"
import * as registry from "./registry.js"
import * as stuck from "./stuck.js"
import * as telemetry from "./telemetry.js"
import * as wake from "./wake.js"

/** What `schedule` can fail with. */
export type ScheduleError =
  | InvalidInputError
  | FlowConflictError
  | StoreError
  | UnstorableValueError
  | InvalidIdError
  | InvalidOptionError

export interface ScheduleOptions {
  readonly id?: string | undefined
  readonly runAt?: Date | number | undefined
  readonly priority?: number | undefined
  /**
   * When a flow with this id exists with another input: `"fail"` (the default) with a
   * `FlowConflictError`, or `"useExisting"`, returning a handle on the existing flow
   * (`handle.created` is `false`). A flow of another type under the id always fails.
   */
  readonly onConflict?: "fail" | "useExisting" | undefined
}

/** A handle on a scheduled flow. */
export interface FlowHandle<A, E> {
  readonly id: string
  readonly flowType: string
  readonly await: Effect.Effect<
    A,
    E | FlowCancelledError | FlowFailedError | FlowNotFoundError | CheckpointDecodeError | StoreError,
    ExecutionLog
  >
  readonly result: Effect.Effect<Option.Option<Exit.Exit<A, E>>, FlowNotFoundError | CheckpointDecodeError | StoreError, ExecutionLog>
  readonly status: Effect.Effect<FlowStatus, FlowNotFoundError | StoreError, ExecutionLog>
  readonly cancel: Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog>
  /** Cancels the flow with a reason, recorded on it (see `Client.cancel`). */
  readonly cancelWith: (options: CancelOptions) => Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog>
  /**
   * Whether `schedule` created the flow: `false` when it returned an existing one (same id), and for
   * a handle made by `Client.handle`.
   */
  readonly created: boolean
  readonly signal: {
    /** Sends a signal whose payload is checked and encoded with `schema` first. */
    <P, PI>(
      name: string,
      schema: Schema.Schema<P, PI, never>,
      payload: P
    ): Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog>
    /** Sends a signal whose payload is stored as JSON (the receiver decodes it with its schema). */
    (name: string, payload: unknown): Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog>
  }
}

/** Enqueues a flow durably with a version stamp; idempotent for the same id, flow and input. */
export const schedule = <F extends Flow.Any>(
  flow: F,
  input: Flow.Flow.Input<F>,
  version: string | null,
  options: ScheduleOptions | undefined
): Effect.Effect<
  FlowHandle<Flow.Flow.Success<F>, Flow.Flow.Error<F>>,
  ScheduleError,
  ExecutionLog
> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    // Everything is checked before anything is written.
    yield* validate.id("flow name", flow.name)
    const id = yield* validate.id("flow id", options?.id ?? `${flow.name}-${crypto.randomUUID()}`)
    const now = yield* Clock.currentTimeMillis
    const runAt = yield* validate.runAt(options?.runAt, now)
    const priority = yield* validate.priority(options?.priority)
    const encoded = Schema.encodeEither(flow.input as Schema.Schema<any, any>)(input)
    if (Either.isLeft(encoded)) {
      return yield* new InvalidInputError({ flowType: flow.name, flowId: id, detail: formatParseError(encoded.left) })
    }
    yield* validate.payload(log, `the input of flow '${id}'`, encoded.right)
    const inputHash = hashValue(encoded.right)
    const inserted = yield* validate.unwrapRefusal(log.insertFlow(newFlow({
      id,
      type: flow.name,
      version,
      input: encoded.right,
      inputHash,
      status: "pending",
      now,
      runAfter: runAt,
      priority,
      attempts: 0
    })))
    if (!inserted) {
      const existing = yield* log.getFlow(id)
      if (Option.isSome(existing)) {
        if (existing.value.type !== flow.name) {
          return yield* new FlowConflictError({ flowId: id, reason: "type", existing: existing.value.type, requested: flow.name })
        }
        if (existing.value.inputHash !== inputHash && options?.onConflict !== "useExisting") {
          return yield* new FlowConflictError({ flowId: id, reason: "input", existing: existing.value.inputHash, requested: inputHash })
        }
      }
    } else {
      yield* wake.notify(log)
      yield* telemetry.countScheduled(flow.name)
      // Said out loud when no live worker could take it (a version or a type no worker runs).
      yield* stuck.warnIfUnserved(log, id, flow.name, version, registry.cachedLiveWorkers(log))
    }
    yield* Effect.logDebug("ergon.flow", { event: inserted ? "scheduled" : "already-scheduled", flowId: id, flowType: flow.name, version })
    yield* Effect.annotateCurrentSpan(telemetry.Attributes.flowId, id)
    const scheduled = { ...handle(flow, id), created: inserted }
    wake.expectEnd(log, id, scheduled)
    return scheduled
  }).pipe(
    Effect.withSpan(telemetry.SpanNames.schedule, {
      kind: "producer",
      attributes: { [telemetry.Attributes.flowType]: flow.name, [telemetry.Attributes.version]: version ?? "" },
      captureStackTrace: false
    })
  )

/** A handle on the flow `id`, read and controlled through the store. */
export const handle = <F extends Flow.Any>(flow: F, id: string): FlowHandle<Flow.Flow.Success<F>, Flow.Flow.Error<F>> => ({
  id,
  flowType: flow.name,
  await: awaitResult(flow, id),
  result: result(flow, id),
  status: status(id),
  cancel: cancel(id),
  cancelWith: (options) => cancel(id, options),
  created: false,
  signal: ((name: string, ...rest: [unknown] | [Schema.Schema<any, any, never>, unknown]) =>
    rest.length === 2 ? signal(id, name, rest[1], rest[0]) : signal(id, name, rest[0])) as FlowHandle<any, any>["signal"]
})

const getExisting = (id: string) =>
  Effect.flatMap(ExecutionLog, (log) =>
    Effect.flatMap(log.getFlow(id), Option.match({
      onNone: () => Effect.fail(new FlowNotFoundError({ flowId: id })),
      onSome: Effect.succeed
    })))

export const status = (id: string): Effect.Effect<FlowStatus, FlowNotFoundError | StoreError, ExecutionLog> =>
  Effect.map(getExisting(id), (flow) => flow.status)

const decodeResult = <F extends Flow.Any>(flow: F, id: string, encoded: unknown) => {
  const decoded = flow.exitCodec.decode(encoded)
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right as Exit.Exit<Flow.Flow.Success<F>, Flow.Flow.Error<F>>)
    : Effect.fail(
      new CheckpointDecodeError({
        flowType: flow.name,
        flowId: id,
        key: "$result",
        schema: flow.exitCodec.description,
        detail: formatParseError(decoded.left)
      })
    )
}

export const result = <F extends Flow.Any>(flow: F, id: string) =>
  Effect.flatMap(getExisting(id), (row) =>
    row.status === "completed" ? Effect.asSome(decodeResult(flow, id, row.result)) : Effect.succeedNone)

const POLL_MIN = Duration.millis(20)
const POLL_MAX = Duration.seconds(1)

/** Waits for the flow's end: woken at once in-process, polling with backoff across processes. */
export const awaitResult = <F extends Flow.Any>(flow: F, id: string) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    // shared with this process's workers; closed when the await returns
    yield* wake.follow(log)
    let delay = Duration.toMillis(POLL_MIN)
    let looked = false
    while (true) {
      const seen = yield* wake.version(log)
      // Ended by a run of this process since the last look: no read needed. While a worker of this
      // process runs it, a wake-up is another flow's news: its own end will come from its run (or,
      // when that run stops without an end, the store is read once it is over).
      const known = wake.takeEnded(log, id)
      if (known === undefined && looked && wake.isRunningHere(log, id)) {
        yield* Effect.raceFirst(wake.wait(log, seen), wake.pollSleep(Duration.millis(delay)))
        continue
      }
      looked = true
      const row = known ?? (yield* getExisting(id))
      switch (row.status) {
        case "completed":
          return yield* Effect.flatten(decodeResult(flow, id, row.result))
        case "cancelled":
          return yield* new FlowCancelledError({ flowId: id })
        case "failed": {
          const error = (row.error ?? {}) as { _tag?: unknown; message?: unknown }
          return yield* new FlowFailedError({
            flowId: id,
            error: { _tag: String(error._tag ?? "Unknown"), message: String(error.message ?? "") }
          })
        }
      }
      yield* Effect.raceFirst(wake.wait(log, seen), wake.pollSleep(Duration.millis(delay)))
      delay = Math.min(Duration.toMillis(POLL_MAX), delay * 2)
    }
  }).pipe(Effect.scoped)

export interface CancelOptions {
  /** Why: recorded on the flow (`cancelReason`). Its children get `"parent canceled"`. */
  readonly reason?: string | undefined
}

/** The reason recorded on the children of a cancelled flow. */
export const PARENT_CANCELED = "parent canceled"

/**
 * Cancels a flow that has not ended, and its children, recursively, recording the reason. What it
 * reports is what the store did: the cancellation is one conditional write, and when it changed
 * nothing the flow is read again to say why. Cancelling a cancelled flow succeeds and changes
 * nothing; a completed one is a `FlowEndedError`.
 */
export const cancel = (
  id: string,
  options?: CancelOptions | undefined
): Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    const now = yield* Clock.currentTimeMillis
    const cancelled = yield* log.cancelFlow(id, now, options?.reason)
    if (!cancelled) {
      const row = yield* getExisting(id)
      // Cancelled, or asked to and running its compensations: nothing to change.
      if (row.status === "cancelled" || isCancelAsked(row)) return
      return yield* new FlowEndedError({ flowId: id, status: row.status, request: "cancel" })
    }
    yield* cancelled_(log, id, now)
    yield* wake.notify(log)
  })

const isCancelAsked = (row: ExecutionLog.FlowRecord): boolean =>
  row.status !== "cancelled" && row.cancelRequestedAt !== undefined && row.cancelRequestedAt !== null

/**
 * After a flow was cancelled: its parent takes it as the child's end; its children are cancelled.
 * A flow asked to cancel (it has compensations to run) is not ended yet: its children are
 * cancelled, and its parent is woken by the run that ends it.
 */
const cancelled_ = (log: ExecutionLog.Service, id: string, now: number): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const row = yield* log.getFlow(id)
    const asked = Option.isSome(row) && isCancelAsked(row.value)
    yield* Effect.logDebug("ergon.flow", { event: asked ? "cancel-asked" : "cancelled", flowId: id })
    // A parent waiting for this child takes the cancellation as the child's end.
    if (!asked && Option.isSome(row) && row.value.parentId !== null) yield* log.wakeFlow(row.value.parentId, now)
    yield* cancelChildren(log, id)
  })

const cancelChildren = (log: ExecutionLog.Service, id: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const filter: FlowFilter = { parentId: id, status: ["pending", "running", "suspended", "failed"], limit: 1000 }
    const children = yield* log.listFlows(filter)
    yield* Effect.forEach(children, (child) => cancelTree(log, child.id), { discard: true })
  })

const cancelTree = (log: ExecutionLog.Service, id: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    if (yield* log.cancelFlow(id, now, PARENT_CANCELED)) yield* cancelled_(log, id, now)
    else yield* cancelChildren(log, id)
  })

/**
 * Sends a signal. The payload is checked against `schema` when given, and without one it must be
 * a JSON value that comes back exactly (a typed error to the sender, nothing sent). The store
 * takes it only while the flow has not ended, and wakes the flow in the same write when it is
 * suspended: a signal accepted is one the flow will see.
 */
export const signal = <P, PI>(
  id: string,
  name: string,
  payload: P,
  schema?: Schema.Schema<P, PI, never>
): Effect.Effect<void, SignalError, ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    const invalid = (detail: string) => new InvalidSignalError({ flowId: id, name, detail })
    const badName = json.checkId("signal name", name)
    if (badName !== undefined) return yield* invalid(badName.message)
    let encoded: unknown = payload
    if (schema !== undefined) {
      const result = Schema.encodeEither(schema)(payload)
      if (Either.isLeft(result)) return yield* invalid(formatParseError(result.left))
      encoded = result.right
    } else if (payload === undefined) {
      return yield* invalid("the payload is undefined, which is not JSON (send null, or give a schema)")
    }
    if (encoded !== undefined) {
      const problem = json.findProblem(encoded, log.limits.maxDepth)
      if (problem !== undefined) return yield* invalid(`the payload is not JSON that comes back exactly: at ${problem.path}: ${problem.detail}`)
    }
    const now = yield* Clock.currentTimeMillis
    const seq = yield* log.insertSignal(id, name, encoded ?? null, now).pipe(
      Effect.catchTag("StoreError", (error) => {
        const refused = json.refusedValue(error)
        return Effect.fail(refused === undefined ? error : invalid(refused.message))
      })
    )
    yield* wake.notify(log)
    yield* Effect.logDebug("ergon.flow", { event: "signalled", flowId: id, name, seq })
  })

/** What `signal` can fail with. */
export type SignalError = FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError

/**
 * Makes a flow that ended in failure run again: a flow stopped by an engine error replays from its
 * journal; a flow whose program failed has the failed entries of its journal dropped, so the
 * failing steps run again. A flow that succeeded cannot be retried.
 */
export const retry = (id: string): Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    const loaded = yield* log.loadFlow(id)
    if (Option.isNone(loaded)) return yield* new FlowNotFoundError({ flowId: id })
    const { flow, steps } = loaded.value
    const exit = flow.result as { _tag?: string } | undefined
    const failedRun = flow.status === "completed" && exit?._tag === "Failure"
    if (!(flow.status === "failed" || flow.status === "cancelled" || failedRun)) {
      return yield* new FlowEndedError({ flowId: id, status: flow.status, request: "retry (only a failed or cancelled flow can be retried)" })
    }
    const dropKeys = steps
      .filter((step) => step.status === "completed" && (step.exit as { _tag?: string } | undefined)?._tag === "Failure")
      .map((step) => step.key)
    const now = yield* Clock.currentTimeMillis
    yield* log.retryFlow(id, now, dropKeys)
    yield* wake.notify(log)
  })

export const list = (filter: FlowFilter) => Effect.flatMap(ExecutionLog, (log) => log.listFlows(filter))

/** `awaitResult` as `Client` exports it. `any`: the decoded exit's types come from the flow's schemas, known only as `Schema.All` here. */
export const awaitResultTyped: <F extends Flow.Any>(
  flow: F,
  id: string
) => Effect.Effect<
  Flow.Flow.Success<F>,
  Flow.Flow.Error<F> | FlowCancelledError | FlowFailedError | FlowNotFoundError | CheckpointDecodeError | StoreError,
  ExecutionLog
> = awaitResult as any

/**
 * Emits the named event `name` (see `Flow.awaitEvent`): stored unless one of that name exists (the
 * first emit wins), then every flow waiting for it is woken. Returns whether this emit stored it.
 * Inside a flow, it is the flow's recorded operation (`Flow.emitEvent`), emitted once.
 */
export const emitEvent = <P, PI>(
  name: string,
  payload: P,
  schema?: Schema.Schema<P, PI, never>
): Effect.Effect<boolean, InvalidEventError | StoreError, ExecutionLog> =>
  Effect.gen(function*() {
    let encoded: unknown = payload
    if (schema !== undefined) {
      const result = Schema.encodeEither(schema)(payload)
      if (Either.isLeft(result)) return yield* new InvalidEventError({ name, detail: formatParseError(result.left) })
      encoded = result.right
    } else {
      try {
        JSON.stringify(payload)
      } catch (cause) {
        return yield* new InvalidEventError({ name, detail: `the payload is not JSON: ${String(cause)}` })
      }
    }
    const inFlow = yield* Effect.serviceOption(FlowInstance)
    if (Option.isSome(inFlow)) return yield* Effect.provideService(emitInFlow(name, encoded ?? null), FlowInstance, inFlow.value)
    const log = yield* ExecutionLog
    const now = yield* Clock.currentTimeMillis
    const stored = yield* log.emitEvent(name, encoded ?? null, now)
    yield* wake.notify(log)
    yield* Effect.logDebug("ergon.event", { event: stored ? "emitted" : "already-emitted", name })
    return stored
  })

/** The executions of a flow, in order (see `Flow.continueAsNew`). */
export const listExecutions = (
  id: string
): Effect.Effect<ReadonlyArray<ExecutionLog.ExecutionRecord>, FlowNotFoundError | StoreError, ExecutionLog> =>
  Effect.flatMap(getExisting(id), () => Effect.flatMap(ExecutionLog, (log) => log.listExecutions(id)))

export interface PurgeOptions {
  /** Which ended flows: `completed`, `cancelled`, `failed` (one or several). */
  readonly status: "completed" | "cancelled" | "failed" | ReadonlyArray<"completed" | "cancelled" | "failed">
  /** Ended before this time (a `Date` or epoch millis). */
  readonly finishedBefore: Date | number
  readonly type?: string | undefined
  /** Root flows deleted per transaction. Defaults to 500. */
  readonly batchSize?: number | undefined
  /** Also delete the events emitted before this time. */
  readonly eventsBefore?: Date | number | undefined
}

export interface PurgeResult {
  /** Root flows deleted (each with its descendants). */
  readonly flows: number
  readonly events: number
}

const DEFAULT_PURGE_BATCH = 500

const millisOf = (time: Date | number): number => (typeof time === "number" ? time : time.getTime())

/** Deletes ended flows in batches (see `Client.purge`). */
export const purge = (options: PurgeOptions): Effect.Effect<PurgeResult, StoreError, ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    const statuses = typeof options.status === "string" ? [options.status] : options.status
    const requested = options.batchSize ?? DEFAULT_PURGE_BATCH
    const limit = Number.isFinite(requested) && requested >= 1 ? Math.floor(requested) : DEFAULT_PURGE_BATCH
    const finishedBefore = millisOf(options.finishedBefore)
    let flows = 0
    while (true) {
      const deleted = yield* log.purgeFlows({ statuses, finishedBefore, type: options.type, limit })
      flows += deleted.length
      if (deleted.length < limit) break
    }
    let events = 0
    if (options.eventsBefore !== undefined) {
      const before = millisOf(options.eventsBefore)
      while (true) {
        const deleted = yield* log.purgeEvents(before, limit)
        events += deleted
        if (deleted < limit) break
      }
    }
    yield* Effect.logDebug("ergon.flow", { event: "purged", flows, events })
    return { flows, events }
  }).pipe(Effect.withSpan("ergon.purge", { captureStackTrace: false }))
