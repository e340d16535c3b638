/**
 * Signals: an expense flow waits for a manager's approval.
 *
 * - `exp-1` is approved before it even started: the signal is buffered in the store, and the
 *   flow's `Flow.awaitSignal` takes it at once.
 * - `exp-2` is rejected while it waits: the flow is suspended (released by the worker, costing
 *   no memory) until the signal arrives and wakes it.
 * - `votes` takes three signals of one name, in the order they were sent.
 * - The sender gets typed errors: a flow that does not exist (`FlowNotFoundError`), a payload
 *   that does not match the schema (`InvalidSignalError`, nothing is sent), a flow that has
 *   ended (`FlowEndedError`).
 *
 * The store is `ExecutionLog.layerMemory`, and one worker runs in this process.
 *
 *   npx tsx examples/signals.ts
 */
import { Effect, Fiber, Option, Schema } from "effect"
import { Client, ExecutionLog, Flow, Scheduler, Step, Worker } from "ergon"

const Expense = Schema.Struct({ id: Schema.String, employee: Schema.String, cents: Schema.Int })
const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

const submit = Step.make("submit-expense", {
  input: Expense,
  run: (expense) => Effect.sync(() => console.log(`  [flow] ${expense.id}: submitted ${expense.cents} cents for ${expense.employee}`))
})

const pay = Step.make("pay-expense", {
  input: Expense,
  success: Schema.String,
  run: (expense) => Effect.succeed(`paid ${expense.cents} cents to ${expense.employee}`)
})

const ExpenseFlow = Flow.make("expense", {
  input: Expense,
  success: Schema.String,
  run: (expense) =>
    Effect.gen(function*() {
      yield* submit(expense)
      const decision = yield* Flow.awaitSignal("manager-approval", Approval, { timeout: "1 day" }).pipe(
        // after a day without an answer: a typed SignalTimeout, handled like any typed error
        Effect.catchTag("SignalTimeout", () => Effect.succeed({ approved: false, by: "nobody (timed out)" }))
      )
      if (!decision.approved) return `rejected by ${decision.by}`
      return `${yield* pay(expense)}, approved by ${decision.by}`
    })
})

const Vote = Schema.Struct({ voter: Schema.String, yes: Schema.Boolean })

const VotesFlow = Flow.make("votes", {
  input: Schema.Void,
  success: Schema.String,
  run: () =>
    Effect.gen(function*() {
      const votes = []
      for (let i = 0; i < 3; i++) votes.push(yield* Flow.awaitSignal("vote", Vote))
      return votes.map((vote) => `${vote.voter}:${vote.yes ? "yes" : "no"}`).join(" ")
    })
})

const worker = Worker.make("expenses")
  .unversioned()
  .register(ExpenseFlow, VotesFlow)
  .withSignals()
  .withTimers() // the 1-day timeouts are durable timers too
  .withPollInterval("50 millis")

const scheduler = Scheduler.make().unversioned()

/** Waits until the flow is suspended on a signal, and prints its state. */
const untilWaiting = (id: string) =>
  Effect.gen(function*() {
    while (true) {
      const row = Option.getOrThrow(yield* Client.get(id))
      const reason = row.suspendReason as { readonly _tag: string; readonly name: string; readonly timeoutAt?: number } | undefined
      if (row.status === "suspended" && reason?._tag === "Signal") {
        const timeout = reason.timeoutAt === undefined ? "" : `, times out in ${Math.round((reason.timeoutAt - Date.now()) / 3_600_000)} h`
        return console.log(`${id}: ${row.status}, waiting for '${reason.name}'${timeout}`)
      }
      yield* Effect.sleep("20 millis")
    }
  })

const program = Effect.gen(function*() {
  // exp-1: approved before it runs. The signal waits in the store.
  const exp1 = yield* scheduler.schedule(ExpenseFlow, { id: "exp-1", employee: "ada", cents: 12_000 }, { id: "exp-1" })
  yield* exp1.signal("manager-approval", Approval, { approved: true, by: "maria" })
  const log = yield* ExecutionLog.ExecutionLog
  console.log(`exp-1: ${yield* exp1.status}, ${(yield* log.listSignals("exp-1")).length} signal buffered before any worker ran it`)

  // votes: three signals of one name, sent before the flow runs; taken one per wait, in order.
  const votes = yield* scheduler.schedule(VotesFlow, undefined, { id: "votes" })
  for (const [voter, yes] of [["ann", true], ["bob", false], ["cy", true]] as const) {
    yield* Client.signal("votes", "vote", Vote, { voter, yes })
  }

  const running = yield* Effect.fork(worker.run())
  console.log("worker started")
  console.log(`exp-1: ${yield* exp1.await}`)
  console.log(`votes: ${yield* votes.await} (in the order sent)`)

  // exp-2: nobody has answered yet when it gets to the wait.
  const exp2 = yield* scheduler.schedule(ExpenseFlow, { id: "exp-2", employee: "grace", cents: 990_000 }, { id: "exp-2" })
  yield* untilWaiting("exp-2")
  yield* Client.signal("exp-2", "manager-approval", Approval, { approved: false, by: "maria" })
  console.log("exp-2: signal sent")
  console.log(`exp-2: ${yield* exp2.await}`)

  // What a sender is told when a signal cannot be delivered.
  console.log("typed errors to senders:")
  const unknown = yield* Effect.flip(Client.signal("exp-404", "manager-approval", Approval, { approved: true, by: "maria" }))
  console.log(`  unknown flow:      ${unknown._tag}: ${unknown.message}`)
  const exp3 = yield* scheduler.schedule(ExpenseFlow, { id: "exp-3", employee: "linus", cents: 500 }, { id: "exp-3" })
  const malformed = { approved: "yes", by: "maria" } as unknown as typeof Approval.Type
  const invalid = yield* Effect.flip(exp3.signal("manager-approval", Approval, malformed))
  console.log(`  payload mismatch:  ${invalid._tag}: ${invalid.message.split("\n")[0]}`)
  console.log(`                     signals stored for exp-3: ${(yield* log.listSignals("exp-3")).length}`)
  const ended = yield* Effect.flip(exp1.signal("manager-approval", Approval, { approved: false, by: "maria" }))
  console.log(`  flow has ended:    ${ended._tag}: ${ended.message}`)

  yield* exp3.cancel
  yield* Fiber.interrupt(running)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
