/**
 * The program of docs/workers.md, as the page shows it (a test checks that they are the same): a
 * flow, the scheduling side, and a worker process run with `NodeRuntime.runMain`. SIGINT and
 * SIGTERM stop the worker (it releases its flows first) and the process exits with 0; a failure,
 * such as a store that cannot be opened (here: no `./data` folder), is printed and the process
 * exits with 1.
 *
 *   mkdir -p data && npx tsx examples/worker.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Context, Effect, Layer, Schema } from "effect"
import { Flow, Scheduler, Step, Worker } from "ergon"
import * as Sqlite from "ergon/sqlite"

class PaymentGateway extends Context.Tag("PaymentGateway")<PaymentGateway, {
  readonly charge: (cents: number) => Effect.Effect<string>
}>() {}
const PaymentGatewayLive = Layer.succeed(PaymentGateway, { charge: (cents) => Effect.succeed(`pay_${cents}`) })

const Order = Schema.Struct({ id: Schema.String, cents: Schema.Int })
const charge = Step.make("charge", {
  input: Order,
  success: Schema.String,
  run: (order) => Effect.flatMap(PaymentGateway, (gateway) => gateway.charge(order.cents))
})
const OrderFlow = Flow.make("order", { input: Order, success: Schema.String, run: (order) => charge(order) })

const StoreLive = Sqlite.layer({ filename: "./data/ergon.db" })

// In the web process: enqueue, get a handle.
export const start = (order: typeof Order.Type) =>
  Effect.gen(function*() {
    const handle = yield* Scheduler.make().withVersion("1.4.0").schedule(OrderFlow, order, { id: `order-${order.id}` })
    return handle.id
  })

// In the worker processes (as many as you like, on the same store):
const worker = Worker.make("orders")
  .withVersion("1.4.0")
  .register(OrderFlow) // OrderFlow's step needs PaymentGateway: run() requires it
  .withTimers()
  .withSignals()

// SIGINT and SIGTERM interrupt the worker, which releases its flows; a failure (the store cannot be
// opened, say) is printed and the process exits with 1.
NodeRuntime.runMain(worker.run().pipe(Effect.provide(Layer.mergeAll(StoreLive, PaymentGatewayLive))))
