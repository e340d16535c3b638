/**
 * Durable timers: an invoice flow that sends a reminder one second after the invoice (think
 * "three days" in production), on a SQLite file.
 *
 * 1. `Executor.execute` runs the flow in this process up to its sleep: the fire time is computed
 *    once, recorded in the journal, and the execution returns `Suspended` (a `Timer` reason). No
 *    fiber, no memory is kept for the wait: the process could stop here.
 * 2. A worker started with `withTimers()` claims the flow once its time has come and resumes it
 *    from the journal: the invoice step is replayed (not run again), the sleep is over, and the
 *    reminder step runs.
 *
 * Waits shorter than `suspendAfter` are spent in memory (default 1 minute, for the executor and for
 * workers); this example sets it to 100 ms so that the one-second sleep really suspends the flow.
 *
 *   npx tsx examples/timers.ts
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Fiber, Option, Schema } from "effect"
import { Client, Executor, Flow, Scheduler, Step, Worker } from "ergon"
import * as Sqlite from "ergon/sqlite"

const started = Date.now()
const elapsed = () => `+${((Date.now() - started) / 1000).toFixed(1)}s`
const say = (line: string) => console.log(`${elapsed().padStart(6)}  ${line}`)

const Invoice = Schema.Struct({ id: Schema.String, customer: Schema.String, cents: Schema.Int })

let invoicesCreated = 0

const createInvoice = Step.make("create-invoice", {
  input: Invoice,
  success: Schema.String,
  run: (invoice) => Effect.sync(() => (invoicesCreated++, say(`create-invoice: ran for ${invoice.id}`), `INV-${invoice.id}`))
})

const sendReminder = Step.make("send-reminder", {
  success: Schema.String,
  run: (number: string, customer: string) =>
    Effect.sync(() => (say(`send-reminder: ran, reminding ${customer} of ${number}`), `reminded ${customer} of ${number}`))
})

const InvoiceFlow = Flow.make("invoice", {
  input: Invoice,
  success: Schema.String,
  run: (invoice) =>
    Effect.gen(function*() {
      const number = yield* createInvoice(invoice)
      yield* Flow.sleep("1 second") // durable: the fire time is in the journal
      return yield* sendReminder(number, invoice.customer)
    })
})

const worker = Worker.make("reminders")
  .unversioned()
  .register(InvoiceFlow)
  .withTimers() // resume flows whose timer is due
  .withSuspendAfter("100 millis")
  .withPollInterval("100 millis")

const program = Effect.gen(function*() {
  // 1. In process: run until the sleep.
  const first = { id: "42", customer: "ada", cents: 4999 }
  const outcome = yield* Executor.execute(InvoiceFlow, first, { id: "invoice-42", suspendAfter: "100 millis" })
  if (outcome._tag !== "Suspended" || outcome.reason._tag !== "Timer") return yield* Effect.die(outcome)
  say(`Executor.execute returned Suspended: Timer until +${((outcome.reason.until - started) / 1000).toFixed(1)}s`)
  say(`status in the store: ${yield* Client.status("invoice-42")}`)

  // 2. A worker takes it from there; a second invoice is scheduled for it as well.
  const scheduled = yield* Scheduler.make().unversioned().schedule(InvoiceFlow, { id: "43", customer: "grace", cents: 1200 }, {
    id: "invoice-43"
  })
  const running = yield* Effect.fork(worker.run())
  say("worker started (withTimers)")
  yield* Effect.sleep("500 millis")
  for (const id of ["invoice-42", "invoice-43"]) {
    const row = Option.getOrThrow(yield* Client.get(id))
    const reason = row.suspendReason as { readonly _tag: string; readonly until: number } | undefined
    const until = reason === undefined ? "" : ` (${reason._tag} until +${((reason.until - started) / 1000).toFixed(1)}s)`
    say(`${id}: ${row.status}${until}: released, no fiber waits for it`)
  }
  const results = [
    yield* Client.awaitResult(InvoiceFlow, "invoice-42"),
    yield* scheduled.await
  ]
  for (const result of results) say(`result: ${result}`)
  yield* Fiber.interrupt(running)

  const row = Option.getOrThrow(yield* Client.get("invoice-42"))
  say(`invoice-42: completed ${((row.completedAt! - row.createdAt) / 1000).toFixed(1)} s after it started, in ${row.attempts} executions`)
  say(`create-invoice ran ${invoicesCreated} times for 2 invoices: the resumed executions replayed it from the journal`)
})

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-example-timers-"))
Effect.runPromise(program.pipe(Effect.provide(Sqlite.layer({ filename: path.join(dir, "timers.db") })))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
