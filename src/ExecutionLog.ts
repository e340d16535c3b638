/**
 * The durable store of flows and their checkpoints.
 *
 * `ExecutionLog` is one service with two faces: a backend (`Encoded`) that only moves rows whose
 * payloads are JSON text, implemented by the memory, SQLite and PostgreSQL stores, and the
 * service the engine uses (`ExecutionLog.Service`), which parses and serialises those payloads
 * and names every failure with a typed `StoreError`. Swapping stores is swapping one Layer.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { FlowEndedError, FlowNotFoundError, StoreError } from "./FlowError.js"
import * as internal from "./internal/executionLog.js"
import type * as json from "./internal/json.js"

/**
 * The life cycle of a flow.
 *
 * - `pending`: ready to run (at or after `runAfter`), not held by anyone;
 * - `running`: being executed (by a worker holding its lease, or by `Executor.execute`);
 * - `suspended`: waiting for a timer, a signal, a child flow or a retry; costs no memory;
 * - `completed`: ended; `result` holds its encoded `Exit` (a success or the flow's typed failure);
 * - `failed`: stopped by an engine error (non-determinism, a stored value that no longer decodes);
 *   `error` says which. Running it again replays it (after the code has been fixed);
 * - `cancelled`: cancelled; children were cancelled too.
 *
 * @since 0.1.0
 * @category Models
 */
export type FlowStatus = "pending" | "running" | "suspended" | "completed" | "failed" | "cancelled"

/**
 * The status of one journal entry.
 *
 * - `completed`: its exit is recorded and is final;
 * - `retrying`: it failed with a retryable error; `attempts` failed attempts so far, the next at
 *   `nextAttemptAt`;
 * - `waiting`: a timer or other wait has been recorded (its parameters in `exit`), not fired yet.
 *
 * @since 0.1.0
 * @category Models
 */
export type StepStatus = "completed" | "retrying" | "waiting"

/**
 * The lease a writer holds on a flow: every write made under a fence succeeds only while the
 * flow's lease still has this owner and epoch.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Fence {
  readonly owner: string
  readonly epoch: number
}

/**
 * One flow, as a backend stores it. Payload columns are JSON text; times are epoch milliseconds
 * taken from Effect's `Clock`, never from the database.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowRow {
  readonly id: string
  readonly type: string
  readonly version: string | null
  /** JSON of the encoded input. */
  readonly input: string
  readonly inputHash: string
  readonly status: FlowStatus
  /** JSON of the encoded `Exit`, once `completed`. */
  readonly result: string | null
  /** JSON of the engine error, when `failed`. */
  readonly error: string | null
  readonly parentId: string | null
  readonly parentKey: string | null
  readonly priority: number
  /** When `pending` or `suspended`: not before this time. */
  readonly runAfter: number | null
  /** JSON of the reason, when `suspended`. */
  readonly suspendReason: string | null
  readonly leaseOwner: string | null
  readonly leaseEpoch: number
  readonly leaseExpiresAt: number | null
  /** How many times an execution of this flow has started. */
  readonly attempts: number
  /**
   * The deployment version of the worker that last claimed it (`null`: an unversioned one, or
   * never claimed): the version it last ran under, which differs from `version` when a worker of
   * a newer version took over an execution its flow lists both versions for. Absent on rows
   * written before it was stored.
   */
  readonly ranVersion?: string | null | undefined
  readonly createdAt: number
  readonly updatedAt: number
  readonly completedAt: number | null
  /** Why the flow was cancelled (`Client.cancel(id, { reason })`, `"parent canceled"` by cascade). */
  readonly cancelReason?: string | null | undefined
  /** Which execution of the flow this is, from 1: `Flow.continueAsNew` starts the next one. */
  readonly execution?: number | undefined
  /**
   * When a cancellation was asked of a flow that registered compensations (`Flow.withCompensation`):
   * it is not ended yet, but ready to be run once more, to run them; it ends `cancelled` once they
   * have run. Absent otherwise.
   */
  readonly cancelRequestedAt?: number | null | undefined
  /**
   * The span current when the flow was written (the `ergon.schedule` span, or for a child flow its
   * parent's span), as a W3C `traceparent`: its executions link to it. Absent on rows written
   * before it was stored.
   */
  readonly traceContext?: string | null | undefined
}

