/**
 * Versioning: a rolling deploy from 1.3.0 to 1.4.0 on one store, then draining the old version.
 *
 * The `checkout` flow changed between the two releases, so each release pins its own code:
 * `CheckoutV13` to ["1.3.0"] and its successor `CheckoutV14` to ["1.4.0"] (the same flow type,
 * "checkout": a flow is routed by the version it was scheduled under, not by its name). The
 * `send-receipt` flow did not change and is not pinned.
 *
 * 1. Release 1.3.0 is running: a 1.3.0 worker, and a 1.3.0 scheduler that has started a few
 *    (slow) checkouts, and a few receipts without a version.
 * 2. Release 1.4.0 is deployed next to it: a 1.4.0 scheduler, then a 1.4.0 worker. New checkouts
 *    are stamped 1.4.0; they wait until the 1.4.0 worker is up (the 1.3.0 worker leaves them
 *    alone) and run the new code there, while the 1.3.0 checkouts keep running the old code on
 *    the old worker. Unversioned flows are taken by whichever worker gets to them first.
 * 3. Drain: nothing schedules 1.3.0 flows any more; `Client.list({ version: "1.3.0", status })`
 *    shows the old flows that have not ended until there are none, then the 1.3.0 worker stops.
 *
 * Each worker is given its own `RunningOn` service, which a step records: that is how the
 * program shows which worker ran which flow. The store is `ExecutionLog.layerMemory` and time is
 * real (short waits), so the program takes about two seconds.
 *
 *   npx tsx examples/versioning.ts
 */
import { Context, Effect, Fiber, Option, Schema } from "effect"
import { Client, ExecutionLog, Flow, Scheduler, Step, Worker } from "ergon"

/** The worker a flow runs on, as each worker's program provides it. */
class RunningOn extends Context.Tag("example/RunningOn")<RunningOn, string>() {}

const Order = Schema.Struct({ orderId: Schema.String, amount: Schema.Number, workMillis: Schema.Number })
const Charge = Schema.Struct({ charged: Schema.Number, rules: Schema.String, worker: Schema.String })

/** Records which worker runs the flow (checkpointed, so a replay reports the same worker). */
const recordWorker = Step.make("record-worker", { success: Schema.String, run: () => RunningOn })

/** A pretend payment call that takes `workMillis` of real time. */
const charge = (rules: string, discount: number) =>
  Step.make(`charge-${rules}`, {
    input: Order,
    success: Schema.Number,
    run: (order) => Effect.as(Effect.sleep(order.workMillis), Math.round(order.amount * (1 - discount) * 100) / 100)
  })

const chargeV13 = charge("1.3.0", 0)
const chargeV14 = charge("1.4.0", 0.1) // 1.4.0 takes 10% off: a change a 1.3.0 journal must not replay into

/** The checkout of release 1.3.0. */
const CheckoutV13 = Flow.make("checkout", {
  input: Order,
  success: Charge,
  versions: ["1.3.0"],
  run: (order) =>
    Effect.gen(function*() {
      const worker = yield* recordWorker()
      const charged = yield* chargeV13(order)
      return { charged, rules: "1.3.0 rules", worker }
    })
})

/** The checkout of release 1.4.0: same flow type, new steps. */
const CheckoutV14 = Flow.make("checkout", {
  input: Order,
  success: Charge,
  versions: ["1.4.0"],
  run: (order) =>
    Effect.gen(function*() {
      const worker = yield* recordWorker()
      const charged = yield* chargeV14(order)
      return { charged, rules: "1.4.0 rules (10% off)", worker }
    })
})

/** Not pinned: any release may run it. */
const SendReceipt = Flow.make("send-receipt", {
  input: Schema.String,
  success: Schema.String,
  run: (orderId) =>
    Effect.gen(function*() {
      const worker = yield* recordWorker()
      yield* Effect.sleep("20 millis")
      return worker
    })
})

// What each release runs. The types check the pins: registering CheckoutV13 on the 1.4.0 worker, or
// scheduling it with the 1.4.0 scheduler, does not compile:
//   ergon: flow 'checkout' is not pinned to version '1.4.0'; add '1.4.0' to its versions once it has been reviewed for it
const worker13 = Worker.make("worker-1.3.0").withVersion("1.3.0").register(CheckoutV13, SendReceipt)
const worker14 = Worker.make("worker-1.4.0").withVersion("1.4.0").register(CheckoutV14, SendReceipt)
const scheduler13 = Scheduler.make().withVersion("1.3.0")
const scheduler14 = Scheduler.make().withVersion("1.4.0")
const unversioned = Scheduler.make().unversioned()

