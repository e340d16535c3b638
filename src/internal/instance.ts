import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import type * as ParseResult from "effect/ParseResult"
import type * as RetryPolicy from "../RetryPolicy.js"
import * as Schema from "effect/Schema"
import type { EntryKind, ExecutionLog, Fence } from "../ExecutionLog.js"
import type * as Cause from "effect/Cause"
import type {
  CheckpointDecodeError,
  CheckpointEncodeError,
  InvalidIdError,
  JournalLimitError,
  LeaseLostError,
  NonDeterminismError,
  StoreError,
  UnstorableValueError
} from "../FlowError.js"

/**
 * Why a flow stopped before its end and was released: it waits for something that is not here yet.
 *
 * @since 0.1.0
 * @category Models
 */
export type SuspendReason = Data.TaggedEnum<{
  /** A durable timer (`Flow.sleep`, `Flow.sleepUntil`) fires at `until` (epoch millis). */
  Timer: { readonly key: string; readonly until: number }
  /** `Flow.awaitSignal` waits for a signal of this name (until `timeoutAt`, if set). */
  Signal: { readonly key: string; readonly name: string; readonly timeoutAt: number | undefined }
  /** `Flow.invoke` waits for the child flow `childId` to end. */
  Child: { readonly key: string; readonly childId: string }
  /** `Flow.awaitEvent` waits for the event `name` to be emitted (until `timeoutAt`, if set). */
  Event: { readonly key: string; readonly name: string; readonly timeoutAt: number | undefined }
  /** The step at `key` failed and retries at `at` (epoch millis). */
  Retry: { readonly key: string; readonly at: number; readonly attempt: number }
  /**
   * Several branches of the flow wait at once (a race, or concurrent waits): whichever of these
   * comes first wakes it.
   */
  Any: { readonly reasons: ReadonlyArray<SingleReason> }
}>

/**
 * One wait of a suspended flow.
 *
 * @since 0.2.0
 * @category Models
 */
export type SingleReason = Exclude<SuspendReason, { readonly _tag: "Any" }>

/**
 * @since 0.1.0
 * @category Constructors
 */
export const SuspendReason = Data.taggedEnum<SuspendReason>()

const SingleReasonSchema = Schema.Union(
  Schema.TaggedStruct("Timer", { key: Schema.String, until: Schema.Number }),
  Schema.TaggedStruct("Signal", {
    key: Schema.String,
    name: Schema.String,
    timeoutAt: Schema.UndefinedOr(Schema.Number)
  }),
  Schema.TaggedStruct("Child", { key: Schema.String, childId: Schema.String }),
  Schema.TaggedStruct("Event", {
    key: Schema.String,
    name: Schema.String,
    timeoutAt: Schema.UndefinedOr(Schema.Number)
  }),
  Schema.TaggedStruct("Retry", { key: Schema.String, at: Schema.Number, attempt: Schema.Number })
)

/** The schema suspend reasons are stored with. */
export const SuspendReasonSchema = Schema.Union(
  SingleReasonSchema,
  Schema.TaggedStruct("Any", { reasons: Schema.Array(SingleReasonSchema) })
)

/**
 * What ends a run early: a suspension, an engine error that is not the flow's own, or
 * `Flow.continueAsNew` (with the next execution's encoded input).
 */
export type Abort =
  | { readonly _tag: "Suspend"; readonly reason: SuspendReason }
  | { readonly _tag: "EngineError"; readonly error: EngineError }
  | { readonly _tag: "ContinueAsNew"; readonly input: unknown }
  | { readonly _tag: "Cancel" }

/** A compensation registered by `Flow.withCompensation`, run if the flow fails or is cancelled. */
export interface Compensation {
  readonly run: (cause: Cause.Cause<unknown>) => Effect.Effect<void, unknown, unknown>
}

/** An error of the engine that stops a run (not the flow's own). */
export type EngineError =
  | NonDeterminismError
  | CheckpointDecodeError
  | CheckpointEncodeError
  | StoreError
  | LeaseLostError
  | UnstorableValueError
  | InvalidIdError
  | JournalLimitError

