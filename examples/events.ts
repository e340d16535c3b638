/**
 * Named events: two flows that do not know each other's ids coordinate through an event name.
 *
 * - A `kitchen` flow waits for `order-7/paid` (`Flow.awaitEvent`): it is suspended, costing no
 *   memory, until the event is emitted.
 * - A `payment` flow charges the card and emits `order-7/paid` (`Flow.emitEvent`, recorded, so a
 *   replay does not emit again). Every flow waiting for the name is woken.
 * - A `receipt` flow started after the emit awaits the same name and gets the same payload at
 *   once: the event is stored, and the first emit of a name wins.
 *
 * The store is `ExecutionLog.layerMemory`, and one worker runs every flow in this process.
 *
 *   npx tsx examples/events.ts
 */
import { Effect, Fiber, Schema } from "effect"
import { Client, ExecutionLog, Flow, Scheduler, Step, Worker } from "ergon"

const Paid = Schema.Struct({ orderId: Schema.String, cents: Schema.Int })

const cook = Step.make("cook", {
  success: Schema.String,
  run: (orderId: string) => Effect.sync(() => (console.log(`  [kitchen] cooking ${orderId}`), `${orderId} cooked`))
})
const charge = Step.make("charge", {
  success: Schema.Int,
  run: (orderId: string) => Effect.sync(() => (console.log(`  [payment] charged ${orderId}`), 2350))
})

const Kitchen = Flow.make("kitchen", {
  input: Schema.String,
  success: Schema.String,
  run: (orderId) =>
    Effect.gen(function*() {
      const paid = yield* Effect.orDie(Flow.awaitEvent(`${orderId}/paid`, Paid))
      return `${yield* cook(paid.orderId)} after a payment of ${paid.cents} cents`
    })
})

const Payment = Flow.make("payment", {
  input: Schema.String,
  success: Schema.Boolean,
  run: (orderId) =>
    Effect.gen(function*() {
      const cents = yield* charge(orderId)
      return yield* Flow.emitEvent(`${orderId}/paid`, { orderId, cents }, Paid)
    })
})

const Receipt = Flow.make("receipt", {
  input: Schema.String,
  success: Schema.String,
  run: (orderId) =>
    Effect.map(Effect.orDie(Flow.awaitEvent(`${orderId}/paid`, Paid)), (paid) => `receipt: ${paid.cents} cents for ${paid.orderId}`)
})

const program = Effect.gen(function*() {
  const worker = Worker.make("restaurant").unversioned().register(Kitchen, Payment, Receipt)
    .withSuspendAfter("0 millis").withPollInterval("50 millis")
  const running = yield* Effect.fork(worker.run())
  const scheduler = Scheduler.make().unversioned()

  const kitchen = yield* scheduler.schedule(Kitchen, "order-7", { id: "kitchen-order-7" })
  while ((yield* kitchen.status) !== "suspended") yield* Effect.sleep("10 millis")
  console.log(`kitchen-order-7: ${yield* kitchen.status}, waiting for 'order-7/paid'`)

  const payment = yield* scheduler.schedule(Payment, "order-7", { id: "payment-order-7" })
  console.log(`payment-order-7: emitted first: ${yield* payment.await}`)
  console.log(`kitchen-order-7: ${yield* kitchen.await}`)

  const receipt = yield* scheduler.schedule(Receipt, "order-7", { id: "receipt-order-7" })
  console.log(`receipt-order-7: ${yield* receipt.await}`)
  console.log(`emitting 'order-7/paid' again stores nothing: ${yield* Client.emitEvent("order-7/paid", { orderId: "order-7", cents: 1 }, Paid)}`)
  yield* Fiber.interrupt(running)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory))).catch((error) => {
  console.error(error)
  process.exit(1)
})
