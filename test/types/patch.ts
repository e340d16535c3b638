/**
 * Type tests for patches (`Flow.make({ patches })`, `Flow.patched`, `Flow.deprecatePatch`), checked
 * by `tsc --noEmit`; nothing here runs. A patch id the flow does not declare is a compile error
 * naming it, on the flow's name; `test/types/messages.test.ts` checks the text of each error.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { describe, expectTypeOf, it } from "vitest"
import * as Dag from "../../src/Dag.js"
import * as Flow from "../../src/Flow.js"
import * as Step from "../../src/Step.js"

const Order = Schema.Struct({ id: Schema.String })

const checkFraud = Step.make("check-fraud", { input: Order, success: Schema.Boolean, run: () => Effect.succeed(true) })

describe("Flow.patched", () => {
  it("returns a boolean and requires a flow that declares the patch", () => {
    const decision = Flow.patched("skip-fraud-check")
    expectTypeOf(decision).toEqualTypeOf<
      Effect.Effect<boolean, never, Flow.UsesPatch<Flow.InFlowMessage<"Flow.patched">, "skip-fraud-check">>
    >()
  })

  it("accepts a declared patch", () => {
    const OrderFlow = Flow.make("order", {
      input: Order,
      success: Schema.Boolean,
      patches: ["skip-fraud-check", "new-receipt"],
      run: (order) =>
        Effect.gen(function*() {
          if (yield* Flow.patched("skip-fraud-check")) return true
          yield* Flow.deprecatePatch("new-receipt")
          return yield* checkFraud(order)
        })
    })
    expectTypeOf<Flow.Context<typeof OrderFlow>>().toEqualTypeOf<never>()
    expectTypeOf<Flow.Success<typeof OrderFlow>>().toEqualTypeOf<boolean>()
  })

  it("refuses a patch the flow does not declare", () => {
    // @ts-expect-error ergon: flow 'order' uses patch 'skip-fraud-chek', which it does not declare; add 'skip-fraud-chek' to its patches
    Flow.make("order", {
      input: Order,
      patches: ["skip-fraud-check"],
      run: () => Effect.asVoid(Flow.patched("skip-fraud-chek"))
    })
  })

  it("refuses a patch in a flow that declares none", () => {
    // @ts-expect-error ergon: flow 'plain' uses patch 'skip-fraud-check', which it does not declare; add 'skip-fraud-check' to its patches
    Flow.make("plain", {
      input: Order,
      run: () => Effect.asVoid(Flow.patched("skip-fraud-check"))
    })
  })

  it("refuses an undeclared patch deprecated", () => {
    // @ts-expect-error ergon: flow 'order' uses patch 'gone', which it does not declare; add 'gone' to its patches
    Flow.make("order", {
      input: Order,
      patches: ["skip-fraud-check"],
      run: () => Flow.deprecatePatch("gone")
    })
  })

  it("sees a patch used inside a DAG node", () => {
    const dag = Dag.make("checks").step("fraud", Effect.asVoid(Flow.patched("dag-patch")))
    Flow.make("with-dag", { input: Order, patches: ["dag-patch"], run: () => Effect.asVoid(Dag.run(dag)) })
    // @ts-expect-error ergon: flow 'with-dag' uses patch 'dag-patch', which it does not declare
    Flow.make("with-dag", { input: Order, patches: ["other"], run: () => Effect.asVoid(Dag.run(dag)) })
  })

  it("needs a running flow", () => {
    // @ts-expect-error ergon: Flow.patched runs only inside a flow
    Effect.runPromise(Flow.patched("skip-fraud-check"))
  })
})
