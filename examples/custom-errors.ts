/**
 * Custom errors: typed, schema-declared errors in steps and flows. A retryable error (marked
 * with `Retryable`) is retried with backoff; a business error is final at once, recorded, and
 * replayed as the same typed value; the flow maps one error to a fallback and lets the other
 * through its typed error channel.
 *
 *   npx tsx examples/custom-errors.ts
 */
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { ExecutionLog, Executor, Flow, Retryable, RetryPolicy, Step } from "ergon"

/** A transient failure: retried by any step whose policy allows it. */
class RateLimited extends Retryable.TaggedError<RateLimited>()("RateLimited", { retryAfterMs: Schema.Number }) {}

/** A business failure: never retried. */
class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Number,
  requested: Schema.Number
}) {}

class AccountFrozen extends Schema.TaggedError<AccountFrozen>()("AccountFrozen", { account: Schema.String }) {}

const Transfer = Schema.Struct({ from: Schema.String, to: Schema.String, amount: Schema.Number })
const balances: Record<string, number> = { alice: 100, bob: 5, carol: 0 }
let calls = 0

const debit = Step.make("debit", {
  input: Transfer,
  success: Schema.Number,
  error: Schema.Union(RateLimited, InsufficientFunds, AccountFrozen),
  retry: RetryPolicy.exponential({ maxAttempts: 4, initialDelay: "20 millis" }),
  run: ({ from, amount }) =>
    Effect.gen(function*() {
      calls++
      const attempt = yield* Step.attempt
      if (attempt < 3) return yield* new RateLimited({ retryAfterMs: 20 }) // the bank is busy twice
      if (from === "carol") return yield* new AccountFrozen({ account: from })
      const balance = balances[from] ?? 0
      if (balance < amount) return yield* new InsufficientFunds({ balance, requested: amount })
      balances[from] = balance - amount
      return balances[from]!
    })
})

const TransferFlow = Flow.make("transfer", {
  input: Transfer,
  success: Schema.String,
  error: AccountFrozen,
  run: (transfer) =>
    debit(transfer).pipe(
      Effect.map((left) => `moved ${transfer.amount} from ${transfer.from}; ${left} left`),
      // a business outcome, handled in the flow; RateLimited never gets here (retried, or exhausted)
      Effect.catchTag("InsufficientFunds", (e) => Effect.succeed(`declined: balance ${e.balance} < ${e.requested}`)),
      Effect.catchTag("RateLimited", () => Effect.succeed("bank unavailable, try later"))
    )
})

const describe = (outcome: Executor.FlowOutcome<string, AccountFrozen>) => {
  if (outcome._tag === "Suspended") return `suspended (${outcome.reason._tag})`
  return Exit.match(outcome.exit, {
    onSuccess: (value) => `ok: ${value}`,
    onFailure: (cause) =>
      Option.match(Cause.failureOption(cause), {
        onSome: (error) => `failed with ${error._tag} (${error.account})`,
        onNone: () => `died: ${Cause.pretty(cause)}`
      })
  })
}

const program = Effect.gen(function*() {
  for (const [id, transfer] of [
    ["t-1", { from: "alice", to: "bob", amount: 30 }],
    ["t-2", { from: "bob", to: "alice", amount: 50 }],
    ["t-3", { from: "carol", to: "alice", amount: 1 }]
  ] as const) {
    const outcome = yield* Executor.execute(TransferFlow, transfer, { id })
    const callsBefore = calls
    const replayed = yield* Executor.execute(TransferFlow, transfer, { id })
    console.log(`${id}: ${describe(outcome)} | replay: ${describe(replayed)} | calls on replay: ${calls - callsBefore}`)
  }
  console.log(`debit calls in all: ${calls} (3 attempts per transfer, nothing on replay)`)
  if (calls !== 9) return yield* Effect.die(`expected 9 debit calls, saw ${calls}`)
})

Effect.runPromise(program.pipe(Effect.provide(ExecutionLog.layerMemory)))
