/**
 * Reads and controls flows from any process that can reach the store: status, result, listing,
 * cancellation, signals, and retrying a failed flow; a flow's whole history, the live workers,
 * and the flows that no live worker can make progress on; the versions unfinished flows are stamped
 * with, and the migration of stranded ones. The `ergon` command line is built on it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import {
  type EntryKind as ExecutionLogEntryKind,
  ExecutionLog as ExecutionLogTag,
  type FlowFilter,
  type FlowStatus,
  type StepStatus,
  type WorkerRow
} from "./ExecutionLog.js"
import type { ExecutionLog } from "./ExecutionLog.js"
import type * as Flow from "./Flow.js"
import type {
  CheckpointDecodeError,
  FlowCancelledError,
  FlowConflictError,
  FlowEndedError,
  FlowFailedError,
  FlowNotFoundError,
  InvalidEventError,
  InvalidSignalError,
  InvalidVersionError,
  StoreError,
  VersionMigrationError
} from "./FlowError.js"
import * as internal from "./internal/client.js"
import * as internalHistory from "./internal/history.js"
import { isLive } from "./internal/registry.js"
import * as internalStuck from "./internal/stuck.js"
import * as internalVersions from "./internal/versions.js"

/**
 * The status of a flow (`pending`, `running`, `suspended`, `completed`, `failed`, `cancelled`).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const status: (id: string) => Effect.Effect<FlowStatus, FlowNotFoundError | StoreError, ExecutionLog> =
  internal.status

/**
 * The flow's stored record (status, version, parent, attempts, timestamps, encoded payloads).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const get = (id: string): Effect.Effect<Option.Option<ExecutionLog.FlowRecord>, StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLogTag, (log) => log.getFlow(id))

/**
 * The flow's result, decoded with its schemas: `None` while it has not completed.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const result: <F extends Flow.Any>(
  flow: F,
  id: string
) => Effect.Effect<
  Option.Option<Exit.Exit<Flow.Flow.Success<F>, Flow.Flow.Error<F>>>,
  FlowNotFoundError | CheckpointDecodeError | StoreError,
  ExecutionLog
> = internal.result

/**
 * Waits for the flow to end and returns its success, or fails with its typed error (or
 * `FlowCancelledError` / `FlowFailedError`). Woken at once by work in this process; polls with
 * backoff otherwise.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const awaitResult: <F extends Flow.Any>(
  flow: F,
  id: string
) => Effect.Effect<
  Flow.Flow.Success<F>,
  Flow.Flow.Error<F> | FlowCancelledError | FlowFailedError | FlowNotFoundError | CheckpointDecodeError | StoreError,
  ExecutionLog
> = internal.awaitResultTyped

/**
 * Lists flows by status, type, version (`null`: unversioned) or parent, in id order.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const list: (filter: FlowFilter) => Effect.Effect<ReadonlyArray<ExecutionLog.FlowRecord>, StoreError, ExecutionLog> =
  internal.list

/**
 * Cancels a flow that has not ended, and its children: a running step is interrupted (its worker's
 * lease is gone), and the flow ends `cancelled`. The `reason`, when given, is recorded on the flow
 * (`cancelReason` in `get`/`list`); children cancelled with it get `"parent canceled"`. Cancelling a
 * flow already cancelled succeeds and changes nothing (its first reason stays); cancelling a
 * completed flow is a `FlowEndedError`.
 *
 * A flow that registered compensations (`Flow.withCompensation`) is asked to cancel instead of
 * ended at once: `cancelRequestedAt` is set and it is ready to run; the next run replays it to the
 * point it had reached, runs its compensations newest first, and ends it `cancelled` (its handle's
 * `await` sees that end). Cancelling it meanwhile changes nothing.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const cancel: (
  id: string,
  options?: { readonly reason?: string | undefined } | undefined
) => Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog> = internal.cancel

/**
 * Emits the named event `name`, for every flow that awaits it (`Flow.awaitEvent`), now or later:
 * stored unless one of that name was emitted before (the first emit wins), then the flows
 * waiting for it are woken, in any process. Returns whether this emit stored the event. With
 * `schema`, the payload is encoded with it first (`InvalidEventError`, nothing emitted). Called
 * inside a flow, it is recorded as the flow's operation, so a replay does not emit again.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const emitEvent: <P, PI = P>(
  name: string,
  payload: P,
  schema?: Schema.Schema<P, PI, never>
) => Effect.Effect<boolean, InvalidEventError | StoreError, ExecutionLog> = internal.emitEvent

/**
 * The executions of a flow in order (1, 2, …): those ended by `Flow.continueAsNew` (status
 * `"continued"`, with their input and journal size), then the current one.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const listExecutions: (
  id: string
) => Effect.Effect<ReadonlyArray<ExecutionLog.ExecutionRecord>, FlowNotFoundError | StoreError, ExecutionLog> =
  internal.listExecutions

/**
 * Sends a signal to a flow: written durably, then the flow is woken if it waits for that name. With
 * `schema`, the payload is checked and encoded first (`InvalidSignalError`, nothing sent); without
 * it, the payload is stored as JSON and the receiver decodes it with its own schema. A flow that does
 * not exist, or has ended, is a typed error.
 *
 * The arguments come in the order of `Flow.awaitSignal(name, schema)` and of a handle's
 * `signal(name, schema, payload)`: `Client.signal(id, name, schema, payload)`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const signal: {
  <P, PI>(
    id: string,
    name: string,
    schema: Schema.Schema<P, PI, never>,
    payload: P
  ): Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog>
  (
    id: string,
    name: string,
    payload: unknown
  ): Effect.Effect<void, FlowNotFoundError | FlowEndedError | InvalidSignalError | StoreError, ExecutionLog>
} = (id: string, name: string, ...rest: [unknown] | [Schema.Schema<any, any, never>, unknown]) =>
  rest.length === 2 ? internal.signal(id, name, rest[1], rest[0]) : internal.signal(id, name, rest[0])

/**
 * Makes a flow that ended in failure run again: one stopped by an engine error replays its journal
 * (once the code is fixed); one whose program failed has its failed journal entries dropped, so the
 * failing steps run again. Retrying a flow that succeeded is a `FlowEndedError`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const retry: (id: string) => Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog> =
  internal.retry

/**
 * A handle on an existing flow.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const handle: <F extends Flow.Any>(flow: F, id: string) => internal.FlowHandle<Flow.Flow.Success<F>, Flow.Flow.Error<F>> =
  internal.handle

/**
 * Deletes ended flows: root flows (no parent) of the given `status` that ended before
 * `finishedBefore` (and of `type`, when given), each with its children and everything stored for
 * them (journals, archived executions, signals, timers), in batches of `batchSize` (default 500)
 * root flows per transaction, oldest first, until none is left. A flow with a child that has not
 * ended is kept. A `failed` flow (stopped by an engine error) counts as ended at its last update.
 * With `eventsBefore`, events emitted before that time are deleted too (a flow awaiting one of
 * them later would then wait for a new emit). Returns how many root flows and events were
 * deleted. A worker can run it as it goes: a worker's `.withRetention`.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const purge: (options: {
  readonly status: "completed" | "cancelled" | "failed" | ReadonlyArray<"completed" | "cancelled" | "failed">
  readonly finishedBefore: Date | number
  readonly type?: string | undefined
  readonly batchSize?: number | undefined
  readonly eventsBefore?: Date | number | undefined
}) => Effect.Effect<{ readonly flows: number; readonly events: number }, StoreError, ExecutionLog> = internal.purge

// ---------------------------------------------------------------------------------------------
// Listing newest first
// ---------------------------------------------------------------------------------------------

/**
 * Where a page of `page` ends: pass it as `before` to get the next page.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Cursor {
  readonly createdAt: number
  readonly id: string
}

/**
 * The query of `page`: the filters of `list`, newest first.
 *
 * @since 0.1.0
 * @category Models
 */
