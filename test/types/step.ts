/**
 * Type tests for `Step`, checked by `tsc --noEmit` (`npm run typecheck`); nothing here runs.
 *
 * A step's types come from its schemas only. Positive cases assert exact types (`toEqualTypeOf`),
 * so a type that collapsed to `any`, `never` or `unknown` fails. Each misuse is one line under
 * `// @ts-expect-error <text>`, and `test/types/messages.test.ts` checks that tsc's diagnostic for
 * that line contains `<text>`: a misuse that stops being an error, or that fails for another
 * reason, fails the tests.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { describe, expectTypeOf, it } from "vitest"
import * as Dag from "../../src/Dag.js"
import * as Flow from "../../src/Flow.js"
import * as Step from "../../src/Step.js"

class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { reason: Schema.String }) {}
class GatewayTimeout extends Schema.TaggedError<GatewayTimeout>()("GatewayTimeout", { gateway: Schema.String }) {}
class Gateway extends Context.Tag("test/Gateway")<Gateway, { readonly charge: (cents: number) => Effect.Effect<string> }>() {}

const Order = Schema.Struct({ id: Schema.String, cents: Schema.Number })
type Order = typeof Order.Type

/** What every step call requires besides the services of its `run`. */
type OutsideFlow = Flow.InFlow<"ergon: a step runs only inside a flow; call it from a flow's run (Flow.make)">

const charge = Step.make("charge", {
  success: Schema.String,
  error: Schema.Union(CardDeclined, GatewayTimeout),
  run: (cents: number) =>
    Effect.flatMap(Gateway, (gateway) =>
      cents > 10_000 ? Effect.fail(new CardDeclined({ reason: "limit" })) : gateway.charge(cents))
})
const noop = Step.make("noop", { run: () => Effect.void })

describe("Step.make", () => {
  it("takes the step's types from its schemas", () => {
    expectTypeOf(charge).toEqualTypeOf<
      Step.Step<[cents: number], string, CardDeclined | GatewayTimeout, Gateway | OutsideFlow>
    >()
    expectTypeOf(Step.make("tag", { success: Schema.Literal("a", "b"), run: () => Effect.succeed("a" as const) }))
      .toEqualTypeOf<Step.Step<[], "a" | "b", never, OutsideFlow>>()
  })

  it("without success returns void, and without error fails with nothing", () => {
    expectTypeOf(noop).toEqualTypeOf<Step.Step<[], void, never, OutsideFlow>>()
    expectTypeOf(Step.make("two", { run: (a: string, b: number) => Effect.log(a, b) })).toEqualTypeOf<
      Step.Step<[a: string, b: number], void, never, OutsideFlow>
    >()
  })

  it("with an input schema, run takes one argument of its type, inferred or annotated", () => {
    expectTypeOf(Step.make("by-schema", { input: Order, success: Schema.Number, run: (order) => Effect.succeed(order.cents) }))
      .toEqualTypeOf<Step.Step<[input: Order], number, never, OutsideFlow>>()
    expectTypeOf(Step.make("annotated", { input: Order, run: (order: Order) => Effect.log(order.id) }))
      .toEqualTypeOf<Step.Step<[input: Order], void, never, OutsideFlow>>()
  })

  it("a call is an Effect of the step's types that needs a running flow", () => {
    expectTypeOf(charge(100)).toEqualTypeOf<
      Effect.Effect<string, CardDeclined | GatewayTimeout, Gateway | OutsideFlow>
    >()
    expectTypeOf(charge(100)).toExtend<Effect.Effect<string, CardDeclined | GatewayTimeout, Gateway | Flow.FlowInstance>>()
  })

  it("the current step's operations are available in run, and not required by the step", () => {
    const keyed = Step.make("keyed", {
      success: Schema.String,
      run: () => Effect.map(Effect.all([Step.idempotencyKey, Step.attempt, Step.Current]), ([key, attempt]) => `${key}#${attempt}`)
    })
    expectTypeOf(keyed).toEqualTypeOf<Step.Step<[], string, never, OutsideFlow>>()
  })

  it("extractors are exported one level up and equal the namespace's", () => {
    expectTypeOf<Step.Success<typeof charge>>().toEqualTypeOf<string>()
    expectTypeOf<Step.Error<typeof charge>>().toEqualTypeOf<CardDeclined | GatewayTimeout>()
    expectTypeOf<Step.Requirements<typeof charge>>().toEqualTypeOf<Gateway>()
    expectTypeOf<Step.Step.Success<typeof charge>>().toEqualTypeOf<Step.Success<typeof charge>>()
    expectTypeOf<Step.Step.Error<typeof charge>>().toEqualTypeOf<Step.Error<typeof charge>>()
    expectTypeOf<Step.Step.Requirements<typeof charge>>().toEqualTypeOf<Step.Requirements<typeof charge>>()
  })
})