/**
 * How a durable wait ends: its time came (a timer, a retry's backoff, a signal's timeout), or
 * what it waits for is in the store (a signal, a child's end).
 */
export type Resolution = "time" | "ready"

/**
 * A durable wait of a running flow (a timer, a signal, a child, a retry's backoff), parked in
 * memory until the run's supervisor resolves it: when its time comes, when the store has what it
 * waits for, or never (the flow suspends on it and the run stops).
 */
export interface Wait {
  readonly key: string
  readonly reason: SingleReason
  /** When the wait ends by time (a timer, a backoff, a signal's timeout), epoch millis. */
  readonly until: number | undefined
  /** The signal it waits for. */
  readonly signal: string | undefined
  /** The child it waits for. */
  readonly childId: string | undefined
  /** The named event it waits for. */
  readonly event?: string | undefined
  readonly resolve: (resolution: Resolution) => void
}

/**
 * The running instance of a flow, provided to the flow's program by the executor. Every durable
 * operation reads the journal from it and writes through it (see `./journal.js`).
 *
 * @since 0.1.0
 * @category Services
 */
export class FlowInstance extends Context.Tag("ergon/FlowInstance")<FlowInstance, FlowInstance.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace FlowInstance {
  /**
   * @since 0.1.0
   * @category Models
   */
  export interface Service {
    readonly flowId: string
    readonly flowType: string
    readonly log: ExecutionLog.Service
    /** The lease checkpoints are written under, when a worker runs the flow. */
    readonly fence: Fence | undefined
    /** Entries recorded so far, by key: loaded once when the run starts, kept current as it goes. */
    readonly journal: Map<string, ExecutionLog.StepRecord>
    /** Recorded entries by scope, then by their place in it (entries that recorded it). */
    readonly placed: Map<string, Map<number, ExecutionLog.StepRecord>>
    /** Occurrence counters, by scope and name. */
    readonly counters: Map<string, number>
    /** Operations called so far, by scope. */
    readonly positions: Map<string, number>
    /** Set when the run must stop (suspension or engine error); the program is then interrupted. */
    abort: Abort | undefined
    /** Waits shorter than this are spent in memory rather than suspending the flow. */
    readonly suspendAfterMillis: number
    /** The deployment version the flow was stamped with (children inherit it). */
    readonly version: string | null
    /** Whether this execution makes spans (a tracer that exports is installed). */
    readonly traced: boolean
    /**
     * Runs a child flow at once, in this process (plain `Executor.execute`); absent under a
     * worker, where children are claimed by whichever worker has them registered.
     */
    readonly runChild:
      | ((flow: any, input: unknown, childId: string, key: string) => Effect.Effect<unknown, unknown, any>)
      | undefined
    /** Operations in progress that are not waits (a step's run, a store write): the run is not idle. */
    busy: number
    /** Counts every start and end of an operation: a run whose count does not move is idle. */
    progress: number
    /** Durable waits parked in memory, by key. */
    readonly waits: Map<string, Wait>
    /** Counts the waits parked: the supervisor looks at the store again when it moves. */
    waitsChanged: number
    /** Waits resolved whose outcome is not recorded yet. */
    resolving: number
    /**
     * Set while the supervisor decides whether to suspend: an operation that begins meanwhile
     * waits for the decision.
     */
    gate: Effect.Effect<void> | undefined
    /** The next completion order (`seq`) to give a new entry. */
    nextSeq: number
    /** Recorded completion orders not yet returned by this run, ascending. */
    readonly replayOrder: Array<number>
    /**
     * The clock of the process: the flow's program runs on a clock whose `sleep` is a durable
     * timer, and the engine's own work (a step's run, a store call) on this one.
     */
    readonly clock: Clock.Clock
    /** Replayed results waiting for their turn, by completion order. */
    readonly replayWaiting: Map<number, () => void>
    /** The patches the flow declares (`Flow.make({ patches })`). */
    readonly patches: ReadonlyArray<string>
    /**
     * The patch points this run reached that took the old path (`Flow.patched` answered `false`,
     * or `Flow.deprecatePatch` met an execution that passed it before the patch): what a
     * step-order mismatch after them names as the patch that would have guarded the change.
     */
    readonly unpatched: Array<PatchPoint>
    /** Wakes the run's supervisor: a wait was parked or left, an operation ended, the run must stop. */
    readonly poke: () => void
    /**
     * This run replays a flow whose cancellation was asked (it registered compensations): the first
     * operation it reaches with nothing recorded, or the first wait it would park on, is where the
     * flow is cancelled; its compensations run from there.
     */
    cancelling?: boolean | undefined
    /** Compensations registered so far by `Flow.withCompensation`, oldest first. */
    readonly compensations?: Array<Compensation> | undefined
    /** The most entries the journal may hold before a new operation fails the flow (`JournalLimitError`). */
    readonly maxJournalEntries?: number | undefined
    /**
     * The flow-level retry policy, its attempts so far, and whether this run's failure is to be
     * retried (decided when the program fails, before compensations).
     */
    flowRetry?: {
      readonly policy: RetryPolicy.RetryPolicy
      readonly retryable: ((error: unknown) => boolean) | undefined
      readonly failedAttempts: number
      scheduled: boolean
    } | undefined
    /** Encodes an input of this flow (for `Flow.continueAsNew`). */
    readonly encodeInput?: ((input: unknown) => Either.Either<unknown, ParseResult.ParseError>) | undefined
  }
}

