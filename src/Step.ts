/**
 * The durable unit of work.
 *
 * A step wraps an Effect whose result is checkpointed. Called inside a flow, it is looked up in
 * the flow's journal by its key: when found, the recorded result (success or typed failure) is
 * decoded and returned and `run` is not called; when not, `run` executes (retried per its
 * policy), its exit is encoded and written in one statement, and the flow continues.
 *
 * ```ts
 * const chargeCard = Step.make("charge-card", {
 *   success: Payment,
 *   error: Schema.Union(CardDeclined, GatewayTimeout),
 *   retry: RetryPolicy.exponential({ maxAttempts: 5, initialDelay: "100 millis", maxDelay: "1 minute" }),
 *   run: (order: Order) => PaymentGateway.charge(order)
 * })
 * // inside a flow:
 * const payment = yield* chargeCard(order)
 * ```
 *
 * Execution is at-least-once (a step that was running when its process died runs again), the
 * checkpoint exactly-once. Use `Step.idempotencyKey` to make outside calls idempotent.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import type { Types } from "effect"
import type { FlowInstance } from "./internal/instance.js"
import * as internal from "./internal/step.js"
import * as journal from "./internal/journal.js"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = Symbol.for("ergon/Step")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * A step: call it with its arguments inside a flow to get its (checkpointed) result.
 *
 * `Args` are the arguments of `run`; `Success` and `Error` its declared result and typed errors;
 * `Requirements` the services `run` needs. The call also needs `FlowInstance`, which only a running
 * flow provides, so a step called outside a flow is a compile error.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Step<Args extends ReadonlyArray<any>, Success, Error, Requirements> extends Pipeable {
  (...args: Args): Effect.Effect<Success, Error, Requirements | FlowInstance>
  readonly [TypeId]: {
    readonly _Args: Types.Contravariant<Args>
    readonly _Success: Types.Covariant<Success>
    readonly _Error: Types.Covariant<Error>
    readonly _Requirements: Types.Covariant<Requirements>
  }
  readonly stepName: string
  readonly success: Schema.Schema<Success, any>
  readonly error: Schema.Schema<Error, any>
  readonly retry: RetryPolicy.RetryPolicy
}

/**
 * Any step.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Any extends Step<ReadonlyArray<any>, any, any, any> {}

/**
 * @since 0.1.0
 */
export declare namespace Step {
  /**
   * The success type of a step.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Success<S> = S extends Step<any, infer A, any, any> ? A : never
  /**
   * The typed errors of a step.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Error<S> = S extends Step<any, any, infer E, any> ? E : never
  /**
   * The services a step's `run` needs.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Requirements<S> = S extends Step<any, any, any, infer R> ? R : never
}

/**
 * What a step's `run` can read about itself: the flow, its key, the attempt, an idempotency key.
 *
 * @since 0.1.0
 * @category Services
 */
export const Current: typeof journal.StepContext = journal.StepContext

/**
 * A key stable across attempts and replays of the current step (`<flow id>/<step key>`), to hand to
 * outside APIs that deduplicate requests (payment gateways, mailers).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const idempotencyKey: Effect.Effect<string, never, journal.StepContext> = Effect.map(
  journal.StepContext,
  (current) => current.idempotencyKey
)

/**
 * The attempt being made by the current step, from 1.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const attempt: Effect.Effect<number, never, journal.StepContext> = Effect.map(
  journal.StepContext,
  (current) => current.attempt
)

/**
 * @since 0.1.0
 * @category Guards
 */
export const isStep = (u: unknown): u is Any => typeof u === "function" && TypeId in u

/**
 * The options of a step whose arguments are hashed as canonical JSON.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options<Args extends ReadonlyArray<any>, Success, SuccessEncoded, Error, ErrorEncoded, Requirements> {
  /** The schema of the checkpointed result. Defaults to `Schema.Void`. */
  readonly success?: Schema.Schema<Success, SuccessEncoded, never> | undefined
  /** The schema of the typed errors `run` may fail with. Defaults to `Schema.Never`. */
  readonly error?: Schema.Schema<Error, ErrorEncoded, never> | undefined
  /** Defaults to `RetryPolicy.none`. */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /**
   * Which typed errors to retry, besides error classes marked with `Retryable`.
   * Defects are retried only when the policy's `retryDefects` is on.
   */
  readonly retryable?: ((error: Error) => boolean) | undefined
  /**
   * The longest one attempt may run (on the process's clock). An attempt that runs longer is
   * interrupted and counts as a failed attempt (`StepTimeout`), retried while the policy allows more
   * attempts; when they are spent, the step ends with the `StepTimeout` as a defect. No limit by
   * default.
   */
  readonly timeout?: Duration.DurationInput | undefined
  readonly run: (...args: Args) => Effect.Effect<Success, Error, Requirements>
}

/**
 * The options of a step with an input schema: the input is encoded with it, and the hash of the
 * encoded form is recorded.
 *
 * @since 0.1.0
 * @category Models
 */
export interface OptionsWithInput<Input, InputEncoded, Success, SuccessEncoded, Error, ErrorEncoded, Requirements>
  extends Omit<Options<[Input], Success, SuccessEncoded, Error, ErrorEncoded, Requirements>, "run">
{
  readonly input: Schema.Schema<Input, InputEncoded, never>
  readonly run: (input: Input) => Effect.Effect<Success, Error, Requirements>
}

/**
 * Defines a step.
 *
 * The step's key in a flow's journal is its name (with `#2`, `#3`, … for later calls in the
 * same key scope). Its input is hashed (through `input` when given, as canonical JSON
 * otherwise) and the hash recorded: replaying the same key with another input fails the flow
 * with a `NonDeterminismError`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: {
  <Input, InputEncoded, Success = void, SuccessEncoded = void, Error = never, ErrorEncoded = never, Requirements = never>(
    name: string,
    options: OptionsWithInput<Input, InputEncoded, Success, SuccessEncoded, Error, ErrorEncoded, Requirements>
  ): Step<[Input], Success, Error, Exclude<Requirements, journal.StepContext>>
  <
    Args extends ReadonlyArray<any>,
    Success = void,
    SuccessEncoded = void,
    Error = never,
    ErrorEncoded = never,
    Requirements = never
  >(
    name: string,
    options: Options<Args, Success, SuccessEncoded, Error, ErrorEncoded, Requirements>
  ): Step<Args, Success, Error, Exclude<Requirements, journal.StepContext>>
} = internal.make
