/**
 * Sequential steps: a signup flow of three steps, run twice with the same id on a SQLite file.
 * The second run replays every step from the log and returns the recorded result.
 *
 *   npx tsx examples/sequential.ts
 */
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { Executor, Flow, Step } from "ergon"
import * as Sqlite from "ergon/sqlite"

const Signup = Schema.Struct({ email: Schema.String, name: Schema.String })

let sideEffects = 0

const createAccount = Step.make("create-account", {
  input: Signup,
  success: Schema.String,
  run: ({ email }) => Effect.sync(() => (sideEffects++, `acct_${email.split("@")[0]}`))
})

const sendWelcome = Step.make("send-welcome", {
  success: Schema.Boolean,
  run: (accountId: string, name: string) =>
    Effect.gen(function*() {
      const key = yield* Step.idempotencyKey // hand this to the mailer so a retried send is deduplicated
      sideEffects++
      yield* Effect.log(`mail to ${name} (${accountId}), idempotency key ${key}`)
      return true
    })
})

const recordSignup = Step.make("record-signup", {
  success: Schema.Number,
  run: (accountId: string) => Effect.sync(() => (sideEffects++, accountId.length))
})

const SignupFlow = Flow.make("signup", {
  input: Signup,
  success: Schema.Struct({ accountId: Schema.String, welcomed: Schema.Boolean, at: Schema.Number }),
  run: (signup) =>
    Effect.gen(function*() {
      const accountId = yield* createAccount(signup)
      const welcomed = yield* sendWelcome(accountId, signup.name)
      yield* recordSignup(accountId)
      const at = yield* Flow.now // recorded: the same value on every replay
      return { accountId, welcomed, at }
    })
})

const program = Effect.gen(function*() {
  const id = `signup-${Date.now().toString(36)}`
  const input = { email: "ada@example.com", name: "Ada" }
  const first = yield* Executor.execute(SignupFlow, input, { id })
  const afterFirst = sideEffects
  const second = yield* Executor.execute(SignupFlow, input, { id })
  console.log("first run: ", JSON.stringify(first))
  console.log("second run:", JSON.stringify(second))
  console.log(`side effects: ${afterFirst} on the first run, ${sideEffects - afterFirst} on the second`)
  if (sideEffects !== afterFirst || JSON.stringify(first) !== JSON.stringify(second)) {
    return yield* Effect.die("the second run should have replayed the first")
  }
})

const filename = path.join(os.tmpdir(), "ergon-example-sequential.db")
Effect.runPromise(program.pipe(Effect.provide(Sqlite.layer({ filename }))))
