/**
 * The upgrade conformance suite: patches (`Flow.patched`, `Flow.deprecatePatch`) decided and
 * recorded in the journal, workers of a new version taking the executions of an old one their
 * flows list, the version an execution last ran under, and the stranded-version report and
 * migration of the client. Every store runs it.
 *
 * A deploy is simulated in one process: the flow's `run` reads which code is deployed from a
 * variable the test changes between runs of the same execution.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { ExecutionLog, Executor, Flow, Step } from "../../src/index.js"

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

const journalOf = (id: string) =>
  Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.loadFlow(id)).pipe(Effect.map(Option.getOrThrow))

type Code = "old" | "patched" | "deprecated" | "removed"

/**
 * An order flow whose fraud check is being retired by the patch `skip-fraud-check`: `old` code
 * checks fraud; `patched` code skips it where the patch applies; `deprecated` code only skips it;
 * `removed` code has no patch call left. A sleep before and after the patch point lets a test stop
 * an execution on either side of it.
 */
const orderFlow = () => {
  const state = { code: "old" as Code, checks: 0, ships: 0 }
  const checkFraud = Step.make("check-fraud", { success: Schema.String, run: () => Effect.sync(() => (state.checks++, "checked")) })
  const ship = Step.make("ship", { success: Schema.String, run: () => Effect.sync(() => (state.ships++, "shipped")) })
  const flow = Flow.make(freshId("order"), {
    input: Schema.Void,
    success: Schema.String,
    patches: ["skip-fraud-check"],
    run: () =>
      Effect.gen(function*() {
        yield* Flow.sleep("1 hour")
        let path: string
        switch (state.code) {
          case "old":
            path = yield* checkFraud()
            break
          case "patched":
            path = (yield* Flow.patched("skip-fraud-check")) ? "skipped" : yield* checkFraud()
            break
          case "deprecated":
            yield* Flow.deprecatePatch("skip-fraud-check")
            path = "skipped"
            break
          case "removed":
            path = "skipped"
        }
        yield* Flow.sleep("1 hour")
        yield* Flow.sleep("1 hour")
        return `${path}, ${yield* ship()}`
      })
  })
  return { state, flow }
}