export interface PageQuery extends Omit<FlowFilter, "afterId"> {
  /** Only flows after this cursor (the `next` of the previous page). */
  readonly before?: Cursor | undefined
}

/**
 * A page of flows, newest first.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Page {
  readonly flows: ReadonlyArray<ExecutionLog.FlowRecord>
  /** The cursor of the next page; `undefined` on the last page. */
  readonly next: Cursor | undefined
}

/**
 * Lists flows newest first (by creation time, then id), filtered by status, type, version
 * (`null`: unversioned) or parent, `limit` at a time (default 100); `next` gives the following page.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const page = (query: PageQuery): Effect.Effect<Page, StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLogTag, (log) => {
    const limit = query.limit ?? 100
    // One more than asked: whether there is a next page, without a page that comes back empty.
    return Effect.map(log.pageFlows({ ...query, limit: limit + 1 }), (rows): Page => {
      const flows = rows.slice(0, limit)
      const last = flows[flows.length - 1]
      return { flows, next: rows.length > limit && last !== undefined ? { createdAt: last.createdAt, id: last.id } : undefined }
    })
  })

/**
 * How many flows match a filter (its `limit` and `afterId` are ignored).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const count = (filter: FlowFilter): Effect.Effect<number, StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLogTag, (log) => log.countFlows(filter))

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

/**
 * What a journal entry is: a step, a durable timer (`Flow.sleep`), a signal wait, a child flow, a
 * recorded value (`Flow.now`, `Flow.random`, `Flow.uuid`) or a DAG node's timing.
 *
 * @since 0.1.0
 * @category Models
 */
