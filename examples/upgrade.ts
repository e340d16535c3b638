/**
 * Upgrading flows in flight: a rolling deploy from 1.3.0 to 1.4.0 that changes the code of flows
 * already running, with a typed patch, and no 1.3.0 worker left to finish the old ones.
 *
 * Release 1.4.0 drops the fraud check of the `order` flow. Changing a flow's steps under running
 * executions would break their replay, so the change is guarded by the patch `skip-fraud-check`:
 *
 *   if (yield* Flow.patched("skip-fraud-check")) { ... new path ... } else { yield* checkFraud(order) }
 *
 * and the 1.4.0 definition lists both versions (`versions: ["1.3.0", "1.4.0"]`): its code can run,
 * and replay, executions stamped 1.3.0, so a 1.4.0 worker takes them over.
 *
 * 1. Release 1.3.0: a 1.3.0 worker starts order-1 and order-2. order-1 is approved, passes its fraud
 *    check, and waits to be shipped; order-2 waits for its approval, before the fraud check. Then
 *    the 1.3.0 worker stops: both are stranded mid-flight (`Client.versions()` says so).
 * 2. Release 1.4.0: a 1.4.0 worker takes them over, and a 1.4.0 scheduler starts order-3.
 *    - order-1 is replayed: it passed the patch point before the patch existed, so `Flow.patched`
 *      answers false and the replay returns its recorded fraud check (not run again);
 *    - order-2 reaches the patch point for the first time, under 1.4.0: true, no fraud check;
 *    - order-3 is new: true, no fraud check.
 *
 * The store is `ExecutionLog.layerMemory` and time is real (short waits).
 *
 *   npx tsx examples/upgrade.ts
 */
import { Effect, Fiber, Option, Schema } from "effect"
import { Client, ExecutionLog, Flow, Scheduler, Step, Worker } from "ergon"

const Order = Schema.Struct({ orderId: Schema.String })
const Approval = Schema.Struct({ by: Schema.String })

let fraudChecks = 0

const validate = Step.make("validate", { input: Order, success: Schema.Boolean, run: () => Effect.succeed(true) })
const checkFraud = Step.make("check-fraud", {
  input: Order,
  success: Schema.String,
  run: (order) => Effect.sync(() => (fraudChecks++, `fraud checked for ${order.orderId}`))
})
const ship = Step.make("ship", { input: Order, success: Schema.String, run: (order) => Effect.succeed(`shipped ${order.orderId}`) })

/** Release 1.3.0's order flow. */
const OrderV13 = Flow.make("order", {
  input: Order,
  success: Schema.String,
  versions: ["1.3.0"],
  run: (order) =>
    Effect.gen(function*() {
      yield* validate(order)
      const approval = yield* Flow.awaitSignal("approve", Approval)
      const fraud = yield* checkFraud(order)
      yield* Flow.awaitSignal("ship", Schema.Null)
      return `${yield* ship(order)}; approved by ${approval.by}; ${fraud}`
    })
})

/** Release 1.4.0's: the fraud check is gone where the patch applies; it can replay 1.3.0 executions. */
const OrderV14 = Flow.make("order", {
  input: Order,
  success: Schema.String,
  versions: ["1.3.0", "1.4.0"],
  patches: ["skip-fraud-check"],
  run: (order) =>
    Effect.gen(function*() {
      yield* validate(order)
      const approval = yield* Flow.awaitSignal("approve", Approval)
      const fraud = (yield* Flow.patched("skip-fraud-check"))
        ? "fraud check skipped (patched path)"
        : yield* checkFraud(order) // exactly what 1.3.0 did here
      yield* Flow.awaitSignal("ship", Schema.Null)
      return `${yield* ship(order)}; approved by ${approval.by}; ${fraud}`
    })
})

const worker13 = Worker.make("worker-1.3.0").withVersion("1.3.0").register(OrderV13).withPollInterval("20 millis")
const worker14 = Worker.make("worker-1.4.0").withVersion("1.4.0").register(OrderV14).withPollInterval("20 millis")

/** Waits (in real time) until the flow `id` has status `status`. */
const statusIs = (id: string, status: string) =>
  Effect.gen(function*() {
    while ((yield* Client.status(id)) !== status) yield* Effect.sleep("10 millis")
  })

/** Waits until the flow `id` has a journal entry `key`. */
const recorded = (id: string, key: string) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog.ExecutionLog
    while (true) {
      const loaded = yield* log.loadFlow(id)
      if (Option.isSome(loaded) && loaded.value.steps.some((step) => step.key === key && step.status === "completed")) return
      yield* Effect.sleep("10 millis")
    }
  })

const showVersions = (when: string) =>
  Effect.gen(function*() {
    for (const group of yield* Client.versions()) {
      const takers = group.workers.map((worker) => worker.name).join(", ")
      console.log(
        `[versions] ${when}: ${group.type} ${group.version}: ${group.pending} pending, ${group.running} running, ${group.suspended} suspended; ${
          group.stranded ? "STRANDED (no live worker takes it)" : `taken by ${takers}`
        }`
      )
    }
  })

const program = Effect.gen(function*() {
  // 1. Release 1.3.0.
  const old = yield* Effect.fork(worker13.run())
  const scheduler13 = Scheduler.make().withVersion("1.3.0")
  for (const orderId of ["order-1", "order-2"]) yield* scheduler13.schedule(OrderV13, { orderId }, { id: orderId })
  yield* Client.signal("order-1", "approve", { by: "maria" })
  yield* recorded("order-1", "check-fraud")
  yield* statusIs("order-1", "suspended")
  yield* statusIs("order-2", "suspended")
  console.log(`[1.3.0] order-1 passed its fraud check and waits to ship; order-2 waits for approval (fraud checks so far: ${fraudChecks})`)
  yield* Fiber.interrupt(old)
  console.log("[1.3.0] worker-1.3.0 stopped with both in flight")
  yield* showVersions("no worker")

  // 2. Release 1.4.0: its worker takes over the 1.3.0 executions, its scheduler starts new ones.
  const neu = yield* Effect.fork(worker14.run())
  while (!(yield* Client.workers({ live: true })).some((worker) => worker.name === "worker-1.4.0")) yield* Effect.sleep("10 millis")
  yield* showVersions("worker-1.4.0 up")
  const order3 = yield* Scheduler.make().withVersion("1.4.0").schedule(OrderV14, { orderId: "order-3" }, { id: "order-3" })
  yield* Client.signal("order-2", "approve", { by: "li" })
  yield* Client.signal("order-3", "approve", { by: "sam" })
  for (const id of ["order-1", "order-2", "order-3"]) yield* Client.signal(id, "ship", null)

  console.log("results:")
  for (const id of ["order-1", "order-2", order3.id]) {
    const result = yield* Client.awaitResult(OrderV14, id)
    const history = yield* Client.history(id)
    const marker = history.entries.some((entry) => entry.kind === "patch") ? "patch marker recorded" : "no patch marker"
    console.log(`  ${id}  stamped ${history.flow.version}, last ran under ${history.flow.ranVersion}, ${marker}: ${result}`)
  }
  console.log(`fraud checks run in all: ${fraudChecks}`)
  yield* Fiber.interrupt(neu)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory))).then(
  () => console.log("done"),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
