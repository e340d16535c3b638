/**
 * `Client.history`: a flow's record and everything that happened to it, in order, over the memory
 * and SQLite stores.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, type Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Client, Dag, ExecutionLog, Executor, Flow, Retryable, RetryPolicy, Scheduler, SignalTimeout, Step } from "../src/index.js"
import * as Sqlite from "../src/sqlite.js"
import * as Testing from "../src/testing.js"

class GatewayTimeout extends Retryable.TaggedError<GatewayTimeout>()("GatewayTimeout", { gateway: Schema.String }) {}
class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { reason: Schema.String }) {}

const Approval = Schema.Struct({ by: Schema.String })

/** The flows of one test, with names of their own so tests sharing a store do not meet. */
const flows = (tag: string) => {
  let calls = 0
  const charge = Step.make("charge", {
    success: Schema.String,
    error: GatewayTimeout,
    retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "1 second" }),
    // Each attempt takes 100 ms of the Clock's time.
    run: (cents: number) =>
      Effect.zipRight(
        Effect.sleep("100 millis"),
        Effect.suspend(() => (++calls < 3 ? Effect.fail(new GatewayTimeout({ gateway: "acme" })) : Effect.succeed(`pay-${cents}`)))
      )
  })
  const decline = Step.make("decline", {
    error: Schema.Union(GatewayTimeout, CardDeclined),
    retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "1 second" }),
    run: () => Effect.fail(new GatewayTimeout({ gateway: "acme" }))
  })
  // The child and the DAG's steps take 100 ms of the Clock's time: the timeline's times differ.
  const Child = Flow.make(`child-${tag}`, { input: Schema.Number, success: Schema.Number, run: (n) => Effect.as(Effect.sleep("100 millis"), n + 1) })
  const validate = Step.make("validate", { success: Schema.Boolean, run: () => Effect.as(Effect.sleep("100 millis"), true) })
  const Everything = Flow.make(`everything-${tag}`, {
    input: Schema.Number,
    success: Schema.String,
    error: GatewayTimeout,
    run: (cents) =>
      Effect.gen(function*() {
        const payment = yield* charge(cents)
        yield* Flow.now
        yield* Flow.sleep("10 seconds")
        const approval = yield* Flow.awaitSignal("approval", Approval)
        const child = yield* Flow.invoke(Child, 41)
        yield* Dag.run(Dag.make("checks").step("a", validate()).step("b", ["a"], () => validate()))
        return `${payment} approved by ${approval.by}, child ${child}`
      })
  })
  const Declined = Flow.make(`declined-${tag}`, {
    input: Schema.Void,
    success: Schema.Void,
    error: Schema.Union(GatewayTimeout, CardDeclined),
    run: () => decline()
  })
  const Waiting = Flow.make(`waiting-${tag}`, {
    input: Schema.Void,
    success: Schema.String,
    error: SignalTimeout,
    run: () => Effect.map(Flow.awaitSignal("approval", Approval, { timeout: "1 day" }), (a) => a.by)
  })
  return { Everything, Declined, Waiting, Child }
}