export type EntryKind = ExecutionLogEntryKind

/**
 * One entry of a flow's journal, as `history` gives it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface HistoryEntry {
  readonly key: string
  readonly kind: EntryKind
  /** The step's name, the signal's name, the child flow's name (or key), `sleep`, `now`…, or the DAG node (`<dag>/<node>`). */
  readonly name: string
  /** The key scope it was called in (`Flow.scope`, a DAG node), `""` at the top of the flow. */
  readonly scope: string
  /** `completed`, `retrying` (a step between attempts) or `waiting` (a timer or a signal's deadline, recorded). */
  readonly status: StepStatus
  readonly attempts: number
  readonly startedAt: number | null
  readonly completedAt: number | null
  /** When a retrying step tries again, or when a waiting timer fires. */
  readonly nextAttemptAt: number | null
  /** Its place in the order in which the flow's entries were completed (absent on older entries and DAG nodes). */
  readonly seq: number | undefined
  /** How a completed entry ended; `undefined` while it has not. */
  readonly outcome: "success" | "failure" | undefined
  /** A successful entry's value, encoded (a step's result, a recorded value, a signal's payload, a child's result). */
  readonly value: unknown
  /**
   * A failed entry's error (its first typed error, or else its first defect): decoded with the
   * flow's error schema when the flow is given to `history` and it is one of the flow's errors,
   * encoded JSON otherwise.
   */
  readonly error: unknown
  /** The failure as text (every typed error and defect of its cause, one a line). */
  readonly errorMessage: string | undefined
  /** What the journal holds for it, as stored (the encoded exit, or the wait's parameters). */
  readonly recorded: unknown
}

/**
 * A signal sent to a flow: `received` once a wait took it (`consumedBy` is that wait's key),
 * `pending` until then.
 *
 * @since 0.1.0
 * @category Models
 */
export interface HistorySignal {
  readonly name: string
  readonly seq: number
  /** The payload, encoded. */
  readonly payload: unknown
  readonly sentAt: number
  readonly consumedBy: string | null
  readonly status: "received" | "pending"
}

/**
 * A child flow started by the flow (`Flow.invoke`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface HistoryChild {
  readonly id: string
  readonly type: string
  /** The journal key of the call that started it. */
  readonly key: string | null
  readonly version: string | null
  readonly status: FlowStatus
  readonly createdAt: number
  readonly completedAt: number | null
}

/**
 * How a flow ended: its success, its own failure (`message` has the whole cause), an engine error
 * that stopped it (status `failed`: non-determinism, a value that no longer decodes), or a
 * cancellation.
 *
 * @since 0.1.0
 * @category Models
 */
export type HistoryOutcome<A, E> =
  | { readonly _tag: "Succeeded"; readonly value: A }
  | { readonly _tag: "Failed"; readonly error: E | undefined; readonly defect: unknown; readonly message: string }
  | { readonly _tag: "EngineError"; readonly error: { readonly _tag: string; readonly message: string } }
  | { readonly _tag: "Cancelled" }

/**
 * The flow's record, without its payloads' schemas.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowSummary {
  readonly id: string
  readonly type: string
  /** The deployment version it was stamped with when scheduled (or re-stamped by `migrate`). */
  readonly version: string | null
  /**
   * The version of the worker that last ran it (`null`: never claimed by a versioned worker):
   * another than `version` when a worker of a newer version took over an execution its flow lists
   * both versions for.
   */
  readonly ranVersion: string | null
  readonly status: FlowStatus
  /** The input, encoded. */
  readonly input: unknown
  readonly parentId: string | null
  readonly parentKey: string | null
  readonly priority: number
  /** How many executions have started. */
  readonly attempts: number
  readonly createdAt: number
  readonly updatedAt: number
  readonly completedAt: number | null
  /** Not before this time (pending), or when it wakes (suspended). */
  readonly runAfter: number | null
  /** The span it was scheduled in, as a W3C `traceparent` (its executions link to it). */
  readonly traceContext: string | null
}

