/**
 * The example of README.md ("In twenty lines"), as the README shows it (a test checks that they are
 * the same, and runs it twice in a fresh folder). The first run charges the card and suspends on
 * the two-hour timer; a run after that replays the charge from the journal and waits for the same
 * timer; once two hours have passed, a run ships and completes.
 *
 *   npx tsx examples/readme.ts
 */
import { Effect, Schema } from "effect"
import { Executor, Flow, Retryable, RetryPolicy, Step } from "ergon"
import * as Sqlite from "ergon/sqlite"

class GatewayTimeout extends Retryable.TaggedError<GatewayTimeout>()("GatewayTimeout", {}) {}
const Order = Schema.Struct({ id: Schema.String, cents: Schema.Int })

const charge = Step.make("charge-card", {
  input: Order, success: Schema.String, error: GatewayTimeout,
  retry: RetryPolicy.exponential({ maxAttempts: 5, initialDelay: "100 millis", maxDelay: "1 minute" }),
  run: (order) => Effect.succeed(`pay_${order.id}`) // call your payment gateway here
})
const ship = Step.make("ship", { success: Schema.String, run: (paymentId: string) => Effect.succeed(`track_${paymentId}`) })

const OrderFlow = Flow.make("order", {
  input: Order, success: Schema.String, error: GatewayTimeout,
  run: (order) => Effect.gen(function* () {
    const paymentId = yield* charge(order)   // checkpointed: never charged twice on resume
    yield* Flow.sleep("2 hours")            // durable: the process may stop meanwhile
    return yield* ship(paymentId)
  })
})

const outcome = Executor.execute(OrderFlow, { id: "o-1", cents: 4999 }, { id: "order-o-1" })
  .pipe(Effect.provide(Sqlite.layer({ filename: "ergon.db" })))

Effect.runPromise(outcome).then(console.log) // { _tag: "Suspended", reason: { _tag: "Timer", until: … } }
