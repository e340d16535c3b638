/**
 * The durable program.
 *
 * A flow is an ordinary Effect program with a name and schemas for its input, result and typed
 * errors. Run by the `Executor` (or a worker), every step it calls is checkpointed, so a flow
 * that stopped (crash, redeploy, a long wait) resumes where it was by replaying its journal.
 *
 * Determinism rules: a flow's program must take the same path when replayed. Anything that can
 * differ between runs (I/O, time, randomness) belongs in a step or in `Flow.now`, `Flow.random`,
 * `Flow.uuid`, which record their value on the first run. Concurrent calls of the same step get
 * deterministic keys only inside distinct key scopes (`Flow.scope`).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as DurationModule from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Random from "effect/Random"
import type * as RetryPolicy from "./RetryPolicy.js"
import * as Schema from "effect/Schema"
import type { Types } from "effect"
import { FlowInstance, scoped } from "./internal/instance.js"
import type { EventTimeout, InvalidEventError, SignalTimeout } from "./FlowError.js"
import type * as Cause from "effect/Cause"
import * as events from "./internal/event.js"
import * as longLived from "./internal/longLived.js"
import * as journal from "./internal/journal.js"
import * as children from "./internal/child.js"
import * as signal from "./internal/signal.js"
import * as timer from "./internal/timer.js"

export {
  /**
   * The running instance of a flow: provided by the executor, required by every in-flow operation.
   *
   * @since 0.1.0
   * @category Services
   */
  FlowInstance
}

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = Symbol.for("ergon/Flow")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * The types a flow carries: its input, result, typed errors, the services it needs, and the
 * deployment versions it is pinned to (`string` when it is not pinned).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Shape {
  readonly input: any
  readonly success: any
  readonly error: any
  readonly context: any
  readonly versions: string
}

/**
 * A durable flow named `Name`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Flow<Name extends string, S extends Shape> extends Pipeable {
  readonly [TypeId]: {
    readonly _Name: Types.Covariant<Name>
    readonly _Input: Types.Invariant<S["input"]>
    readonly _Success: Types.Covariant<S["success"]>
    readonly _Error: Types.Covariant<S["error"]>
    readonly _Context: Types.Covariant<S["context"]>
    readonly _Versions: Types.Covariant<S["versions"]>
  }
  readonly name: Name
  readonly input: Schema.Schema<S["input"], any>
  readonly success: Schema.Schema<S["success"], any>
  readonly error: Schema.Schema<S["error"], any>
  /** The deployment versions that may run this flow; `undefined` when it is not pinned. */
  readonly versions: ReadonlyArray<S["versions"]> | undefined
  readonly run: (input: S["input"]) => Effect.Effect<S["success"], S["error"], S["context"] | FlowInstance>
  /** The most entries an execution's journal may hold (see `Options.maxJournalEntries`). */
  readonly maxJournalEntries?: number | undefined
  /** The flow-level retry policy (see `Options.retry`). */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /** @internal */
  readonly retryable?: ((error: unknown) => boolean) | undefined
  /** @internal */
  readonly exitCodec: journal.ExitCodec<S["success"], S["error"]>
}

/**
 * Any flow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Any extends Pipeable {
  readonly [TypeId]: unknown
  readonly name: string
  readonly input: Schema.Schema.All
  readonly success: Schema.Schema.All
  readonly error: Schema.Schema.All
  readonly versions: ReadonlyArray<string> | undefined
  readonly run: (input: any) => Effect.Effect<any, any, any>
  readonly maxJournalEntries?: number | undefined
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /** @internal */
  readonly retryable?: ((error: unknown) => boolean) | undefined
  /** @internal */
  readonly exitCodec: journal.ExitCodec<any, any>
}

/**
 * @since 0.1.0
 */
export declare namespace Flow {
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Name<F> = F extends Flow<infer N, any> ? N : never
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Input<F> = F extends Flow<any, infer S> ? S["input"] : never
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Success<F> = F extends Flow<any, infer S> ? S["success"] : never
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Error<F> = F extends Flow<any, infer S> ? S["error"] : never
  /**
   * The services a flow needs (what a worker running it must be provided with).
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Context<F> = F extends Flow<any, infer S> ? S["context"] : never
  /**
   * The versions a flow is pinned to, or `string` when it is not pinned.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Versions<F> = F extends Flow<any, infer S> ? S["versions"] : never
}

/**
 * @since 0.1.0
 * @category Guards
 */
export const isFlow = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

/**
 * The options of `Flow.make`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options<Input, InputEncoded, Success, SuccessEncoded, Error, ErrorEncoded, Requirements, Version> {
  readonly input: Schema.Schema<Input, InputEncoded, never>
  /** Defaults to `Schema.Void`. */
  readonly success?: Schema.Schema<Success, SuccessEncoded, never> | undefined
  /** Defaults to `Schema.Never`. */
  readonly error?: Schema.Schema<Error, ErrorEncoded, never> | undefined
  /**
   * The deployment versions that may run this flow. A versioned scheduler or worker must be of
   * one of them; an unversioned one cannot take the flow. Omit to let any deployment run it.
   */
  readonly versions?: readonly [Version, ...Array<Version>] | undefined
  /**
   * The most entries one execution's journal may hold. An operation that would go past it fails the
   * flow with a `JournalLimitError` (an engine error: the flow ends `failed`), which says to end
   * each period of a long loop with `Flow.continueAsNew`. Defaults to 20,000.
   */
  readonly maxJournalEntries?: number | undefined
  /**
   * A flow-level retry policy (the steps' vocabulary): when the flow's program fails with a
   * retryable error (a class marked `Retryable`, one `retryable` accepts) or, if the policy says so,
   * a defect, the flow runs again after the policy's backoff (a durable wait: it is suspended
   * meanwhile), while attempts remain. Its failed journal entries are dropped, so completed steps
   * replay and failed ones run again. Compensations run only once no retry is left. Defaults to
   * `RetryPolicy.none`.
   */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /** Which typed errors of the flow to retry, besides classes marked `Retryable`. */
  readonly retryable?: ((error: Error) => boolean) | undefined
  readonly run: (input: Input) => Effect.Effect<Success, Error, Requirements>
}

