/**
 * Child flows: an order starts one child flow per item to reserve it in the warehouse.
 *
 * - `Flow.invoke(ReserveItem, item, { key: item.sku })` starts the child under a deterministic id
 *   (`<parent id>/$invoke/<key>`), so a replay of the parent finds the same child instead of
 *   starting another one. Without `key`, the id uses the child's name and a counter.
 * - A child that fails with a typed error (`OutOfStock`) fails the parent's `invoke` with that
 *   same typed error: the parent handles it (the item is back-ordered).
 * - Under a worker, each child is a flow of its own, claimed by a worker that has it registered,
 *   while the parent is suspended until the child ends. Under `Executor.execute`, children run at
 *   once in the same process.
 * - Cancelling a parent cancels its children that have not ended, recursively.
 *
 * The store is `ExecutionLog.layerMemory`, and one worker runs in this process.
 *
 *   npx tsx examples/child-flows.ts
 */
import { Effect, Fiber, Schema } from "effect"
import { Client, ExecutionLog, Executor, Flow, Scheduler, Step, Worker } from "ergon"

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String, available: Schema.Int }) {}

const Item = Schema.Struct({ sku: Schema.String, quantity: Schema.Int })
const Order = Schema.Struct({ id: Schema.String, items: Schema.Array(Item) })

/** A pretend warehouse: how many of each sku are in stock. */
const stock: Record<string, number> = { "apple": 10, "pear": 1, "plum": 5 }

const reserve = Step.make("reserve", {
  input: Item,
  success: Schema.String,
  error: OutOfStock,
  run: (item) =>
    Effect.suspend(() => {
      const available = stock[item.sku] ?? 0
      if (available < item.quantity) return Effect.fail(new OutOfStock({ sku: item.sku, available }))
      stock[item.sku] = available - item.quantity
      return Effect.succeed(`res-${item.sku}-${item.quantity}`)
    })
})

/** The child: reserves one item, or fails with the typed `OutOfStock`. */
const ReserveItem = Flow.make("reserve-item", {
  input: Item,
  success: Schema.String,
  error: OutOfStock,
  run: (item) => reserve(item)
})

/** The parent: one child per item, in order; an item out of stock is back-ordered. */
const OrderFlow = Flow.make("order", {
  input: Order,
  success: Schema.Array(Schema.String),
  run: (order) =>
    Effect.forEach(order.items, (item) =>
      Flow.invoke(ReserveItem, item, { key: item.sku }).pipe(
        Effect.map((reservation) => `${item.sku}: reserved (${reservation})`),
        Effect.catchTag("OutOfStock", (e) => Effect.succeed(`${item.sku}: back-ordered (only ${e.available} in stock)`))
      ))
})

/** A child that waits for a confirmation that never comes, to show cancellation. */
const AwaitTruck = Flow.make("await-truck", {
  input: Schema.String,
  run: (depot) => Effect.asVoid(Flow.awaitSignal(`truck-at-${depot}`, Schema.String))
})

const Shipment = Flow.make("shipment", {
  input: Schema.Array(Schema.String),
  run: (depots) => Effect.forEach(depots, (depot) => Flow.invoke(AwaitTruck, depot, { key: depot }), { discard: true })
})

const worker = Worker.make("warehouse")
  .unversioned()
  .register(OrderFlow, ReserveItem, Shipment, AwaitTruck)
  .withPollInterval("50 millis")

const scheduler = Scheduler.make().unversioned()

const listChildren = (parentId: string) =>
  Effect.map(Client.list({ parentId, payloads: true }), (children) =>
    children.map((child) => {
      // a completed flow's result is its encoded Exit: a success, or its typed failure
      const exit = child.result as { readonly _tag: string } | undefined
      return `    ${child.id.padEnd(28)} ${child.type.padEnd(13)} ${child.status}${exit === undefined ? "" : ` (${exit._tag})`}`
    }).join("\n"))

const program = Effect.gen(function*() {
  const running = yield* Effect.fork(worker.run())

  // 1. Under a worker: children are flows of their own; the parent waits, suspended.
  const order = { id: "o-1", items: [{ sku: "apple", quantity: 3 }, { sku: "pear", quantity: 2 }, { sku: "plum", quantity: 1 }] }
  const handle = yield* scheduler.schedule(OrderFlow, order, { id: "order-o-1" })
  console.log("order-o-1 (under a worker):")
  for (const line of yield* handle.await) console.log(`  ${line}`)
  console.log("  its children:")
  console.log(yield* listChildren("order-o-1"))

  // 2. Under Executor.execute: the children run at once, in this process.
  const outcome = yield* Executor.execute(OrderFlow, { id: "o-2", items: [{ sku: "apple", quantity: 1 }] }, { id: "order-o-2" })
  console.log(`order-o-2 (Executor.execute): ${outcome._tag}: ${JSON.stringify(outcome._tag === "Completed" ? outcome.exit : null)}`)
  console.log(yield* listChildren("order-o-2"))

  // 3. Cascade: cancelling the shipment cancels the children waiting for their trucks.
  const shipment = yield* scheduler.schedule(Shipment, ["north", "south"], { id: "shipment-1" })
  while ((yield* Client.list({ parentId: "shipment-1", status: "suspended" })).length === 0) yield* Effect.sleep("20 millis")
  console.log(`shipment-1: ${yield* shipment.status}; its children:`)
  console.log(yield* listChildren("shipment-1"))
  yield* shipment.cancel
  console.log(`shipment-1 cancelled: ${yield* shipment.status}; its children:`)
  console.log(yield* listChildren("shipment-1"))
  const awaited = yield* Effect.flip(shipment.await)
  console.log(`awaiting shipment-1: ${awaited._tag}`)

  yield* Fiber.interrupt(running)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
