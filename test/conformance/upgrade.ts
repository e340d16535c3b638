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
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Fiber from "effect/Fiber"
import { Client, ExecutionLog, Executor, Flow, Scheduler, Step, Worker } from "../../src/index.js"
import * as Testing from "../../src/testing.js"
import type { WorkerRow } from "../../src/ExecutionLog.js"
import { makeRecords, T0 } from "../fixtures/records.js"

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

/** A live worker's registration, written straight to the store. */
const workerRow = (overrides: Partial<WorkerRow> = {}): WorkerRow => ({
  id: freshId("w"),
  name: "w",
  version: "1.4.0",
  types: [],
  timers: true,
  signals: false,
  host: "host-a",
  pid: 1,
  concurrency: 1,
  inFlight: 0,
  startedAt: 0,
  heartbeatAt: 0,
  expiresAt: Number.MAX_SAFE_INTEGER,
  ...overrides
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

        it.effect("a patch id a cast got past the types is a defect naming it, and nothing is recorded for it", () =>
          Effect.gen(function*() {
            const flow = Flow.make(freshId("cast"), {
              input: Schema.Void,
              patches: ["declared"],
              run: () => Effect.asVoid(Flow.patched("undeclared" as "declared"))
            })
            const id = freshId("cast")
            const outcome = yield* Executor.execute(flow, undefined, { id })
            assert.strictEqual(outcome._tag, "Completed")
            const exit = outcome._tag === "Completed" ? outcome.exit : Exit.void
            assert.isTrue(Exit.isFailure(exit))
            const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
            assert.include(String((defect as Error | undefined)?.message), "it uses patch 'undeclared', which it does not declare")
            assert.deepStrictEqual((yield* journalOf(id)).steps.filter((step) => step.kind === "patch"), [])
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

      describe("claims across versions", () => {
        it.effect("a claim takes the other versions its type replays, and records the version it ran under", () =>
          Effect.gen(function*() {
            const log = yield* ExecutionLog.ExecutionLog
            const type = freshId("t")
            const other = freshId("u")
            const records = makeRecords(type)
            const rows = [
              records.flowRecord(`${type}-13`, { status: "pending", version: "1.3.0", runAfter: T0 - 4 }),
              records.flowRecord(`${type}-14`, { status: "pending", version: "1.4.0", runAfter: T0 - 3 }),
              records.flowRecord(`${type}-12`, { status: "pending", version: "1.2.0", runAfter: T0 - 2 }),
              records.flowRecord(`${type}-none`, { status: "pending", version: null, runAfter: T0 - 1 }),
              // Last run under a newer version than the claimer's: never back to older code.
              records.flowRecord(`${type}-ran15`, { status: "pending", version: "1.3.0", ranVersion: "1.5.0", runAfter: T0 - 6 }),
              makeRecords(other).flowRecord(`${other}-13`, { status: "pending", version: "1.3.0", runAfter: T0 - 5 })
            ]
            for (const row of rows) assert.isTrue(yield* log.insertFlow(row))
            const options = {
              owner: "w-14",
              now: T0,
              leaseMillis: 1_000,
              limit: 10,
              types: [type, other],
              versions: ["1.4.0", null],
              replays: [{ type, versions: ["1.3.0"], ranUnder: ["1.3.0", "1.4.0"] }],
              runVersion: "1.4.0"
            }
            // Without replays, only its own version and unversioned flows.
            const own = yield* log.claimFlows({ ...options, replays: undefined, limit: 0 })
            assert.deepStrictEqual(own, [])
            assert.deepStrictEqual(
              Option.getOrThrow(yield* log.nextWakeAt([type, other], ["1.4.0", null], [{ type, versions: ["1.3.0"], ranUnder: ["1.3.0", "1.4.0"] }])),
              T0 - 4
            )
            assert.deepStrictEqual(Option.getOrThrow(yield* log.nextWakeAt([type], ["1.4.0", null])), T0 - 3)
            const claimed = yield* log.claimFlows(options)
            assert.deepStrictEqual(claimed.map((row) => row.id).sort(), [`${type}-13`, `${type}-14`, `${type}-none`])
            for (const row of claimed) assert.strictEqual(row.ranVersion, "1.4.0")
            const stored = Option.getOrThrow(yield* log.getFlow(`${type}-13`))
            assert.strictEqual(stored.version, "1.3.0")
            assert.strictEqual(stored.ranVersion, "1.4.0")
            // Another type stamped 1.3.0 is not replayed by this type's pins; 1.2.0 is not listed;
            // an execution last run under 1.5.0 is not taken back by 1.4.0 code.
            assert.strictEqual(Option.getOrThrow(yield* log.getFlow(`${other}-13`)).status, "pending")
            assert.strictEqual(Option.getOrThrow(yield* log.getFlow(`${type}-12`)).status, "pending")
            assert.strictEqual(Option.getOrThrow(yield* log.getFlow(`${type}-ran15`)).status, "pending")
            // A 1.3.0 worker (its flow pinned to 1.3.0) does not take back what 1.4.0 ran, once released.
            yield* log.releaseFlow(`${type}-13`, { owner: "w-14", epoch: stored.leaseEpoch }, T0 + 1)
            const old = yield* log.claimFlows({
              ...options,
              owner: "w-13",
              now: T0 + 2,
              versions: ["1.3.0", null],
              replays: [{ type, versions: [], ranUnder: ["1.3.0"] }],
              runVersion: "1.3.0"
            })
            // (It takes the other type's 1.3.0 flow, which is its own version.)
            assert.deepStrictEqual(old.map((row) => row.id), [`${other}-13`])
            const again = yield* log.claimFlows({ ...options, now: T0 + 2 })
            assert.deepStrictEqual(again.map((row) => row.id), [`${type}-13`])
          }))

        it.effect("restampFlows re-stamps the unfinished executions of one type and version only", () =>
          Effect.gen(function*() {
            const log = yield* ExecutionLog.ExecutionLog
            const type = freshId("t")
            const records = makeRecords(type)
            const statuses = ["pending", "running", "suspended", "completed", "failed", "cancelled"] as const
            for (const status of statuses) {
              yield* log.insertFlow(records.flowRecord(`${type}-${status}`, { status, version: "1.3.0" }))
            }
            yield* log.insertFlow(records.flowRecord(`${type}-other`, { status: "pending", version: "1.2.0" }))
            assert.strictEqual(yield* log.restampFlows(type, "1.3.0", "1.4.0", T0 + 7), 3)
            for (const status of statuses) {
              const row = Option.getOrThrow(yield* log.getFlow(`${type}-${status}`))
              const moved = status === "pending" || status === "running" || status === "suspended"
              assert.strictEqual(row.version, moved ? "1.4.0" : "1.3.0", status)
              assert.strictEqual(row.updatedAt, moved ? T0 + 7 : T0, status)
            }
            assert.strictEqual(Option.getOrThrow(yield* log.getFlow(`${type}-other`)).version, "1.2.0")
            assert.strictEqual(yield* log.restampFlows(type, "1.3.0", "1.4.0", T0 + 8), 0)
          }))

        it.effect("a worker registers the pins of its flows; the registry reads them back", () =>
          Effect.gen(function*() {
            const log = yield* ExecutionLog.ExecutionLog
            const row = workerRow({ types: ["a", "b"], pins: { a: ["1.3.0", "1.4.0"] } })
            yield* log.registerWorker(row)
            const listed = (yield* log.listWorkers()).find((worker) => worker.id === row.id)
            assert.deepStrictEqual(listed?.pins, { a: ["1.3.0", "1.4.0"] })
          }))

        it.effect("a 1.4.0 worker whose flow lists 1.3.0 finishes executions a 1.3.0 worker started; history shows both versions", () =>
          Effect.gen(function*() {
            const tag = freshId("order")
            let steps = 0
            const charge = Step.make("charge", { success: Schema.Number, run: (n: number) => Effect.sync(() => (steps++, n)) })
            const run = (n: number) =>
              Effect.gen(function*() {
                const a = yield* charge(n)
                yield* Flow.sleep("1 hour")
                return a + (yield* charge(n))
              })
            const Old = Flow.make(tag, { input: Schema.Number, success: Schema.Number, versions: ["1.3.0"], run })
            const Both = Flow.make(tag, { input: Schema.Number, success: Schema.Number, versions: ["1.3.0", "1.4.0"], run })
            const OnlyNew = Flow.make(tag, { input: Schema.Number, success: Schema.Number, versions: ["1.4.0"], run })
            const handle = yield* Scheduler.make().withVersion("1.3.0").schedule(Old, 21)
            const oldWorker = Worker.make("old").withVersion("1.3.0").register(Old).withTimers().withPollInterval("10 minutes")
            yield* withWorker(
              oldWorker.run(),
              Effect.gen(function*() {
                while ((yield* handle.status) !== "suspended") yield* Testing.advance("1 second")
              })
            )
            assert.strictEqual(steps, 1)
            // A 1.4.0 worker whose flow lists only 1.4.0 leaves it alone.
            const strict = Worker.make("strict").withVersion("1.4.0").register(OnlyNew).withTimers().withPollInterval("10 minutes")
            yield* withWorker(strict.run(), Testing.advance("2 hours"))
            assert.strictEqual(yield* handle.status, "suspended")
            assert.strictEqual(steps, 1)
            // One that lists both takes it over and replays it.
            const newWorker = Worker.make("new").withVersion("1.4.0").register(Both).withTimers().withPollInterval("10 minutes")
            const result = yield* withWorker(newWorker.run(), Testing.runWithTestClock(Client.awaitResult(Both, handle.id)))
            assert.strictEqual(result, 42)
            assert.strictEqual(steps, 2)
            const history = yield* Client.history(handle.id)
            assert.strictEqual(history.flow.version, "1.3.0")
            assert.strictEqual(history.flow.ranVersion, "1.4.0")
            const [listed] = yield* Client.list({ type: tag })
            assert.strictEqual(listed?.ranVersion, "1.4.0")
          }))
      })

      describe("stranded versions", () => {
        it.effect("versions(): counts by type and stamped version, the live workers that take them, and the stranded ones", () =>
          Effect.gen(function*() {
            const log = yield* ExecutionLog.ExecutionLog
            const pinned = freshId("pinned")
            const plain = freshId("plain")
            const add = (type: string, id: string, version: string | null, status: "pending" | "running" | "suspended" | "completed") =>
              log.insertFlow(makeRecords(type).flowRecord(`${type}-${id}`, { version, status }))
            yield* add(pinned, "a", "1.3.0", "pending")
            yield* add(pinned, "b", "1.3.0", "suspended")
            yield* add(pinned, "c", "1.3.0", "suspended")
            yield* add(pinned, "d", "1.2.0", "running")
            yield* add(pinned, "e", "1.4.0", "completed")
            yield* add(plain, "a", "1.3.0", "pending")
            yield* add(plain, "b", null, "pending")
            const worker = workerRow({ version: "1.4.0", types: [pinned, plain], pins: { [pinned]: ["1.3.0", "1.4.0"] } })
            yield* log.registerWorker(worker)
            // A dead worker of 1.2.0 takes nothing.
            yield* log.registerWorker(workerRow({ version: "1.2.0", types: [pinned], pins: { [pinned]: ["1.2.0"] }, expiresAt: -1 }))
            const report = (yield* Client.versions()).filter((group) => group.type === pinned || group.type === plain)
            const taken = [{ id: worker.id, name: worker.name, version: "1.4.0" }]
            assert.deepStrictEqual(report.map((group) => ({ ...group })), [
              { type: pinned, version: "1.2.0", pending: 0, running: 1, suspended: 0, workers: [], stranded: true },
              { type: pinned, version: "1.3.0", pending: 1, running: 0, suspended: 2, workers: taken, stranded: false },
              { type: plain, version: null, pending: 1, running: 0, suspended: 0, workers: taken, stranded: false },
              { type: plain, version: "1.3.0", pending: 1, running: 0, suspended: 0, workers: [], stranded: true }
            ].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)))
          }))

        it.effect("migrate re-stamps stranded executions of an unpinned flow, and a live worker of the new version finishes them", () =>
          Effect.gen(function*() {
            const tag = freshId("plain")
            const Plain = Flow.make(tag, { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n + 1) })
            const handle = yield* Scheduler.make().withVersion("1.3.0").schedule(Plain, 1)
            const worker = Worker.make("new").withVersion("1.4.0").register(Plain).withPollInterval("10 minutes")
            const result = yield* withWorker(
              worker.run(),
              Effect.gen(function*() {
                // Registered, and the 1.3.0 flow stranded.
                while (true) {
                  const group = (yield* Client.versions()).find((group) => group.type === tag && group.version === "1.3.0")
                  if (group !== undefined && group.stranded && (yield* Client.workers({ live: true })).some((w) => w.types.includes(tag))) break
                  yield* Testing.advance("1 second")
                }
                const migrated = yield* Client.migrate({ type: tag, from: "1.3.0", to: "1.4.0" })
                assert.strictEqual(migrated.count, 1)
                assert.strictEqual(migrated.workers.length, 1)
                return yield* Testing.runWithTestClock(Client.awaitResult(Plain, handle.id))
              })
            )
            assert.strictEqual(result, 2)
            const history = yield* Client.history(handle.id)
            assert.strictEqual(history.flow.version, "1.4.0")
            assert.strictEqual(history.flow.ranVersion, "1.4.0")
          }))

        it.effect("migrate refuses with a typed error that says why, and changes nothing", () =>
          Effect.gen(function*() {
            const log = yield* ExecutionLog.ExecutionLog
            const type = freshId("pinned")
            yield* log.insertFlow(makeRecords(type).flowRecord(`${type}-a`, { version: "1.3.0", status: "pending" }))
            const refusal = (options: Client.MigrateOptions) => Effect.flip(Client.migrate(options))
            const same = yield* refusal({ type, from: "1.3.0", to: "1.3.0" })
            assert.strictEqual(same._tag === "VersionMigrationError" ? same.reason : same._tag, "SameVersion")
            const bad = yield* refusal({ type, from: "1.3", to: "1.4.0" })
            assert.strictEqual(bad._tag, "InvalidVersionError")
            assert.include(bad.message, "1.3")
            const unknown = yield* refusal({ type: freshId("nobody"), from: "1.3.0", to: "1.4.0" })
            assert.strictEqual(unknown._tag === "VersionMigrationError" ? unknown.reason : unknown._tag, "UnknownType")
            // No live worker would take them.
            const strand = yield* refusal({ type, from: "1.3.0", to: "1.4.0" })
            assert.strictEqual(strand._tag === "VersionMigrationError" ? strand.reason : strand._tag, "WouldStrand")
            assert.include(strand.message, "start workers of version '1.4.0' first")
            // A live 1.4.0 worker whose flow is pinned to 1.4.0 alone cannot replay 1.3.0.
            yield* log.registerWorker(workerRow({ version: "1.4.0", types: [type], pins: { [type]: ["1.4.0"] } }))
            const unpinned = yield* refusal({ type, from: "1.3.0", to: "1.4.0" })
            assert.strictEqual(unpinned._tag === "VersionMigrationError" ? unpinned.reason : unpinned._tag, "NotPinnedToBoth")
            assert.include(unpinned.message, "['1.4.0']")
            // The definition given is checked too.
            const Def = Flow.make(type, { input: Schema.Void, versions: ["1.2.0", "1.4.0"], run: () => Effect.void })
            const byDefinition = yield* refusal({ type: Def, from: "1.3.0", to: "1.4.0" })
            assert.strictEqual(byDefinition._tag === "VersionMigrationError" ? byDefinition.reason : byDefinition._tag, "NotPinnedToBoth")
            assert.include(byDefinition.message, "the flow's versions are ['1.2.0', '1.4.0']")
            assert.strictEqual(Option.getOrThrow(yield* log.getFlow(`${type}-a`)).version, "1.3.0")
            // Once the live worker's flow lists both, it goes through.
            yield* log.registerWorker(workerRow({ version: "1.4.0", types: [type], pins: { [type]: ["1.3.0", "1.4.0"] }, id: freshId("w") }))
            yield* log.removeWorker((yield* log.listWorkers()).find((w) => w.types.includes(type) && w.pins?.[type]?.length === 1)!.id)
            const done = yield* Client.migrate({ type, from: "1.3.0", to: "1.4.0" })
            assert.strictEqual(done.count, 1)
            assert.strictEqual(Option.getOrThrow(yield* log.getFlow(`${type}-a`)).version, "1.4.0")
          }))
      })
    })
  })
