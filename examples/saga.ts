/**
 * Compensation: an order saga. Each step that changes the world registers how to undo it with
 * `Flow.withCompensation`; when a later step fails for good, the flow runs the compensations of the
 * steps that completed, newest first, each recorded in the journal (a crash during them resumes
 * with those not done yet), and then ends with its failure.
 *
 * - `order-1` ships: no compensation runs.
 * - `order-2` cannot ship: the stock reservation is released, then the payment refunded.
 * - `order-3` is paid and reserved, then waits for the courier's pickup, and the customer cancels
 *   it meanwhile: the cancellation is asked (the flow registered compensations), the next run
 *   replays the flow to the wait, releases the stock, refunds the payment, and ends it cancelled.
 *
 * The store is `ExecutionLog.layerMemory`; the flows run with `Executor.execute`.
 *
 *   npx tsx examples/saga.ts
 */
import { Cause, Effect, Exit, Schema } from "effect"
import { Client, ExecutionLog, Executor, Flow, Step } from "ergon"

const Order = Schema.Struct({ id: Schema.String, sku: Schema.String, cents: Schema.Int, address: Schema.String })

class CannotShip extends Schema.TaggedError<CannotShip>()("CannotShip", { reason: Schema.String }) {}

const charge = Step.make("charge-card", {
  success: Schema.String,
  run: (orderId: string, cents: number) =>
    Effect.sync(() => (console.log(`  charge-card: ${cents} cents for ${orderId}`), `pay-${orderId}`))
})
const refund = Step.make("refund", {
  run: (paymentId: string) => Effect.sync(() => console.log(`  refund: ${paymentId} (compensation)`))
})
const reserve = Step.make("reserve-stock", {
  success: Schema.String,
  run: (sku: string) => Effect.sync(() => (console.log(`  reserve-stock: ${sku}`), `res-${sku}`))
})
const release = Step.make("release-stock", {
  run: (reservation: string) => Effect.sync(() => console.log(`  release-stock: ${reservation} (compensation)`))
})
const ship = Step.make("ship", {
  error: CannotShip,
  run: (address: string) =>
    address === ""
      ? Effect.fail(new CannotShip({ reason: "no address" }))
      : Effect.sync(() => console.log(`  ship: to ${address}`))
})

const OrderSaga = Flow.make("order-saga", {
  input: Order,
  success: Schema.String,
  error: CannotShip,
  run: (order) =>
    Effect.gen(function*() {
      const payment = yield* charge(order.id, order.cents).pipe(Flow.withCompensation((paymentId) => refund(paymentId)))
      yield* Flow.withCompensation(reserve(order.sku), (reservation) => release(reservation))
      yield* ship(order.address)
      return `${order.id} shipped (${payment})`
    })
})

// Paid and reserved, then the courier's pickup is awaited: a cancellation may come meanwhile.
const PickupSaga = Flow.make("pickup-saga", {
  input: Order,
  success: Schema.String,
  run: (order) =>
    Effect.gen(function*() {
      const payment = yield* charge(order.id, order.cents).pipe(Flow.withCompensation((paymentId) => refund(paymentId)))
      yield* Flow.withCompensation(reserve(order.sku), (reservation) => release(reservation))
      const courier = yield* Flow.awaitSignal("picked-up", Schema.String)
      return `${order.id} picked up by ${courier} (${payment})`
    })
})

const program = Effect.gen(function*() {
  for (const order of [
    { id: "order-1", sku: "book", cents: 1500, address: "1 Main St" },
    { id: "order-2", sku: "lamp", cents: 4200, address: "" }
  ]) {
    console.log(`${order.id}:`)
    const outcome = yield* Executor.execute(OrderSaga, order, { id: order.id })
    if (outcome._tag === "Completed") {
      console.log(
        Exit.match(outcome.exit, {
          onSuccess: (message) => `${order.id}: completed: ${message}`,
          onFailure: (cause) => `${order.id}: failed: ${Cause.failureOption(cause).pipe((e) => e._tag === "Some" ? e.value.reason : "defect")}, compensated`
        })
      )
    }
  }

  const order3 = { id: "order-3", sku: "chair", cents: 8900, address: "2 Side St" }
  console.log(`${order3.id}:`)
  const waiting = yield* Executor.execute(PickupSaga, order3, { id: order3.id })
  console.log(`${order3.id}: ${waiting._tag.toLowerCase()}, waiting for the pickup`)
  yield* Client.cancel(order3.id, { reason: "customer cancelled" })
  const asked = yield* Client.get(order3.id)
  if (asked._tag === "Some") console.log(`${order3.id}: cancellation asked, status ${asked.value.status}`)
  // The next run (a worker would claim it) compensates and ends it.
  yield* Executor.execute(PickupSaga, order3, { id: order3.id })
  const ended = yield* Client.get(order3.id)
  if (ended._tag === "Some") console.log(`${order3.id}: ${ended.value.status} (${ended.value.cancelReason}), compensated`)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory))).catch((error) => {
  console.error(error)
  process.exit(1)
})