/** A patch point that took the old path: the patch, and where in its scope it was reached. */
export interface PatchPoint {
  readonly id: string
  readonly scope: string
  /** The place the next operation of the scope took (the marker itself takes none). */
  readonly position: number
  readonly deprecated: boolean
}

/** The current key scope (`""` at the top of a flow). */
export const currentScope: FiberRef.FiberRef<string> = FiberRef.unsafeMake("")

/** Runs `effect` inside the key scope `name`, nested in the current one. */
export const scoped = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, currentScope, (parent) => (parent === "" ? name : `${parent}/${name}`))

/** Where an operation was called: its key, its scope and its place there. */
export interface Place {
  readonly key: string
  readonly scope: string
  readonly position: number
  readonly kind: EntryKind
  readonly name: string
}

/**
 * The next key for `name` in the current scope (`name`, then `name#2`, `name#3`, …) and the
 * operation's place among those called in that scope.
 */
export const nextPlace = (instance: FlowInstance.Service, name: string, kind: EntryKind): Effect.Effect<Place> =>
  Effect.map(FiberRef.get(currentScope), (scope) => {
    const base = scope === "" ? name : `${scope}/${name}`
    const n = (instance.counters.get(base) ?? 0) + 1
    instance.counters.set(base, n)
    const position = (instance.positions.get(scope) ?? 0) + 1
    instance.positions.set(scope, position)
    return { key: n === 1 ? base : `${base}#${n}`, scope, position, kind, name }
  })

/** The next key for `name` in the current scope. */
export const nextKey = (instance: FlowInstance.Service, name: string, kind: EntryKind = "step"): Effect.Effect<string> =>
  Effect.map(nextPlace(instance, name, kind), (place) => place.key)

/**
 * Stops the run: records why on the instance and wakes the supervisor, which interrupts the
 * program from outside. Interruption from outside is what no handler of the flow can catch
 * (`catchAllCause`, `either`, `retry` … are skipped for an interrupted fiber), while finalizers
 * still run. Meanwhile the caller waits (or, in an uninterruptible region such as a finalizer,
 * where it would wait forever, it stops at once).
 */
export const abort = (instance: FlowInstance.Service, reason: Abort): Effect.Effect<never> =>
  Effect.suspend(() => {
    // The first reason wins: later ones are consequences of the interruption it caused.
    if (instance.abort === undefined) instance.abort = reason
    instance.poke()
    return halted
  })

/** Waits to be interrupted by the supervisor (at once when nothing could interrupt it). */
export const halted: Effect.Effect<never> = Effect.checkInterruptible((interruptible) =>
  interruptible ? Effect.never : Effect.interrupt
)

/** Stops the run with an engine error. */
export const abortWith = (instance: FlowInstance.Service, error: EngineError): Effect.Effect<never> =>
  abort(instance, { _tag: "EngineError", error })