/**
 * Starts a worker in the background, providing the services its flows need (here: `RunningOn`).
 * A worker whose flows needed another service would not compile here: `run()` requires them all.
 */
const start = <E>(name: string, run: Effect.Effect<never, E, RunningOn | ExecutionLog.ExecutionLog>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.provideService(run, RunningOn, name))
    console.log(`[deploy] ${name} started`)
    return fiber
  })

/** The flows not ended yet among those stamped `version`. */
const inFlight = (version: string) =>
  Client.list({ version, status: ["pending", "running", "suspended"] })

interface Scheduled {
  readonly id: string
  readonly await: Effect.Effect<string, unknown, ExecutionLog.ExecutionLog>
}

const program = Effect.gen(function*() {
  const scheduled: Array<Scheduled> = []
  const checkout = (handle: Scheduler.FlowHandle<typeof Charge.Type, never>): Scheduled => ({
    id: handle.id,
    await: Effect.map(handle.await, (c) => `${c.worker}  charged ${c.charged.toFixed(2)} under ${c.rules}`)
  })
  const receipt = (handle: Scheduler.FlowHandle<string, never>): Scheduled => ({
    id: handle.id,
    await: Effect.map(handle.await, (worker) => `${worker}  receipt sent`)
  })

  // 1. Release 1.3.0.
  const old = yield* start("worker-1.3.0", worker13.run())
  for (const [n, workMillis] of [[1, 400], [2, 800], [3, 1200]] as const) {
    const order = { orderId: `order-${n}`, amount: 100 * n, workMillis }
    scheduled.push(checkout(yield* scheduler13.schedule(CheckoutV13, order, { id: order.orderId })))
  }
  for (const n of [1, 2]) scheduled.push(receipt(yield* unversioned.schedule(SendReceipt, `order-${n}`, { id: `receipt-${n}` })))
  console.log(`[1.3.0] scheduled order-1..3 (version 1.3.0) and receipt-1..2 (unversioned)`)
  yield* Effect.sleep("100 millis")

  // 2. Release 1.4.0, next to it. Its scheduler is up before its worker: the 1.4.0 checkouts wait,
  //    because the 1.3.0 worker does not take flows of another version.
  for (const n of [4, 5, 6]) {
    const order = { orderId: `order-${n}`, amount: 100 * n, workMillis: 50 }
    scheduled.push(checkout(yield* scheduler14.schedule(CheckoutV14, order, { id: order.orderId })))
  }
  console.log(`[1.4.0] scheduled order-4..6 (version 1.4.0)`)
  yield* Effect.sleep("200 millis")
  const waiting = yield* Client.list({ version: "1.4.0" })
  console.log(`[1.4.0] before worker-1.4.0 starts: ${waiting.map((f) => `${f.id} ${f.status}`).join(", ")}`)
  const neu = yield* start("worker-1.4.0", worker14.run())
  for (const n of [3, 4, 5, 6]) {
    scheduled.push(receipt(yield* unversioned.schedule(SendReceipt, `order-${n}`, { id: `receipt-${n}` })))
  }
  console.log(`[1.4.0] scheduled receipt-3..6 (unversioned)`)

  // 3. Drain 1.3.0: no more 1.3.0 flows are scheduled; wait until the old ones have ended.
  console.log("[drain] 1.3.0 flows not ended yet (Client.list({ version: \"1.3.0\", status: [pending, running, suspended] })):")
  let last = ""
  while (true) {
    const left = yield* inFlight("1.3.0")
    const line = `[drain]   ${left.length}${left.length === 0 ? "" : `: ${left.map((f) => `${f.id} (${f.status})`).join(", ")}`}`
    if (line !== last) console.log(line)
    last = line
    if (left.length === 0) break
    yield* Effect.sleep("50 millis")
  }
  yield* Fiber.interrupt(old)
  console.log("[drain] stopped worker-1.3.0")

  // Only the 1.4.0 worker is left: it takes every unversioned flow from now on.
  scheduled.push(receipt(yield* unversioned.schedule(SendReceipt, "order-7", { id: "receipt-7" })))

  console.log("which worker ran which flow:")
  for (const flow of scheduled) {
    const outcome = yield* flow.await
    const version = Option.match(yield* Client.get(flow.id), {
      onNone: () => "?",
      onSome: (record) => record.version ?? "unversioned"
    })
    console.log(`  ${flow.id.padEnd(10)} ${version.padEnd(12)} ran on ${outcome}`)
  }
  const left = yield* inFlight("1.4.0")
  console.log(`1.4.0 flows not ended: ${left.length}; 1.3.0 flows not ended: ${(yield* inFlight("1.3.0")).length}`)
  yield* Fiber.interrupt(neu)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory))).then(
  () => console.log("done"),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