/**
 * Everything that happened to a flow, in order: the data of `ergon show` and of any console.
 * Times are epoch milliseconds. `A` and `E` are the flow's success and error types when the flow
 * is given to `history`, `unknown` (encoded JSON) otherwise.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowHistory<A = unknown, E = unknown> {
  readonly flow: FlowSummary
  /** How it ended; `undefined` while it has not. */
  readonly outcome: HistoryOutcome<A, E> | undefined
  /** While suspended: why (the suspend reason, encoded) and when it wakes (`null`: when something comes). */
  readonly suspended: { readonly reason: unknown; readonly wakeAt: number | null } | undefined
  /** The lease a worker holds (or held last) on it. */
  readonly lease: { readonly owner: string; readonly epoch: number; readonly expiresAt: number | null } | undefined
  /** Why no live worker can make progress on it (see `stuck`), when none can. */
  readonly stuck: { readonly reason: StuckReason; readonly message: string } | undefined
  /** Its journal, in the order the entries started. */
  readonly entries: ReadonlyArray<HistoryEntry>
  /** The signals sent to it, received and pending, in the order they were sent. */
  readonly signals: ReadonlyArray<HistorySignal>
  /** Its child flows, in the order they were started. */
  readonly children: ReadonlyArray<HistoryChild>
}

/**
 * A flow's history: its record and everything that happened to it, in order (see `FlowHistory`).
 * Given the flow, its result is decoded with the flow's schemas (`CheckpointDecodeError` when it
 * no longer decodes; `FlowConflictError` when the id is another type's), and entries' errors that
 * are among the flow's errors are decoded too. Reads the store only.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const history: {
  (id: string): Effect.Effect<FlowHistory, FlowNotFoundError | StoreError, ExecutionLog>
  <F extends Flow.Any>(
    flow: F,
    id: string
  ): Effect.Effect<
    FlowHistory<Flow.Flow.Success<F>, Flow.Flow.Error<F>>,
    FlowNotFoundError | FlowConflictError | CheckpointDecodeError | StoreError,
    ExecutionLog
  >
} = internalHistory.historyTyped

// ---------------------------------------------------------------------------------------------
// Live workers
// ---------------------------------------------------------------------------------------------

/**
 * A worker registered in the store, and whether it is live: a worker registers when it starts,
 * refreshes its registration with its heartbeat (every third of its lease) and removes it when it
 * stops gracefully; one that was killed stays registered, dead, once a lease's length has passed.
 *
 * @since 0.1.0
 * @category Models
 */
export interface WorkerInfo extends WorkerRow {
  readonly live: boolean
}

/**
 * The workers registered in the store, live and dead (by name, then start time), or only the live
 * ones with `{ live: true }`. Dead registrations are pruned a day after they expire.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const workers = (options?: { readonly live?: boolean | undefined }): Effect.Effect<ReadonlyArray<WorkerInfo>, StoreError, ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLogTag
    const now = yield* Clock.currentTimeMillis
    const rows = yield* log.listWorkers()
    const all = rows.map((row): WorkerInfo => ({ ...row, live: isLive(row, now) }))
    return options?.live === true ? all.filter((worker) => worker.live) : all
  })

// ---------------------------------------------------------------------------------------------
// Stuck flows
// ---------------------------------------------------------------------------------------------

/**
 * Why no live worker can make progress on a flow:
 *
 * - `NoWorkerForType`: no live worker registers the flow's type;
 * - `NoWorkerForVersion`: live workers register the type, but none takes the flow's version (a
 *   versioned worker takes its own version and unversioned flows, and another version its flow
 *   lists along with its own; an unversioned one only unversioned flows);
 * - `NoTimerWorker`: the flow waits on a timer (a sleep, a retry's backoff, or a signal's or an
 *   event's timeout that has passed), and no live worker that takes it runs `withTimers()`;
 * - `StuckChild`: the flow waits for a child flow that is stuck itself.
 *
 * @since 0.1.0
 * @category Models
 */
export type StuckReason =
  | { readonly _tag: "NoWorkerForType"; readonly type: string; readonly version: string | null }
  | {
    readonly _tag: "NoWorkerForVersion"
    readonly type: string
    readonly version: string
    /** The versions that the live workers registering the type take (`null`: unversioned workers). */
    readonly liveVersions: ReadonlyArray<string | null>
  }
  | {
    readonly _tag: "NoTimerWorker"
    readonly type: string
    readonly version: string | null
    readonly wait: "Timer" | "Retry" | "SignalTimeout" | "EventTimeout"
    /** When the timer fires (or fired). */
    readonly wakeAt: number
  }
  | { readonly _tag: "StuckChild"; readonly childId: string; readonly childType: string; readonly reason: StuckReason }

