/**
 * The workers conformance suite: scheduling, workers, leases, timers, signals, child flows,
 * cancellation, version routing and the client, run against a store Layer, with TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { Client, ExecutionLog, Executor, Flow, Scheduler, SignalSource, Step, Worker } from "../../src/index.js"
import * as Testing from "../../src/testing.js"

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

class Rejected extends Schema.TaggedError<Rejected>()("Rejected", { reason: Schema.String }) {}
const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

/** Each test gets flow types of its own, so workers of other tests never claim its flows. */
const flows = (tag: string) => {
  const double = Step.make("double", { success: Schema.Number, run: (n: number) => Effect.succeed(n * 2) })
  const Doubler = Flow.make(`doubler-${tag}`, { input: Schema.Number, success: Schema.Number, run: (n) => double(n) })
  const Sleeper = Flow.make(`sleeper-${tag}`, {
    input: Schema.Number,
    success: Schema.Number,
    run: (n) => Effect.zipRight(Flow.sleep("2 hours"), double(n))
  })
  const Approver = Flow.make(`approver-${tag}`, {
    input: Schema.Void,
    success: Schema.Array(Schema.String),
    run: () =>
      Effect.gen(function*() {
        const first = yield* Flow.awaitSignal("approval", Approval)
        const second = yield* Flow.awaitSignal("approval", Approval)
        return [first.by, second.by]
      })
  })
  const Impatient = Flow.make(`impatient-${tag}`, {
    input: Schema.Void,
    success: Schema.String,
    run: () =>
      Flow.awaitSignal("approval", Approval, { timeout: "1 day" }).pipe(
        Effect.map((a) => a.by),
        Effect.catchTag("SignalTimeout", () => Effect.succeed("timed out"))
      )
  })
  const Child = Flow.make(`child-${tag}`, {
    input: Schema.Number,
    success: Schema.Number,
    error: Rejected,
    run: (n) => (n < 0 ? Effect.fail(new Rejected({ reason: "negative" })) : double(n))
  })
  const Parent = Flow.make(`parent-${tag}`, {
    input: Schema.Number,
    success: Schema.String,
    run: (n) =>
      Flow.invoke(Child, n).pipe(
        Effect.map((x) => `child says ${x}`),
        Effect.catchTag("Rejected", (e) => Effect.succeed(`child rejected: ${e.reason}`))
      )
  })
  return { Doubler, Sleeper, Approver, Impatient, Child, Parent }
}

/** A step that signals `started`, then blocks until interrupted, and then signals `interrupted`. */
const blockingStep = Effect.gen(function*() {
  const started = yield* Deferred.make<void>()
  const interrupted = yield* Deferred.make<void>()
  const block = Step.make("block", {
    run: () =>
      Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
  })
  return { block, started, interrupted }
})

/** Runs `worker` in the background for the duration of `body`. */
const withWorker = <A, E, R>(worker: Effect.Effect<never, unknown, any>, body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(worker)
    const result = yield* Effect.exit(body)
    yield* Fiber.interrupt(fiber)
    return yield* result
  })

