/**
 * The long-lived flows conformance suite: named events, continue-as-new and the journal limit,
 * compensation, cancel reasons, idempotent start with `onConflict`, run against a store Layer.
 * Every store runs it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import {
  Client,
  EventTimeout,
  ExecutionLog,
  Executor,
  Flow,
  FlowConflictError,
  FlowEndedError,
  InvalidEventError,
  JournalLimitError,
  Retryable,
  RetryPolicy,
  Scheduler,
  Step,
  Worker
} from "../../src/index.js"
import * as Testing from "../../src/testing.js"

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

const journalOf = (id: string) =>
  Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.loadFlow(id)).pipe(Effect.map(Option.getOrThrow))

const statusOf = (id: string) => Client.status(id)

/** The journal of `id`, empty while the flow is not in the store yet. */
const entriesOf = (id: string) =>
  Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.loadFlow(id)).pipe(
    Effect.map(Option.match({ onNone: () => [], onSome: (loaded) => loaded.steps }))
  )

/** The typed failure of a completed outcome, if it is one. */
const failureOf = (outcome: Executor.FlowOutcome<unknown, unknown>) =>
  outcome._tag === "Completed" && Exit.isFailure(outcome.exit)
    ? Option.map(Cause.failureOption(outcome.exit.cause), (error) => ({ ...(error as object) }))
    : Option.none()

const Paid = Schema.Struct({ orderId: Schema.String, amount: Schema.Number })

class Unavailable extends Retryable.TaggedError<Unavailable>()("Unavailable", {}) {}

class ShipFailed extends Schema.TaggedError<ShipFailed>()("ShipFailed", { reason: Schema.String }) {}

/** A few milliseconds of real time (the tests run on the `TestClock`): for polling progress. */
const realSleep = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))

/** Runs `worker` in the background for the duration of `body`. */
const withWorker = <A, E, R>(worker: Effect.Effect<never, unknown, any>, body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(worker)
    const result = yield* Effect.exit(body)
    yield* Fiber.interrupt(fiber)
    return yield* result
  })