export const suite = (name: string, layer: Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`upgrade conformance: ${name}`, () => {
    it.layer(layer)((it) => {
      describe("patches", () => {
        it.effect("a new execution takes the patched path, records a marker, and keeps it on every replay", () =>
          Effect.gen(function*() {
            const { flow, state } = orderFlow()
            state.code = "patched"
            const id = freshId("new")
            const run = Executor.execute(flow, undefined, { id, suspendAfter: 0 })
            assert.strictEqual((yield* run)._tag, "Suspended")
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            const marker = (yield* journalOf(id)).steps.find((step) => step.key === "$patch/skip-fraud-check")
            assert.isDefined(marker)
            assert.strictEqual(marker!.kind, "patch")
            assert.strictEqual(marker!.position, undefined)
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            yield* TestClock.adjust("1 hour")
            assert.deepStrictEqual(yield* run, { _tag: "Completed", exit: Exit.succeed("skipped, shipped") })
            assert.strictEqual(state.checks, 0)
            assert.strictEqual(state.ships, 1)
          }))

        it.effect("an execution that passed the patch point before the deploy replays the old path, on every replay", () =>
          Effect.gen(function*() {
            const { flow, state } = orderFlow()
            const id = freshId("old")
            const run = Executor.execute(flow, undefined, { id, suspendAfter: 0 })
            yield* run
            yield* TestClock.adjust("1 hour")
            // The old code checks fraud and stops at the second sleep.
            assert.strictEqual((yield* run)._tag, "Suspended")
            assert.strictEqual(state.checks, 1)
            state.code = "patched"
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            yield* TestClock.adjust("1 hour")
            assert.deepStrictEqual(yield* run, { _tag: "Completed", exit: Exit.succeed("checked, shipped") })
            // Replayed, not run again; and no marker was written for it.
            assert.strictEqual(state.checks, 1)
            const keys = (yield* journalOf(id)).steps.map((step) => step.key)
            assert.notInclude(keys, "$patch/skip-fraud-check")
          }))

        it.effect("an old execution that reaches the patch point for the first time after the deploy takes the patched path", () =>
          Effect.gen(function*() {
            const { flow, state } = orderFlow()
            const id = freshId("midway")
            const run = Executor.execute(flow, undefined, { id, suspendAfter: 0 })
            // Started by the old code, stopped at the first sleep: before the patch point.
            assert.strictEqual((yield* run)._tag, "Suspended")
            state.code = "patched"
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            yield* TestClock.adjust("1 hour")
            assert.deepStrictEqual(yield* run, { _tag: "Completed", exit: Exit.succeed("skipped, shipped") })
            assert.strictEqual(state.checks, 0)
          }))

        it.effect("deprecatePatch records the marker for workers still on the patched code; removing the call replays marked executions", () =>
          Effect.gen(function*() {
            const { flow, state } = orderFlow()
            state.code = "deprecated"
            const id = freshId("deprecated")
            const run = Executor.execute(flow, undefined, { id, suspendAfter: 0 })
            yield* run
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            assert.include((yield* journalOf(id)).steps.map((step) => step.key), "$patch/skip-fraud-check")
            // A worker still on the patched code replays it down the new path.
            state.code = "patched"
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            // The patch removed altogether: the marker takes no place, the replay goes on.
            state.code = "removed"
            yield* TestClock.adjust("1 hour")
            assert.deepStrictEqual(yield* run, { _tag: "Completed", exit: Exit.succeed("skipped, shipped") })
            assert.strictEqual(state.checks, 0)
          }))

        it.effect("deprecating too early: an execution that passed the point before the patch fails the order check, naming the patch", () =>
          Effect.gen(function*() {
            const { flow, state } = orderFlow()
            const id = freshId("early")
            const run = Executor.execute(flow, undefined, { id, suspendAfter: 0 })
            yield* run
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            state.code = "deprecated"
            yield* TestClock.adjust("1 hour")
            const error = yield* Effect.flip(run)
            assert.strictEqual(error._tag, "NonDeterminismError")
            if (error._tag !== "NonDeterminismError") return
            assert.strictEqual(error.reason, "order")
            assert.strictEqual(error.patch, "skip-fraud-check")
            assert.include(error.message, "Flow.deprecatePatch('skip-fraud-check')")
            assert.include(error.message, "recorded timer '$sleep#2', now timer '$sleep#3'")
          }))

        it.effect("a change made without a patch fails the order check with advice to guard it with Flow.patched", () =>
          Effect.gen(function*() {
            const { flow, state } = orderFlow()
            const id = freshId("unguarded")
            const run = Executor.execute(flow, undefined, { id, suspendAfter: 0 })
            yield* run
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* run)._tag, "Suspended")
            // The fraud check dropped without a patch.
            state.code = "removed"
            yield* TestClock.adjust("1 hour")
            const error = yield* Effect.flip(run)
            assert.strictEqual(error._tag, "NonDeterminismError")
            if (error._tag !== "NonDeterminismError") return
            assert.strictEqual(error.reason, "order")
            assert.isUndefined(error.patch)
            assert.include(error.message, "Flow.patched(id)")
          }))

        it.effect("an old path that changed too is named: the patch answered false, the code for false must call what it called", () =>
          Effect.gen(function*() {
            let code: "old" | "bad-patch" = "old"
            const a = Step.make("a", { run: () => Effect.void })
            const b = Step.make("b", { run: () => Effect.void })
            const flow = Flow.make(freshId("bad"), {
              input: Schema.Void,
              patches: ["p1"],
              run: () =>
                Effect.gen(function*() {
                  if (code === "old") yield* a()
                  else if (!(yield* Flow.patched("p1"))) yield* b()
                  yield* Flow.sleep("1 hour")
                })
            })
            const id = freshId("bad")
            assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
            code = "bad-patch"
            const error = yield* Effect.flip(Executor.execute(flow, undefined, { id, suspendAfter: 0 }))
            assert.strictEqual(error._tag, "NonDeterminismError")
            if (error._tag !== "NonDeterminismError") return
            assert.strictEqual(error.patch, "p1")
            assert.include(error.message, "Flow.patched('p1') answered false")
          }))

        it.effect("each patch point of one id is decided on its own, in scopes too", () =>
          Effect.gen(function*() {
            let code: "old" | "new" = "old"
            const answers: Array<boolean> = []
            const a = Step.make("a", { run: () => Effect.void })
            const flow = Flow.make(freshId("twice"), {
              input: Schema.Void,
              patches: ["p"],
              run: () =>
                Effect.gen(function*() {
                  if (code === "new") answers.push(yield* Flow.patched("p"))
                  yield* a()
                  yield* Flow.sleep("1 hour")
                  if (code === "new") answers.push(yield* Flow.patched("p"))
                  yield* Flow.scope("inner", Effect.gen(function*() {
                    if (code === "new") answers.push(yield* Flow.patched("p"))
                    yield* a()
                  }))
                })
            })
            const id = freshId("twice")
            assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Suspended")
            code = "new"
            yield* TestClock.adjust("1 hour")
            assert.strictEqual((yield* Executor.execute(flow, undefined, { id, suspendAfter: 0 }))._tag, "Completed")
            // Passed before the patch; reached after it; a scope reached after it.
            assert.deepStrictEqual(answers, [false, true, true])
            const keys = (yield* journalOf(id)).steps.map((step) => step.key).sort()
            assert.deepStrictEqual(keys.filter((key) => key.includes("$patch")), ["$patch/p#2", "inner/$patch/p"])
          }))
      })
    })
  })