/**
 * One journal entry (a step, a recorded `Flow.now`, a timer, …) of a flow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface StepRow {
  readonly flowId: string
  readonly key: string
  readonly inputHash: string | null
  readonly status: StepStatus
  /** JSON of the encoded exit when `completed`; of the wait's parameters when `waiting`. */
  readonly exit: string | null
  /** Attempts made so far (1 for a step that succeeded at once). */
  readonly attempts: number
  readonly nextAttemptAt: number | null
  readonly startedAt: number | null
  readonly completedAt: number | null
  /**
   * What the entry records: `step`, `timer`, `signal`, `child`, `value` (`Flow.now`, …) or `dag`
   * (a DAG node). Absent on entries written before the store recorded it.
   */
  readonly kind?: EntryKind | undefined
  /** The key scope the entry was called in (`""` at the top of the flow). */
  readonly scope?: string | undefined
  /** Its place among the operations called in its scope, from 1, in program order. */
  readonly position?: number | undefined
  /**
   * The order in which the flow's entries were completed, from 1: a replay returns recorded
   * results in this order, so concurrent branches (races) see what they saw the first time.
   */
  readonly seq?: number | undefined
  /**
   * JSON of the step's encoded input, kept when it is small, so that a replay called with another
   * input can say which fields differ.
   */
  readonly input?: string | undefined
}

/**
 * What a journal entry records.
 *
 * @since 0.2.0
 * @category Models
 */
export type EntryKind = "step" | "timer" | "signal" | "child" | "value" | "dag" | "event" | "emit" | "compensation" | "patch"

/**
 * A flow's suspension, as `suspendFlow` writes it: the flow waits for any of these signals or
 * children, or for `runAfter` (its earliest timer, retry or signal timeout).
 *
 * @since 0.2.0
 * @category Models
 */
export interface Suspension {
  /** The earliest time the flow must run again at, or `null` when only a signal or child can wake it. */
  readonly runAfter: number | null
  /** JSON of the reason (what the flow waits for). */
  readonly suspendReason: string
  /** Names of the signals the flow waits for: an unconsumed one among them means it is not suspended. */
  readonly signals: ReadonlyArray<string>
  /** Ids of the children the flow waits for: one that has ended means it is not suspended. */
  readonly children: ReadonlyArray<string>
  /**
   * Names of the events the flow waits for: one that has been emitted means it is not suspended.
   * The flow is registered as a waiter of each (so that their emitters wake it) before the check.
   */
  readonly events?: ReadonlyArray<string> | undefined
  readonly now: number
}

/**
 * A named event, as a backend stores it: the first payload emitted under its name.
 *
 * @since 0.3.0
 * @category Models
 */
export interface EventRow {
  readonly name: string
  /** JSON of the encoded payload. */
  readonly payload: string
  readonly createdAt: number
}

/**
 * A new execution for a flow (`Flow.continueAsNew`): its input, replacing the current one.
 *
 * @since 0.3.0
 * @category Models
 */
export interface NextExecution {
  /** JSON of the new execution's encoded input. */
  readonly input: string
  readonly inputHash: string
  /** JSON of what ended the current execution (kept with its journal). */
  readonly result: string
  readonly now: number
}

/**
 * Which ended flows `purgeFlows` deletes.
 *
 * @since 0.3.0
 * @category Models
 */
export interface PurgeFilter {
  /** Among `completed`, `cancelled` and `failed`. */
  readonly statuses: ReadonlyArray<"completed" | "cancelled" | "failed">
  /** Ended before this time (epoch millis): `completed_at`, or `updated_at` for a `failed` flow. */
  readonly finishedBefore: number
  readonly type?: string | undefined
  /** At most this many root flows (each with its descendants). */
  readonly limit: number
}

/**
 * One execution of a flow: a finished one (archived by `Flow.continueAsNew` with its journal), or
 * the current one.
 *
 * @since 0.3.0
 * @category Models
 */
export interface ExecutionRow {
  readonly flowId: string
  /** From 1. */
  readonly execution: number
  /** JSON of the execution's encoded input. */
  readonly input: string
  /** JSON of how it ended; `null` for the current execution until the flow ends. */
  readonly result: string | null
  /** The flow's status for the current execution; `"continued"` for an archived one. */
  readonly status: FlowStatus | "continued"
  readonly startedAt: number
  readonly endedAt: number | null
  /** How many journal entries it has (kept with it until the flow is purged). */
  readonly entries: number
}

/**
 * The result of `suspendFlow`: `suspended`; `satisfied` (one of the waits can already be met, so
 * the flow was left running); or `refused` (the flow is not running under this fence: its lease
 * was lost, or it was cancelled).
 *
 * @since 0.2.0
 * @category Models
 */
export type SuspendResult = "suspended" | "satisfied" | "refused"

