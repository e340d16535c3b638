/**
 * Races of durable waits: an approval raced against a deadline, across suspensions.
 *
 * - The flow waits for a manager's approval (a signal) *or* its deadline (a durable timer),
 *   whichever comes first, with a plain `Effect.raceFirst`. While both wait, the flow is
 *   suspended on both at once (`SuspendReason.Any`) and costs no memory.
 * - `req-1` is approved before the deadline: the signal wins, even though the flow only runs
 *   again after the deadline has passed too (the signal arrived first, and time decides).
 * - `req-2` is not answered: the deadline wins and the request is escalated.
 * - The flow's body is wrapped in `Effect.catchAllCause`: suspending is invisible to it, so the
 *   handler never runs for a suspension (it would only run for a real failure).
 *
 * The store is SQLite in a temporary folder; each run of the flow is `Executor.execute`, as a
 * worker would resume it.
 *
 *   npx tsx examples/race.ts
 */
import { Effect, Layer, Schema } from "effect"
import { Client, Executor, Flow, Step } from "ergon"
import * as Sqlite from "ergon/sqlite"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const Approval = Schema.Struct({ by: Schema.String })

let handled = 0

const notify = Step.make("notify", {
  success: Schema.String,
  run: (outcome: string) => Effect.succeed(`notified: ${outcome}`)
})

const RequestFlow = Flow.make("request", {
  input: Schema.String,
  success: Schema.String,
  run: (request) =>
    Effect.gen(function*() {
      const outcome = yield* Effect.raceFirst(
        Effect.map(Flow.awaitSignal("approval", Approval), (a) => `${request} approved by ${a.by}`),
        Effect.as(Flow.sleep("300 millis"), `${request} escalated: no answer before the deadline`)
      )
      return yield* notify(outcome)
    }).pipe(
      Effect.catchAllCause(() => Effect.sync(() => (handled++, "handled a failure")))
    )
})

// Suspend on every wait at once (a worker's setting; the default keeps waits under a minute in memory).
const run = (id: string) => Executor.execute(RequestFlow, id, { id, suspendAfter: "0 millis" })

const describe = (outcome: Executor.FlowOutcome<string, never>): string =>
  outcome._tag === "Suspended"
    ? `suspended on ${
      outcome.reason._tag === "Any" ? outcome.reason.reasons.map((r) => r._tag).join(" + ") : outcome.reason._tag
    }`
    : outcome.exit._tag === "Success"
    ? `completed: ${outcome.exit.value}`
    : "failed"

const program = Effect.gen(function*() {
  // req-1: approved while it waits; resumed only after the deadline has passed as well.
  console.log(`req-1: ${describe(yield* run("req-1"))}`)
  yield* Client.signal("req-1", "approval", { by: "alice" })
  yield* Effect.sleep("400 millis")
  console.log(`req-1: ${describe(yield* run("req-1"))}`)

  // req-2: nobody answers; the deadline wins.
  console.log(`req-2: ${describe(yield* run("req-2"))}`)
  yield* Effect.sleep("400 millis")
  console.log(`req-2: ${describe(yield* run("req-2"))}`)

  console.log(`the flow's handler ran ${handled} times`)
})

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-race-"))
const store = Sqlite.layer({ filename: path.join(dir, "race.db") })

Effect.runPromise(program.pipe(Effect.provide(Layer.orDie(store)))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
