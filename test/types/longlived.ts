/**
 * Type tests for the long-lived flow operations (events, continue-as-new, compensation, retry,
 * purge, onConflict), checked by `tsc --noEmit`; nothing here runs. Each misuse is one line under
 * `// @ts-expect-error <text>`, checked by `test/types/messages.test.ts`.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { describe, expectTypeOf, it } from "vitest"
import * as Client from "../../src/Client.js"
import * as Flow from "../../src/Flow.js"
import type { EventTimeout, InvalidEventError } from "../../src/FlowError.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Scheduler from "../../src/Scheduler.js"
import * as Step from "../../src/Step.js"

/** What an in-flow operation requires: a running flow, named by the sentence tsc prints outside one. */
type InFlowOf<What extends string> = Flow.InFlow<`ergon: ${What} runs only inside a flow; call it from a flow's run (Flow.make)`>
type AStep = Flow.InFlow<"ergon: a step runs only inside a flow; call it from a flow's run (Flow.make)">

const Paid = Schema.Struct({ orderId: Schema.String, cents: Schema.Number })
const Counter = Flow.make("counter", { input: Schema.Struct({ n: Schema.Number }), success: Schema.Number, run: ({ n }) => Effect.succeed(n) })
const charge = Step.make("charge", { success: Schema.String, timeout: "10 seconds", run: (cents: number) => Effect.succeed(`pay-${cents}`) })
const refund = Step.make("refund", { run: (_payment: string) => Effect.void })

describe("named events", () => {
  it("awaitEvent fails with InvalidEventError, and EventTimeout only with a timeout", () => {
    expectTypeOf(Flow.awaitEvent("paid", Paid)).toEqualTypeOf<
      Effect.Effect<{ readonly orderId: string; readonly cents: number }, InvalidEventError, InFlowOf<"Flow.awaitEvent">>
    >()
    expectTypeOf(Flow.awaitEvent("paid", Paid, { timeout: "1 day" })).toEqualTypeOf<
      Effect.Effect<{ readonly orderId: string; readonly cents: number }, EventTimeout | InvalidEventError, InFlowOf<"Flow.awaitEvent">>
    >()
  })
  it("emitEvent returns whether it stored the event; the payload must match the schema", () => {
    expectTypeOf(Flow.emitEvent("paid", { orderId: "o", cents: 1 }, Paid)).toEqualTypeOf<Effect.Effect<boolean, never, InFlowOf<"Flow.emitEvent">>>()
    // @ts-expect-error Property 'cents' is missing
    Flow.emitEvent("paid", { orderId: "o" }, Paid)
    // @ts-expect-error Property 'cents' is missing
    Client.emitEvent("paid", { orderId: "o" }, Paid)
  })
})

describe("continueAsNew", () => {
  it("takes the flow's input, checked", () => {
    expectTypeOf(Flow.continueAsNew(Counter, { n: 1 })).toEqualTypeOf<Effect.Effect<never, never, InFlowOf<"Flow.continueAsNew">>>()
    // @ts-expect-error Type 'string' is not assignable to type 'number'
    Flow.continueAsNew(Counter, { n: "1" })
  })
})

describe("withCompensation", () => {
  it("is dual, and the compensation receives the value and the cause", () => {
    const piped = charge(10).pipe(Flow.withCompensation((payment, cause) => {
      expectTypeOf(payment).toEqualTypeOf<string>()
      expectTypeOf(cause).toEqualTypeOf<Cause.Cause<unknown>>()
      return refund(payment)
    }))
    expectTypeOf(piped).toEqualTypeOf<Effect.Effect<string, never, AStep | InFlowOf<"Flow.withCompensation">>>()
    const direct = Flow.withCompensation(charge(10), (payment) => refund(payment))
    expectTypeOf(direct).toEqualTypeOf<Effect.Effect<string, never, AStep | InFlowOf<"Flow.withCompensation">>>()
    // @ts-expect-error Type 'string' is not assignable to type 'number'.
    Flow.withCompensation(charge(10), (_payment: number) => Effect.void)
  })
})

describe("options", () => {
  it("a flow-level retry takes a RetryPolicy", () => {
    Flow.make("retried", { input: Schema.Void, retry: RetryPolicy.fixed({ delay: "1 minute" }), run: () => Effect.void })
    // @ts-expect-error Type 'string' is not assignable to type 'RetryPolicy'
    Flow.make("retried", { input: Schema.Void, retry: "3 times", run: () => Effect.void })
  })
  it("onConflict and purge take only their words", () => {
    const scheduler = Scheduler.make().unversioned()
    scheduler.schedule(Counter, { n: 1 }, { onConflict: "useExisting" })
    // @ts-expect-error Type '"replace"' is not assignable to type '"fail" | "useExisting" | undefined'
    scheduler.schedule(Counter, { n: 1 }, { onConflict: "replace" })
    Client.purge({ status: ["completed", "cancelled"], finishedBefore: 0 })
    // @ts-expect-error Type '"running"' is not assignable
    Client.purge({ status: "running", finishedBefore: 0 })
  })
})

describe("the long-lived operations are flow operations", () => {
  it("do not run outside a flow: the sentence names the operation", () => {
    // @ts-expect-error Type 'InFlow<"ergon: Flow.awaitEvent runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(Flow.awaitEvent("paid", Paid))
    // @ts-expect-error Type 'InFlow<"ergon: Flow.emitEvent runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(Flow.emitEvent("paid", { orderId: "o", cents: 1 }, Paid))
    // @ts-expect-error Type 'InFlow<"ergon: Flow.continueAsNew runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
    Effect.runPromise(Flow.continueAsNew(Counter, { n: 2 }))
  })
  it("are refused in a step's run", () => {
    // @ts-expect-error TypeError<"ergon: step 'waits-for-payment' cannot use Flow.awaitEvent in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("waits-for-payment", { success: Schema.Number, run: () => Effect.orDie(Effect.map(Flow.awaitEvent("paid", Paid), (paid) => paid.cents)) })
    // @ts-expect-error TypeError<"ergon: step 'loops' cannot use Flow.continueAsNew in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("loops", { run: () => Flow.continueAsNew(Counter, { n: 2 }) })
    // @ts-expect-error TypeError<"ergon: step 'saga' cannot use Flow.withCompensation in its run; a step is one checkpoint: call it from the flow's run instead">
    Step.make("saga", { run: () => Effect.asVoid(Flow.withCompensation(Effect.succeed(1), () => Effect.void)) })
  })
})