/**
 * Defines a flow.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <
  const Name extends string,
  Input,
  InputEncoded,
  Success = void,
  SuccessEncoded = void,
  Error = never,
  ErrorEncoded = never,
  Requirements = never,
  const Version extends string = string
>(
  name: Name,
  options: Options<Input, InputEncoded, Success, SuccessEncoded, Error, ErrorEncoded, Requirements, Version>
): Flow<Name, {
  readonly input: Input
  readonly success: Success
  readonly error: Error
  readonly context: Exclude<Requirements, FlowInstance>
  readonly versions: Version
}> => {
  const success = options.success ?? (Schema.Void as unknown as Schema.Schema<Success, SuccessEncoded>)
  const error = options.error ?? (Schema.Never as unknown as Schema.Schema<Error, ErrorEncoded>)
  return {
    [TypeId]: TypeId as never,
    name,
    input: options.input,
    success,
    error,
    versions: options.versions,
    run: options.run as never,
    ...(options.maxJournalEntries === undefined ? {} : { maxJournalEntries: options.maxJournalEntries }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.retryable === undefined ? {} : { retryable: options.retryable as (error: unknown) => boolean }),
    exitCodec: journal.exitCodec(success, error),
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}

/**
 * Runs `effect` in the key scope `name`: steps called inside get keys prefixed with the scope
 * (`name/step`), and their occurrence counters are the scope's own. Concurrent branches that call
 * the same steps get deterministic keys when each runs in its own scope.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const scope: {
  (name: string): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
} = function(this: unknown, ...args: Array<any>): any {
  if (args.length === 1) return (effect: Effect.Effect<any, any, any>) => scoped(args[0], effect)
  return scoped(args[0], args[1])
}

/**
 * The id of the running flow.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const id: Effect.Effect<string, never, FlowInstance> = Effect.map(FlowInstance, (instance) => instance.flowId)

const nowCodec = journal.exitCodec(Schema.Number, Schema.Never)
const uuidCodec = journal.exitCodec(Schema.String, Schema.Never)

/**
 * The current time (epoch milliseconds, from Effect's `Clock`), recorded on the first run and
 * the same on every replay.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const now: Effect.Effect<number, never, FlowInstance> = journal.recordValue(
  "$now",
  nowCodec,
  Effect.clockWith((clock) => clock.currentTimeMillis)
)

/**
 * A random number in [0, 1) (from Effect's `Random`), recorded on the first run and the same on
 * every replay.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const random: Effect.Effect<number, never, FlowInstance> = journal.recordValue("$random", nowCodec, Random.next)

/**
 * A random UUID (v4), recorded on the first run and the same on every replay.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const uuid: Effect.Effect<string, never, FlowInstance> = journal.recordValue(
  "$uuid",
  uuidCodec,
  Effect.sync(() => crypto.randomUUID())
)

/**
 * A durable sleep: the fire time (now + `duration`) is computed once and recorded. A short
 * remaining wait is spent in memory; a longer one suspends the flow, which is released and
 * resumed once the time has come (by a worker, or by running it again).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const sleep = (duration: Duration.DurationInput): Effect.Effect<void, never, FlowInstance> => {
  const millis = DurationModule.toMillis(duration)
  return timer.sleepUntil("$sleep", (now) => now + millis)
}

/**
 * A durable sleep until a point in time (a `Date` or epoch milliseconds).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const sleepUntil = (time: Date | number): Effect.Effect<void, never, FlowInstance> => {
  const at = typeof time === "number" ? time : time.getTime()
  return timer.sleepUntil("$sleep", () => at)
}

/**
 * The result of a flow's run as an `Exit`, for callers that want to branch on it.
 *
 * @since 0.1.0
 * @category Models
 */
export type FlowExit<F> = Exit.Exit<Flow.Success<F>, Flow.Error<F>>

