/**
 * The crash-and-resume demo (`npm start`).
 *
 * An order flow (validate, charge the card through a gateway that times out once, reserve
 * inventory, ship) runs in a child process on a SQLite file. The demo kills that process with
 * SIGKILL while it is reserving inventory, then starts a new process on the same flow id: the
 * steps that finished are replayed from the log, the one that was running runs again, and the
 * flow finishes. Run it as often as you like: each run uses a new flow id in the same database.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Context, Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { Executor, Flow, Retryable, RetryPolicy, Step } from "ergon"
import * as Sqlite from "ergon/sqlite"

// ---------------------------------------------------------------------------------------------
// The business process
// ---------------------------------------------------------------------------------------------

class Order extends Schema.Class<Order>("Order")({
  id: Schema.String,
  customer: Schema.String,
  items: Schema.Array(Schema.Struct({ sku: Schema.String, quantity: Schema.Int })),
  amountCents: Schema.Int
}) {}

class Receipt extends Schema.Class<Receipt>("Receipt")({
  orderId: Schema.String,
  paymentId: Schema.String,
  reservationId: Schema.String,
  trackingNumber: Schema.String
}) {}

class InvalidOrder extends Schema.TaggedError<InvalidOrder>()("InvalidOrder", { reason: Schema.String }) {}
class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { reason: Schema.String }) {}
class GatewayTimeout extends Retryable.TaggedError<GatewayTimeout>()("GatewayTimeout", { gateway: Schema.String }) {}

/** Stands for the outside world: the demo writes what each step did to stdout. */
class Outside extends Context.Tag("demo/Outside")<Outside, { readonly say: (line: string) => Effect.Effect<void> }>() {}

const validate = Step.make("validate-order", {
  input: Order,
  error: InvalidOrder,
  run: (order) =>
    order.items.length === 0
      ? Effect.fail(new InvalidOrder({ reason: "no items" }))
      : Effect.flatMap(Outside, (o) => o.say(`validated order ${order.id}`))
})

const chargeCard = Step.make("charge-card", {
  input: Order,
  success: Schema.String,
  error: Schema.Union(CardDeclined, GatewayTimeout),
  retry: RetryPolicy.exponential({ maxAttempts: 5, initialDelay: "200 millis", maxDelay: "5 seconds" }),
  run: (order) =>
    Effect.gen(function*() {
      const outside = yield* Outside
      const attempt = yield* Step.attempt
      const key = yield* Step.idempotencyKey
      if (attempt === 1) {
        yield* outside.say(`payment gateway timed out (attempt ${attempt})`)
        return yield* new GatewayTimeout({ gateway: "acme-pay" })
      }
      yield* outside.say(`charged ${order.amountCents} cents (attempt ${attempt}, idempotency key ${key})`)
      return `pay_${order.id}`
    })
})

const reserveInventory = Step.make("reserve-inventory", {
  input: Order,
  success: Schema.String,
  run: (order) =>
    Effect.gen(function*() {
      const outside = yield* Outside
      yield* outside.say(`reserving inventory for ${order.items.length} item(s)…`)
      yield* Effect.sleep("1500 millis")
      yield* outside.say("inventory reserved")
      return `res_${order.id}`
    })
})

const ship = Step.make("ship", {
  input: Schema.Struct({ orderId: Schema.String, reservationId: Schema.String }),
  success: Schema.String,
  run: ({ orderId }) => Effect.as(Effect.flatMap(Outside, (o) => o.say(`shipped order ${orderId}`)), `TRACK-${orderId}`)
})

const OrderFlow = Flow.make("order", {
  input: Order,
  success: Receipt,
  error: Schema.Union(InvalidOrder, CardDeclined, GatewayTimeout),
  run: (order) =>
    Effect.gen(function*() {
      yield* validate(order)
      const paymentId = yield* chargeCard(order)
      const reservationId = yield* reserveInventory(order)
      const trackingNumber = yield* ship({ orderId: order.id, reservationId })
      return new Receipt({ orderId: order.id, paymentId, reservationId, trackingNumber })
    })
})

// ---------------------------------------------------------------------------------------------
// The worker process: runs (or resumes) one flow and prints what the engine does
// ---------------------------------------------------------------------------------------------

