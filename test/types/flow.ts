/**
 * Type tests for `Flow`, checked by `tsc --noEmit` (`npm run typecheck`); nothing here runs.
 *
 * A flow's types come from its schemas only; its versions are semantic-version literals, and
 * include every version of the pinned children it invokes. Positive cases assert exact types
 * (`toEqualTypeOf`). Each misuse is one line under `// @ts-expect-error <text>`, and
 * `test/types/messages.test.ts` checks that tsc's diagnostic for that line contains `<text>`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { describe, expectTypeOf, it } from "vitest"
import * as Dag from "../../src/Dag.js"
import * as Flow from "../../src/Flow.js"
import { SignalTimeout, type VersionMismatchError } from "../../src/FlowError.js"
import * as Step from "../../src/Step.js"

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }) {}
class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { reason: Schema.String }) {}
class Inventory extends Context.Tag("test/Inventory")<Inventory, { readonly reserve: (sku: string) => Effect.Effect<boolean> }>() {}

const Order = Schema.Struct({ id: Schema.String, sku: Schema.String })
type Order = typeof Order.Type
class Receipt extends Schema.Class<Receipt>("Receipt")({ orderId: Schema.String, at: Schema.Date }) {}

declare const someString: string

const reserve = Step.make("reserve", {
  input: Order,
  error: OutOfStock,
  run: (order) =>
    Effect.flatMap(Inventory, (inventory) => inventory.reserve(order.sku)).pipe(
      Effect.filterOrFail((ok) => ok, () => new OutOfStock({ sku: order.sku })),
      Effect.asVoid
    )
})

const OrderFlow = Flow.make("order", {
  input: Order,
  success: Receipt,
  error: OutOfStock,
  run: (order) =>
    Effect.gen(function*() {
      yield* reserve(order)
      yield* Flow.sleep("1 hour")
      return new Receipt({ orderId: order.id, at: new Date(yield* Flow.now) })
    })
})

/** Pinned children, and what invoking them requires. */
const Child13 = Flow.make("child-13", { input: Schema.Number, success: Schema.Number, versions: ["1.3.0"], run: Effect.succeed })
const Child1314 = Flow.make("child-13-14", { input: Schema.Number, versions: ["1.3.0", "1.4.0"], run: () => Effect.void })
const Unpinned = Flow.make("unpinned", { input: Schema.Number, error: CardDeclined, run: () => Effect.void })
type InvokesChild13 = Flow.InvokesPinned<
  "ergon: Flow.invoke runs only inside a flow; call it from a flow's run (Flow.make)",
  "child-13",
  "1.3.0"
>
/** What invoking a child that is not pinned requires. */
type InvokesAny = Flow.InFlow<"ergon: Flow.invoke runs only inside a flow; call it from a flow's run (Flow.make)">

describe("Flow.make", () => {
  it("takes the flow's types from its schemas", () => {
    expectTypeOf(OrderFlow).toEqualTypeOf<
      Flow.Flow<"order", {
        readonly input: { readonly id: string; readonly sku: string }
        readonly success: Receipt
        readonly error: OutOfStock
        readonly context: Inventory
        readonly versions: string
      }>
    >()
  })

  it("without success returns void, and without error fails with nothing", () => {
    const Plain = Flow.make("plain", { input: Schema.Void, run: () => Effect.void })
    expectTypeOf<Flow.Success<typeof Plain>>().toEqualTypeOf<void>()
    expectTypeOf<Flow.Error<typeof Plain>>().toEqualTypeOf<never>()
  })

  it("carries its versions as a union of literals", () => {
    const Pinned = Flow.make("pinned", { input: Schema.Void, versions: ["1.3.0", "2.0.0-rc.1"], run: () => Effect.void })
    expectTypeOf<Flow.Versions<typeof Pinned>>().toEqualTypeOf<"1.3.0" | "2.0.0-rc.1">()
  })

  it("extractors are exported one level up and equal the namespace's", () => {
    expectTypeOf<Flow.Name<typeof OrderFlow>>().toEqualTypeOf<"order">()
    expectTypeOf<Flow.Input<typeof OrderFlow>>().toEqualTypeOf<Order>()
    expectTypeOf<Flow.Success<typeof OrderFlow>>().toEqualTypeOf<Receipt>()
    expectTypeOf<Flow.Error<typeof OrderFlow>>().toEqualTypeOf<OutOfStock>()
    expectTypeOf<Flow.Context<typeof OrderFlow>>().toEqualTypeOf<Inventory>()
    expectTypeOf<Flow.Versions<typeof OrderFlow>>().toEqualTypeOf<string>()
    expectTypeOf<Flow.Flow.Name<typeof OrderFlow>>().toEqualTypeOf<Flow.Name<typeof OrderFlow>>()
    expectTypeOf<Flow.Flow.Input<typeof OrderFlow>>().toEqualTypeOf<Flow.Input<typeof OrderFlow>>()
    expectTypeOf<Flow.Flow.Success<typeof OrderFlow>>().toEqualTypeOf<Flow.Success<typeof OrderFlow>>()
    expectTypeOf<Flow.Flow.Error<typeof OrderFlow>>().toEqualTypeOf<Flow.Error<typeof OrderFlow>>()
    expectTypeOf<Flow.Flow.Context<typeof OrderFlow>>().toEqualTypeOf<Flow.Context<typeof OrderFlow>>()
    expectTypeOf<Flow.Flow.Versions<typeof OrderFlow>>().toEqualTypeOf<Flow.Versions<typeof OrderFlow>>()
    expectTypeOf<Flow.FlowExit<typeof OrderFlow>>().toEqualTypeOf<Exit.Exit<Receipt, OutOfStock>>()
  })
})