export const suite = (name: string, layer: Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`workers conformance: ${name}`, () => {
    it.layer(layer)((it) => {
      it.effect("schedules a flow; a worker runs it; await returns its result", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const scheduler = Scheduler.make().unversioned()
          const worker = Worker.make("w").unversioned().register(Doubler).withPollInterval("10 minutes")
          const result = yield* withWorker(
            worker.run(),
            Effect.flatMap(scheduler.schedule(Doubler, 21), (handle) => Testing.runWithTestClock(handle.await))
          )
          assert.strictEqual(result, 42)
        }))

      it.effect("scheduling is idempotent for the same id and input; another input is a FlowConflictError", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const scheduler = Scheduler.make().unversioned()
          const id = freshId("idem")
          const a = yield* scheduler.schedule(Doubler, 1, { id })
          const b = yield* scheduler.schedule(Doubler, 1, { id })
          assert.strictEqual(a.id, b.id)
          const conflict = yield* Effect.flip(scheduler.schedule(Doubler, 2, { id }))
          assert.strictEqual(conflict._tag, "FlowConflictError")
          const listed = yield* Client.list({ type: Doubler.name })
          assert.strictEqual(listed.length, 1)
          assert.strictEqual(listed[0]!.status, "pending")
        }))

      it.effect("input that does not match the schema: InvalidInputError, nothing enqueued", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const id = freshId("bad")
          const error = yield* Effect.flip(Scheduler.make().unversioned().schedule(Doubler, "x" as any, { id }))
          assert.strictEqual(error._tag, "InvalidInputError")
          assert(Option.isNone(yield* Client.get(id)))
        }))

      it.effect("a durable sleep suspends and releases the flow; a worker with timers resumes it when due", () =>
        Effect.gen(function*() {
          const { Sleeper } = flows(freshId("t"))
          const worker = Worker.make("w").unversioned().register(Sleeper).withTimers().withPollInterval("10 minutes")
          const handle = yield* Scheduler.make().unversioned().schedule(Sleeper, 5)
          yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              yield* Testing.advance("1 hour")
              assert.strictEqual(yield* handle.status, "suspended")
              // released: suspended until its recorded fire time, two hours after it started
              const row = Option.getOrThrow(yield* Client.get(handle.id))
              const log = yield* ExecutionLog.ExecutionLog
              const timer = Option.getOrThrow(yield* log.loadFlow(handle.id)).steps.find((step) => step.key === "$sleep")!
              assert.strictEqual(timer.status, "waiting")
              assert.strictEqual(row.runAfter, timer.nextAttemptAt)
              assert.strictEqual(yield* Testing.runWithTestClock(handle.await), 10)
            })
          )
        }))

      it.effect("a worker without withTimers leaves due timers to workers that fire them", () =>
        Effect.gen(function*() {
          const { Sleeper } = flows(freshId("t"))
          const handle = yield* Scheduler.make().unversioned().schedule(Sleeper, 1)
          const noTimers = Worker.make("no-timers").unversioned().register(Sleeper).withPollInterval("10 minutes")
          yield* withWorker(
            noTimers.run(),
            Effect.gen(function*() {
              yield* Testing.advance("3 hours")
              assert.strictEqual(yield* handle.status, "suspended")
            })
          )
          const timers = Worker.make("timers").unversioned().register(Sleeper).withTimers().withPollInterval("10 minutes")
          assert.strictEqual(yield* withWorker(timers.run(), Testing.runWithTestClock(handle.await)), 2)
        }))

      it.effect("signals: one sent before the wait is buffered, one sent while suspended wakes it; taken in order", () =>
        Effect.gen(function*() {
          const { Approver } = flows(freshId("t"))
          const worker = Worker.make("w").unversioned().register(Approver).withPollInterval("10 minutes")
          const handle = yield* Scheduler.make().unversioned().schedule(Approver, undefined)
          // before any worker ran the flow: buffered
          yield* handle.signal("approval", Approval, { approved: true, by: "ann" })
          const result = yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              // the buffered signal is taken; the flow then waits for the second one
              for (let i = 0; i < 100 && (yield* handle.status) !== "suspended"; i++) yield* Testing.advance("1 second")
              assert.strictEqual(yield* handle.status, "suspended")
              yield* handle.signal("approval", { approved: true, by: "bob" })
              return yield* Testing.runWithTestClock(handle.await)
            })
          )
          assert.deepStrictEqual(result, ["ann", "bob"])
        }))

      it.effect("a signal wait times out with a typed SignalTimeout", () =>
        Effect.gen(function*() {
          const { Impatient } = flows(freshId("t"))
          const worker = Worker.make("w").unversioned().register(Impatient).withTimers().withPollInterval("10 minutes")
          const handle = yield* Scheduler.make().unversioned().schedule(Impatient, undefined)
          const result = yield* withWorker(worker.run(), Testing.runWithTestClock(handle.await))
          assert.strictEqual(result, "timed out")
        }))

      it.effect("signals: unknown flow, ended flow and a payload that does not match are typed errors", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const missing = yield* Effect.flip(Client.signal(freshId("nope"), "approval", Approval, { approved: true, by: "x" }))
          assert.strictEqual(missing._tag, "FlowNotFoundError")
          const id = freshId("done")
          yield* Executor.execute(Doubler, 1, { id })
          const ended = yield* Effect.flip(Client.signal(id, "approval", Approval, { approved: true, by: "x" }))
          assert.strictEqual(ended._tag, "FlowEndedError")
          const handle = yield* Scheduler.make().unversioned().schedule(Doubler, 2)
          const invalid = yield* Effect.flip(handle.signal("approval", Approval, { approved: "yes" } as any))
          assert.strictEqual(invalid._tag, "InvalidSignalError")
          const log = yield* ExecutionLog.ExecutionLog
          assert.strictEqual((yield* log.listSignals(handle.id)).length, 0)
        }))

      it.effect("child flows: the parent waits for the child's success or typed failure", () =>
        Effect.gen(function*() {
          const { Child, Parent } = flows(freshId("t"))
          const worker = Worker.make("w").unversioned().register(Parent, Child).withPollInterval("10 minutes")
          const scheduler = Scheduler.make().unversioned()
          const [ok, rejected] = yield* withWorker(
            worker.run(),
            Effect.all([
              Effect.flatMap(scheduler.schedule(Parent, 4), (h) => Testing.runWithTestClock(h.await)),
              Effect.flatMap(scheduler.schedule(Parent, -1), (h) => Testing.runWithTestClock(h.await))
            ])
          )
          assert.strictEqual(ok, "child says 8")
          assert.strictEqual(rejected, "child rejected: negative")
        }))

      it.effect("child flows also run in process under Executor.execute", () =>
        Effect.gen(function*() {
          const { Child, Parent } = flows(freshId("t"))
          const id = freshId("inline")
          const outcome = yield* Executor.execute(Parent, 3, { id })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed("child says 6") })
          const children = yield* Client.list({ parentId: id })
          assert.strictEqual(children.length, 1)
          assert.strictEqual(children[0]!.type, Child.name)
          assert.strictEqual(children[0]!.status, "completed")
        }))

      it.effect("cancel interrupts a running step, marks the flow cancelled and cascades to children", () =>
        Effect.gen(function*() {
          const tag = freshId("t")
          const { block, interrupted, started } = yield* blockingStep
          const Kid = Flow.make(`kid-${tag}`, { input: Schema.Void, run: () => block() })
          const Mom = Flow.make(`mom-${tag}`, { input: Schema.Void, run: () => Flow.invoke(Kid, undefined) })
          const worker = Worker.make("w").unversioned().register(Mom, Kid).withPollInterval("10 minutes")
          const handle = yield* Scheduler.make().unversioned().schedule(Mom, undefined)
          yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              yield* Deferred.await(started)
              yield* handle.cancel
              yield* Deferred.await(interrupted)
              const kids = yield* Client.list({ parentId: handle.id })
              assert.strictEqual(kids.length, 1)
              assert.strictEqual(kids[0]!.status, "cancelled")
              assert.strictEqual(yield* handle.status, "cancelled")
              const awaited = yield* Effect.flip(handle.await)
              assert.strictEqual(awaited._tag, "FlowCancelledError")
              // Cancelling a cancelled flow succeeds and changes nothing (issue 16: idempotent cancel).
              yield* handle.cancel
              assert.strictEqual(yield* handle.status, "cancelled")
            })
          )
        }))

      it.effect("cancelling a flow run by Executor.execute interrupts it, and nothing is written over the cancellation", () =>
        Effect.gen(function*() {
          const tag = freshId("t")
          const { block, interrupted, started } = yield* blockingStep
          const F = Flow.make(`direct-${tag}`, { input: Schema.Void, run: () => block() })
          const id = freshId("direct")
          const fiber = yield* Effect.fork(Executor.execute(F, undefined, { id }))
          yield* Deferred.await(started)
          yield* Client.cancel(id)
          yield* Deferred.await(interrupted)
          const outcome = yield* Fiber.join(fiber)
          assert(Executor.isCompleted(outcome) && Exit.isInterrupted(outcome.exit))
          assert.strictEqual(yield* Client.status(id), "cancelled")
          const log = yield* ExecutionLog.ExecutionLog
          assert.strictEqual(Option.getOrThrow(yield* log.loadFlow(id)).steps.length, 0)
        }))

      it.effect("cancelling a child alone wakes its waiting parent, which sees the child as ended", () =>
        Effect.gen(function*() {
          const tag = freshId("t")
          const started = yield* Deferred.make<void>()
          const block = Step.make("block", { run: () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never) })
          const Kid = Flow.make(`lonekid-${tag}`, { input: Schema.Void, run: () => block() })
          const Mom = Flow.make(`lonemom-${tag}`, {
            input: Schema.Void,
            success: Schema.String,
            run: () => Flow.invoke(Kid, undefined).pipe(Effect.as("kid done"), Effect.catchAllDefect(() => Effect.succeed("kid cancelled")))
          })
          const worker = Worker.make("w").unversioned().register(Mom, Kid).withPollInterval("10 minutes")
          const handle = yield* Scheduler.make().unversioned().schedule(Mom, undefined)
          const result = yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              yield* Deferred.await(started)
              const [kid] = yield* Client.list({ parentId: handle.id })
              yield* Client.cancel(kid!.id)
              return yield* Testing.runWithTestClock(handle.await)
            })
          )
          assert.strictEqual(result, "kid cancelled")
        }))

      it.effect("a dead worker's flow is reclaimed after its lease expires; the old owner's writes are refused", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const log = yield* ExecutionLog.ExecutionLog
          const handle = yield* Scheduler.make().unversioned().schedule(Doubler, 7)
          const now = yield* TestClock.currentTimeMillis
          // a worker claims it and dies: its lease runs 5 seconds
          const [claimed] = yield* log.claimFlows({ owner: "dead", now, leaseMillis: 5000, limit: 1, types: [Doubler.name], versions: [null] })
          assert.strictEqual(claimed!.id, handle.id)
          const worker = Worker.make("w").unversioned().register(Doubler).withPollInterval("1 second")
          const result = yield* withWorker(worker.run(), Testing.runWithTestClock(handle.await))
          assert.strictEqual(result, 14)
          const row = Option.getOrThrow(yield* Client.get(handle.id))
          assert.strictEqual(row.leaseEpoch, claimed!.leaseEpoch + 1)
          // the dead owner comes back: the flow has ended, it gets the recorded result and writes nothing
          const before = Option.getOrThrow(yield* log.loadFlow(handle.id))
          const stale = yield* Executor.execute(Doubler, 7, { id: handle.id, fence: { owner: "dead", epoch: claimed!.leaseEpoch } })
          assert.deepStrictEqual(stale, { _tag: "Completed", exit: Exit.succeed(14) })
          assert.deepStrictEqual(Option.getOrThrow(yield* log.loadFlow(handle.id)), before)
        }))

      it.effect("a fenced checkpoint write from a worker that lost its lease is refused", () =>
        Effect.gen(function*() {
          const tag = freshId("t")
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const slow = Step.make("slow", { success: Schema.Number, run: () => Effect.zipRight(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)), Effect.succeed(1)) })
          const Slow = Flow.make(`slow-${tag}`, { input: Schema.Void, success: Schema.Number, run: () => slow() })
          const log = yield* ExecutionLog.ExecutionLog
          const handle = yield* Scheduler.make().unversioned().schedule(Slow, undefined)
          const now = yield* TestClock.currentTimeMillis
          const [mine] = yield* log.claimFlows({ owner: "a", now, leaseMillis: 1000, limit: 1, types: [Slow.name], versions: [null] })
          const fiber = yield* Effect.fork(Executor.execute(Slow, undefined, { id: handle.id, fence: { owner: "a", epoch: mine!.leaseEpoch } }))
          yield* Deferred.await(started)
          // the lease expires and worker b takes over
          yield* TestClock.adjust("2 seconds")
          const [theirs] = yield* log.claimFlows({ owner: "b", now: now + 2000, leaseMillis: 1000, limit: 1, types: [Slow.name], versions: [null] })
          assert.strictEqual(theirs!.leaseEpoch, mine!.leaseEpoch + 1)
          yield* Deferred.succeed(release, undefined)
          const error = yield* Effect.flip(Fiber.join(fiber))
          assert.strictEqual(error._tag, "LeaseLostError")
          const loaded = Option.getOrThrow(yield* log.loadFlow(handle.id))
          assert.strictEqual(loaded.steps.length, 0)
          assert.strictEqual(loaded.flow.leaseOwner, "b")
        }))

      it.effect("version routing: each versioned worker takes its own version and unversioned flows", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const old = Worker.make("old").withVersion("1.3.0").register(Doubler).withPollInterval("10 minutes")
          const neu = Worker.make("new").withVersion("1.4.0").register(Doubler).withPollInterval("10 minutes")
          const h13 = yield* Scheduler.make().withVersion("1.3.0").schedule(Doubler, 13)
          const h14 = yield* Scheduler.make().withVersion("1.4.0").schedule(Doubler, 14)
          const hNone = yield* Scheduler.make().unversioned().schedule(Doubler, 0)
          yield* withWorker(
            neu.run(),
            Effect.gen(function*() {
              assert.strictEqual(yield* Testing.runWithTestClock(h14.await), 28)
              assert.strictEqual(yield* Testing.runWithTestClock(hNone.await), 0)
              yield* Testing.advance("1 second")
              assert.strictEqual(yield* h13.status, "pending")
            })
          )
          yield* withWorker(old.run(), Testing.runWithTestClock(h13.await))
          const log = yield* ExecutionLog.ExecutionLog
          assert.strictEqual(Option.getOrThrow(yield* log.getFlow(h13.id)).version, "1.3.0")
          assert.strictEqual(Option.getOrThrow(yield* log.getFlow(h14.id)).version, "1.4.0")
          assert.strictEqual(Option.getOrThrow(yield* log.getFlow(hNone.id)).version, null)
          const listed = yield* Client.list({ type: Doubler.name, version: "1.3.0" })
          assert.deepStrictEqual(listed.map((f) => f.id), [h13.id])
        }))

      it.effect("an unversioned worker takes only unversioned flows", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const worker = Worker.make("plain").unversioned().register(Doubler).withPollInterval("10 minutes")
          const versioned = yield* Scheduler.make().withVersion("1.4.0").schedule(Doubler, 1)
          const plain = yield* Scheduler.make().unversioned().schedule(Doubler, 2)
          yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              assert.strictEqual(yield* Testing.runWithTestClock(plain.await), 4)
              yield* Testing.advance("1 second")
              assert.strictEqual(yield* versioned.status, "pending")
            })
          )
        }))

      it.effect("fromEnv: the version comes from Config; missing or invalid is a typed error", () =>
        Effect.gen(function*() {
          const { Doubler } = flows(freshId("t"))
          const scheduler = Scheduler.make().fromEnv("DEPLOY_VERSION")
          const withEnv = (value: string | undefined) =>
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(value === undefined ? [] : [["DEPLOY_VERSION", value]])))
          const handle = yield* scheduler.schedule(Doubler, 1).pipe(withEnv("2.0.0"))
          assert.strictEqual(Option.getOrThrow(yield* Client.get(handle.id)).version, "2.0.0")
          const missing = yield* Effect.flip(scheduler.schedule(Doubler, 1).pipe(withEnv(undefined)))
          assert.strictEqual(missing._tag, "InvalidVersionError")
          const invalid = yield* Effect.flip(scheduler.schedule(Doubler, 1).pipe(withEnv("2.0")))
          assert.strictEqual(invalid._tag, "InvalidVersionError")
          const workerError = yield* Effect.flip(
            Worker.make("env").fromEnv("DEPLOY_VERSION").register(Doubler).run().pipe(withEnv("banana"))
          )
          assert.strictEqual(workerError._tag, "InvalidVersionError")
          const Pinned = Flow.make(`pinned-${Doubler.name}`, { input: Schema.Void, versions: ["1.0.0"], run: () => Effect.void })
          const mismatch = yield* Effect.flip(scheduler.schedule(Pinned, undefined).pipe(withEnv("2.0.0")))
          assert.strictEqual(mismatch._tag, "VersionMismatchError")
        }))

      it.effect("a worker with no registered flows fails with NoFlowsRegisteredError", () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Worker.make("empty").unversioned().run())
          assert.strictEqual(error._tag, "NoFlowsRegisteredError")
        }))

      it.effect("Client.retry runs a flow that failed again, re-running only its failed steps", () =>
        Effect.gen(function*() {
          const tag = freshId("t")
          let fail = true
          let runs = 0
          const ok = Step.make("ok", { success: Schema.Number, run: () => Effect.sync(() => ++runs) })
          const flaky = Step.make("flaky", {
            success: Schema.Number,
            error: Rejected,
            run: () => (fail ? Effect.fail(new Rejected({ reason: "not yet" })) : Effect.succeed(100))
          })
          const F = Flow.make(`retry-${tag}`, {
            input: Schema.Void,
            success: Schema.Number,
            error: Rejected,
            run: () => Effect.zipWith(ok(), flaky(), (a, b) => a + b)
          })
          const worker = Worker.make("w").unversioned().register(F).withPollInterval("10 minutes")
          const handle = yield* Scheduler.make().unversioned().schedule(F, undefined)
          yield* withWorker(
            worker.run(),
            Effect.gen(function*() {
              const first = yield* Effect.flip(Testing.runWithTestClock(handle.await))
              assert.strictEqual(first._tag, "Rejected")
              fail = false
              yield* Client.retry(handle.id)
              assert.strictEqual(yield* Testing.runWithTestClock(handle.await), 101)
              assert.strictEqual(runs, 1)
            })
          )
          const error = yield* Effect.flip(Client.retry(handle.id))
          assert.strictEqual(error._tag, "FlowEndedError")
        }))

      it.effect("a SignalSource adapts outside signals; a worker with signals delivers them", () =>
        Effect.gen(function*() {
          const { Approver } = flows(freshId("t"))
          const handle = yield* Scheduler.make().unversioned().schedule(Approver, undefined)
          const source = SignalSource.fromIterable([
            { flowId: handle.id, name: "approval", payload: { approved: true, by: "x" }, schema: Approval },
            { flowId: "no-such-flow", name: "approval", payload: {} },
            { flowId: handle.id, name: "approval", payload: { approved: false, by: "y" }, schema: Approval }
          ])
          const worker = Worker.make("w").unversioned().register(Approver).withSignals().withPollInterval("10 minutes")
          const result = yield* withWorker(
            worker.run().pipe(Effect.provide(source)),
            Testing.runWithTestClock(handle.await)
          )
          assert.deepStrictEqual(result, ["x", "y"])
        }))
    })
  })