/**
 * The fields of a flow that change as it runs. Absent fields are left as they are.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowPatch {
  readonly status?: FlowStatus | undefined
  readonly result?: string | null | undefined
  readonly error?: string | null | undefined
  readonly runAfter?: number | null | undefined
  readonly suspendReason?: string | null | undefined
  /** Adds one to `attempts`. */
  readonly incrementAttempts?: boolean | undefined
  readonly completedAt?: number | null | undefined
  readonly updatedAt: number
  /**
   * A parent flow to wake (as `wakeFlow(wakeParent, updatedAt)`) in the same transaction, only
   * when this update is applied: a child's completion and its parent's wake-up are written
   * together, so no crash can come between them.
   */
  readonly wakeParent?: string | undefined
}

/**
 * A filter for `listFlows`. All given fields must match.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowFilter {
  readonly status?: FlowStatus | ReadonlyArray<FlowStatus> | undefined
  readonly type?: string | undefined
  readonly version?: string | null | undefined
  readonly parentId?: string | undefined
  /** Defaults to 100. */
  readonly limit?: number | undefined
  /** Only ids strictly after this one (ids are listed in ascending order). */
  readonly afterId?: string | undefined
  /**
   * Whether to read the flows' payloads (input, result, error). Defaults to `false`: a listing
   * reads the flows' state only, so that listing flows with large payloads costs no memory for
   * them (their `input`, `result` and `error` are then absent).
   */
  readonly payloads?: boolean | undefined
}

/**
 * A flow with its whole journal, as loaded in one query.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowWithSteps {
  readonly flow: FlowRow
  readonly steps: ReadonlyArray<StepRow>
}

/**
 * What `claimFlows` may take.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ClaimOptions {
  /** The worker claiming. */
  readonly owner: string
  /** The Clock's time, epoch millis: the store never reads its own clock. */
  readonly now: number
  /** The lease's length: claimed flows expire at `now + leaseMillis` unless renewed. */
  readonly leaseMillis: number
  /** At most this many flows. */
  readonly limit: number
  /** Only flows of these types (the flows the worker has registered). */
  readonly types: ReadonlyArray<string>
  /** Only flows stamped with one of these versions; `null` stands for unversioned flows. */
  readonly versions: ReadonlyArray<string | null>
  /**
   * The pinned types among `types`, each with the other stamped versions this worker also takes
   * (its flow lists both theirs and its own) and the versions an execution may have last run
   * under (`ranVersion`) for this worker to take it: a type listed here is claimed by its entry
   * alone. Defaults to none.
   */
  readonly replays?: ReadonlyArray<Replays> | undefined
  /** The version of the claimer, written as the claimed flows' `ranVersion`. Defaults to `null`. */
  readonly runVersion?: string | null | undefined
  /**
   * Whether to claim `suspended` flows whose wake-up time has come (timers, retry backoffs, signal
   * timeouts). Defaults to `true`; a worker without `withTimers()` passes `false` and takes only
   * `pending` flows (new, woken by a signal or a child) and expired leases.
   */
  readonly timers?: boolean | undefined
}

/**
 * How a worker claims the executions of one pinned flow type: those stamped with its own version
 * (or unstamped, as for any type), and those stamped with one of `versions` (the other versions
 * its definition lists); in either case only when the execution has not run yet (`ranVersion`
 * null) or last ran under one of `ranUnder` (the versions its definition lists that are not newer
 * than its own). So an execution never goes back to older code than it last ran under: a 1.3.0
 * worker does not replay what a 1.4.0 worker's patched code recorded.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Replays {
  readonly type: string
  readonly versions: ReadonlyArray<string>
  readonly ranUnder: ReadonlyArray<string>
}

/**
 * A signal sent to a flow, as a backend stores it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface SignalRow {
  readonly flowId: string
  readonly name: string
  /** 1, 2, … per flow and name, in the order they were sent. */
  readonly seq: number
  /** JSON of the encoded payload. */
  readonly payload: string
  /** The journal key of the `awaitSignal` that consumed it, `null` until then. */
  readonly consumedBy: string | null
  readonly createdAt: number
}

/**
 * A worker's entry in the store's registry of live workers: written when the worker starts,
 * refreshed by its heartbeat, removed when it stops gracefully. A worker whose `expiresAt` has
 * passed is dead (it was killed, or cannot reach the store).
 *
 * @since 0.1.0
 * @category Models
 */
