/**
 * The operations that let a flow live long and end well: `Flow.emitEvent`, `Flow.continueAsNew`,
 * `Flow.withCompensation`.
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import { CheckpointEncodeError } from "../FlowError.js"
import type * as Flow from "../Flow.js"
import * as event from "./event.js"
import { abort, abortWith, FlowInstance } from "./instance.js"
import { COMPENSABLE_KEY } from "./executionLog.js"
import * as journal from "./journal.js"
import { formatParseError } from "./journal.js"

/** `Flow.emitEvent`: the payload encoded (with `schema` when given), then emitted once. */
export const emitEvent = <P, PI = P>(
  name: string,
  payload: P,
  schema?: Schema.Schema<P, PI, never>
): Effect.Effect<boolean, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) => {
    if (schema === undefined) return event.emitInFlow(name, payload ?? null)
    const encoded = Schema.encodeEither(schema)(payload)
    return Either.isRight(encoded)
      ? event.emitInFlow(name, encoded.right ?? null)
      : abortWith(
        instance,
        new CheckpointEncodeError({
          flowType: instance.flowType,
          flowId: instance.flowId,
          key: `$emit/${name}`,
          schema: String(schema.ast),
          detail: formatParseError(encoded.left)
        })
      )
  })

/** `Flow.continueAsNew`: stops the run; the executor archives this execution and starts the next. */
export const continueAsNew: {
  <F extends Flow.Any>(flow: F, input: Flow.Flow.Input<F>): Effect.Effect<never, never, FlowInstance>
  (input: unknown): Effect.Effect<never, never, FlowInstance>
} = (...args: ReadonlyArray<unknown>): Effect.Effect<never, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) => {
    const input = args.length >= 2 ? args[1] : args[0]
    const encoded = instance.encodeInput === undefined ? Either.right(input) : instance.encodeInput(input)
    if (Either.isLeft(encoded)) {
      return abortWith(
        instance,
        new CheckpointEncodeError({
          flowType: instance.flowType,
          flowId: instance.flowId,
          key: "$continueAsNew",
          schema: "the flow's input",
          detail: formatParseError(encoded.left)
        })
      )
    }
    return abort(instance, { _tag: "ContinueAsNew", input: encoded.right })
  })

/** `Flow.withCompensation`: registers the compensation once `effect` has succeeded. */
export const withCompensation: {
  <A, R2>(
    compensation: (value: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
  ): <E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R2 | FlowInstance>
  <A, E, R, R2>(
    effect: Effect.Effect<A, E, R>,
    compensation: (value: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
  ): Effect.Effect<A, E, R | R2 | FlowInstance>
} = dual(2, <A, E, R, R2>(
  effect: Effect.Effect<A, E, R>,
  compensation: (value: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
): Effect.Effect<A, E, R | R2 | FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.tap(effect, (value) =>
      Effect.zipRight(
        Effect.sync(() => {
          // `any`: the compensation's requirements are the flow's, provided to its whole program.
          instance.compensations?.push({ run: (cause) => compensation(value, cause) as Effect.Effect<unknown, unknown, any> as any })
        }),
        // Once per flow: the store then knows that a cancellation must run the compensations.
        journal.mark(instance, COMPENSABLE_KEY, "compensation")
      ))))
