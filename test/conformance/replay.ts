/**
 * The replay-semantics conformance suite: what a flow may do around durable waits (handlers,
 * finalizers, races, joins), the step-order check, and the atomic suspension, run against a
 * store Layer. Every store runs it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { Client, ExecutionLog, Executor, Flow, Retryable, RetryPolicy, Scheduler, Step, Worker } from "../../src/index.js"
import { makeRecords } from "../fixtures/records.js"

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

class Flaky extends Retryable.TaggedError<Flaky>()("Flaky", {}) {}

const journalOf = (id: string) =>
  Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.loadFlow(id)).pipe(Effect.map(Option.getOrThrow))

const keysOf = (id: string) => Effect.map(journalOf(id), ({ steps }) => steps.map((step) => step.key).sort())

/** The handlers a user wraps around a wait: each would run `recover` if it saw the suspension. */
const handlers: ReadonlyArray<readonly [string, (wait: Effect.Effect<void>, recover: Effect.Effect<void>) => Effect.Effect<void>]> = [
  ["catchAllCause", (wait, recover) => Effect.catchAllCause(wait, () => recover)],
  ["catchAll", (wait, recover) => Effect.catchAll(wait, () => recover)],
  ["catchAllDefect", (wait, recover) => Effect.catchAllDefect(wait, () => recover)],
  ["orElse", (wait, recover) => Effect.orElse(wait, () => recover)],
  ["either", (wait, recover) => Effect.flatMap(Effect.either(wait), (e) => (Either.isLeft(e) ? recover : Effect.void))],
  ["exit", (wait, recover) => Effect.flatMap(Effect.exit(wait), (e) => (Exit.isFailure(e) ? recover : Effect.void))],
  ["retry", (wait, recover) => Effect.zipRight(Effect.retry(Effect.onError(wait, () => recover), { times: 2 }), Effect.void)],
  ["tapErrorCause", (wait, recover) => Effect.tapErrorCause(wait, () => recover)],
  ["onError", (wait, recover) => Effect.onError(wait, () => recover)],
  ["sandbox", (wait, recover) => Effect.unsandbox(Effect.catchAll(Effect.sandbox(wait), () => recover))]
]

/** The durable waits, each with what makes it ready once the flow has suspended on it. */
type WaitKind = "timer" | "signal" | "retry" | "child"