/**
 * Waits for a signal named `name` sent to this flow, and returns its payload decoded with
 * `schema`.
 *
 * A signal sent before the wait is buffered in the store and taken at once; several signals of one
 * name are taken one per wait, in the order they were sent. While nothing has come, the flow is
 * suspended (it costs no memory) and is woken when a signal arrives. With `timeout`, the deadline
 * is fixed durably on the first run, and the wait fails with a typed `SignalTimeout` once it has
 * passed. A payload that does not decode with `schema` stops the flow with a
 * `CheckpointDecodeError` naming the signal (it stays recorded, never dropped).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const awaitSignal: {
  <A, I>(name: string, schema: Schema.Schema<A, I, never>): Effect.Effect<A, never, FlowInstance>
  <A, I>(
    name: string,
    schema: Schema.Schema<A, I, never>,
    options: { readonly timeout: Duration.DurationInput }
  ): Effect.Effect<A, SignalTimeout, FlowInstance>
} = signal.awaitSignalTyped

/**
 * Runs a child flow and waits for its result (its success, or its typed failure).
 *
 * The child's id is deterministic (`<parent id>/$invoke/<child name>[#n]`, or the given `key`), so
 * a replay finds the same child. Under `Executor.execute` the child runs at once in this process;
 * under workers it is scheduled with the parent's version and claimed by a worker that has it
 * registered, while the parent is suspended until the child ends. Cancelling the parent cancels
 * its children.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const invoke = <F extends Any>(
  child: F,
  input: Flow.Input<F>,
  options?: { readonly key?: string | undefined }
): Effect.Effect<Flow.Success<F>, Flow.Error<F>, FlowInstance | Flow.Context<F>> =>
  children.invoke(child, input, options)

/**
 * Waits for the named event `name` and returns its payload decoded with `schema`.
 *
 * Events are not addressed to a flow: any flow (or any process, with `Client.emitEvent`) emits
 * one under a name, and every flow that awaits that name, before or after the emit, gets it. The
 * first emit of a name wins: later emits change nothing, so all waiters see the same payload. A
 * flow that waits before the emit is suspended (it costs no memory) and woken by it, in any
 * process. A payload that does not decode with this waiter's `schema` is this waiter's typed
 * `InvalidEventError` (recorded and replayed), not a crash. With `timeout`, the deadline is fixed
 * durably on the first run and the wait fails with `EventTimeout` once it has passed.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const awaitEvent: {
  <A, I>(name: string, schema: Schema.Schema<A, I, never>): Effect.Effect<A, InvalidEventError, FlowInstance>
  <A, I>(
    name: string,
    schema: Schema.Schema<A, I, never>,
    options: { readonly timeout: Duration.DurationInput }
  ): Effect.Effect<A, EventTimeout | InvalidEventError, FlowInstance>
} = events.awaitEventTyped

/**
 * Emits the named event `name` from inside a flow, once: the emit is recorded, so a replay does
 * not emit again. Returns whether this emit stored the event (`false` when one of that name had
 * been emitted already: the first wins). With `schema`, the payload is encoded with it first.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const emitEvent: <P, PI = P>(
  name: string,
  payload: P,
  schema?: Schema.Schema<P, PI, never>
) => Effect.Effect<boolean, never, FlowInstance> = longLived.emitEvent

/**
 * Ends this execution of the flow and starts a new one under the same id, with `input` and an
 * empty journal, atomically. The finished execution's journal is kept (see
 * `Client.listExecutions`); handles awaiting the id get the result of the last execution. The
 * flow's version and parent carry over. Use it to bound the journal of a flow that loops for a
 * long time (a subscription, a poller): end each period with `continueAsNew(nextState)`.
 *
 * Give the flow to have the input checked by `tsc`: `Flow.continueAsNew(Subscription, next)`. An
 * input that does not encode with the flow's input schema stops the flow with a
 * `CheckpointEncodeError`.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const continueAsNew: {
  <F extends Any>(flow: F, input: Flow.Input<F>): Effect.Effect<never, never, FlowInstance>
  (input: unknown): Effect.Effect<never, never, FlowInstance>
} = longLived.continueAsNew

/**
 * Registers a compensation for what `effect` did (a saga): when the flow later fails (its typed
 * error or a defect), the compensations of the effects that succeeded run, newest first, each
 * recorded once done (a crash during them resumes with those not done), before the flow's failure
 * is written. They do not run when the flow succeeds or suspends. The compensation receives the
 * effect's value and the flow's failure; make it a step (`refund(payment)`) to have it retried with
 * the step's policy. A compensation that fails is added to the flow's cause as a defect, and the
 * others still run.
 *
 * @example
 * const payment = yield* chargeCard(order).pipe(Flow.withCompensation((payment) => refund(payment)))
 *
 * @since 0.3.0
 * @category Combinators
 */
export const withCompensation: {
  <A, R2>(
    compensation: (value: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
  ): <E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R2 | FlowInstance>
  <A, E, R, R2>(
    effect: Effect.Effect<A, E, R>,
    compensation: (value: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
  ): Effect.Effect<A, E, R | R2 | FlowInstance>
} = longLived.withCompensation
