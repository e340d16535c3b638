/**
 * Continue-as-new: a subscription that bills once a month, forever, with a bounded journal.
 *
 * Each execution of the flow bills one month, sleeps until the next (a durable timer), then calls
 * `Flow.continueAsNew` with the next month's state: the execution ends, its journal is archived,
 * and a new execution starts under the same id with an empty journal. The flow never grows past
 * a few entries, however many months it lives. `Client.listExecutions` lists them in order.
 *
 * A "month" is 200 ms here (think 30 days in production), and the subscription is cancelled by
 * its state after 4 months. The store is a SQLite file; one worker with timers runs the flow.
 *
 *   npx tsx examples/subscription.ts
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Fiber, Schema } from "effect"
import { Client, Flow, Scheduler, Step, Worker } from "ergon"
import * as Sqlite from "ergon/sqlite"

const MONTH = "200 millis"

const State = Schema.Struct({ customer: Schema.String, month: Schema.Int, billedCents: Schema.Int })

const bill = Step.make("bill", {
  success: Schema.Int,
  run: (customer: string, month: number) =>
    Effect.sync(() => {
      console.log(`  [bill] ${customer}: month ${month}, 999 cents`)
      return 999
    })
})

const Subscription: Flow.Flow<"subscription", {
  input: typeof State.Type
  success: string
  error: never
  context: never
  versions: string
}> = Flow.make("subscription", {
  input: State,
  success: Schema.String,
  run: (state) =>
    Effect.gen(function*() {
      const cents = yield* bill(state.customer, state.month)
      const billed = state.billedCents + cents
      if (state.month === 4) return `${state.customer}: ended after ${state.month} months, ${billed} cents billed`
      yield* Flow.sleep(MONTH)
      // The next month is a new execution with an empty journal.
      return yield* Flow.continueAsNew(Subscription, { ...state, month: state.month + 1, billedCents: billed })
    })
})

const program = Effect.gen(function*() {
  const worker = Worker.make("billing").unversioned().register(Subscription).withTimers()
    .withSuspendAfter("50 millis").withPollInterval("50 millis")
  const running = yield* Effect.fork(worker.run())
  const handle = yield* Scheduler.make().unversioned().schedule(
    Subscription,
    { customer: "ada", month: 1, billedCents: 0 },
    { id: "subscription-ada" }
  )
  console.log(`result: ${yield* handle.await}`)
  for (const execution of yield* Client.listExecutions(handle.id)) {
    const input = execution.input as typeof State.Encoded
    console.log(`execution ${execution.execution}: ${execution.status}, month ${input.month}, ${execution.entries} journal entries`)
  }
  yield* Fiber.interrupt(running)
})

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-subscription-"))
Effect.runPromise(program.pipe(Effect.provide(Sqlite.layer({ filename: path.join(dir, "subscription.db") })))).catch((error) => {
  console.error(error)
  process.exit(1)
})