export const suite = (name: string, layer: Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`replay conformance: ${name}`, () => {
    it.layer(layer)((it) => {
      const waitKinds: ReadonlyArray<WaitKind> = ["timer", "signal", "retry", "child"]
      for (const kind of waitKinds) {
        it.effect(`no handler sees a suspension on a ${kind}; nothing is written by the handlers; the flow resumes on its path`, () =>
          Effect.gen(function*() {
            const tag = freshId(kind)
            let recovered = 0
            let attempts = 0
            const recoverStep = Step.make("recover", { run: () => Effect.sync(() => void recovered++) })
            const flaky = Step.make("flaky", {
              error: Flaky,
              retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "1 hour" }),
              run: () => Effect.suspend(() => (++attempts === 1 ? Effect.fail(new Flaky()) : Effect.void))
            })
            const Child = Flow.make(`child-${tag}`, {
              input: Schema.Void,
              run: () => Effect.asVoid(Flow.awaitSignal("go", Schema.String))
            })
            const wait: Effect.Effect<void, never, any> = kind === "timer"
              ? Flow.sleep("1 hour")
              : kind === "signal"
              ? Effect.asVoid(Flow.awaitSignal("go", Schema.String))
              : kind === "retry"
              ? Effect.orDie(flaky())
              : Flow.invoke(Child, undefined, { key: "kid" })
            const flows = handlers.map(([handler, wrap]) =>
              Flow.make(`handled-${handler}-${tag}`, {
                input: Schema.Void,
                success: Schema.String,
                run: () => Effect.as(wrap(wait as Effect.Effect<void>, Effect.orDie(recoverStep()) as Effect.Effect<void>), "done")
              })
            )
            for (const flow of flows) {
              const id = freshId(flow.name)
              attempts = 0
              const first = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
              assert.strictEqual(first._tag, "Suspended", flow.name)
              assert.strictEqual(recovered, 0, `${flow.name}: a handler saw the suspension`)
              assert.notInclude(yield* keysOf(id), "recover", flow.name)
              // Make the wait ready, then resume: the flow takes its own path, once.
              if (kind === "signal") yield* Client.signal(id, "go", "now")
              if (kind === "child") {
                const childId = `${id}/$invoke/kid`
                yield* Client.signal(childId, "go", "now")
                yield* Executor.execute(Child, undefined, { id: childId })
              }
              if (kind === "timer" || kind === "retry") yield* TestClock.adjust("2 hours")
              const second = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
              assert.deepStrictEqual(second, { _tag: "Completed", exit: Exit.succeed("done") }, flow.name)
              assert.strictEqual(recovered, 0, `${flow.name}: a handler ran on resume`)
              assert.notInclude(yield* keysOf(id), "recover", flow.name)
            }
          }))
      }

      it.effect("finalizers run when the flow suspends, but a step called from one is not executed nor recorded", () =>
        Effect.gen(function*() {
          let released = 0
          let cleaned = 0
          const cleanup = Step.make("cleanup", { run: () => Effect.sync(() => void cleaned++) })
          const flow = Flow.make(`finalized-${freshId("f")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.as(
                Flow.sleep("1 hour").pipe(
                  Effect.ensuring(Effect.zipRight(Effect.sync(() => void released++), Effect.orDie(cleanup())))
                ),
                "done"
              )
          })
          const id = freshId("finalized")
          const first = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.strictEqual(first._tag, "Suspended")
          assert.strictEqual(released, 1)
          assert.strictEqual(cleaned, 0)
          assert.deepStrictEqual(yield* keysOf(id), ["$sleep"])
          yield* TestClock.adjust("2 hours")
          const second = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(second, { _tag: "Completed", exit: Exit.succeed("done") })
          // On the run that ends normally the finalizer's step runs, as ordinary code.
          assert.strictEqual(released, 2)
          assert.strictEqual(cleaned, 1)
        }))

      it.effect("an engine error (non-determinism) is not caught by the flow's handlers: the flow fails with it", () =>
        Effect.gen(function*() {
          let amount = 10
          const charge = Step.make("charge", { input: Schema.Number, success: Schema.Number, run: (n: number) => Effect.succeed(n) })
          const flow = Flow.make(`guarded-${freshId("g")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.zipRight(charge(amount), Flow.sleep("1 hour")).pipe(
                Effect.as("charged"),
                Effect.catchAllCause(() => Effect.succeed("recovered"))
              )
          })
          const id = freshId("guarded")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          amount = 20
          const error = yield* Effect.flip(Executor.execute(flow, undefined, { id, suspendAfter: 0 }))
          assert.strictEqual(error._tag, "NonDeterminismError")
          assert.strictEqual((yield* journalOf(id)).flow.status, "failed")
        }))

      it.effect("raceAll of durable sleeps suspends until the earliest and returns it", () =>
        Effect.gen(function*() {
          const flow = Flow.make(`race-sleeps-${freshId("r")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.raceAll([
                Effect.as(Flow.sleep("50 seconds"), "50s"),
                Effect.as(Flow.sleep("10 seconds"), "10s"),
                Effect.as(Flow.sleep("1 second"), "1s")
              ])
          })
          const id = freshId("race")
          const start = yield* TestClockNow
          const first = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.strictEqual(first._tag, "Suspended")
          if (first._tag === "Suspended") {
            assert.strictEqual(first.reason._tag, "Any")
            if (first.reason._tag === "Any") assert.strictEqual(first.reason.reasons.length, 3)
          }
          assert.strictEqual((yield* journalOf(id)).flow.runAfter, start + 1000)
          // Long after all three are due, the earliest still wins.
          yield* TestClock.adjust("60 seconds")
          const second = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(second, { _tag: "Completed", exit: Exit.succeed("1s") })
        }))

      it.effect("a short timer racing a signal that never comes fires (the flow is not parked on the signal)", () =>
        Effect.gen(function*() {
          const flow = Flow.make(`race-timer-signal-${freshId("r")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.raceFirst(
                Effect.as(Flow.sleep("10 millis"), "timer"),
                Effect.map(Flow.awaitSignal("evt", Schema.String), (s) => `signal ${s}`)
              )
          })
          const id = freshId("race")
          const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id }))
          // The timer is short: spent in memory, on the Clock.
          yield* waitForWaits(id)
          yield* TestClock.adjust("10 millis")
          const outcome = yield* Fiber.join(fiber)
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("timer") })
        }))

      it.effect("a signal that arrives first wins over a timer that is not due; the flow suspends on both meanwhile", () =>
        Effect.gen(function*() {
          const flow = Flow.make(`race-signal-${freshId("r")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.raceFirst(
                Effect.as(Flow.sleep("1 hour"), "timer"),
                Effect.map(Flow.awaitSignal("evt", Schema.String), (s) => `signal ${s}`)
              )
          })
          const id = freshId("race")
          const first = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.strictEqual(first._tag, "Suspended")
          yield* TestClock.adjust("1 minute")
          yield* Client.signal(id, "evt", "hello")
          // Later than the timer by now: the signal came first, so it still wins.
          yield* TestClock.adjust("2 hours")
          const second = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(second, { _tag: "Completed", exit: Exit.succeed("signal hello") })
        }))

      it.effect("of two signals raced, the one sent first wins, whatever order the branches are in", () =>
        Effect.gen(function*() {
          const flow = Flow.make(`race-two-signals-${freshId("r")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.raceFirst(
                Effect.map(Flow.awaitSignal("a", Schema.String), (s) => `a ${s}`),
                Effect.map(Flow.awaitSignal("b", Schema.String), (s) => `b ${s}`)
              )
          })
          const id = freshId("race")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          yield* Client.signal(id, "b", "first")
          yield* TestClock.adjust("1 second")
          yield* Client.signal(id, "a", "second")
          const outcome = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("b first") })
        }))

      it.effect("a step racing a signal that never comes finishes the race", () =>
        Effect.gen(function*() {
          const work = Step.make("work", { success: Schema.String, run: () => Effect.as(Effect.yieldNow(), "worked") })
          const flow = Flow.make(`race-step-${freshId("r")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () => Effect.raceFirst(work(), Effect.map(Flow.awaitSignal("never", Schema.String), (s) => `signal ${s}`))
          })
          const id = freshId("race")
          const outcome = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("worked") })
        }))

      it.effect("the winner of a race is recorded: a replay after every branch is due returns the same winner", () =>
        Effect.gen(function*() {
          const blocked = yield* Deferred.make<void>()
          let block = true
          const after = Step.make("after", {
            success: Schema.String,
            run: (winner: string) =>
              block ? Effect.zipRight(Deferred.succeed(blocked, undefined), Effect.never) : Effect.succeed(`after ${winner}`)
          })
          const flow = Flow.make(`race-recorded-${freshId("r")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.flatMap(
                Effect.race(Effect.as(Flow.sleep("2 seconds"), "2s"), Effect.as(Flow.sleep("1 second"), "1s")),
                (winner) => after(winner)
              )
          })
          const id = freshId("race")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          yield* TestClock.adjust("1 second")
          // The 1 s timer fires and wins; the run stops (a crash) inside the next step.
          const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id, suspendAfter: 0 }))
          yield* Deferred.await(blocked)
          yield* Fiber.interrupt(fiber)
          // Both timers are due now; the 2 s one is not recorded as fired, the 1 s one is.
          yield* TestClock.adjust("1 minute")
          block = false
          const outcome = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("after 1s") })
        }))

      it.effect("concurrent replays return recorded results in the order they completed", () =>
        Effect.gen(function*() {
          // Two branches in one scope: the second one's step finishes first, then each branch
          // calls another step. On replay the later calls must find their places as recorded.
          const gate = yield* Deferred.make<void>()
          const slow = Step.make("slow", { success: Schema.String, run: () => Effect.as(Deferred.await(gate), "slow") })
          const fast = Step.make("fast", { success: Schema.String, run: () => Effect.succeed("fast") })
          const tail = Step.make("tail", { success: Schema.String, run: (s: string) => Effect.succeed(`${s}!`) })
          const flow = Flow.make(`ordered-${freshId("o")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.zipRight(
                Effect.all([
                  Effect.flatMap(slow(), (s) => tail(s)),
                  Effect.flatMap(fast(), (s) => Effect.zipLeft(tail(s), Deferred.succeed(gate, undefined)))
                ], { concurrency: "unbounded" }),
                Effect.as(Flow.sleep("1 hour"), "done")
              )
          })
          const id = freshId("ordered")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          const { steps } = yield* journalOf(id)
          const fastTail = steps.find((s) => s.key === "tail")!
          assert.deepStrictEqual(fastTail.exit, { _tag: "Success", value: "fast!" })
          yield* TestClock.adjust("2 hours")
          // Replays both branches: no NonDeterminismError, and the recorded tails are returned.
          const outcome = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("done") })
        }))

      it.effect("Effect.all over waits suspends on all of them; each wakes it; Effect.timeout around a wait is durable", () =>
        Effect.gen(function*() {
          const flow = Flow.make(`joined-${freshId("j")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.gen(function*() {
                const [, signal] = yield* Effect.all([
                  Flow.sleep("1 hour"),
                  Flow.awaitSignal("x", Schema.String)
                ], { concurrency: "unbounded" })
                const late = yield* Flow.awaitSignal("late", Schema.String).pipe(
                  Effect.timeout("1 day"),
                  Effect.catchTag("TimeoutException", () => Effect.succeed("timed out"))
                )
                return `${signal} ${late}`
              })
          })
          const id = freshId("joined")
          const first = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.strictEqual(first._tag, "Suspended")
          if (first._tag === "Suspended") assert.strictEqual(first.reason._tag, "Any")
          yield* Client.signal(id, "x", "got-x")
          const second = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.strictEqual(second._tag, "Suspended")
          if (second._tag === "Suspended") assert.strictEqual(second.reason._tag, "Timer")
          yield* TestClock.adjust("2 hours")
          const third = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          // Waits for 'late', with the timeout's timer: a durable one.
          assert.strictEqual(third._tag, "Suspended")
          if (third._tag === "Suspended") assert.strictEqual(third.reason._tag, "Any")
          yield* TestClock.adjust("2 days")
          const fourth = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(fourth, { _tag: "Completed", exit: Exit.succeed("got-x timed out") })
        }))

      it.effect("step order: a step replaced by another at a recorded place is a NonDeterminismError naming both", () =>
        Effect.gen(function*() {
          let version = 1
          const a1 = Step.make("A1", { success: Schema.String, run: () => Effect.succeed("a1") })
          const b1 = Step.make("B1", { success: Schema.String, run: () => Effect.succeed("b1") })
          const next = Step.make("next", { success: Schema.String, run: () => Effect.succeed("next") })
          const flow = Flow.make(`order-${freshId("o")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.gen(function*() {
                const first = version === 1 ? yield* a1() : yield* b1()
                yield* Flow.sleep("1 hour")
                return first + (yield* next())
              })
          })
          const id = freshId("order")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          version = 2
          yield* TestClock.adjust("2 hours")
          const error = yield* Effect.flip(Executor.execute(flow, undefined, { id, suspendAfter: 0 }))
          assert.strictEqual(error._tag, "NonDeterminismError")
          if (error._tag !== "NonDeterminismError") return
          assert.strictEqual(error.reason, "order")
          assert.strictEqual(error.key, "B1")
          assert.include(error.message, "step 'A1'")
          assert.include(error.message, "step 'B1'")
          assert.include(error.message, "version")
          assert.deepStrictEqual(yield* keysOf(id), ["$sleep", "A1"])
          // Back to the code that recorded it: replays and goes on past the journal's end.
          version = 1
          yield* Client.retry(id)
          const outcome = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("a1next") })
        }))

      it.effect("step order: a step where the journal recorded a timer is a NonDeterminismError saying both kinds", () =>
        Effect.gen(function*() {
          let changed = false
          const charge = Step.make("charge", { run: () => Effect.void })
          const flow = Flow.make(`kind-${freshId("k")}`, {
            input: Schema.Void,
            run: () =>
              Effect.gen(function*() {
                if (changed) yield* charge()
                else yield* Flow.sleep("1 hour")
                yield* Flow.awaitSignal("done", Schema.String)
              })
          })
          const id = freshId("kind")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          changed = true
          const error = yield* Effect.flip(Executor.execute(flow, undefined, { id, suspendAfter: 0 }))
          assert.strictEqual(error._tag, "NonDeterminismError")
          if (error._tag !== "NonDeterminismError") return
          assert.strictEqual(error.reason, "order")
          assert.include(error.message, "timer '$sleep'")
          assert.include(error.message, "step 'charge'")
        }))

      it.effect("a step added after the journal's recorded end is the flow going on", () =>
        Effect.gen(function*() {
          let extended = false
          const first = Step.make("first", { run: () => Effect.void })
          const added = Step.make("added", { success: Schema.String, run: () => Effect.succeed("added") })
          const flow = Flow.make(`extended-${freshId("e")}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () =>
              Effect.gen(function*() {
                yield* first()
                yield* Flow.sleep("1 hour")
                return extended ? yield* added() : "plain"
              })
          })
          const id = freshId("extended")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          extended = true
          yield* TestClock.adjust("2 hours")
          const outcome = yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("added") })
        }))

      it.effect("a changed step input names the fields that differ", () =>
        Effect.gen(function*() {
          const Order = Schema.Struct({ id: Schema.String, cents: Schema.Number, note: Schema.String })
          let cents = 100
          const charge = Step.make("charge", { input: Order, run: () => Effect.void })
          const flow = Flow.make(`fields-${freshId("f")}`, {
            input: Schema.Void,
            run: () => Effect.zipRight(charge({ id: "o-1", cents, note: "same" }), Flow.sleep("1 hour"))
          })
          const id = freshId("fields")
          assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
          cents = 250
          const error = yield* Effect.flip(Executor.execute(flow, undefined, { id, suspendAfter: 0 }))
          assert.strictEqual(error._tag, "NonDeterminismError")
          if (error._tag !== "NonDeterminismError") return
          assert.strictEqual(error.reason, "input")
          assert.include(error.message, "cents (100 → 250)")
          assert.notInclude(error.message, "note")
        }))

      it.effect("concurrent children under a worker: no warning is logged, each parent runs at most once per child it waited for", () =>
        // On the real clock, as a user runs it.
        TestServices.provideLive(Effect.gen(function*() {
          const tag = freshId("kids")
          const runs = new Map<string, number>()
          const warnings: Array<string> = []
          const logger = Logger.make(({ logLevel, message }) => {
            if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warnings.push(`${logLevel.label} ${JSON.stringify(message)}`)
          })
          const reserve = Step.make("reserve", {
            success: Schema.String,
            run: (sku: string) => Effect.as(Effect.sleep(`${5 + sku.length} millis`), `res-${sku}`)
          })
          const Child = Flow.make(`reserve-${tag}`, { input: Schema.String, success: Schema.String, run: (sku) => reserve(sku) })
          const Parent = Flow.make(`order-${tag}`, {
            input: Schema.Array(Schema.String),
            success: Schema.Array(Schema.String),
            run: (skus) =>
              Effect.zipRight(
                Effect.flatMap(Flow.id, (id) => Effect.sync(() => void runs.set(id, (runs.get(id) ?? 0) + 1))),
                Effect.forEach(skus, (sku) => Flow.invoke(Child, sku, { key: sku }), { concurrency: "unbounded" })
              )
          })
          const worker = Worker.make("kids").unversioned().register(Parent, Child).withPollInterval("20 millis")
            .withConcurrency(16).withSuspendAfter("0 millis")
          const scheduler = Scheduler.make().unversioned()
          const skus = ["apple", "pear", "plum"]
          const ids = Array.from({ length: 6 }, (_, i) => `${tag}-order-${i}`)
          const results = yield* Effect.gen(function*() {
            const fiber = yield* Effect.fork(worker.run())
            const handles = yield* Effect.forEach(ids, (id) => scheduler.schedule(Parent, skus, { id }))
            const out = yield* Effect.forEach(handles, (handle) => handle.await, { concurrency: "unbounded" })
            yield* Fiber.interrupt(fiber)
            return out
          }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
          for (const result of results) assert.deepStrictEqual(result, ["res-apple", "res-pear", "res-plum"])
          assert.deepStrictEqual(warnings, [])
          for (const id of ids) assert.isAtMost(runs.get(id) ?? 0, 1 + skus.length, id)
        })))

      it.effect("suspendFlow: suspends unless an awaited signal or child is there; refuses a flow not ours", () =>
        Effect.gen(function*() {
          const log = yield* ExecutionLog.ExecutionLog
          const { flowRecord } = makeRecords(`suspend-${freshId("s")}`)
          const id = freshId("suspend")
          const childId = `${id}/child`
          yield* log.insertFlow(flowRecord(id, { leaseOwner: "w", leaseEpoch: 1 }))
          yield* log.insertFlow(flowRecord(childId, { parentId: id, parentKey: "child" }))
          const fence = { owner: "w", epoch: 1 }
          const suspension = (signals: ReadonlyArray<string>, children: ReadonlyArray<string>) => ({
            runAfter: null,
            suspendReason: { _tag: "Signal" },
            signals,
            children,
            now: 5
          })
          yield* log.insertSignal(id, "here", "payload", 1)
          assert.strictEqual(yield* log.suspendFlow(id, suspension(["here"], []), fence), "satisfied")
          assert.strictEqual(yield* log.suspendFlow(id, suspension(["absent"], []), { owner: "x", epoch: 1 }), "refused")
          yield* log.updateFlow(childId, { status: "completed", result: { _tag: "Success" }, updatedAt: 2 })
          assert.strictEqual(yield* log.suspendFlow(id, suspension(["absent"], [childId]), fence), "satisfied")
          assert.strictEqual((yield* log.getFlow(id)).pipe(Option.getOrThrow).status, "running")
          assert.strictEqual(yield* log.suspendFlow(id, suspension(["absent"], [`${id}/other`]), fence), "suspended")
          const row = Option.getOrThrow(yield* log.getFlow(id))
          assert.strictEqual(row.status, "suspended")
          assert.deepStrictEqual(row.suspendReason, { _tag: "Signal" })
          // Suspended: a signal now wakes it (the insert makes a suspended flow ready in the same write).
          yield* log.insertSignal(id, "absent", "late", 6)
          assert.strictEqual(Option.getOrThrow(yield* log.getFlow(id)).status, "pending")
          // Not running any more: refused.
          assert.strictEqual(yield* log.suspendFlow(id, suspension([], []), undefined), "refused")
        }))
    })
  })

const TestClockNow = TestClock.currentTimeMillis

/** Waits until the forked execution has recorded its timer (so its fire time is fixed). */
const waitForWaits = (id: string): Effect.Effect<void, unknown, ExecutionLog.ExecutionLog> =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog.ExecutionLog
    while (true) {
      const loaded = yield* log.loadFlow(id)
      if (Option.isSome(loaded) && loaded.value.steps.some((step) => step.key === "$sleep")) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
  })
