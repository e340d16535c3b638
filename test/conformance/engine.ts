/**
 * The engine conformance suite: the durable core's behaviour (replay, retries, non-determinism,
 * recorded values, timers, bad input) run against a store Layer. Every store runs it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { ExecutionLog, Executor, Flow, Retryable, RetryPolicy, Step } from "../../src/index.js"
import * as Testing from "../../src/testing.js"

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

class GatewayTimeout extends Retryable.TaggedError<GatewayTimeout>()("GatewayTimeout", { attempt: Schema.Number }) {}
class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { reason: Schema.String }) {}

const journalOf = (id: string) =>
  Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.loadFlow(id)).pipe(
    Effect.map(Option.getOrThrow)
  )

export const suite = (name: string, layer: Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`engine conformance: ${name}`, () => {
    it.layer(layer)((it) => {
      it.effect("a step's run executes once across repeated executions of the same id", () =>
        Effect.gen(function*() {
          let runs = 0
          const add = Step.make("add", {
            success: Schema.Number,
            run: (a: number, b: number) => Effect.sync(() => (runs++, a + b))
          })
          const flow = Flow.make("once", {
            input: Schema.Number,
            success: Schema.Number,
            run: (n) => Effect.flatMap(add(n, 1), (x) => add(x, 1))
          })
          const id = freshId("once")
          for (let i = 0; i < 3; i++) {
            const outcome = yield* Executor.execute(flow, 40, { id })
            assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(42) })
          }
          assert.strictEqual(runs, 2)
          const { flow: row, steps } = yield* journalOf(id)
          assert.strictEqual(row.status, "completed")
          assert.deepStrictEqual(steps.map((s) => s.key).sort(), ["add", "add#2"])
        }))

      it.effect("an interrupted flow resumes: finished steps replay, the rest run", () =>
        Effect.gen(function*() {
          const ran: Array<string> = []
          let block = true
          const blocked = yield* Deferred.make<void>()
          const work = Step.make("work", {
            success: Schema.String,
            run: (label: string) =>
              Effect.suspend(() => {
                ran.push(label)
                return label === "b" && block
                  ? Effect.zipRight(Deferred.succeed(blocked, undefined), Effect.never)
                  : Effect.succeed(label.toUpperCase())
              })
          })
          const flow = Flow.make("resume", {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.gen(function*() {
                const a = yield* work("a")
                const b = yield* work("b")
                const c = yield* work("c")
                return a + b + c
              })
          })
          const id = freshId("resume")
          const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id }))
          yield* Deferred.await(blocked)
          yield* Fiber.interrupt(fiber)
          block = false
          const outcome = yield* Executor.execute(flow, undefined, { id })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("ABC") })
          assert.deepStrictEqual(ran, ["a", "b", "b", "c"])
          const { flow: row } = yield* journalOf(id)
          assert.strictEqual(row.attempts, 2)
        }))

      it.effect("a typed failure is recorded and replayed, not re-run", () =>
        Effect.gen(function*() {
          let runs = 0
          const charge = Step.make("charge", {
            success: Schema.Number,
            error: CardDeclined,
            run: (amount: number) =>
              Effect.suspend(() => {
                runs++
                return amount > 100 ? Effect.fail(new CardDeclined({ reason: "limit" })) : Effect.succeed(amount)
              })
          })
          const flow = Flow.make("declined", {
            input: Schema.Number,
            success: Schema.String,
            error: CardDeclined,
            run: (amount) => Effect.map(charge(amount), (n) => `charged ${n}`)
          })
          const id = freshId("declined")
          const first = yield* Executor.execute(flow, 500, { id })
          const second = yield* Executor.execute(flow, 500, { id })
          assert.strictEqual(runs, 1)
          for (const outcome of [first, second]) {
            assert(Executor.isCompleted(outcome))
            assert(Exit.isFailure(outcome.exit))
            const error = Cause.failureOption(outcome.exit.cause)
            assert(Option.isSome(error))
            assert(error.value instanceof CardDeclined)
            assert.strictEqual(error.value.reason, "limit")
          }
        }))

      it.effect("a step's recorded failure replays as the same typed error in a resumed flow", () =>
        Effect.gen(function*() {
          let runs = 0
          let block = true
          const waiting = yield* Deferred.make<void>()
          const charge = Step.make("charge", {
            success: Schema.Number,
            error: CardDeclined,
            run: () => Effect.suspend(() => (runs++, Effect.fail(new CardDeclined({ reason: "stolen" }))))
          })
          // runs once the charge's failure is checkpointed
          const wait = Step.make("wait", {
            run: () => Effect.suspend(() => (block ? Effect.zipRight(Deferred.succeed(waiting, undefined), Effect.never) : Effect.void))
          })
          const flow = Flow.make("declined-replay", {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.gen(function*() {
                const reason = yield* charge().pipe(Effect.map(String), Effect.catchTag("CardDeclined", (e) => Effect.succeed(e.reason)))
                yield* wait()
                return reason
              })
          })
          const id = freshId("declined-replay")
          const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id }))
          yield* Deferred.await(waiting)
          yield* Fiber.interrupt(fiber)
          block = false
          const outcome = yield* Executor.execute(flow, undefined, { id })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("stolen") })
          assert.strictEqual(runs, 1)
        }))

      it.effect("retries a retryable error with exponential backoff driven by the Clock, and persists attempts", () =>
        Effect.gen(function*() {
          const attemptsAt: Array<number> = []
          const flaky = Step.make("flaky", {
            success: Schema.String,
            error: GatewayTimeout,
            retry: RetryPolicy.exponential({ maxAttempts: 5, initialDelay: "100 millis", maxDelay: "300 millis" }),
            run: () =>
              Effect.gen(function*() {
                const attempt = yield* Step.attempt
                attemptsAt.push(yield* Effect.clockWith((c) => c.currentTimeMillis))
                if (attempt < 4) return yield* new GatewayTimeout({ attempt })
                return `ok after ${attempt}`
              })
          })
          const flow = Flow.make("backoff", { input: Schema.Void, success: Schema.String, error: GatewayTimeout, run: () => flaky() })
          const id = freshId("backoff")
          const start = yield* Effect.clockWith((c) => c.currentTimeMillis)
          // A wider quiet window: on a loaded machine the retry's timer may be registered a few
          // milliseconds after the failure is written, and time must not jump past it.
          const outcome = yield* Testing.runWithTestClock(Executor.execute(flow, undefined, { id }), { quiet: "50 millis" })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("ok after 4") })
          // waits: 100, 200, then capped at 300
          assert.deepStrictEqual(attemptsAt.map((t) => t - start), [0, 100, 300, 600])
          const { steps } = yield* journalOf(id)
          assert.strictEqual(steps[0]!.attempts, 4)
          assert.strictEqual(steps[0]!.status, "completed")
        }))

      it.effect("stops at maxAttempts and records the last failure", () =>
        Effect.gen(function*() {
          let runs = 0
          const flaky = Step.make("always-timeout", {
            error: GatewayTimeout,
            retry: RetryPolicy.fixed({ delay: "50 millis", maxAttempts: 3 }),
            run: () => Effect.suspend(() => Effect.fail(new GatewayTimeout({ attempt: ++runs })))
          })
          const flow = Flow.make("exhausted", { input: Schema.Void, error: GatewayTimeout, run: () => flaky() })
          const id = freshId("exhausted")
          const outcome = yield* Testing.runWithTestClock(Executor.execute(flow, undefined, { id }))
          assert.strictEqual(runs, 3)
          assert(Executor.isCompleted(outcome) && Exit.isFailure(outcome.exit))
          const last = Cause.failureOption(outcome.exit.cause)
          assert(Option.isSome(last) && last.value instanceof GatewayTimeout)
          assert.strictEqual(last.value.attempt, 3)
          const { steps } = yield* journalOf(id)
          assert.strictEqual(steps[0]!.attempts, 3)
          // replay does not retry again
          yield* Executor.execute(flow, undefined, { id })
          assert.strictEqual(runs, 3)
        }))

      it.effect("a non-retryable error stops at once, whatever the policy", () =>
        Effect.gen(function*() {
          let runs = 0
          const charge = Step.make("charge-once", {
            error: CardDeclined,
            retry: RetryPolicy.fixed({ delay: "10 millis", maxAttempts: 5 }),
            run: () => Effect.suspend(() => (runs++, Effect.fail(new CardDeclined({ reason: "no" }))))
          })
          const flow = Flow.make("non-retryable", { input: Schema.Void, error: CardDeclined, run: () => charge() })
          const outcome = yield* Executor.execute(flow, undefined, { id: freshId("nonretry") })
          assert.strictEqual(runs, 1)
          assert(Executor.isCompleted(outcome) && Exit.isFailure(outcome.exit))
        }))

      it.effect("the step's retryable predicate selects errors to retry", () =>
        Effect.gen(function*() {
          let runs = 0
          const charge = Step.make("charge-pred", {
            success: Schema.Number,
            error: CardDeclined,
            retry: RetryPolicy.fixed({ delay: "10 millis", maxAttempts: 5 }),
            retryable: (e) => e.reason === "busy",
            run: () => Effect.suspend(() => (++runs < 3 ? Effect.fail(new CardDeclined({ reason: "busy" })) : Effect.succeed(runs)))
          })
          const flow = Flow.make("predicate", { input: Schema.Void, success: Schema.Number, error: CardDeclined, run: () => charge() })
          const outcome = yield* Testing.runWithTestClock(Executor.execute(flow, undefined, { id: freshId("pred") }))
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(3) })
        }))

      it.effect("a defect is recorded as a defect, not swallowed and not retried by default", () =>
        Effect.gen(function*() {
          let runs = 0
          const boom = Step.make("boom", {
            success: Schema.Number,
            retry: RetryPolicy.fixed({ delay: "10 millis", maxAttempts: 5 }),
            run: () =>
              Effect.sync(() => {
                runs++
                throw new Error("kaboom")
              })
          })
          const flow = Flow.make("defect", { input: Schema.Void, success: Schema.Number, run: () => boom() })
          const id = freshId("defect")
          const first = yield* Executor.execute(flow, undefined, { id })
          const replayed = yield* Executor.execute(flow, undefined, { id })
          assert.strictEqual(runs, 1)
          for (const outcome of [first, replayed]) {
            assert(Executor.isCompleted(outcome) && Exit.isFailure(outcome.exit))
            const defect = Cause.dieOption(outcome.exit.cause)
            assert(Option.isSome(defect))
            assert.match(String((defect.value as Error).message), /kaboom/)
          }
          const { steps } = yield* journalOf(id)
          assert.strictEqual(steps[0]!.status, "completed")
        }))

      it.effect("defects are retried when the policy says so", () =>
        Effect.gen(function*() {
          let runs = 0
          const boom = Step.make("boom-retry", {
            success: Schema.Number,
            retry: RetryPolicy.fixed({ delay: "10 millis", maxAttempts: 5, retryDefects: true }),
            run: () => Effect.suspend(() => (++runs < 3 ? Effect.die(new Error("flaky")) : Effect.succeed(runs)))
          })
          const flow = Flow.make("defect-retry", { input: Schema.Void, success: Schema.Number, run: () => boom() })
          assert.deepStrictEqual(yield* Testing.runWithTestClock(Executor.execute(flow, undefined, { id: freshId("defect-retry") })), { _tag: "Completed", exit: Exit.succeed(3) })
        }))

      it.effect("a backoff longer than the threshold suspends the flow on a durable retry timer", () =>
        Effect.gen(function*() {
          let runs = 0
          const slow = Step.make("slow-retry", {
            success: Schema.Number,
            error: GatewayTimeout,
            retry: RetryPolicy.fixed({ delay: "10 minutes", maxAttempts: 3 }),
            run: () => Effect.suspend(() => (++runs < 2 ? Effect.fail(new GatewayTimeout({ attempt: runs })) : Effect.succeed(runs)))
          })
          const flow = Flow.make("retry-suspend", { input: Schema.Void, success: Schema.Number, error: GatewayTimeout, run: () => slow() })
          const id = freshId("retry-suspend")
          const start = yield* Effect.clockWith((c) => c.currentTimeMillis)
          const first = yield* Executor.execute(flow, undefined, { id })
          assert(Executor.isSuspended(first))
          assert.strictEqual(first.reason._tag, "Retry")
          assert.strictEqual((first.reason as { at: number }).at, start + Duration.toMillis("10 minutes"))
          const { flow: row, steps } = yield* journalOf(id)
          assert.strictEqual(row.status, "suspended")
          assert.strictEqual(row.runAfter, start + Duration.toMillis("10 minutes"))
          assert.strictEqual(steps[0]!.status, "retrying")
          assert.strictEqual(steps[0]!.attempts, 1)
          // too early: suspends again without running the step
          const early = yield* Executor.execute(flow, undefined, { id })
          assert(Executor.isSuspended(early))
          assert.strictEqual(runs, 1)
          yield* TestClock.adjust("10 minutes")
          const done = yield* Executor.execute(flow, undefined, { id })
          assert.deepStrictEqual(done, { _tag: "Completed", exit: Exit.succeed(2) })
        }))

      it.effect("detects non-determinism: another input at the same key names flow, key and both hashes", () =>
        Effect.gen(function*() {
          let amount = 10
          let block = true
          const holding = yield* Deferred.make<void>()
          const charge = Step.make("charge", { success: Schema.Number, run: (n: number) => Effect.succeed(n) })
          const hold = Step.make("hold", {
            run: () => Effect.suspend(() => (block ? Effect.zipRight(Deferred.succeed(holding, undefined), Effect.never) : Effect.void))
          })
          const flow = Flow.make("nondeterministic", {
            input: Schema.Void,
            success: Schema.Number,
            run: () =>
              Effect.gen(function*() {
                const paid = yield* charge(amount)
                yield* hold()
                return paid
              })
          })
          const id = freshId("nondet")
          const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id }))
          yield* Deferred.await(holding)
          yield* Fiber.interrupt(fiber)
          amount = 20
          block = false
          const error = yield* Effect.flip(Executor.execute(flow, undefined, { id }))
          assert.strictEqual(error._tag, "NonDeterminismError")
          if (error._tag !== "NonDeterminismError") return
          assert.strictEqual(error.flowId, id)
          assert.strictEqual(error.flowType, "nondeterministic")
          assert.strictEqual(error.key, "charge")
          assert.strictEqual(error.reason, "input")
          assert.notStrictEqual(error.recordedHash, error.currentHash)
          assert.include(error.message, error.recordedHash!)
          assert.include(error.message, error.currentHash!)
          // the inputs are small: the message shows them
          assert.include(error.message, "Recorded input 10, now 20")
          const { flow: row } = yield* journalOf(id)
          assert.strictEqual(row.status, "failed")
          // the code is fixed: the same input again replays and finishes
          amount = 10
          const fixed = yield* Executor.execute(flow, undefined, { id })
          assert.deepStrictEqual(fixed, { _tag: "Completed", exit: Exit.succeed(10) })
        }))

      it.effect("Flow.now, Flow.random and Flow.uuid are recorded once and stable across replay", () =>
        Effect.gen(function*() {
          let block = true
          const holding = yield* Deferred.make<void>()
          const seen: Array<[number, number, string]> = []
          const hold = Step.make("hold", {
            run: () => Effect.suspend(() => (block ? Effect.zipRight(Deferred.succeed(holding, undefined), Effect.never) : Effect.void))
          })
          const flow = Flow.make("recorded", {
            input: Schema.Void,
            success: Schema.Tuple(Schema.Number, Schema.Number, Schema.String),
            run: () =>
              Effect.gen(function*() {
                const values: [number, number, string] = [yield* Flow.now, yield* Flow.random, yield* Flow.uuid]
                seen.push(values)
                yield* hold()
                return values
              })
          })
          const id = freshId("recorded")
          const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id }))
          yield* Deferred.await(holding)
          yield* Fiber.interrupt(fiber)
          yield* TestClock.adjust("1 hour")
          block = false
          const outcome = yield* Executor.execute(flow, undefined, { id })
          assert.strictEqual(seen.length, 2)
          assert.deepStrictEqual(seen[0], seen[1])
          assert(Executor.isCompleted(outcome))
          assert.deepStrictEqual(outcome.exit, Exit.succeed(seen[0]!))
          assert.match(seen[0]![2], /^[0-9a-f-]{36}$/)
        }))

      it.effect("Step.idempotencyKey is the flow id and step key, the same on every attempt", () =>
        Effect.gen(function*() {
          const keys: Array<string> = []
          const call = Step.make("call-api", {
            success: Schema.String,
            error: GatewayTimeout,
            retry: RetryPolicy.fixed({ delay: "1 millis", maxAttempts: 2 }),
            run: () =>
              Effect.gen(function*() {
                const key = yield* Step.idempotencyKey
                keys.push(key)
                if (keys.length === 1) return yield* new GatewayTimeout({ attempt: 1 })
                return key
              })
          })
          const flow = Flow.make("idem", {
            input: Schema.Void,
            success: Schema.String,
            error: GatewayTimeout,
            run: () => Flow.scope("payment", call())
          })
          const id = freshId("idem")
          yield* Testing.runWithTestClock(Executor.execute(flow, undefined, { id }))
          assert.deepStrictEqual(keys, [`${id}/payment/call-api`, `${id}/payment/call-api`])
        }))

      it.effect("keys: occurrence counters per scope, deterministic for concurrent scoped branches", () =>
        Effect.gen(function*() {
          const echo = Step.make("echo", { success: Schema.String, run: (s: string) => Effect.succeed(s) })
          const flow = Flow.make("keys", {
            input: Schema.Void,
            success: Schema.Array(Schema.String),
            run: () =>
              Effect.gen(function*() {
                const a = yield* echo("a")
                const b = yield* echo("b")
                const branches = yield* Effect.all(
                  ["x", "y"].map((branch) => Flow.scope(branch, Effect.zipWith(echo(branch), echo(branch + "2"), (p, q) => p + q))),
                  { concurrency: "unbounded" }
                )
                return [a, b, ...branches]
              })
          })
          const id = freshId("keys")
          const outcome = yield* Executor.execute(flow, undefined, { id })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(["a", "b", "xx2", "yy2"]) })
          const { steps } = yield* journalOf(id)
          assert.deepStrictEqual(steps.map((s) => s.key).sort(), ["echo", "echo#2", "x/echo", "x/echo#2", "y/echo", "y/echo#2"])
        }))

      it.effect("a durable sleep suspends the flow and resumes once its time has come", () =>
        Effect.gen(function*() {
          const ran: Array<string> = []
          const mark = Step.make("mark", { run: (s: string) => Effect.sync(() => void ran.push(s)) })
          const flow = Flow.make("sleeper", {
            input: Schema.Void,
            run: () =>
              Effect.gen(function*() {
                yield* mark("before")
                yield* Flow.sleep("2 hours")
                yield* mark("after")
              })
          })
          const id = freshId("sleeper")
          const start = yield* Effect.clockWith((c) => c.currentTimeMillis)
          const first = yield* Executor.execute(flow, undefined, { id })
          assert.deepStrictEqual(first, {
            _tag: "Suspended",
            reason: Executor.SuspendReason.Timer({ key: "$sleep", until: start + 2 * 3600_000 })
          })
          yield* TestClock.adjust("1 hour")
          assert(Executor.isSuspended(yield* Executor.execute(flow, undefined, { id })))
          yield* TestClock.adjust("1 hour")
          assert.deepStrictEqual(yield* Executor.execute(flow, undefined, { id }), {
            _tag: "Completed",
            exit: Exit.void
          })
          assert.deepStrictEqual(ran, ["before", "after"])
        }))

      it.effect("input that does not match the flow's schema: InvalidInputError, nothing written", () =>
        Effect.gen(function*() {
          const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number.pipe(Schema.positive()) })
          const flow = Flow.make("orders", { input: Order, run: () => Effect.void })
          const id = freshId("bad-input")
          const error = yield* Effect.flip(Executor.execute(flow, { id: "o1", amount: -5 }, { id }))
          assert.strictEqual(error._tag, "InvalidInputError")
          assert.include(error.message, "orders")
          const wrongShape = yield* Effect.flip(Executor.execute(flow, { id: 7 } as any, { id }))
          assert.strictEqual(wrongShape._tag, "InvalidInputError")
          const log = yield* ExecutionLog.ExecutionLog
          assert(Option.isNone(yield* log.getFlow(id)))
        }))

      it.effect("a stored result that no longer decodes: CheckpointDecodeError naming flow, step and schema", () =>
        Effect.gen(function*() {
          let block = true
          const holding = yield* Deferred.make<void>()
          const v1 = Step.make("quote", { success: Schema.Number, run: () => Effect.succeed(12) })
          const hold = Step.make("hold", {
            run: () => Effect.suspend(() => (block ? Effect.zipRight(Deferred.succeed(holding, undefined), Effect.never) : Effect.void))
          })
          const flowV1 = Flow.make("schema-change", {
            input: Schema.Void,
            run: () => Effect.zipRight(v1(), hold())
          })
          const id = freshId("schema-change")
          const fiber = yield* Effect.fork(Executor.execute(flowV1, undefined, { id }))
          yield* Deferred.await(holding)
          yield* Fiber.interrupt(fiber)
          block = false
          // v2: the step now returns a struct; the stored number no longer decodes
          const v2 = Step.make("quote", {
            success: Schema.Struct({ amount: Schema.Number, currency: Schema.String }),
            run: () => Effect.succeed({ amount: 12, currency: "EUR" })
          })
          const flowV2 = Flow.make("schema-change", { input: Schema.Void, run: () => Effect.zipRight(v2(), hold()) })
          const error = yield* Effect.flip(Executor.execute(flowV2, undefined, { id }))
          assert.strictEqual(error._tag, "CheckpointDecodeError")
          if (error._tag !== "CheckpointDecodeError") return
          assert.strictEqual(error.flowId, id)
          assert.strictEqual(error.flowType, "schema-change")
          assert.strictEqual(error.key, "quote")
          assert.include(error.schema, "currency")
          // nothing lost: the recorded value is still there
          const { steps } = yield* journalOf(id)
          assert.strictEqual(steps.find((s) => s.key === "quote")!.status, "completed")
        }))

      it.effect("the same id with another input or another flow type is a FlowConflictError", () =>
        Effect.gen(function*() {
          const a = Flow.make("conflict-a", { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n) })
          const b = Flow.make("conflict-b", { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n) })
          const id = freshId("conflict")
          yield* Executor.execute(a, 1, { id })
          const byInput = yield* Effect.flip(Executor.execute(a, 2, { id }))
          assert.strictEqual(byInput._tag, "FlowConflictError")
          const byType = yield* Effect.flip(Executor.execute(b, 1, { id }))
          assert.deepStrictEqual(byType._tag, "FlowConflictError")
        }))

      it.effect("a step value its success schema refuses is a CheckpointEncodeError, not stored garbage", () =>
        Effect.gen(function*() {
          const bad = Step.make("bad", { success: Schema.Number.pipe(Schema.int()), run: () => Effect.succeed(1.5) })
          const flow = Flow.make("encode-fail", { input: Schema.Void, success: Schema.Number, run: () => bad() })
          const id = freshId("encode-fail")
          const error = yield* Effect.flip(Executor.execute(flow, undefined, { id }))
          assert.strictEqual(error._tag, "CheckpointEncodeError")
          const { steps, flow: row } = yield* journalOf(id)
          assert.strictEqual(steps.length, 0)
          assert.strictEqual(row.status, "failed")
        }))

      it.effect("a completed flow returns its recorded result without running anything", () =>
        Effect.gen(function*() {
          let runs = 0
          const flow = Flow.make("recorded-result", {
            input: Schema.Struct({ at: Schema.Date }),
            success: Schema.Date,
            run: ({ at }) => Effect.sync(() => (runs++, at))
          })
          const id = freshId("rr")
          const at = new Date("2026-01-02T03:04:05.000Z")
          yield* Executor.execute(flow, { at }, { id })
          const again = yield* Executor.execute(flow, { at }, { id })
          assert.strictEqual(runs, 1)
          assert(Executor.isCompleted(again) && Exit.isSuccess(again.exit))
          assert(again.exit.value instanceof Date)
          assert.strictEqual(again.exit.value.toISOString(), at.toISOString())
        }))
    })
  })