describe("a run that does not match the schemas", () => {
  it("returns a value without a success schema (it would be stored through Schema.Void)", () => {
    // @ts-expect-error Type 'Date' is not assignable to type 'void | TypeError<"ergon: no success schema (or Schema.Void), so the result is not stored and must be void; declare success: <its schema> to return a value">'.
    Flow.make("dated", { input: Schema.Void, run: () => Effect.succeed(new Date()) })
    // @ts-expect-error Type 'string' is not assignable to type 'void | TypeError<"ergon: no success schema (or Schema.Void), so the result is not stored and must be void; declare success: <its schema> to return a value">'.
    Flow.make("child-result", { input: Schema.Void, run: () => Flow.invoke(OrderFlow, { id: "o", sku: "s" }).pipe(Effect.map((receipt) => receipt.orderId), Effect.orDie) })
  })

  it("fails with a typed error without an error schema (the handler would never see it)", () => {
    // @ts-expect-error Property '[TypeErrorTypeId]' is missing in type 'OutOfStock' but required in type 'TypeError<"ergon: no error schema (or Schema.Never), so run must not fail with a typed error; declare error: <its schema>, or handle the error in run">'.
    Flow.make("reserves", { input: Order, run: (order) => reserve(order) })
    // @ts-expect-error Property '[TypeErrorTypeId]' is missing in type 'CardDeclined' but required in type 'TypeError<"ergon: no error schema (or Schema.Never), so run must not fail with a typed error; declare error: <its schema>, or handle the error in run">'.
    Flow.make("invokes", { input: Schema.Void, run: () => Flow.invoke(Unpinned, 1) })
  })

  it("returns or fails with other types than the schemas declare (tsc's own message names both)", () => {
    // @ts-expect-error Type 'string' is not assignable to type 'number'.
    Flow.make("number", { input: Schema.Void, success: Schema.Number, run: () => Effect.succeed("1") })
    // @ts-expect-error Property 'reason' is missing in type 'OutOfStock' but required in type 'CardDeclined'.
    Flow.make("declared", { input: Order, error: CardDeclined, run: (order) => reserve(order) })
  })

  it("is accepted once the error is handled or declared", () => {
    const Handled = Flow.make("handled", { input: Order, run: (order) => Effect.catchTag(reserve(order), "OutOfStock", () => Effect.void) })
    expectTypeOf<Flow.Error<typeof Handled>>().toEqualTypeOf<never>()
    expectTypeOf<Flow.Context<typeof Handled>>().toEqualTypeOf<Inventory>()
  })
})

describe("versions", () => {
  it("must each be a semantic-version literal", () => {
    // @ts-expect-error Type '"1.4"' is not assignable to type 'TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)"> | "1.3.0"'.
    Flow.make("typo", { input: Schema.Void, versions: ["1.3.0", "1.4"], run: () => Effect.void })
    // @ts-expect-error Type 'string' is not assignable to type 'TypeError<"ergon: a flow's versions must be version literals such as '1.4.0', not a string known only at run time; list the versions the flow was reviewed for">'.
    Flow.make("reviewed", { input: Schema.Void, versions: [someString], run: () => Effect.void })
    // @ts-expect-error Source has 0 element(s) but target requires 1.
    Flow.make("empty", { input: Schema.Void, versions: [], run: () => Effect.void })
  })
})