describe("a run that does not match the schemas", () => {
  it("returns a value without a success schema (it would be stored through Schema.Void)", () => {
    // @ts-expect-error Type 'Date' is not assignable to type 'void | TypeError<"ergon: no success schema (or Schema.Void), so the result is not stored and must be void; declare success: <its schema> to return a value">'.
    Step.make("date", { run: (millis: number) => Effect.succeed(new Date(millis)) })
    // @ts-expect-error Type 'number' is not assignable to type 'void | TypeError<"ergon: no success schema (or Schema.Void), so the result is not stored and must be void; declare success: <its schema> to return a value">'.
    Step.make("void", { success: Schema.Void, run: () => Effect.succeed(1) })
  })

  it("fails with a typed error without an error schema (it could not be stored)", () => {
    // @ts-expect-error Property '[TypeErrorTypeId]' is missing in type 'CardDeclined' but required in type 'TypeError<"ergon: no error schema (or Schema.Never), so run must not fail with a typed error; declare error: <its schema>, or handle the error in run">'.
    Step.make("declines", { success: Schema.String, run: () => Effect.fail(new CardDeclined({ reason: "no" })) })
    // @ts-expect-error Property '[TypeErrorTypeId]' is missing in type 'CardDeclined' but required in type 'TypeError<"ergon: no error schema (or Schema.Never), so run must not fail with a typed error; declare error: <its schema>, or handle the error in run">'.
    Step.make("gateway", { success: Schema.String, run: (cents: number) => Effect.flatMap(Gateway, (gateway) => cents > 0 ? gateway.charge(cents) : Effect.fail(new CardDeclined({ reason: "zero" }))) })
  })

  it("returns or fails with other types than the schemas declare (tsc's own message names both)", () => {
    // @ts-expect-error Type 'string' is not assignable to type 'number'.
    Step.make("number", { success: Schema.Number, run: () => Effect.succeed("1") })
    // @ts-expect-error Property 'reason' is missing in type 'GatewayTimeout' but required in type 'CardDeclined'.
    Step.make("declared", { error: CardDeclined, run: () => Effect.fail(new GatewayTimeout({ gateway: "g" })) })
    // @ts-expect-error Type 'string' is not assignable to type 'number'.
    Step.make("input", { input: Order, success: Schema.Number, run: (order) => Effect.succeed(order.id) })
  })

  it("is reported on the definition, not as 'No overload matches this call'", () => {
    // @ts-expect-error Type 'string' is not assignable to type 'number'.
    Step.make("overloads", { input: Order, success: Schema.Number, run: (order: Order) => Effect.succeed(order.id) })
  })
})

describe("a step's run", () => {
  it("cannot use what runs only in a flow: steps, DAGs, Flow operations", () => {
    // @ts-expect-error TypeError<"ergon: step 'outer' cannot use a step in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("outer", { run: () => noop() })
    // @ts-expect-error TypeError<"ergon: step 'waits' cannot use Flow.sleep in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("waits", { run: () => Flow.sleep("1 hour") })
    // @ts-expect-error TypeError<"ergon: step 'signalled' cannot use Flow.awaitSignal in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("signalled", { success: Schema.String, run: () => Flow.awaitSignal("go", Schema.String) })
    // @ts-expect-error TypeError<"ergon: step 'parallel' cannot use DAG 'd' in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("parallel", { run: () => Effect.asVoid(Dag.run(Dag.make("d").step("a", Effect.succeed(1)))) })
    // @ts-expect-error TypeError<"ergon: step 'timestamp' cannot use Flow.now in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("timestamp", { success: Schema.Number, run: () => Flow.now })
    // @ts-expect-error TypeError<"ergon: step 'raw' cannot use FlowInstance in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("raw", { success: Schema.String, run: () => Effect.map(Flow.FlowInstance, (instance) => instance.flowId) })
  })

  it("can use Effect's own clock, randomness and services (they run once per attempt)", () => {
    expectTypeOf(Step.make("clock", { success: Schema.Number, run: () => Effect.clockWith((clock) => clock.currentTimeMillis) }))
      .toEqualTypeOf<Step.Step<[], number, never, OutsideFlow>>()
  })
})

describe("a step outside a flow", () => {
  it("does not run: the sentence says where to call it", () => {
    // @ts-expect-error Type 'InFlow<"ergon: a step runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(noop())
    // @ts-expect-error Type 'InFlow<"ergon: a step runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runFork(Effect.provideService(charge(1), Gateway, { charge: (cents) => Effect.succeed(String(cents)) }))
  })
})

describe("the current step's operations", () => {
  it("run only inside a step's run", () => {
    // @ts-expect-error Type 'InStep<"ergon: Step.idempotencyKey is available only inside a step's run; call it from the run of a Step.make">' is not assignable to type 'never'.
    Effect.runPromise(Step.idempotencyKey)
    // @ts-expect-error Type 'InStep<"ergon: Step.attempt is available only inside a step's run; call it from the run of a Step.make">' is not assignable to type 'never'.
    Effect.runPromise(Step.attempt)
  })
})