export interface WorkerRow {
  /** The worker's owner id: the one its leases carry (`<name>/<random>`). */
  readonly id: string
  readonly name: string
  /** The deployment version it runs, `null` when unversioned. */
  readonly version: string | null
  /** The flow types it has registered. */
  readonly types: ReadonlyArray<string>
  /**
   * The versions each pinned flow type it registered lists (its `versions`), by type; unpinned
   * types are absent. A versioned worker also takes the executions of a type stamped with another
   * version of this list, when its own is in it. Absent on rows written before it was stored.
   */
  readonly pins?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  /** Whether it resumes flows whose timer is due (`withTimers()`). */
  readonly timers: boolean
  /** Whether it delivers signals from a `SignalSource` (`withSignals()`). */
  readonly signals: boolean
  readonly host: string
  readonly pid: number
  readonly concurrency: number
  /** How many executions it ran at its last heartbeat. */
  readonly inFlight: number
  readonly startedAt: number
  readonly heartbeatAt: number
  /** It counts as live until then, unless a heartbeat extends it. */
  readonly expiresAt: number
}

/**
 * A query of `pageFlows`: the filters of `FlowFilter`, newest first, a page at a time.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowPageQuery extends Omit<FlowFilter, "afterId"> {
  /** Only flows after this one in the listing's order (newest first): the last flow of the previous page. */
  readonly before?: { readonly createdAt: number; readonly id: string } | undefined
}

/**
 * How many flows of a type and version are in a status that has not ended, and how many of them
 * are ready to be claimed: the figures behind `Client.stuck` and the workers' warnings.
 *
 * @since 0.1.0
 * @category Models
 */
export interface FlowGroup {
  readonly type: string
  readonly version: string | null
  readonly status: "pending" | "running" | "suspended"
  readonly count: number
  /**
   * How many are ready at `now`: `pending` or `suspended` with `run_after <= now`, or `running`
   * with an expired lease.
   */
  readonly ready: number
  /** The earliest time one of the ready ones became ready (its `run_after`, or its lease's expiry). */
  readonly readySince: number | null
}

