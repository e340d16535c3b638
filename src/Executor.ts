/**
 * Runs one flow in this process, to its end or to its next suspension.
 *
 * `Executor.execute(flow, input, { id })` is the engine that workers use. It loads the flow's
 * journal in one query, runs the program (replaying recorded steps, running and checkpointing
 * new ones) and returns a `FlowOutcome`: `Completed` with the flow's `Exit`, or `Suspended` with
 * the reason it waits. Running it again with the same id continues from the journal; running a
 * completed flow returns its recorded result without running anything.
 *
 * Errors that are not the flow's own (its own typed errors are in the `Exit`) are in the error
 * channel: the input does not match the schema (`InvalidInputError`, nothing written), the id
 * belongs to another flow or input (`FlowConflictError`), a replay diverged
 * (`NonDeterminismError`), a stored value no longer decodes (`CheckpointDecodeError`), the store
 * failed (`StoreError`) or the lease was lost (`LeaseLostError`). The first three mark the flow
 * `failed` in the store; a store or lease error leaves it as it was, to be resumed.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { ExecutionLog, Fence } from "./ExecutionLog.js"
import type * as Flow from "./Flow.js"
import type { ExecutionError } from "./FlowError.js"
import * as internal from "./internal/executor.js"
import { SuspendReason } from "./internal/instance.js"

export {
  /**
   * Why a flow is suspended: `Timer`, `Signal`, `Child` or `Retry`.
   *
   * @since 0.1.0
   * @category Models
   */
  SuspendReason
}

/**
 * The flow ended: `exit` is its success or its typed failure (or a defect).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Completed<A, E> {
  readonly _tag: "Completed"
  readonly exit: Exit.Exit<A, E>
}

/**
 * The flow waits for something (a timer, a signal, a child flow, a retry) and was released.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Suspended {
  readonly _tag: "Suspended"
  readonly reason: SuspendReason
}

/**
 * The outcome of one execution.
 *
 * @since 0.1.0
 * @category Models
 */
export type FlowOutcome<A, E> = Completed<A, E> | Suspended

/**
 * @since 0.1.0
 * @category Guards
 */
export const isCompleted = <A, E>(outcome: FlowOutcome<A, E>): outcome is Completed<A, E> =>
  outcome._tag === "Completed"

/**
 * @since 0.1.0
 * @category Guards
 */
export const isSuspended = <A, E>(outcome: FlowOutcome<A, E>): outcome is Suspended => outcome._tag === "Suspended"

/**
 * The options of `execute`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ExecuteOptions {
  /** The flow's id: the key of its journal. */
  readonly id: string
  /** Write checkpoints only while this lease holds (used by workers). */
  readonly fence?: Fence | undefined
  /**
   * Waits (timers, retry backoffs) longer than this suspend the flow; shorter ones are spent in
   * memory. Defaults to 1 minute.
   */
  readonly suspendAfter?: Duration.DurationInput | undefined
  /** The deployment version stamped on a new flow. Defaults to none (unversioned). */
  readonly version?: string | null | undefined
  /** The parent flow and the key of the call that started this one, for child flows. */
  readonly parent?: { readonly id: string; readonly key: string } | undefined
  /** Claim priority of a new flow (higher first). Defaults to 0. */
  readonly priority?: number | undefined
}

/**
 * Runs a flow to its end or its next suspension, creating it under `id` when it does not exist
 * and resuming it from its journal when it does.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const execute: <F extends Flow.Any>(
  flow: F,
  input: Flow.Flow.Input<F>,
  options: ExecuteOptions
) => Effect.Effect<
  FlowOutcome<Flow.Flow.Success<F>, Flow.Flow.Error<F>>,
  ExecutionError,
  Flow.Flow.Context<F> | ExecutionLog
> = internal.executeTyped