/** Prints Ergon's engine events (debug logs tagged `ergon.step`) as one line each. */
const eventLogger = Logger.make(({ message }) => {
  const [tag, details] = Array.isArray(message) ? message : [message]
  if (tag !== "ergon.step" || typeof details !== "object" || details === null) return
  const { event, key, attempt, attempts, delayMillis } = details as Record<string, unknown>
  const line = event === "replayed"
    ? `  ↺ ${key}: replayed from the log (not run)`
    : event === "ran"
    ? `  ✓ ${key}: ran and checkpointed (attempts: ${attempts})`
    : event === "retrying"
    ? `  ! ${key}: attempt ${attempt} failed with a retryable error, retrying in ${delayMillis} ms`
    : `  · ${key}: ${event}`
  process.stdout.write(line + "\n")
})

const runWorker = (filename: string, flowId: string) => {
  const order = new Order({
    id: flowId,
    customer: "ada@example.com",
    items: [{ sku: "LAMP-1", quantity: 1 }, { sku: "BULB-4", quantity: 2 }],
    amountCents: 4999
  })
  const program = Effect.gen(function*() {
    const outcome = yield* Executor.execute(OrderFlow, order, { id: flowId })
    if (outcome._tag === "Completed" && outcome.exit._tag === "Success") {
      const receipt = outcome.exit.value
      process.stdout.write(`flow ${flowId} completed: tracking ${receipt.trackingNumber}\n`)
    } else {
      process.stdout.write(`flow ${flowId} ended: ${JSON.stringify(outcome)}\n`)
      process.exitCode = 1
    }
  })
  const outside = Layer.succeed(Outside, { say: (line) => Effect.sync(() => void process.stdout.write(`    → ${line}\n`)) })
  return program.pipe(
    Effect.provide(Layer.mergeAll(Sqlite.layer({ filename }), outside)),
    Effect.provide(Logger.replace(Logger.defaultLogger, eventLogger)),
    Logger.withMinimumLogLevel(LogLevel.Debug),
    Effect.tapErrorCause((cause) => Effect.sync(() => console.error(cause))),
    Effect.runPromise
  )
}

// ---------------------------------------------------------------------------------------------
// The demo: start a worker, kill it mid-step, start another
// ---------------------------------------------------------------------------------------------

const self = fileURLToPath(import.meta.url)

const startProcess = (label: string, filename: string, flowId: string, killOn?: string) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, self, "worker", filename, flowId], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    console.log(`\n[${label}] started, pid ${child.pid}`)
    let buffered = ""
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString()
      let newline: number
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        console.log(`[${label}] ${line}`)
        if (killOn !== undefined && line.includes(killOn)) {
          console.log(`[${label}] *** SIGKILL while the step is running ***`)
          child.kill("SIGKILL")
        }
      }
    })
    child.on("exit", (code, signal) => resolve({ code, signal }))
  })

const main = async () => {
  const dataDir = process.env.ERGON_DEMO_DIR ?? path.join(path.dirname(self), "..", ".data")
  fs.mkdirSync(dataDir, { recursive: true })
  const filename = path.join(dataDir, "demo.db")
  const flowId = `order-${Date.now().toString(36)}`
  console.log(`Ergon crash-and-resume demo: flow ${flowId} on SQLite file ${filename}`)

  const first = await startProcess("process 1", filename, flowId, "reserving inventory")
  if (first.signal !== "SIGKILL") {
    console.error(`process 1 should have been killed, but exited with ${first.code}`)
    process.exit(1)
  }
  const second = await startProcess("process 2", filename, flowId)
  if (second.code !== 0) {
    console.error(`process 2 failed with exit code ${second.code}`)
    process.exit(1)
  }
  console.log(
    "\nThe first process died while reserving inventory. The second replayed validate-order and charge-card\n" +
      "from the log (the card was charged once), ran reserve-inventory again (it was in flight) and finished.\n" +
      `The database stays at ${filename}.`
  )
}

if (process.argv[2] === "worker") {
  runWorker(process.argv[3]!, process.argv[4]!).catch((error) => {
    console.error(error)
    process.exit(1)
  })
} else {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