/**
 * What a storage backend implements: untyped rows, JSON text payloads.
 *
 * Contract (checked by the conformance suite in `test/conformance/`):
 * - `insertFlow` inserts when the id is free and returns `true`; it returns `false` and changes
 *   nothing when the id exists.
 * - `loadFlow` reads the flow and its whole journal in one query.
 * - `putStep` writes one journal entry in one statement. It never overwrites a `completed`
 *   entry (it returns `false` then), and with a `fence` it writes only while the flow's lease
 *   has that owner and epoch (`false` otherwise).
 * - `updateFlow` applies the patch (with a `fence`, under the same condition) and tells whether
 *   a row was changed; with `wakeParent`, it also wakes that flow, in the same transaction. It
 *   never changes a `cancelled` flow (a cancellation is final until `retryFlow`).
 * - `loadFlow` returns steps in an unspecified order; `listFlows` takes `limit >= 0`.
 * - Claims, leases, wake-ups, signals, cancellation and retry: see each method. Every time is
 *   given by the caller (from Effect's `Clock`); the store never reads its own clock.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Encoded {
  readonly insertFlow: (row: FlowRow) => Effect.Effect<boolean, StoreError>
  readonly getFlow: (id: string) => Effect.Effect<Option.Option<FlowRow>, StoreError>
  readonly loadFlow: (id: string) => Effect.Effect<Option.Option<FlowWithSteps>, StoreError>
  readonly putStep: (row: StepRow, fence?: Fence | undefined) => Effect.Effect<boolean, StoreError>
  readonly updateFlow: (id: string, patch: FlowPatch, fence?: Fence | undefined) => Effect.Effect<boolean, StoreError>
  /**
   * Suspends a `running` flow (under `fence` when given) on its waits, in one atomic store
   * operation, unless one of them is already satisfied: an unconsumed signal of one of
   * `signals`, or one of `children` completed or cancelled. A signal sender or a child's end that
   * comes after this operation finds the flow suspended and wakes it; one that came before makes
   * this operation answer `satisfied`. So no wake-up can fall between the flow's last look and its
   * suspension, whichever process writes it.
   */
  readonly suspendFlow: (id: string, suspension: Suspension, fence?: Fence | undefined) => Effect.Effect<SuspendResult, StoreError>
  readonly listFlows: (filter: FlowFilter) => Effect.Effect<ReadonlyArray<FlowRow>, StoreError>
  /**
   * Claims ready flows for `owner`, best first (priority descending, then run_after ascending),
   * and returns them as claimed. Ready means: `pending` or `suspended` with `run_after <= now`,
   * or `running` with an expired lease (`lease_expires_at < now`, a dead worker's). A claimed
   * flow becomes `running` with `lease_owner = owner`, `lease_epoch + 1`, and
   * `lease_expires_at = now + leaseMillis`; its `attempts` goes up by one and its `error` and
   * `suspend_reason` are cleared (`run_after` is kept): the claim is the start of a run, so the
   * executor need not write it again. Two concurrent claimers never get the same flow. The rows
   * returned carry the flow's `input` but no result (`result` and `error` are `null`): a flow
   * claimed for its first execution (`attempts` 1 after the claim) has no journal yet, so the
   * executor runs it from the claim alone; it loads the journal of any other.
   */
  readonly claimFlows: (options: ClaimOptions) => Effect.Effect<ReadonlyArray<FlowRow>, StoreError>
  /**
   * Extends the leases `owner` still holds among `ids` (status `running`, same owner) to
   * `now + leaseMillis`; returns the ids still held (a flow taken over, cancelled or ended is not).
   */
  readonly renewLeases: (owner: string, ids: ReadonlyArray<string>, now: number, leaseMillis: number) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /** Gives a `running` flow back under its fence: `pending`, `run_after = now`, lease cleared. */
  readonly releaseFlow: (id: string, fence: Fence, now: number) => Effect.Effect<boolean, StoreError>
  /** Makes a `suspended` flow ready now (`pending`, `run_after = now`): a signal came, a child ended. */
  readonly wakeFlow: (id: string, now: number) => Effect.Effect<boolean, StoreError>
  /**
   * The earliest `run_after` of a `pending`/`suspended` flow these types and versions (and
   * `replays`, as `claimFlows` reads them) could claim, or of a running flow's lease expiry.
   */
  readonly nextWakeAt: (
    types: ReadonlyArray<string>,
    versions: ReadonlyArray<string | null>,
    replays?: ReadonlyArray<Replays> | undefined
  ) => Effect.Effect<Option.Option<number>, StoreError>
  /**
   * Appends a signal (the next `seq` for this flow and name) and returns its seq, atomically with
   * the flow's state: only while the flow exists and has not ended (`FlowNotFoundError`,
   * `FlowEndedError` otherwise, nothing written), and a `suspended` flow is made ready in the same
   * transaction (`pending`, `run_after = now`), so a signal accepted is one the flow will see: a
   * flow that has not ended either consumes it or ends with it unconsumed (in `listSignals`).
   */
  readonly insertSignal: (
    flowId: string,
    name: string,
    payload: string,
    now: number
  ) => Effect.Effect<number, FlowNotFoundError | FlowEndedError | StoreError>
  /**
   * The signal consumed by `consumerKey` if there is one (replay), or else the oldest unconsumed
   * signal of that name, marked consumed by `consumerKey` (under `fence` when given).
   */
  readonly takeSignal: (flowId: string, name: string, consumerKey: string, fence?: Fence | undefined) => Effect.Effect<Option.Option<SignalRow>, StoreError>
  /** Whether an unconsumed signal of that name is waiting. */
  readonly hasSignal: (flowId: string, name: string) => Effect.Effect<boolean, StoreError>
  /** Every signal of a flow, in order (for tools). */
  readonly listSignals: (flowId: string) => Effect.Effect<ReadonlyArray<SignalRow>, StoreError>
  /**
   * Cancels a flow that has not ended: status `cancelled`, `completed_at = now`, `cancel_reason =
   * reason` (when given), its lease cleared. A flow whose journal has the `$compensable` marker
   * (it registered compensations) is not ended but asked to: `cancel_requested_at = now`, status
   * `pending` from now, its lease cleared (a worker running it stops), so that a run replays it and
   * runs its compensations. A flow asked already is left as it is. Returns whether it changed.
   */
  readonly cancelFlow: (id: string, now: number, reason?: string | undefined) => Effect.Effect<boolean, StoreError>
  /**
   * Stores the event `name` unless one of that name exists (the first emit wins; it returns whether
   * this one was stored), then wakes every suspended flow registered as its waiter (and forgets
   * them). The event is committed before the waiters are read; a flow suspending on it registers
   * itself before it checks that the event is absent (`suspendFlow`). So either the emitter reads
   * the waiter, or the suspension sees the event.
   */
  readonly emitEvent: (name: string, payload: string, now: number) => Effect.Effect<boolean, StoreError>
  /** The event of that name, if one has been emitted. */
  readonly getEvent: (name: string) => Effect.Effect<Option.Option<EventRow>, StoreError>
  /**
   * Ends the current execution of a `running` flow (under `fence`) and starts the next, in one
   * transaction: its journal and input are archived as execution `n`, the journal is emptied, the
   * flow takes the new input, `execution` becomes `n + 1`, and it stays `running` under the same
   * lease. Returns whether it applied.
   */
  readonly continueAsNew: (id: string, next: NextExecution, fence?: Fence | undefined) => Effect.Effect<boolean, StoreError>
  /** The executions of a flow in order: the archived ones, then the current one. */
  readonly listExecutions: (id: string) => Effect.Effect<ReadonlyArray<ExecutionRow>, StoreError>
  /**
   * Deletes one batch of ended root flows (no parent) that match `filter`, oldest first, each with
   * its descendants (child ids start with `<root id>/`) and everything stored for them: journals,
   * archived executions, signals, timers, event registrations. A root with a descendant that has
   * not ended (a child still running) is kept. Returns the ids of the roots deleted.
   */
  readonly purgeFlows: (filter: PurgeFilter) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /**
   * Schedules a `running` flow (under `fence`) to run again after its program failed (a flow-level
   * retry policy), in one transaction: it becomes `suspended` until `runAfter` with
   * `suspendReason`, and the journal entries `dropKeys` (the failed ones) are deleted, so the next
   * attempt replays what succeeded and runs the rest again. Returns whether it applied.
   */
  readonly retryFlowLater: (
    id: string,
    retry: { readonly runAfter: number; readonly suspendReason: string; readonly dropKeys: ReadonlyArray<string>; readonly now: number },
    fence?: Fence | undefined
  ) => Effect.Effect<boolean, StoreError>
  /** Deletes at most `limit` events emitted before `before`; returns how many. */
  readonly purgeEvents: (before: number, limit: number) => Effect.Effect<number, StoreError>
  /**
   * Makes an ended (`completed`, `failed` or `cancelled`) flow run again: `pending`, `run_after = now`,
   * result and error cleared, and the journal entries `dropKeys` deleted, in one transaction.
   */
  readonly retryFlow: (id: string, now: number, dropKeys: ReadonlyArray<string>) => Effect.Effect<boolean, StoreError>
  /**
   * Notifications from other processes that something changed: new or woken flows, signals,
   * cancellations, flows that ended (a child completing wakes its parent). Each element only says
   * "look again"; it carries nothing. Absent when the store has none (memory, SQLite): workers and
   * waiters then poll. The stream fails with a `StoreError` when its connection is lost; whoever
   * follows it subscribes again.
   */
  readonly changes?: Stream.Stream<void, StoreError> | undefined
  /**
   * The store's own clock (epoch millis), when the store has one apart from the process's:
   * PostgreSQL's server time. Workers compare it with their clock (see docs/deployment.md, clock
   * skew). Absent for memory and SQLite, which share the clock of the machine they run on.
   */
  readonly storeTime?: Effect.Effect<number, StoreError> | undefined
  /** Writes a worker's registration, replacing the one with the same id. */
  readonly registerWorker: (row: WorkerRow) => Effect.Effect<void, StoreError>
  /**
   * Refreshes a registration (`heartbeatAt`, `expiresAt`, `inFlight`); `false` when there is none
   * with that id (it was pruned or removed: the worker registers again).
   */
  readonly heartbeatWorker: (id: string, now: number, expiresAt: number, inFlight: number) => Effect.Effect<boolean, StoreError>
  /** Removes a registration (a worker stopping gracefully); `false` when there was none. */
  readonly removeWorker: (id: string) => Effect.Effect<boolean, StoreError>
  /** Every registration, live or not, by name then start time. */
  readonly listWorkers: () => Effect.Effect<ReadonlyArray<WorkerRow>, StoreError>
  /** Deletes the registrations that expired before `expiredBefore`; returns how many. */
  readonly pruneWorkers: (expiredBefore: number) => Effect.Effect<number, StoreError>
  /**
   * Lists flows newest first (`created_at` descending, then id descending), at most `limit`
   * (default 100), after the `before` cursor when given.
   */
  readonly pageFlows: (query: FlowPageQuery) => Effect.Effect<ReadonlyArray<FlowRow>, StoreError>
  /** How many flows match the filter (its `limit` and `afterId` are ignored). */
  readonly countFlows: (filter: FlowFilter) => Effect.Effect<number, StoreError>
  /** The flows that have not ended, counted by type, version and status (see `FlowGroup`). */
  readonly flowGroups: (now: number) => Effect.Effect<ReadonlyArray<FlowGroup>, StoreError>
  /**
   * Re-stamps the flows of `type` stamped `from` that have not ended (`pending`, `running`,
   * `suspended`) with the version `to`, in one statement; returns how many. `updated_at` becomes
   * `now`; nothing else changes (a running flow's lease stays its worker's).
   */
  readonly restampFlows: (type: string, from: string, to: string, now: number) => Effect.Effect<number, StoreError>
}

