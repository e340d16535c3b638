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

const Paid = Schema.Struct({ orderId: Schema.String, cents: Schema.Number })
const Counter = Flow.make("counter", { input: Schema.Struct({ n: Schema.Number }), success: Schema.Number, run: ({ n }) => Effect.succeed(n) })
const charge = Step.make("charge", { success: Schema.String, timeout: "10 seconds", run: (cents: number) => Effect.succeed(`pay-${cents}`) })
const refund = Step.make("refund", { run: (_payment: string) => Effect.void })

describe("named events", () => {
  it("awaitEvent fails with InvalidEventError, and EventTimeout only with a timeout", () => {
    expectTypeOf(Flow.awaitEvent("paid", Paid)).toEqualTypeOf<
      Effect.Effect<{ readonly orderId: string; readonly cents: number }, InvalidEventError, Flow.FlowInstance>
    >()
    expectTypeOf(Flow.awaitEvent("paid", Paid, { timeout: "1 day" })).toEqualTypeOf<
      Effect.Effect<{ readonly orderId: string; readonly cents: number }, EventTimeout | InvalidEventError, Flow.FlowInstance>
    >()
  })
  it("emitEvent returns whether it stored the event; the payload must match the schema", () => {
    expectTypeOf(Flow.emitEvent("paid", { orderId: "o", cents: 1 }, Paid)).toEqualTypeOf<Effect.Effect<boolean, never, Flow.FlowInstance>>()
    // @ts-expect-error Property 'cents' is missing
    Flow.emitEvent("paid", { orderId: "o" }, Paid)
    // @ts-expect-error Property 'cents' is missing
    Client.emitEvent("paid", { orderId: "o" }, Paid)
  })
})

describe("continueAsNew", () => {
  it("takes the flow's input, checked", () => {
    expectTypeOf(Flow.continueAsNew(Counter, { n: 1 })).toEqualTypeOf<Effect.Effect<never, never, Flow.FlowInstance>>()
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
    expectTypeOf(piped).toEqualTypeOf<Effect.Effect<string, never, Flow.FlowInstance>>()
    const direct = Flow.withCompensation(charge(10), (payment) => refund(payment))
    expectTypeOf(direct).toEqualTypeOf<Effect.Effect<string, never, Flow.FlowInstance>>()
    // @ts-expect-error Argument of type 'Effect<string, never, FlowInstance>' is not assignable to parameter of type 'Effect<number, never, FlowInstance>'
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
