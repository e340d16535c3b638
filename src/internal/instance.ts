import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Schema from "effect/Schema"
import type { ExecutionLog, Fence } from "../ExecutionLog.js"
import type {
  CheckpointDecodeError,
  CheckpointEncodeError,
  InvalidIdError,
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
  /** The step at `key` failed and retries at `at` (epoch millis). */
  Retry: { readonly key: string; readonly at: number; readonly attempt: number }
}>

/**
 * @since 0.1.0
 * @category Constructors
 */
export const SuspendReason = Data.taggedEnum<SuspendReason>()

/** The schema suspend reasons are stored with. */
export const SuspendReasonSchema = Schema.Union(
  Schema.TaggedStruct("Timer", { key: Schema.String, until: Schema.Number }),
  Schema.TaggedStruct("Signal", {
    key: Schema.String,
    name: Schema.String,
    timeoutAt: Schema.UndefinedOr(Schema.Number)
  }),
  Schema.TaggedStruct("Child", { key: Schema.String, childId: Schema.String }),
  Schema.TaggedStruct("Retry", { key: Schema.String, at: Schema.Number, attempt: Schema.Number })
)

/** What ends a run early: a suspension, or an engine error that is not the flow's own. */
export type Abort =
  | { readonly _tag: "Suspend"; readonly reason: SuspendReason }
  | {
    readonly _tag: "EngineError"
    readonly error: EngineError
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

/**
 * The running instance of a flow, provided to the flow's program by the executor. Steps and the
 * other in-flow operations read the journal from it and write checkpoints through it.
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
    /** Occurrence counters, by scope and name. */
    readonly counters: Map<string, number>
    /** Set when the run must stop (suspension or engine error); the program is then interrupted. */
    abort: Abort | undefined
    /** Waits shorter than this are spent in memory rather than suspending the flow. */
    readonly suspendAfterMillis: number
    /** The deployment version the flow was stamped with (children inherit it). */
    readonly version: string | null
    /**
     * Runs a child flow at once, in this process (plain `Executor.execute`); absent under a
     * worker, where children are claimed by whichever worker has them registered.
     */
    readonly runChild:
      | ((flow: any, input: unknown, childId: string, key: string) => Effect.Effect<unknown, unknown, any>)
      | undefined
  }
}

/** The current key scope (`""` at the top of a flow). */
export const currentScope: FiberRef.FiberRef<string> = FiberRef.unsafeMake("")

/** Runs `effect` inside the key scope `name`, nested in the current one. */
export const scoped = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, currentScope, (parent) => (parent === "" ? name : `${parent}/${name}`))

/** The next key for `name` in the current scope: `name`, then `name#2`, `name#3`, … */
export const nextKey = (instance: FlowInstance.Service, name: string): Effect.Effect<string> =>
  Effect.map(FiberRef.get(currentScope), (scope) => {
    const base = scope === "" ? name : `${scope}/${name}`
    const n = (instance.counters.get(base) ?? 0) + 1
    instance.counters.set(base, n)
    return n === 1 ? base : `${base}#${n}`
  })

/**
 * Stops the run: records why on the instance, then interrupts the calling fiber. Interruption is
 * used (rather than a failure) so the reason travels past the flow's own error handling; the
 * executor reads `abort` once the program has stopped.
 */
export const abort = (instance: FlowInstance.Service, reason: Abort): Effect.Effect<never> =>
  Effect.suspend(() => {
    // The first reason wins: later ones are consequences of the interruption it caused.
    if (instance.abort === undefined) instance.abort = reason
    return Effect.interrupt
  })

/** Stops the run with an engine error. */
export const abortWith = (
  instance: FlowInstance.Service,
  error: EngineError
): Effect.Effect<never> => abort(instance, { _tag: "EngineError", error })

/** Suspends the run. */
export const suspend = (instance: FlowInstance.Service, reason: SuspendReason): Effect.Effect<never> =>
  abort(instance, { _tag: "Suspend", reason })