/**
 * The in-process wake-ups of one store: a notification count, who waits for the next one, and
 * the subscription to the store's own notifications (`changes`) shared by its followers.
 *
 * @since 0.2.0
 * @category Models
 */
export interface Hub {
  version: number
  readonly listeners: Set<() => void>
  followers: { count: number; readonly stop: Effect.Effect<void> } | undefined
  /** Flows that handles of this process will await, with how many handles. */
  readonly awaited: Map<string, number>
  /** The ends that runs of this process wrote for awaited flows, until a handle takes them. */
  readonly ended: Map<string, { readonly status: "completed"; readonly result: unknown }>
  /** Flows a worker of this process is running now, with how many runs. */
  readonly local: Map<string, number>
}

/**
 * The store service.
 *
 * @since 0.1.0
 * @category Services
 */
export class ExecutionLog extends Context.Tag("ergon/ExecutionLog")<ExecutionLog, ExecutionLog.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace ExecutionLog {
  /**
   * The service the engine talks to. It is the backend's operations, with every payload given
   * and returned as a JSON value (already parsed) instead of text.
   *
   * @since 0.1.0
   * @category Models
   */
  export interface Service {
    /** The backend underneath, for tools that move raw rows. */
    readonly backend: Encoded
    /**
     * This store's in-process wake-ups (scheduling, signals, ends, cancellations), shared by the
     * workers and waiters of this process that use it; one per store, gone with it.
     */
    readonly hub: Hub
    /** What the store accepts: payload size and depth (see `Limits`). */
    readonly limits: Limits
    readonly insertFlow: (flow: FlowRecord) => Effect.Effect<boolean, StoreError>
    readonly getFlow: (id: string) => Effect.Effect<Option.Option<FlowRecord>, StoreError>
    readonly loadFlow: (id: string) => Effect.Effect<Option.Option<FlowRecordWithSteps>, StoreError>
    readonly putStep: (step: StepRecord, fence?: Fence | undefined) => Effect.Effect<boolean, StoreError>
    readonly updateFlow: (id: string, patch: FlowRecordPatch, fence?: Fence | undefined) => Effect.Effect<boolean, StoreError>
    readonly suspendFlow: (
      id: string,
      suspension: Omit<Suspension, "suspendReason"> & { readonly suspendReason: unknown },
      fence?: Fence | undefined
    ) => Effect.Effect<SuspendResult, StoreError>
    readonly listFlows: (filter: FlowFilter) => Effect.Effect<ReadonlyArray<FlowRecord>, StoreError>
    readonly claimFlows: (options: ClaimOptions) => Effect.Effect<ReadonlyArray<FlowRecord>, StoreError>
    readonly renewLeases: Encoded["renewLeases"]
    readonly releaseFlow: Encoded["releaseFlow"]
    readonly wakeFlow: Encoded["wakeFlow"]
    readonly nextWakeAt: Encoded["nextWakeAt"]
    readonly insertSignal: (
      flowId: string,
      name: string,
      payload: unknown,
      now: number
    ) => Effect.Effect<number, FlowNotFoundError | FlowEndedError | StoreError>
    readonly takeSignal: (
      flowId: string,
      name: string,
      consumerKey: string,
      fence?: Fence | undefined
    ) => Effect.Effect<Option.Option<SignalRecord>, StoreError>
    readonly hasSignal: Encoded["hasSignal"]
    readonly listSignals: (flowId: string) => Effect.Effect<ReadonlyArray<SignalRecord>, StoreError>
    readonly cancelFlow: Encoded["cancelFlow"]
    readonly retryFlow: Encoded["retryFlow"]
    readonly emitEvent: (name: string, payload: unknown, now: number) => Effect.Effect<boolean, StoreError>
    readonly getEvent: (name: string) => Effect.Effect<Option.Option<EventRecord>, StoreError>
    readonly continueAsNew: (
      id: string,
      next: Omit<NextExecution, "input" | "result"> & { readonly input: unknown; readonly result: unknown },
      fence?: Fence | undefined
    ) => Effect.Effect<boolean, StoreError>
    readonly listExecutions: (id: string) => Effect.Effect<ReadonlyArray<ExecutionRecord>, StoreError>
    readonly purgeFlows: Encoded["purgeFlows"]
    readonly retryFlowLater: (
      id: string,
      retry: { readonly runAfter: number; readonly suspendReason: unknown; readonly dropKeys: ReadonlyArray<string>; readonly now: number },
      fence?: Fence | undefined
    ) => Effect.Effect<boolean, StoreError>
    readonly purgeEvents: Encoded["purgeEvents"]
    readonly changes?: Encoded["changes"]
    readonly storeTime?: Encoded["storeTime"]
    readonly registerWorker: Encoded["registerWorker"]
    readonly heartbeatWorker: Encoded["heartbeatWorker"]
    readonly removeWorker: Encoded["removeWorker"]
    readonly listWorkers: Encoded["listWorkers"]
    readonly pruneWorkers: Encoded["pruneWorkers"]
    readonly pageFlows: (query: FlowPageQuery) => Effect.Effect<ReadonlyArray<FlowRecord>, StoreError>
    readonly countFlows: Encoded["countFlows"]
    readonly flowGroups: Encoded["flowGroups"]
    readonly restampFlows: Encoded["restampFlows"]
  }

