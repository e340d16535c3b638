/**
 * A checkout flow whose independent steps run in parallel as a DAG.
 *
 * `user` and `inventory` start at once; `fraud` starts as soon as `user` is done (without waiting
 * for `inventory`); `finalize` waits for all three. The program runs the flow on the in-memory
 * store, prints the typed results and the timeline each node recorded, then runs the flow again
 * under the same id to show that the finished flow is not run twice.
 *
 * Run it with `npx tsx examples/dag.ts`.
 */
import { Effect, Exit, Schema } from "effect"
import * as Dag from "../src/Dag.js"
import { ExecutionLog, Executor, Flow, Step } from "../src/index.js"

class Order extends Schema.Class<Order>("Order")({ userId: Schema.String, sku: Schema.String, quantity: Schema.Number }) {}
class User extends Schema.Class<User>("User")({ id: Schema.String, name: Schema.String, country: Schema.String }) {}
class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { sku: Schema.String }) {}

let stepRuns = 0
/** A pretend remote call: takes `millis` of real time. */
const remote = <A>(millis: number, value: A) =>
  Effect.sync(() => stepRuns++).pipe(Effect.zipRight(Effect.sleep(millis)), Effect.as(value))

const validateUser = Step.make("validate-user", {
  success: User,
  run: (id: string) => remote(120, new User({ id, name: "Ada", country: "FR" }))
})

const checkInventory = Step.make("check-inventory", {
  success: Schema.Number,
  error: OutOfStock,
  run: (order: Order) =>
    remote(200, 12).pipe(
      Effect.filterOrFail((stock) => stock >= order.quantity, () => new OutOfStock({ sku: order.sku }))
    )
})

const checkFraud = Step.make("check-fraud", {
  success: Schema.Number,
  run: (user: User) => remote(60, user.country === "FR" ? 0.02 : 0.4)
})

const Receipt = Schema.Struct({ user: Schema.String, reserved: Schema.Number, risk: Schema.Number, approved: Schema.Boolean })

const finalize = Step.make("finalize", {
  success: Receipt,
  run: (deps: { readonly user: User; readonly inventory: number; readonly fraud: number }) =>
    remote(40, { user: deps.user.name, reserved: deps.inventory, risk: deps.fraud, approved: deps.fraud < 0.1 })
})

const CheckoutFlow = Flow.make("checkout", {
  input: Order,
  success: Receipt,
  error: OutOfStock,
  run: (order) =>
    Effect.gen(function*() {
      const checkout = Dag.make("checkout")
        .step("user", validateUser(order.userId))
        .step("inventory", checkInventory(order))
        .step("fraud", ["user"], ({ user }) => checkFraud(user))
        .step("finalize", ["user", "inventory", "fraud"], (deps) => finalize(deps))
      const out = yield* Dag.run(checkout, { concurrency: 4 })
      return out.finalize
    })
})

const bar = (from: number, to: number, scale: number): string =>
  " ".repeat(Math.round(from / scale)) + "#".repeat(Math.max(1, Math.round((to - from) / scale)))

const program = Effect.gen(function*() {
  const order = new Order({ userId: "u-1", sku: "sku-42", quantity: 2 })
  const outcome = yield* Executor.execute(CheckoutFlow, order, { id: "checkout-1" })
  if (outcome._tag !== "Completed" || Exit.isFailure(outcome.exit)) {
    return yield* Effect.dieMessage(`the checkout did not succeed: ${JSON.stringify(outcome)}`)
  }
  console.log("receipt:", JSON.stringify(outcome.exit.value))

  const timeline = yield* Dag.timeline("checkout-1")
  const origin = Math.min(...timeline.map((entry) => entry.startedAt))
  console.log("timeline (ms from the start, one # per 10 ms):")
  for (const entry of timeline) {
    const from = entry.startedAt - origin
    const to = entry.finishedAt - origin
    console.log(`  ${entry.node.padEnd(10)} ${String(from).padStart(4)} → ${String(to).padStart(4)}  ${bar(from, to, 10)}`)
  }

  const runsBefore = stepRuns
  const again = yield* Executor.execute(CheckoutFlow, order, { id: "checkout-1" })
  console.log(`executed again: ${again._tag}, steps run: ${stepRuns - runsBefore}`)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