describe("what a flow's run may use", () => {
  it("not the current step's operations, which only a step's run provides", () => {
    // @ts-expect-error TypeError<"ergon: flow 'keyed' cannot use Step.idempotencyKey in its run: it is available only inside a step's run; move that code into a step">
    Flow.make("keyed", { input: Schema.Void, success: Schema.String, run: () => Step.idempotencyKey })
    // @ts-expect-error TypeError<"ergon: flow 'attempts' cannot use Step.attempt in its run: it is available only inside a step's run; move that code into a step">
    Flow.make("attempts", { input: Schema.Void, success: Schema.Number, run: () => Step.attempt })
    // @ts-expect-error TypeError<"ergon: flow 'current' cannot use Step.Current in its run: it is available only inside a step's run; move that code into a step">
    Flow.make("current", { input: Schema.Void, success: Schema.String, run: () => Effect.map(Step.Current, (step) => step.key) })
  })

  it("every in-flow operation, which the flow provides", () => {
    const Waits = Flow.make("waits", {
      input: Schema.Void,
      success: Schema.String,
      error: SignalTimeout,
      run: () =>
        Effect.gen(function*() {
          yield* Flow.sleep("1 hour")
          yield* Flow.sleepUntil(0)
          const id = yield* Flow.id
          yield* Flow.random
          yield* Flow.uuid
          yield* Flow.scope("eu", Flow.now)
          const signal = yield* Flow.awaitSignal("go", Schema.String, { timeout: "1 day" })
          return `${id}${signal}`
        })
    })
    expectTypeOf<Flow.Context<typeof Waits>>().toEqualTypeOf<never>()
  })
})

describe("Flow.invoke", () => {
  it("returns the child's types, from its schemas", () => {
    expectTypeOf(Flow.invoke(Unpinned, 1)).toEqualTypeOf<
      Effect.Effect<void, CardDeclined, InvokesAny>
    >()
    expectTypeOf(Flow.invoke(OrderFlow, { id: "o", sku: "s" })).toEqualTypeOf<
      Effect.Effect<Receipt, OutOfStock, Inventory | InvokesAny>
    >()
  })

  it("of a pinned child may fail with VersionMismatchError, and carries the child's pins", () => {
    expectTypeOf(Flow.invoke(Child13, 1)).toEqualTypeOf<Effect.Effect<number, VersionMismatchError, InvokesChild13>>()
  })

  it("from a pinned parent compiles when each of the parent's versions is one of the child's", () => {
    const Parent = Flow.make("parent-13", {
      input: Schema.Void,
      success: Schema.Number,
      versions: ["1.3.0"],
      run: () => Effect.zipRight(Flow.invoke(Child1314, 1), Flow.invoke(Child13, 2)).pipe(Effect.orDie)
    })
    expectTypeOf<Flow.Context<typeof Parent>>().toEqualTypeOf<never>()
    expectTypeOf<Flow.Versions<typeof Parent>>().toEqualTypeOf<"1.3.0">()
  })

  it("from a pinned parent is refused when a version of the parent is not one of the child's", () => {
    // @ts-expect-error TypeError<"ergon: flow 'parent' may run on '1.4.0', but invokes flow 'child-13', which is not pinned to '1.4.0'; add '1.4.0' to the versions of 'child-13' once it has been reviewed for it">
    Flow.make("parent", { input: Schema.Void, versions: ["1.3.0", "1.4.0"], run: () => Effect.orDie(Effect.asVoid(Flow.invoke(Child13, 1))) })
    // @ts-expect-error TypeError<"ergon: flow 'parent-14' may run on '1.4.0', but invokes flow 'child-13', which is not pinned to '1.4.0'; add '1.4.0' to the versions of 'child-13' once it has been reviewed for it">
    Flow.make("parent-14", { input: Schema.Void, versions: ["1.4.0"], run: () => Effect.orDie(Effect.asVoid(Dag.run(Dag.make("d").step("c", Flow.invoke(Child13, 1))))) })
  })

  it("from a parent that is not pinned: the mismatch is a typed error to handle or declare", () => {
    // @ts-expect-error Property '[TypeErrorTypeId]' is missing in type 'VersionMismatchError' but required in type 'TypeError<"ergon: no error schema (or Schema.Never), so run must not fail with a typed error; declare error: <its schema>, or handle the error in run">'.
    Flow.make("any-version", { input: Schema.Void, run: () => Effect.asVoid(Flow.invoke(Child13, 1)) })
    const Handled = Flow.make("handles", {
      input: Schema.Void,
      success: Schema.Number,
      run: () => Effect.catchTag(Flow.invoke(Child13, 1), "VersionMismatchError", () => Effect.succeed(0))
    })
    expectTypeOf<Flow.Context<typeof Handled>>().toEqualTypeOf<never>()
  })
})

describe("in-flow operations outside a flow", () => {
  it("do not run: the sentence names the operation", () => {
    // @ts-expect-error Type 'InFlow<"ergon: Flow.sleep runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(Flow.sleep("1 second"))
    // @ts-expect-error Type 'InFlow<"ergon: Flow.awaitSignal runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(Flow.awaitSignal("go", Schema.String))
    // @ts-expect-error Type 'InFlow<"ergon: Flow.invoke runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(Effect.either(Flow.invoke(Unpinned, 1)))
    // @ts-expect-error Type 'InFlow<"ergon: Flow.now runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runSync(Flow.now)
  })
})