  /**
   * A signal with a parsed payload.
   *
   * @since 0.1.0
   * @category Models
   */
  export interface SignalRecord extends Omit<SignalRow, "payload"> {
    readonly payload: unknown
  }

  /**
   * An event with a parsed payload.
   *
   * @since 0.3.0
   * @category Models
   */
  export interface EventRecord extends Omit<EventRow, "payload"> {
    readonly payload: unknown
  }

  /**
   * An execution with parsed payloads.
   *
   * @since 0.3.0
   * @category Models
   */
  export interface ExecutionRecord extends Omit<ExecutionRow, "input" | "result"> {
    readonly input: unknown
    readonly result: unknown | undefined
  }

  /**
   * A flow with parsed payloads.
   *
   * @since 0.1.0
   * @category Models
   */
  export interface FlowRecord extends Omit<FlowRow, "input" | "result" | "error" | "suspendReason"> {
    readonly input: unknown
    readonly result: unknown | undefined
    readonly error: unknown | undefined
    readonly suspendReason: unknown | undefined
  }

  /**
   * A journal entry with a parsed payload.
   *
   * @since 0.1.0
   * @category Models
   */
  export interface StepRecord extends Omit<StepRow, "exit" | "input"> {
    readonly exit: unknown | undefined
    /** The step's encoded input, when it was small enough to keep. */
    readonly input?: unknown | undefined
  }

