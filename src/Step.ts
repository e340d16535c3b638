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
 * The step's types come from its schemas only: without `success` it returns `void`, and a `run`
 * that returns anything else does not compile; without `error` it cannot fail with a typed error,
 * and a `run` that can does not compile (the message says to declare `error`). A step's `run` is
 * one checkpoint, so it cannot call steps, DAGs or `Flow.*` operations; `Step.idempotencyKey`,
 * `Step.attempt` and `Step.Current` are available only there.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import type { Types } from "effect"
import type { InFlow, InFlowMessage } from "./TypeLevel.js"
import type { FlowInstance } from "./internal/instance.js"
import * as internal from "./internal/step.js"
import * as journal from "./internal/journal.js"
import type * as RetryPolicy from "./RetryPolicy.js"
import type { Fails, Returns, SchemaNoContext, TypeError } from "./TypeLevel.js"

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
 * `Args` are the arguments of `run`; `Success` and `Error` the types of its `success` and `error`
 * schemas; `Requirements` what a call needs: the services `run` needs, and a running flow
 * (`Step.OutsideFlow`, an `InFlow<"ergon: a step runs only inside a flow; …">`). Only a flow's
 * run provides it, so a step called outside a flow is a compile error that prints that sentence.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Step<Args extends ReadonlyArray<any>, Success, Error, Requirements> extends Pipeable {
  (...args: Args): Effect.Effect<Success, Error, Requirements>
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
 * Extractors of a step's types; also exported one level up (`Step.Success<S>`).
 *
 * @since 0.1.0
 */
export declare namespace Step {
  /**
   * The success type of a step (the `Type` of its `success` schema).
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Success<S> = S extends Step<any, infer A, any, any> ? A : never
  /**
   * The typed errors of a step (the `Type` of its `error` schema).
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Error<S> = S extends Step<any, any, infer E, any> ? E : never
  /**
   * The services a step's `run` needs (without the running flow its calls also need).
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Requirements<S> = S extends Step<any, any, any, infer R> ? Exclude<R, FlowInstance> : never
}

/**
 * The success type of a step (the `Type` of its `success` schema).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Success<S> = Step.Success<S>

/**
 * The typed errors of a step (the `Type` of its `error` schema).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Error<S> = Step.Error<S>

/**
 * The services a step's `run` needs (without the running flow its calls also need).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Requirements<S> = Step.Requirements<S>

/**
 * What `Step.idempotencyKey`, `Step.attempt` (and `Step.Current`) require: the current step, which
 * only a step's `run` provides. `Message` is the sentence tsc prints when one is used anywhere
 * else (`InStep<"ergon: Step.idempotencyKey is available only inside a step's run; …">`), and
 * `Flow.make` refuses a flow whose `run` uses one.
 *
 * @since 0.1.0
 * @category Models
 */
export interface InStep<Message extends string> extends journal.StepContext {
  readonly [InStepTypeId]: Message
}

declare const InStepTypeId: unique symbol

/** The sentence of an `InStep` for the operation `What`. */
type InStepMessage<What extends string> =
  `ergon: ${What} is available only inside a step's run; call it from the run of a Step.make`

/** Narrows the requirement of an operation on the current step to its `InStep` marker. */
const inStep = <A, What extends string>(
  effect: Effect.Effect<A, never, journal.StepContext>
): Effect.Effect<A, never, InStep<InStepMessage<What>>> => effect as Effect.Effect<A, never, InStep<InStepMessage<What>>>

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
 * Available only inside a step's `run`: used in a flow's `run` it is a compile error at
 * `Flow.make`, and anywhere else where the Effect is run.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const idempotencyKey: Effect.Effect<string, never, InStep<InStepMessage<"Step.idempotencyKey">>> = inStep(
  Effect.map(journal.StepContext, (current) => current.idempotencyKey)
)

/**
 * The attempt being made by the current step, from 1. Available only inside a step's `run`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const attempt: Effect.Effect<number, never, InStep<InStepMessage<"Step.attempt">>> = inStep(
  Effect.map(journal.StepContext, (current) => current.attempt)
)

/**
 * @since 0.1.0
 * @category Guards
 */
export const isStep = (u: unknown): u is Any => typeof u === "function" && TypeId in u

/**
 * The arguments of a step's `run`: `[input]` when `Input` is an input schema, the argument list
 * itself otherwise.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Args<Input> = Input extends Schema.Schema.Any ? [input: Input["Type"]]
  : Input extends ReadonlyArray<any> ? Input
  : never

/**
 * The options of `Step.make`.
 *
 * `Input` is the `input` schema when there is one (`run` then takes one argument of its type,
 * inferred from the schema), and otherwise the argument list of `run` (annotate its parameters).
 * `Success` and `Error` are the `success` and `error` schemas: the step's types come from them
 * only, so `run` must return `Success["Type"]` (`void` when there is no `success`) and may fail
 * only with `Error["Type"]` (nothing, when there is no `error`). `Requirements` are the services
 * `run` needs.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options<
  Input,
  Success extends SchemaNoContext,
  Error extends SchemaNoContext,
  Requirements
> {
  /**
   * The schema of `run`'s one argument: it is encoded through it, and the hash of the encoded
   * form recorded. Without it, `run` takes any arguments and their canonical JSON is hashed.
   */
  readonly input?: Extract<Input, SchemaNoContext> | undefined
  /** The schema of the checkpointed result. Defaults to `Schema.Void`: `run` returns nothing. */
  readonly success?: Success | undefined
  /** The schema of the typed errors `run` may fail with. Defaults to `Schema.Never`: it fails with none. */
  readonly error?: Error | undefined
  /** Defaults to `RetryPolicy.none`. */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /**
   * Which typed errors to retry, besides error classes marked with `Retryable`.
   * Defects are retried only when the policy's `retryDefects` is on.
   */
  readonly retryable?: ((error: Error["Type"]) => boolean) | undefined
  /**
   * The longest one attempt may run (on the process's clock). An attempt that runs longer is
   * interrupted and counts as a failed attempt (`StepTimeout`), retried while the policy allows more
   * attempts; when they are spent, the step ends with the `StepTimeout` as a defect. No limit by
   * default.
   */
  readonly timeout?: Duration.DurationInput | undefined
  readonly run: (...args: Args<Input>) => Effect.Effect<Returns<Success>, Fails<Error>, Requirements>
}

/**
 * The `InFlow` every step call requires: tsc prints its sentence where a step is run outside a
 * flow. It is one type for all steps (it does not name the step): a flow's requirements are the
 * union of what its steps require, and one member per step would cost every flow that many
 * members (measured: about 13,000 more instantiations in the 50-flow, 200-step perf app).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type OutsideFlow = InFlow<InFlowMessage<"a step">>

/**
 * The type `Step.make` accepts as the step's name: the name itself, or, when `run` needs a running
 * flow (it calls a step, runs a DAG, or uses a `Flow.*` operation), a `TypeError` naming the step
 * and that operation. A step is one checkpoint: a wait or a step inside it would have no journal
 * entry of its own. The check sits on the name (the first line of the definition) rather than on
 * the options: it is resolved once inference is done, at a fraction of the cost.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type StepName<Name extends string, Requirements> = [Extract<Requirements, FlowInstance>] extends [never] ? Name
  : TypeError<
    `ergon: step '${Name}' cannot use ${FlowOperation<
      Extract<Requirements, FlowInstance>
    >} in its run; a step is one checkpoint: call it from the flow's run instead`
  >

/** The operation an `InFlow` is about (`step 'x'`, `Flow.sleep`…), read back from its sentence. */
type FlowOperation<Marker> = Marker extends InFlow<`ergon: ${infer What} runs only inside a flow${string}`> ? What
  : "FlowInstance"

/**
 * Defines a step.
 *
 * The step's key in a flow's journal is its name (with `#2`, `#3`, … for later calls in the
 * same key scope). Its input is hashed (through `input` when given, as canonical JSON
 * otherwise) and the hash recorded: replaying the same key with another input fails the flow
 * with a `NonDeterminismError`.
 *
 * The step's result and error types are those of `success` and `error`, whatever `run` infers:
 * a `run` that returns something else than `success` describes, or fails with something `error`
 * does not, is a compile error on the `run` line. Without `success` the step returns `void`;
 * without `error` it cannot fail with a typed error.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Step } from "ergon"
 *
 * class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { reason: Schema.String }) {}
 *
 * const charge = Step.make("charge", {
 *   success: Schema.String,
 *   error: CardDeclined,
 *   run: (cents: number) =>
 *     cents > 10_000 ? Effect.fail(new CardDeclined({ reason: "limit" })) : Effect.succeed(`pay_${cents}`)
 * })
 * // Step<[cents: number], string, CardDeclined, InFlow<"ergon: a step runs only inside a flow; …">>
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: <
  const Name extends string,
  Input = [],
  Success extends SchemaNoContext = typeof Schema.Void,
  Error extends SchemaNoContext = typeof Schema.Never,
  Requirements = never
>(
  name: StepName<Name, Requirements>,
  options: Options<Input, Success, Error, Requirements>
) => Step<
  Args<Input>,
  Success["Type"],
  Error["Type"],
  // Written out, not as `OutsideFlow`: tsc prints an alias by its name, and the sentence is the point.
  Exclude<Requirements, journal.StepContext> | InFlow<InFlowMessage<"a step">>
> = internal.make