export const suite = (name: string, layer: Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`long-lived flows conformance: ${name}`, () => {
    it.layer(layer)((it) => {
      // -------------------------------------------------------------------------------------
      // Named events
      // -------------------------------------------------------------------------------------

      it.effect("events: one emitted before any flow exists is seen by flows that wait later; the first emit wins", () =>
        Effect.gen(function*() {
          const event = freshId("paid")
          assert.isTrue(yield* Client.emitEvent(event, { orderId: "o-1", amount: 10 }, Paid))
          assert.isFalse(yield* Client.emitEvent(event, { orderId: "o-1", amount: 99 }, Paid))
          const Waiter = Flow.make(freshId("waiter"), {
            input: Schema.Void,
            success: Schema.Number,
            error: InvalidEventError,
            run: () => Effect.map(Flow.awaitEvent(event, Paid), (paid) => paid.amount)
          })
          for (let i = 0; i < 2; i++) {
            const outcome = yield* Executor.execute(Waiter, undefined, { id: freshId("late") })
            assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(10) })
          }
        }))

      it.effect("events: every flow suspended on a name is woken by its emit and gets the payload", () =>
        Effect.gen(function*() {
          const event = freshId("ready")
          const Waiter = Flow.make(freshId("waiter"), {
            input: Schema.Void,
            success: Schema.String,
            error: InvalidEventError,
            run: () => Effect.map(Flow.awaitEvent(event, Paid), (paid) => `${paid.orderId}:${paid.amount}`)
          })
          const ids = [freshId("a"), freshId("b"), freshId("c")]
          for (const id of ids) {
            const outcome = yield* Executor.execute(Waiter, undefined, { id })
            assert.deepStrictEqual(outcome, {
              _tag: "Suspended",
              reason: Executor.SuspendReason.Event({ key: `$event/${event}`, name: event, timeoutAt: undefined })
            })
            assert.strictEqual(yield* statusOf(id), "suspended")
          }
          assert.isTrue(yield* Client.emitEvent(event, { orderId: "o-2", amount: 5 }))
          for (const id of ids) {
            // Woken by the emit: ready to run again.
            assert.strictEqual(yield* statusOf(id), "pending")
            assert.deepStrictEqual(yield* Executor.execute(Waiter, undefined, { id }), {
              _tag: "Completed",
              exit: Exit.succeed("o-2:5")
            })
          }
        }))

      it.effect("events: a payload a waiter's schema refuses is that waiter's InvalidEventError; others still get it", () =>
        Effect.gen(function*() {
          const event = freshId("shape")
          const Strict = Flow.make(freshId("strict"), {
            input: Schema.Void,
            success: Schema.Number,
            error: InvalidEventError,
            run: () => Flow.awaitEvent(event, Schema.Number)
          })
          const Loose = Flow.make(freshId("loose"), {
            input: Schema.Void,
            success: Schema.String,
            error: InvalidEventError,
            run: () => Flow.awaitEvent(event, Schema.String)
          })
          const strictId = freshId("strict")
          assert(Executor.isSuspended(yield* Executor.execute(Strict, undefined, { id: strictId })))
          yield* Client.emitEvent(event, "not a number")
          const strict = yield* Executor.execute(Strict, undefined, { id: strictId })
          assert(strict._tag === "Completed" && Exit.isFailure(strict.exit))
          const error = Cause.failureOption(strict.exit.cause)
          assert(Option.isSome(error) && error.value instanceof InvalidEventError)
          assert.strictEqual(error.value.name, event)
          // Recorded: replaying gives the same typed failure.
          assert.deepStrictEqual(yield* Executor.execute(Strict, undefined, { id: strictId }), strict)
          assert.deepStrictEqual(yield* Executor.execute(Loose, undefined, { id: freshId("loose") }), {
            _tag: "Completed",
            exit: Exit.succeed("not a number")
          })
        }))

      it.effect("events: a timeout is fixed durably and fails the wait with EventTimeout", () =>
        Effect.gen(function*() {
          const event = freshId("never")
          const Waiter = Flow.make(freshId("waiter"), {
            input: Schema.Void,
            success: Schema.String,
            error: Schema.Union(EventTimeout, InvalidEventError),
            run: () => Flow.awaitEvent(event, Schema.String, { timeout: "1 hour" })
          })
          const id = freshId("timeout")
          assert(Executor.isSuspended(yield* Executor.execute(Waiter, undefined, { id })))
          yield* TestClock.adjust("30 minutes")
          assert(Executor.isSuspended(yield* Executor.execute(Waiter, undefined, { id })))
          yield* TestClock.adjust("31 minutes")
          const ended = yield* Executor.execute(Waiter, undefined, { id })
          assert(ended._tag === "Completed" && Exit.isFailure(ended.exit))
          const error = Cause.failureOption(ended.exit.cause)
          assert(Option.isSome(error) && error.value instanceof EventTimeout)
          // Emitted after the deadline: the recorded timeout stands.
          yield* Client.emitEvent(event, "late")
          assert.deepStrictEqual(yield* Executor.execute(Waiter, undefined, { id }), ended)
        }))

      it.effect("events: an emit inside a flow is recorded and not repeated on replay", () =>
        Effect.gen(function*() {
          const event = freshId("go")
          let emits = 0
          const blocker = yield* Deferred.make<void>()
          const wait = Step.make("wait", { run: () => Deferred.await(blocker) })
          const Emitter = Flow.make(freshId("emitter"), {
            input: Schema.Void,
            success: Schema.Array(Schema.Boolean),
            run: () =>
              Effect.gen(function*() {
                const first = yield* Effect.suspend(() => Flow.emitEvent(event, ++emits))
                // Client.emitEvent inside a flow is the same recorded operation.
                const second = yield* Client.emitEvent(`${event}-client`, "x").pipe(Effect.orDie)
                yield* wait()
                return [first, second]
              })
          })
          const id = freshId("emitter")
          const fiber = yield* Effect.fork(Executor.execute(Emitter, undefined, { id }))
          // Stopped once both emits are recorded (before the step ends): a crash.
          while ((yield* entriesOf(id)).length < 2) yield* realSleep
          yield* Fiber.interrupt(fiber)
          yield* Deferred.succeed(blocker, undefined)
          // Replayed: the recorded `true`s, where emitting again would give `false`.
          assert.deepStrictEqual(yield* Executor.execute(Emitter, undefined, { id }), {
            _tag: "Completed",
            exit: Exit.succeed([true, true])
          })
          const kinds = (yield* journalOf(id)).steps.map((step) => step.kind).sort()
          assert.deepStrictEqual(kinds, ["emit", "emit", "step"])
          const log = yield* ExecutionLog.ExecutionLog
          const stored = yield* log.getEvent(event)
          assert(Option.isSome(stored))
          assert.strictEqual(stored.value.payload, 1)
        }))

      it.effect("events: a flow waiting in a worker is woken by an emit from another flow", () =>
        Effect.gen(function*() {
          const event = freshId("handoff")
          const Consumer = Flow.make(freshId("consumer"), {
            input: Schema.Void,
            success: Schema.Number,
            error: InvalidEventError,
            run: () => Effect.map(Flow.awaitEvent(event, Paid), (paid) => paid.amount * 2)
          })
          const Producer = Flow.make(freshId("producer"), {
            input: Schema.Number,
            success: Schema.Boolean,
            run: (amount) => Flow.emitEvent(event, { orderId: "o-3", amount }, Paid)
          })
          const scheduler = Scheduler.make().unversioned()
          const worker = Worker.make("w").unversioned().register(Consumer, Producer).withSuspendAfter("0 millis")
            .withPollInterval("50 millis")
          const consumer = yield* scheduler.schedule(Consumer, undefined)
          const result = yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              while ((yield* consumer.status) !== "suspended") yield* realSleep
              const producer = yield* scheduler.schedule(Producer, 21)
              assert.isTrue(yield* Testing.runWithTestClock(producer.await))
              return yield* Testing.runWithTestClock(consumer.await)
            })
          )
          assert.strictEqual(result, 42)
        }))

      // -------------------------------------------------------------------------------------
      // Continue-as-new
      // -------------------------------------------------------------------------------------

      it.effect("continueAsNew: each execution starts with the new input and an empty journal; executions are listed in order", () =>
        Effect.gen(function*() {
          const ran: Array<number> = []
          const work = Step.make("work", { success: Schema.Number, run: (n: number) => Effect.sync(() => (ran.push(n), n)) })
          const Counter: Flow.Flow<string, any> = Flow.make(freshId("counter"), {
            input: Schema.Struct({ n: Schema.Number }),
            success: Schema.Number,
            run: ({ n }) =>
              Effect.gen(function*() {
                yield* work(n)
                if (n < 3) return yield* Flow.continueAsNew(Counter, { n: n + 1 })
                return n * 10
              })
          })
          const id = freshId("counter")
          assert.deepStrictEqual(yield* Executor.execute(Counter, { n: 0 }, { id }), {
            _tag: "Completed",
            exit: Exit.succeed(30)
          })
          assert.deepStrictEqual(ran, [0, 1, 2, 3])
          const executions = yield* Client.listExecutions(id)
          assert.deepStrictEqual(executions.map((e) => [e.execution, e.status, e.input, e.entries]), [
            [1, "continued", { n: 0 }, 1],
            [2, "continued", { n: 1 }, 1],
            [3, "continued", { n: 2 }, 1],
            [4, "completed", { n: 3 }, 1]
          ])
          const { flow, steps } = yield* journalOf(id)
          assert.strictEqual(flow.execution, 4)
          assert.deepStrictEqual(steps.map((s) => s.key), ["work"])
          // Running the id again returns the final result without running anything.
          assert.deepStrictEqual(yield* Executor.execute(Counter, { n: 3 }, { id }), {
            _tag: "Completed",
            exit: Exit.succeed(30)
          })
          assert.deepStrictEqual(ran, [0, 1, 2, 3])
        }))

      it.effect("continueAsNew under a worker: a monthly loop suspends each period; the handle sees the last result", () =>
        Effect.gen(function*() {
          const billed: Array<number> = []
          const bill = Step.make("bill", { run: (month: number) => Effect.sync(() => void billed.push(month)) })
          const Subscription: Flow.Flow<string, any> = Flow.make(freshId("subscription"), {
            input: Schema.Struct({ month: Schema.Number }),
            success: Schema.String,
            run: ({ month }) =>
              Effect.gen(function*() {
                yield* bill(month)
                if (month === 3) return `ended after ${month} months`
                yield* Flow.sleep("30 days")
                return yield* Flow.continueAsNew(Subscription, { month: month + 1 })
              })
          })
          const handle = yield* Scheduler.make().unversioned().schedule(Subscription, { month: 1 })
          const worker = Worker.make("w").unversioned().register(Subscription).withTimers().withPollInterval("10 minutes")
          assert.strictEqual(yield* withWorker(worker.run(), Testing.runWithTestClock(handle.await)), "ended after 3 months")
          assert.deepStrictEqual(billed, [1, 2, 3])
          const executions = yield* Client.listExecutions(handle.id)
          assert.deepStrictEqual(executions.map((e) => e.execution), [1, 2, 3])
          assert.deepStrictEqual(executions.map((e) => e.entries), [2, 2, 1])
        }))

      it.effect("the journal limit fails a flow that never continues as new, with a JournalLimitError saying what to do", () =>
        Effect.gen(function*() {
          const tick = Step.make("tick", { success: Schema.Number, run: (i: number) => Effect.succeed(i) })
          const Loop = Flow.make(freshId("loop"), {
            input: Schema.Void,
            maxJournalEntries: 5,
            run: () => Effect.forEach([1, 2, 3, 4, 5, 6, 7], (i) => tick(i), { discard: true })
          })
          const id = freshId("loop")
          const error = yield* Effect.flip(Executor.execute(Loop, undefined, { id }))
          assert.instanceOf(error, JournalLimitError)
          assert.include(error.message, "Flow.continueAsNew")
          assert.strictEqual(yield* statusOf(id), "failed")
          assert.strictEqual((yield* journalOf(id)).steps.length, 5)
        }))

      // -------------------------------------------------------------------------------------
      // Compensation
      // -------------------------------------------------------------------------------------

      // The steps of a saga and their compensations, each writing to `log` (the refund waits for `refundGate`).
      const sagaSteps = (log: Array<string>, refundGate?: Deferred.Deferred<void>) => ({
        charge: Step.make("charge", { success: Schema.String, run: (amount: number) => Effect.sync(() => (log.push(`charge ${amount}`), "pay-1")) }),
        refund: Step.make("refund", {
          run: (payment: string) =>
            Effect.gen(function*() {
              if (refundGate !== undefined) yield* Deferred.await(refundGate)
              log.push(`refund ${payment}`)
            })
        }),
        reserve: Step.make("reserve", { success: Schema.String, run: () => Effect.sync(() => (log.push("reserve"), "res-1")) }),
        release: Step.make("release", { run: (reservation: string) => Effect.sync(() => void log.push(`release ${reservation}`)) })
      })

      const saga = (log: Array<string>, options: { readonly fail: boolean; readonly refundGate?: Deferred.Deferred<void> }) => {
        const { charge, refund, reserve, release } = sagaSteps(log, options.refundGate)
        const ship = Step.make("ship", {
          error: ShipFailed,
          run: () => options.fail ? Effect.fail(new ShipFailed({ reason: "no courier" })) : Effect.sync(() => void log.push("ship"))
        })
        return Flow.make(freshId("saga"), {
          input: Schema.Number,
          error: ShipFailed,
          run: (amount) =>
            Effect.gen(function*() {
              yield* charge(amount).pipe(Flow.withCompensation((payment) => refund(payment)))
              yield* Flow.withCompensation(reserve(), (reservation, cause) => {
                log.push(`cause: ${Cause.isFailType(cause) ? (cause.error as ShipFailed).reason : "other"}`)
                return release(reservation)
              })
              yield* ship()
            })
        })
      }

      it.effect("compensation: a failing flow runs the compensations of completed steps, newest first, once", () =>
        Effect.gen(function*() {
          const log: Array<string> = []
          const Saga = saga(log, { fail: true })
          const id = freshId("saga")
          const first = yield* Executor.execute(Saga, 10, { id })
          assert.deepStrictEqual(failureOf(first), Option.some({ _tag: "ShipFailed", reason: "no courier" }))
          assert.deepStrictEqual(log, ["charge 10", "reserve", "cause: no courier", "release res-1", "refund pay-1"])
          const kinds = (yield* journalOf(id)).steps.filter((s) => s.kind === "compensation").map((s) => s.key).sort()
          // The marker that a compensation was registered, and the two compensations.
          assert.deepStrictEqual(kinds, ["$compensable", "$compensation/1/$compensate", "$compensation/2/$compensate"])
          assert.deepStrictEqual(failureOf(yield* Executor.execute(Saga, 10, { id })), failureOf(first))
          assert.strictEqual(log.length, 5)
        }))

      it.effect("compensation: none runs on success", () =>
        Effect.gen(function*() {
          const log: Array<string> = []
          const Saga = saga(log, { fail: false })
          assert.deepStrictEqual(yield* Executor.execute(Saga, 10, { id: freshId("saga") }), {
            _tag: "Completed",
            exit: Exit.void
          })
          assert.deepStrictEqual(log, ["charge 10", "reserve", "ship"])
        }))

      it.effect("compensation: a crash during compensation resumes with those not done yet", () =>
        Effect.gen(function*() {
          const log: Array<string> = []
          const gate = yield* Deferred.make<void>()
          const Saga = saga(log, { fail: true, refundGate: gate })
          const id = freshId("saga")
          const fiber = yield* Effect.fork(Executor.execute(Saga, 10, { id }))
          // Once the release is recorded, "crash" while the refund runs.
          while ((yield* entriesOf(id)).filter((s) => s.kind === "compensation").length < 1) yield* realSleep
          yield* Fiber.interrupt(fiber)
          yield* Deferred.succeed(gate, undefined)
          const resumed = yield* Executor.execute(Saga, 10, { id })
          assert.deepStrictEqual(failureOf(resumed), Option.some({ _tag: "ShipFailed", reason: "no courier" }))
          assert.deepStrictEqual(log.filter((line) => line.startsWith("release")), ["release res-1"])
          assert.deepStrictEqual(log.filter((line) => line.startsWith("refund")), ["refund pay-1"])
          assert.strictEqual(log.filter((line) => line === "charge 10").length, 1)
        }))

      // A saga that waits for an approval after its compensable steps: cancelled while it waits.
      const waitingSaga = (log: Array<string>, refundGate?: Deferred.Deferred<void>) => {
        const { charge, refund, reserve, release } = sagaSteps(log, refundGate)
        const ship = Step.make("ship", { run: () => Effect.sync(() => void log.push("ship")) })
        return Flow.make(freshId("waiting-saga"), {
          input: Schema.Number,
          run: (amount) =>
            Effect.gen(function*() {
              yield* charge(amount).pipe(Flow.withCompensation((payment, cause) => {
                log.push(`cause: ${Cause.isInterruptedOnly(cause) ? "interrupted" : "other"}`)
                return refund(payment)
              }))
              yield* Flow.withCompensation(reserve(), (reservation) => release(reservation))
              yield* Flow.awaitSignal("approved", Schema.Boolean)
              yield* ship()
            })
        })
      }

      it.effect("compensation on cancel: a suspended flow asked to cancel runs its compensations, newest first, once, then ends cancelled", () =>
        Effect.gen(function*() {
          const log: Array<string> = []
          const Saga = waitingSaga(log)
          const id = freshId("saga")
          assert(Executor.isSuspended(yield* Executor.execute(Saga, 10, { id })))
          yield* Client.cancel(id, { reason: "customer asked" })
          // Not ended yet: ready for a run that compensates.
          const asked = Option.getOrThrow(yield* Client.get(id))
          assert.strictEqual(asked.status, "pending")
          assert.isNumber(asked.cancelRequestedAt)
          assert.strictEqual(asked.cancelReason, "customer asked")
          // Cancelling again changes nothing.
          yield* Client.cancel(id, { reason: "again" })
          assert.strictEqual(Option.getOrThrow(yield* Client.get(id)).cancelReason, "customer asked")
          const outcome = yield* Executor.execute(Saga, 10, { id })
          assert(outcome._tag === "Completed" && Exit.isInterrupted(outcome.exit))
          assert.deepStrictEqual(log, ["charge 10", "reserve", "release res-1", "cause: interrupted", "refund pay-1"])
          const done = Option.getOrThrow(yield* Client.get(id))
          assert.strictEqual(done.status, "cancelled")
          assert.strictEqual(done.cancelReason, "customer asked")
          assert.isNotNull(done.completedAt)
          // Ended: another run replays nothing and runs nothing.
          const again = yield* Executor.execute(Saga, 10, { id })
          assert(again._tag === "Completed" && Exit.isInterrupted(again.exit))
          assert.strictEqual(log.length, 5)
          const kinds = (yield* journalOf(id)).steps.filter((s) => s.kind === "compensation").map((s) => s.key).sort()
          assert.deepStrictEqual(kinds, ["$compensable", "$compensation/1/$compensate", "$compensation/2/$compensate"])
        }))

      it.effect("compensation on cancel: a flow with no compensation registered yet ends cancelled in one write", () =>
        Effect.gen(function*() {
          const log: Array<string> = []
          const undo = Step.make("undo", { run: () => Effect.sync(() => void log.push("undo")) })
          const Late = Flow.make(freshId("late"), {
            input: Schema.Void,
            run: () =>
              Effect.gen(function*() {
                yield* Flow.awaitSignal("go", Schema.Boolean)
                yield* Flow.withCompensation(Effect.void, () => undo())
              })
          })
          const id = freshId("late")
          assert(Executor.isSuspended(yield* Executor.execute(Late, undefined, { id })))
          yield* Client.cancel(id)
          const row = Option.getOrThrow(yield* Client.get(id))
          assert.strictEqual(row.status, "cancelled")
          assert.isUndefined(row.cancelRequestedAt)
          assert.deepStrictEqual(log, [])
        }))

      it.effect("compensation on cancel: a flow waiting for its next flow-level attempt compensates what its completed steps did", () =>
        Effect.gen(function*() {
          const log: Array<string> = []
          const prepare = Step.make("prepare", { success: Schema.String, run: () => Effect.sync(() => (log.push("prepare"), "prep-1")) })
          const undo = Step.make("undo", { run: (prepared: string) => Effect.sync(() => void log.push(`undo ${prepared}`)) })
          const flaky = Step.make("flaky", { error: Unavailable, run: () => Effect.fail(new Unavailable()) })
          const Retried = Flow.make(freshId("retried"), {
            input: Schema.Void,
            error: Unavailable,
            retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "1 hour" }),
            run: () =>
              Effect.gen(function*() {
                yield* prepare().pipe(Flow.withCompensation((prepared) => undo(prepared)))
                yield* flaky()
              })
          })
          const id = freshId("retried")
          const first = yield* Executor.execute(Retried, undefined, { id })
          assert(first._tag === "Suspended" && first.reason._tag === "Retry")
          yield* Client.cancel(id)
          // Long before the next attempt is due: the cancellation does not wait for it.
          const outcome = yield* Executor.execute(Retried, undefined, { id })
          assert(outcome._tag === "Completed" && Exit.isInterrupted(outcome.exit))
          assert.deepStrictEqual(log, ["prepare", "undo prep-1"])
          assert.strictEqual(yield* statusOf(id), "cancelled")
        }))

      it.effect("compensation on cancel: a crash during the compensations resumes with those not done yet", () =>
        Effect.gen(function*() {
          const log: Array<string> = []
          const gate = yield* Deferred.make<void>()
          const Saga = waitingSaga(log, gate)
          const id = freshId("saga")
          assert(Executor.isSuspended(yield* Executor.execute(Saga, 10, { id })))
          yield* Client.cancel(id)
          const fiber = yield* Effect.fork(Executor.execute(Saga, 10, { id }))
          // Once the release is recorded, "crash" while the refund waits.
          while ((yield* entriesOf(id)).filter((s) => s.key.startsWith("$compensation/")).length < 1) yield* realSleep
          yield* Fiber.interrupt(fiber)
          yield* Deferred.succeed(gate, undefined)
          const resumed = yield* Executor.execute(Saga, 10, { id })
          assert(resumed._tag === "Completed" && Exit.isInterrupted(resumed.exit))
          assert.deepStrictEqual(log.filter((line) => line.startsWith("release")), ["release res-1"])
          assert.deepStrictEqual(log.filter((line) => line.startsWith("refund")), ["refund pay-1"])
          assert.strictEqual(yield* statusOf(id), "cancelled")
        }))

      it.effect("compensation on cancel: under a worker, a cancelled saga is taken again and compensated; its handle sees the cancellation", () =>
        TestServices.provideLive(Effect.gen(function*() {
          const log: Array<string> = []
          const Saga = waitingSaga(log)
          const worker = Worker.make(freshId("sagas")).unversioned().register(Saga).withPollInterval("20 millis").withSuspendAfter("0 millis")
          const fiber = yield* Effect.fork(worker.run())
          const handle = yield* Scheduler.make().unversioned().schedule(Saga, 7)
          while ((yield* statusOf(handle.id)) !== "suspended") yield* realSleep
          yield* handle.cancelWith({ reason: "out of stock" })
          // The handle resolves once the flow has ended, its compensations run.
          const error = yield* Effect.flip(handle.await)
          assert.strictEqual(error._tag, "FlowCancelledError")
          assert.deepStrictEqual(log, ["charge 7", "reserve", "release res-1", "cause: interrupted", "refund pay-1"])
          const row = Option.getOrThrow(yield* Client.get(handle.id))
          assert.strictEqual(row.status, "cancelled")
          assert.strictEqual(row.cancelReason, "out of stock")
          yield* Fiber.interrupt(fiber)
        })))

      // -------------------------------------------------------------------------------------
      // Flow-level retry
      // -------------------------------------------------------------------------------------

      it.effect("flow retry: a retryable failure runs the flow again after a durable backoff; completed steps replay", () =>
        Effect.gen(function*() {
          const ran: Array<string> = []
          let flakyRuns = 0
          const prepare = Step.make("prepare", { run: () => Effect.sync(() => void ran.push("prepare")) })
          const flaky = Step.make("flaky", {
            error: Unavailable,
            run: () => Effect.suspend(() => (++flakyRuns < 3 ? Effect.fail(new Unavailable()) : Effect.sync(() => void ran.push("flaky ok"))))
          })
          const undo = Step.make("undo", { run: () => Effect.sync(() => void ran.push("undo")) })
          const Retried = Flow.make(freshId("retried"), {
            input: Schema.Void,
            error: Unavailable,
            retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "1 hour" }),
            run: () =>
              Effect.gen(function*() {
                yield* prepare().pipe(Flow.withCompensation(() => undo()))
                yield* flaky()
              })
          })
          const id = freshId("retried")
          const first = yield* Executor.execute(Retried, undefined, { id })
          assert(first._tag === "Suspended" && first.reason._tag === "Retry")
          assert.strictEqual(first.reason.attempt, 2)
          assert.strictEqual(yield* statusOf(id), "suspended")
          // Not before its time.
          yield* TestClock.adjust("30 minutes")
          assert(Executor.isSuspended(yield* Executor.execute(Retried, undefined, { id })))
          assert.strictEqual(flakyRuns, 1)
          yield* TestClock.adjust("30 minutes")
          assert(Executor.isSuspended(yield* Executor.execute(Retried, undefined, { id })))
          yield* TestClock.adjust("1 hour")
          assert.deepStrictEqual(yield* Executor.execute(Retried, undefined, { id }), { _tag: "Completed", exit: Exit.void })
          // No compensation (it succeeded in the end); prepare ran once.
          assert.deepStrictEqual(ran, ["prepare", "flaky ok"])
          assert.strictEqual(flakyRuns, 3)
        }))

      it.effect("flow retry: once attempts are spent the failure is final and compensations run; a non-retryable error is final at once", () =>
        Effect.gen(function*() {
          const ran: Array<string> = []
          const undo = Step.make("undo", { run: () => Effect.sync(() => void ran.push("undo")) })
          const prepare = Step.make("prepare", { run: () => Effect.sync(() => void ran.push("prepare")) })
          const failing = Step.make("failing", { error: Unavailable, run: () => Effect.fail(new Unavailable()) })
          const Exhausted = Flow.make(freshId("exhausted"), {
            input: Schema.Void,
            error: Unavailable,
            retry: RetryPolicy.fixed({ maxAttempts: 2, delay: "1 minute" }),
            run: () => Effect.zipRight(prepare().pipe(Flow.withCompensation(() => undo())), failing())
          })
          const id = freshId("exhausted")
          assert(Executor.isSuspended(yield* Executor.execute(Exhausted, undefined, { id })))
          assert.deepStrictEqual(ran, ["prepare"])
          yield* TestClock.adjust("1 minute")
          const last = yield* Executor.execute(Exhausted, undefined, { id })
          assert.deepStrictEqual(failureOf(last), Option.some({ _tag: "Unavailable" }))
          assert.deepStrictEqual(ran, ["prepare", "undo"])

          const Final = Flow.make(freshId("final"), {
            input: Schema.Void,
            error: ShipFailed,
            retry: RetryPolicy.fixed({ maxAttempts: 5, delay: "1 minute" }),
            run: () => Effect.fail(new ShipFailed({ reason: "not retryable" }))
          })
          const final = yield* Executor.execute(Final, undefined, { id: freshId("final") })
          assert.deepStrictEqual(failureOf(final), Option.some({ _tag: "ShipFailed", reason: "not retryable" }))
        }))

      // -------------------------------------------------------------------------------------
      // Step timeouts
      // -------------------------------------------------------------------------------------

      it.effect("step timeout: an attempt that runs too long is interrupted and retried; the last one's timeout is a defect", () =>
        Effect.gen(function*() {
          let attempts = 0
          let interrupted = 0
          const slow = (finishOn: number) =>
            Step.make("slow", {
              success: Schema.Number,
              timeout: "1 second",
              retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "1 second" }),
              run: () =>
                Effect.suspend(() => {
                  const attempt = ++attempts
                  return attempt === finishOn
                    ? Effect.succeed(attempt)
                    : Effect.as(Effect.onInterrupt(Effect.sleep("1 hour"), () => Effect.sync(() => void interrupted++)), 0)
                })
            })
          const Recovers = Flow.make(freshId("recovers"), { input: Schema.Void, success: Schema.Number, run: () => slow(3)() })
          const id = freshId("recovers")
          const recovered = yield* Testing.runWithTestClock(Executor.execute(Recovers, undefined, { id }))
          assert.deepStrictEqual(recovered, { _tag: "Completed", exit: Exit.succeed(3) })
          assert.strictEqual(interrupted, 2)
          const entry = (yield* journalOf(id)).steps.find((step) => step.key === "slow")
          assert.strictEqual(entry?.attempts, 3)

          attempts = 0
          const Hangs = Flow.make(freshId("hangs"), { input: Schema.Void, success: Schema.Number, run: () => slow(99)() })
          const hung = yield* Testing.runWithTestClock(Executor.execute(Hangs, undefined, { id: freshId("hangs") }))
          assert(hung._tag === "Completed" && Exit.isFailure(hung.exit))
          assert.isTrue(Cause.isDie(hung.exit.cause))
          assert.include(Cause.pretty(hung.exit.cause), "did not finish within 1000 ms")
          assert.strictEqual(attempts, 3)
        }))

      // -------------------------------------------------------------------------------------
      // Retention
      // -------------------------------------------------------------------------------------

      it.effect("purge: ended root flows before the cutoff go, with children, journals, executions and signals; the rest stays", () =>
        Effect.gen(function*() {
          const tag = freshId("purge")
          const Leaf = Flow.make(`leaf-${tag}`, { input: Schema.String, run: () => Effect.void })
          const Waits = Flow.make(`waits-${tag}`, { input: Schema.String, run: () => Effect.asVoid(Flow.awaitSignal("go", Schema.String)) })
          const Parent = Flow.make(`parent-${tag}`, {
            input: Schema.String,
            run: (child) => child === "waits" ? Flow.invoke(Waits, "w", { key: "kid" }) : Flow.invoke(Leaf, "l", { key: "kid" })
          })
          const Looper: Flow.Flow<string, any> = Flow.make(`looper-${tag}`, {
            input: Schema.Number,
            run: (n) => (n < 2 ? Flow.continueAsNew(Looper, n + 1) : Effect.void)
          })
          const old = {
            parent: `${tag}/old-parent`,
            looper: `${tag}/old-looper`,
            cancelled: `${tag}/old-cancelled`,
            busyParent: `${tag}/old-busy-parent`,
            failed: `${tag}/old-failed`
          }
          yield* Executor.execute(Parent, "leaf", { id: old.parent })
          yield* Executor.execute(Looper, 0, { id: old.looper })
          yield* Client.signal(old.looper, "note", "kept until purged").pipe(Effect.ignore)
          assert(Executor.isSuspended(yield* Executor.execute(Parent, "waits", { id: old.busyParent })))
          assert(Executor.isSuspended(yield* Executor.execute(Waits, "x", { id: old.cancelled })))
          yield* Client.cancel(old.cancelled, { reason: "test" })
          const Broken = Flow.make(`broken-${tag}`, { input: Schema.Void, maxJournalEntries: 0, run: () => Effect.asVoid(Flow.now) })
          yield* Effect.flip(Executor.execute(Broken, undefined, { id: old.failed }))
          yield* TestClock.adjust("2 days")
          const recent = `${tag}/recent`
          yield* Executor.execute(Parent, "leaf", { id: recent })
          const cutoff = (yield* Effect.clockWith((clock) => clock.currentTimeMillis)) - 3_600_000

          // (The store is shared with the other tests: their old ended flows go too.)
          const result = yield* Client.purge({ status: ["completed", "cancelled"], finishedBefore: cutoff, batchSize: 1 })
          assert.isAtLeast(result.flows, 3)
          assert.strictEqual(result.events, 0)
          for (const id of [old.parent, `${old.parent}/$invoke/kid`, old.looper, old.cancelled]) {
            assert.isTrue(Option.isNone(yield* Client.get(id)), `${id} is purged`)
            assert.deepStrictEqual(yield* entriesOf(id), [])
          }
          const log = yield* ExecutionLog.ExecutionLog
          assert.deepStrictEqual(yield* log.listSignals(old.looper), [])
          assert.deepStrictEqual(yield* log.listExecutions(old.looper), [])
          // Kept: a root whose child still waits, a failed flow (not asked for), a recent one.
          for (const id of [old.busyParent, `${old.busyParent}/$invoke/kid`, old.failed, recent, `${recent}/$invoke/kid`]) {
            assert.isTrue(Option.isSome(yield* Client.get(id)), `${id} is kept`)
          }
          assert.deepStrictEqual(yield* Client.purge({ status: "failed", finishedBefore: cutoff, type: Broken.name }), { flows: 1, events: 0 })
          assert.isTrue(Option.isNone(yield* Client.get(old.failed)))
        }))

      it.effect("purge: events emitted before eventsBefore go; later ones stay", () =>
        Effect.gen(function*() {
          const old = freshId("old-event")
          yield* Client.emitEvent(old, 1)
          yield* TestClock.adjust("1 day")
          const recent = freshId("recent-event")
          yield* Client.emitEvent(recent, 2)
          const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          const result = yield* Client.purge({ status: "completed", finishedBefore: 0, eventsBefore: now - 1000 })
          assert.isAtLeast(result.events, 1)
          const log = yield* ExecutionLog.ExecutionLog
          assert.isTrue(Option.isNone(yield* log.getEvent(old)))
          assert.isTrue(Option.isSome(yield* log.getEvent(recent)))
        }))

      it.effect("Worker.withRetention deletes flows that ended longer ago than olderThan, as it runs", () =>
        Effect.gen(function*() {
          const Quick = Flow.make(freshId("quick"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n) })
          const worker = Worker.make("w").unversioned().register(Quick).withPollInterval("10 minutes")
            .withRetention({ olderThan: "1 day", every: "1 hour" })
          const handle = yield* Scheduler.make().unversioned().schedule(Quick, 7)
          yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              assert.strictEqual(yield* Testing.runWithTestClock(handle.await), 7)
              yield* Testing.advance("12 hours")
              assert.isTrue(Option.isSome(yield* Client.get(handle.id)))
              // Hour by hour until the worker's next purge has run (a store query takes real time).
              let hours = 12
              while (Option.isSome(yield* Client.get(handle.id))) {
                assert.isBelow(hours, 48, "purged within a day of its cutoff")
                yield* Testing.advance("1 hour")
                yield* realSleep
                hours++
              }
              assert.isAtLeast(hours, 24)
            })
          )
        }))

      // -------------------------------------------------------------------------------------
      // Cancel with a reason; idempotent start
      // -------------------------------------------------------------------------------------

      it.effect("cancel: the reason is recorded; children get 'parent canceled'; cancelling again changes nothing", () =>
        Effect.gen(function*() {
          const Child = Flow.make(freshId("child"), { input: Schema.Void, run: () => Effect.asVoid(Flow.awaitSignal("go", Schema.String)) })
          const Parent = Flow.make(freshId("parent"), { input: Schema.Void, run: () => Flow.invoke(Child, undefined, { key: "kid" }) })
          const id = freshId("parent")
          assert(Executor.isSuspended(yield* Executor.execute(Parent, undefined, { id })))
          yield* Client.cancel(id, { reason: "customer asked" })
          const parent = Option.getOrThrow(yield* Client.get(id))
          assert.strictEqual(parent.status, "cancelled")
          assert.strictEqual(parent.cancelReason, "customer asked")
          const child = Option.getOrThrow(yield* Client.get(`${id}/$invoke/kid`))
          assert.strictEqual(child.status, "cancelled")
          assert.strictEqual(child.cancelReason, "parent canceled")
          yield* Client.cancel(id, { reason: "again" })
          assert.strictEqual(Option.getOrThrow(yield* Client.get(id)).cancelReason, "customer asked")
          const listed = yield* Client.list({ status: "cancelled", type: Parent.name })
          assert.deepStrictEqual(listed.map((row) => row.cancelReason), ["customer asked"])

          const Done = Flow.make(freshId("done"), { input: Schema.Void, run: () => Effect.void })
          const doneId = freshId("done")
          yield* Executor.execute(Done, undefined, { id: doneId })
          const error = yield* Effect.flip(Client.cancel(doneId))
          assert.instanceOf(error, FlowEndedError)
        }))

      it.effect("schedule: onConflict 'useExisting' returns the existing flow; handle.created tells", () =>
        Effect.gen(function*() {
          const Doubler = Flow.make(freshId("doubler"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
          const scheduler = Scheduler.make().unversioned()
          const id = freshId("doubler")
          const first = yield* scheduler.schedule(Doubler, 1, { id })
          assert.isTrue(first.created)
          const same = yield* scheduler.schedule(Doubler, 1, { id })
          assert.isFalse(same.created)
          const conflict = yield* Effect.flip(scheduler.schedule(Doubler, 2, { id }))
          assert.instanceOf(conflict, FlowConflictError)
          const existing = yield* scheduler.schedule(Doubler, 2, { id, onConflict: "useExisting" })
          assert.isFalse(existing.created)
          assert.strictEqual(existing.id, id)
          const Other = Flow.make(freshId("other"), { input: Schema.Number, run: () => Effect.void })
          const typeConflict = yield* Effect.flip(scheduler.schedule(Other, 1, { id, onConflict: "useExisting" }))
          assert.instanceOf(typeConflict, FlowConflictError)
        }))
    })
  })