  /**
   * @since 0.1.0
   * @category Models
   */
  export interface FlowRecordWithSteps {
    readonly flow: FlowRecord
    readonly steps: ReadonlyArray<StepRecord>
  }

  /**
   * @since 0.1.0
   * @category Models
   */
  export interface FlowRecordPatch extends Omit<FlowPatch, "result" | "error" | "suspendReason"> {
    readonly result?: unknown | undefined
    readonly error?: unknown | undefined
    readonly suspendReason?: unknown | undefined
  }
}

/**
 * What a store accepts.
 *
 * - `maxPayloadBytes`: the largest payload (an input, a result, a journal entry, a signal's
 *   payload), in bytes of its UTF-8 JSON. Defaults to 4 MiB (4,194,304).
 * - `maxDepth`: how deeply arrays and objects may nest in a payload. Defaults to 128.
 *
 * A value over a limit, or one that JSON would change (`NaN`, a bigint, a `Date`, a cycle, …), is
 * refused with an `UnstorableValueError` before anything is written. See docs/storage.md.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Limits extends json.Limits {}

/**
 * `Limits` as options: a limit left out keeps its default.
 *
 * @since 0.1.0
 * @category Models
 */
export interface LimitsOptions extends json.LimitsOptions {}

/**
 * Builds the service over a backend: serialises payloads (refusing, before anything is written,
 * a value that would not come back exactly or is over `limits`, and ids no store keeps exactly)
 * and parses them.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeUnsafe: (backend: Encoded, limits?: LimitsOptions | undefined) => ExecutionLog.Service =
  internal.makeUnsafe

/**
 * A backend that keeps everything in memory, for tests. Each use of the Layer gets its own store.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeMemoryBackend: () => Encoded = internal.makeMemoryBackend

/**
 * The in-memory store, for tests and single-process experiments: nothing survives the process.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerMemory: Layer.Layer<ExecutionLog> = Layer.sync(ExecutionLog, () => makeUnsafe(makeMemoryBackend()))

/**
 * A Layer over any backend.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerBackend = (backend: Encoded, limits?: LimitsOptions | undefined): Layer.Layer<ExecutionLog> =>
  Layer.sync(ExecutionLog, () => makeUnsafe(backend, limits))

/**
 * The in-memory store with other `limits` (see `Limits`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerMemoryWith = (limits: LimitsOptions): Layer.Layer<ExecutionLog> =>
  Layer.sync(ExecutionLog, () => makeUnsafe(makeMemoryBackend(), limits))