/**
 * A flow that no live worker can make progress on.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StuckFlow {
  readonly id: string
  readonly type: string
  readonly version: string | null
  readonly status: FlowStatus
  readonly createdAt: number
  readonly parentId: string | null
  readonly reason: StuckReason
  /** The reason as a sentence. */
  readonly message: string
}

/**
 * The options of `stuck`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StuckOptions {
  /** At most this many flows. Defaults to 1,000. */
  readonly limit?: number | undefined
  /** Called with how many flows have been looked at so far, as the scan goes (for a progress line). */
  readonly onProgress?: ((scanned: number) => void) | undefined
}

/**
 * The flows that no live worker can make progress on, each with its reason (see `StuckReason`),
 * judged from the store alone: the live workers' registrations and the flows that have not ended.
 * A running flow whose lease is held is not stuck. Flows whose type and version some live worker
 * takes are only looked at one by one where timers are missing.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const stuck = (options?: StuckOptions): Effect.Effect<ReadonlyArray<StuckFlow>, StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLogTag, (log) => internalStuck.find(log, options))

/**
 * A stuck reason as a sentence.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const describeStuck: (reason: StuckReason) => string = internalStuck.describe

// ---------------------------------------------------------------------------------------------
// Versions: stranded executions, and their migration
// ---------------------------------------------------------------------------------------------

/**
 * The executions of one flow type stamped with one deployment version that have not ended
 * (`pending`, `running`, `suspended`), and the live workers that take them. A versioned worker
 * takes the executions of its own version, and those of another version when its definition of
 * the flow lists both (it registers the versions of each pinned type in the store). `stranded`:
 * no live worker takes them; they wait until one that can comes, or until `migrate` re-stamps them.
 *
 * @since 0.3.0
 * @category Models
 */
export interface VersionGroup extends internalVersions.VersionGroup {}

/**
 * The unfinished executions by flow type and stamped version, each with the live workers that
 * can take them and whether they are stranded (see `VersionGroup`): by type, then version in
 * semver order (unversioned first). Reads the store only.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const versions = (): Effect.Effect<ReadonlyArray<VersionGroup>, StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLogTag, internalVersions.report).pipe(Effect.withSpan("Client.versions"))

/**
 * What `migrate` re-stamps: the unfinished executions of the flow type `type` (its name, or its
 * definition, whose `versions` are then checked too) stamped `from`, to be stamped `to`.
 *
 * @since 0.3.0
 * @category Models
 */
export interface MigrateOptions extends internalVersions.MigrateOptions {}

/**
 * What `migrate` did: how many executions it re-stamped, and the live workers that take them now.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Migrated extends internalVersions.Migrated {}

/**
 * Re-stamps the unfinished executions (`pending`, `running`, `suspended`) of a flow type from one
 * deployment version to another, in one store statement: the operator's step for executions
 * stranded on a version no worker runs any more. It is logged (`ergon.event` `versions-migrated`).
 *
 * It is refused, with nothing changed, unless it is safe:
 * - `from` and `to` must be semantic versions (`InvalidVersionError`) and differ (`SameVersion`);
 * - the type must be known: a flow of it in the store, or a live worker registering it (`UnknownType`);
 * - the flow must list both versions in its `versions`, or not be pinned (`NotPinnedToBoth`): the
 *   definition's, when `type` is one, and the pins each live worker that would take the executions
 *   registered for the type (a worker records its flows' `versions` in the store);
 * - some live worker must take them once stamped `to` (`WouldStrand`): start those workers first.
 *
 * A pinned flow whose `versions` list both is taken over without a migration, by any worker of
 * either version; `migrate` is for unpinned flows (claimed by their own version only) and for
 * stamps to be made explicit. A running execution keeps its lease; its next claim goes by the new
 * stamp.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client } from "ergon"
 *
 * const program = Effect.gen(function*() {
 *   for (const group of yield* Client.versions()) {
 *     if (group.stranded) console.log(`${group.type}@${group.version}: stranded`)
 *   }
 *   yield* Client.migrate({ type: "order", from: "1.3.0", to: "1.4.0" })
 * })
 * ```
 *
 * @since 0.3.0
 * @category Combinators
 */
export const migrate = (
  options: MigrateOptions
): Effect.Effect<Migrated, VersionMigrationError | InvalidVersionError | StoreError, ExecutionLog> =>
  Effect.flatMap(ExecutionLogTag, (log) => internalVersions.migrate(log, options)).pipe(
    Effect.withSpan("Client.migrate", {
      attributes: { type: typeof options.type === "string" ? options.type : options.type.name, from: options.from, to: options.to }
    })
  )