const suite = (name: string, layer: Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`Client.history: ${name}`, () => {
    it.layer(layer)((it) => {
      it.effect("gives every entry in order with its kind, attempts, times and value; signals and children", () =>
        Effect.gen(function*() {
          const { Child, Everything } = flows(crypto.randomUUID().slice(0, 8))
          const id = `everything-${crypto.randomUUID()}`
          const t0 = yield* Clock.currentTimeMillis
          // Scheduled, and its signal sent before it runs: buffered, then received by its wait.
          yield* Scheduler.make().unversioned().schedule(Everything, 500, { id })
          yield* Client.signal(id, "approval", { by: "maria" })
          yield* Client.signal(id, "unrelated", 1)
          const outcome = yield* Testing.runWithTestClock(Executor.execute(Everything, 500, { id }))
          assert.strictEqual(outcome._tag, "Completed")

          const history = yield* Client.history(id)
          assert.strictEqual(history.flow.id, id)
          assert.strictEqual(history.flow.status, "completed")
          assert.deepStrictEqual(history.outcome, { _tag: "Succeeded", value: "pay-500 approved by maria, child 42" })
          assert.strictEqual(history.suspended, undefined)
          assert.deepStrictEqual(
            history.entries.map((entry) => [entry.kind, entry.name, entry.scope, entry.status, entry.attempts, entry.outcome]),
            [
              ["step", "charge", "", "completed", 3, "success"],
              ["value", "now", "", "completed", 1, "success"],
              ["timer", "sleep", "", "completed", 1, "success"],
              ["signal", "approval", "", "completed", 1, "success"],
              ["child", Child.name, "", "completed", 1, "success"],
              // A DAG node, then the steps inside it.
              ["dag", "checks/a", "", "completed", 1, "success"],
              ["step", "validate", "checks/a", "completed", 1, "success"],
              ["dag", "checks/b", "", "completed", 1, "success"],
              ["step", "validate", "checks/b", "completed", 1, "success"]
            ]
          )
          const [charge, now, timer, signal, child] = history.entries
          assert.strictEqual(charge!.value, "pay-500")
          // Two attempts of 100 ms, each followed by a second's wait: the third started 2.2 s in.
          assert.strictEqual(charge!.startedAt, t0 + 2_200)
          assert.strictEqual(charge!.completedAt, t0 + 2_300)
          assert.strictEqual(now!.value, t0 + 2_300)
          assert.strictEqual(timer!.startedAt, t0 + 2_300)
          assert.strictEqual(timer!.completedAt, t0 + 12_300)
          assert.strictEqual(history.flow.createdAt, t0)
          assert.deepStrictEqual(signal!.value, { by: "maria" })
          assert.strictEqual(child!.value, 42)
          // Times are the Clock's: every entry started after the one before it, or with it.
          const starts = history.entries.map((entry) => entry.startedAt!)
          assert.deepStrictEqual([...starts].sort((a, b) => a - b), starts)

          assert.deepStrictEqual(
            history.signals.map((s) => [s.name, s.seq, s.status, s.consumedBy, s.payload]),
            [
              ["approval", 1, "received", signal!.key, { by: "maria" }],
              ["unrelated", 1, "pending", null, 1]
            ]
          )
          assert.deepStrictEqual(
            history.children.map((c) => [c.type, c.key, c.status]),
            [[Child.name, child!.key, "completed"]]
          )
        }))

      it.effect("a flow that failed after retries: its error encoded by id, decoded given the flow", () =>
        Effect.gen(function*() {
          const { Declined } = flows(crypto.randomUUID().slice(0, 8))
          const id = `declined-${crypto.randomUUID()}`
          yield* Testing.runWithTestClock(Executor.execute(Declined, undefined, { id }))

          const encoded = yield* Client.history(id)
          assert.strictEqual(encoded.flow.status, "completed")
          assert.deepStrictEqual(encoded.outcome, {
            _tag: "Failed",
            error: { _tag: "GatewayTimeout", gateway: "acme" },
            defect: undefined,
            message: `GatewayTimeout {"gateway":"acme"}`
          })
          const [entry] = encoded.entries
          assert.strictEqual(entry!.kind, "step")
          assert.strictEqual(entry!.attempts, 3)
          assert.strictEqual(entry!.outcome, "failure")
          assert.deepStrictEqual(entry!.error, { _tag: "GatewayTimeout", gateway: "acme" })
          assert.strictEqual(entry!.errorMessage, `GatewayTimeout {"gateway":"acme"}`)

          const typed = yield* Client.history(Declined, id)
          assert.strictEqual(typed.outcome?._tag, "Failed")
          if (typed.outcome?._tag === "Failed") assert.instanceOf(typed.outcome.error, GatewayTimeout)
          assert.instanceOf(typed.entries[0]!.error, GatewayTimeout)
          // Another flow's history, given the wrong flow: a typed conflict, nothing decoded.
          const { Waiting } = flows("other")
          const conflict = yield* Effect.flip(Client.history(Waiting, id))
          assert.strictEqual(conflict._tag, "FlowConflictError")
          const missing = yield* Effect.flip(Client.history(`missing-${crypto.randomUUID()}`))
          assert.strictEqual(missing._tag, "FlowNotFoundError")
        }))

      it.effect("a suspended flow: why and until when, its recorded deadline, and a pending signal of another name", () =>
        Effect.gen(function*() {
          const { Waiting } = flows(crypto.randomUUID().slice(0, 8))
          const id = `waiting-${crypto.randomUUID()}`
          const t0 = yield* Clock.currentTimeMillis
          const outcome = yield* Executor.execute(Waiting, undefined, { id })
          assert.strictEqual(outcome._tag, "Suspended")
          const history = yield* Client.history(id)
          assert.strictEqual(history.flow.status, "suspended")
          assert.strictEqual(history.outcome, undefined)
          const day = 24 * 60 * 60 * 1000
          assert.deepStrictEqual(history.suspended?.wakeAt, t0 + day)
          assert.strictEqual((history.suspended?.reason as { _tag: string })._tag, "Signal")
          assert.deepStrictEqual(
            history.entries.map((entry) => [entry.kind, entry.name, entry.status, entry.nextAttemptAt, entry.outcome]),
            [["signal", "approval", "waiting", t0 + day, undefined]]
          )
        }))
    })
  })

suite("memory", ExecutionLog.layerMemory)
suite("SQLite", Sqlite.layer({ filename: path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ergon-history-")), "history.db") }))
