import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Option, Queue, Schema, TestClock } from "effect"
import * as Dag from "../src/Dag.js"
import { ExecutionLog, Executor, Flow, FlowDefinitionError, Step } from "../src/index.js"

/** The journal keys of a flow, in the order the store received them. */
const journalKeys = (flowId: string) =>
  Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.loadFlow(flowId)).pipe(
    Effect.map(Option.match({ onNone: () => [], onSome: ({ steps }) => steps.map((step) => step.key) }))
  )

/** A flow with no input whose program is `run` (which needs no service and fails with no typed error). */
const flowOf = <A>(name: string, run: () => Effect.Effect<A, never, Flow.FlowInstance>) =>
  Flow.make(name, { input: Schema.Void, success: Schema.Unknown, run })

/** The flow's result, when it completed successfully; fails the test otherwise. */
const completedValue = <A, E>(outcome: Executor.FlowOutcome<A, E>): A =>
  outcome._tag === "Completed" && Exit.isSuccess(outcome.exit)
    ? outcome.exit.value
    : assert.fail(`expected a successful completion, got ${JSON.stringify(outcome)}`)

/**
 * The memory store, observed: `attempted` lists the key of every entry written to it (accepted or
 * not), and `awaitWritten` waits until an entry has been accepted, so a test need not poll.
 */
const observedLog = Effect.gen(function*() {
  const written = yield* Queue.unbounded<string>()
  const attempted: Array<string> = []
  const backend = ExecutionLog.makeMemoryBackend()
  const log = ExecutionLog.makeUnsafe({
    ...backend,
    putStep: (row, fence) =>
      Effect.suspend(() => {
        attempted.push(row.key)
        return Effect.tap(backend.putStep(row, fence), (accepted) => (accepted ? Queue.offer(written, row.key) : Effect.void))
      })
  })
  const awaitWritten = (key: string): Effect.Effect<void> =>
    Effect.flatMap(Queue.take(written), (taken) => (taken === key ? Effect.void : awaitWritten(key)))
  return { log, attempted, awaitWritten }
})

class Boom extends Schema.TaggedError<Boom>()("Boom", { node: Schema.String }) {}

describe("Dag", () => {
  it.effect("returns every node's typed result and hands each node its dependencies' results", () =>
    Effect.gen(function*() {
      const seen: Record<string, unknown> = {}
      const User = Schema.Struct({ id: Schema.String, name: Schema.String })
      const validateUser = Step.make("validate-user", {
        success: User,
        run: (id: string) => Effect.succeed({ id, name: "Ada" })
      })
      const checkInventory = Step.make("check-inventory", {
        success: Schema.Number,
        run: (sku: string) => Effect.succeed(sku.length)
      })
      const checkFraud = Step.make("check-fraud", {
        success: Schema.Boolean,
        run: (user: typeof User.Type) => Effect.succeed(user.id !== "u1")
      })
      const Output = Schema.Struct({
        user: User,
        inventory: Schema.Number,
        fraud: Schema.Boolean,
        finalize: Schema.String
      })
      const flow = Flow.make("checkout", {
        input: Schema.Struct({ userId: Schema.String, sku: Schema.String }),
        success: Output,
        run: (order) =>
          Dag.make("checkout")
            .step("user", validateUser(order.userId))
            .step("inventory", checkInventory(order.sku))
            .step("fraud", ["user"], ({ user }) => {
              seen.fraud = { user }
              return checkFraud(user)
            })
            .step("finalize", ["user", "inventory", "fraud"], (deps) => {
              seen.finalize = deps
              return Effect.succeed(`${deps.user.name}:${deps.inventory}:${deps.fraud}`)
            })
            .pipe(Dag.run({ concurrency: 4 }))
      })
      const outcome = yield* Executor.execute(flow, { userId: "u1", sku: "sku-42" }, { id: "checkout-1" })
      const user = { id: "u1", name: "Ada" }
      assert.deepStrictEqual(completedValue(outcome), { user, inventory: 6, fraud: false, finalize: "Ada:6:false" })
      assert.deepStrictEqual(seen, { fraud: { user }, finalize: { user, inventory: 6, fraud: false } })
      assert.deepStrictEqual((yield* journalKeys("checkout-1")).filter((key) => !key.endsWith("$node")).sort(), [
        "checkout/fraud/check-fraud",
        "checkout/inventory/check-inventory",
        "checkout/user/validate-user"
      ])
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.effect("starts a node as soon as its own dependencies are done, not level by level", () =>
    Effect.gen(function*() {
      const releaseA = yield* Deferred.make<void>()
      const dFinished = yield* Deferred.make<void>()
      const finished: Array<string> = []
      const done = (name: string) => Effect.sync(() => finished.push(name))
      const flow = flowOf("levels", () =>
        Dag.make("levels")
          .step("a", Deferred.await(releaseA).pipe(Effect.zipRight(done("a")), Effect.as(1)))
          .step("b", done("b").pipe(Effect.as(2)))
          .step("c", ["b"], ({ b }) => done("c").pipe(Effect.as(b + 1)))
          .step("d", ["c"], ({ c }) => done("d").pipe(Effect.zipRight(Deferred.succeed(dFinished, undefined)), Effect.as(c + 1)))
          .step("e", ["a", "d"], ({ a, d }) => done("e").pipe(Effect.as(a + d)))
          .pipe(Dag.run()))
      const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id: "levels-1" }))
      // c and d are two levels below a, and finish while a is still blocked.
      yield* Deferred.await(dFinished)
      assert.deepStrictEqual(finished, ["b", "c", "d"])
      yield* Deferred.succeed(releaseA, undefined)
      const outcome = yield* Fiber.join(fiber)
      assert.deepStrictEqual(finished, ["b", "c", "d", "a", "e"])
      assert.deepStrictEqual(completedValue(outcome), { a: 1, b: 2, c: 3, d: 4, e: 5 })
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  describe("concurrency", () => {
    const gated = (
      started: Queue.Queue<string>,
      gate: Deferred.Deferred<void>,
      counts: { running: number; max: number }
    ) =>
    (name: string) =>
      Effect.gen(function*() {
        counts.running++
        counts.max = Math.max(counts.max, counts.running)
        yield* Queue.offer(started, name)
        yield* Deferred.await(gate)
        counts.running--
        return name
      })

    it.effect("runs at most `concurrency` nodes at a time", () =>
      Effect.gen(function*() {
        const started = yield* Queue.unbounded<string>()
        const gate = yield* Deferred.make<void>()
        const counts = { running: 0, max: 0 }
        const node = gated(started, gate, counts)
        const flow = flowOf("bounded", () =>
          Dag.make("bounded")
            .step("n1", node("n1"))
            .step("n2", node("n2"))
            .step("n3", node("n3"))
            .step("n4", node("n4"))
            .step("n5", ["n1"], () => node("n5"))
            .step("n6", node("n6"))
            .pipe(Dag.run({ concurrency: 2 })))
        const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id: "bounded-1" }))
        yield* Queue.takeN(started, 2)
        // Give every other node the chance to start: none may while both slots are held.
        yield* Effect.repeatN(Effect.yieldNow(), 100)
        assert.strictEqual(yield* Queue.size(started), 0)
        assert.strictEqual(counts.running, 2)
        yield* Deferred.succeed(gate, undefined)
        const outcome = yield* Fiber.join(fiber)
        assert.strictEqual(counts.max, 2)
        assert.deepStrictEqual(completedValue(outcome), { n1: "n1", n2: "n2", n3: "n3", n4: "n4", n5: "n5", n6: "n6" })
      }).pipe(Effect.provide(ExecutionLog.layerMemory)))

    it.effect("is unbounded by default", () =>
      Effect.gen(function*() {
        const started = yield* Queue.unbounded<string>()
        const gate = yield* Deferred.make<void>()
        const counts = { running: 0, max: 0 }
        const node = gated(started, gate, counts)
        const flow = flowOf("unbounded", () =>
          Dag.make("unbounded")
            .step("n1", node("n1"))
            .step("n2", node("n2"))
            .step("n3", node("n3"))
            .step("n4", node("n4"))
            .step("n5", node("n5"))
            .pipe(Dag.run()))
        const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id: "unbounded-1" }))
        // All five are running before any of them may finish.
        yield* Queue.takeN(started, 5)
        assert.strictEqual(counts.running, 5)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(fiber)
        assert.strictEqual(counts.max, 5)
      }).pipe(Effect.provide(ExecutionLog.layerMemory)))
  })

  it.effect("fails with the first failure, interrupting the nodes still running", () =>
    Effect.gen(function*() {
      const aStarted = yield* Deferred.make<void>()
      const aInterrupted = yield* Deferred.make<void>()
      let cRan = false
      const flow = Flow.make("failing", {
        input: Schema.Void,
        success: Schema.Unknown,
        error: Boom,
        run: () =>
          Dag.make("failing")
            .step(
              "a",
              Deferred.succeed(aStarted, undefined).pipe(
                Effect.zipRight(Effect.never),
                Effect.onInterrupt(() => Deferred.succeed(aInterrupted, undefined))
              )
            )
            .step("b", Deferred.await(aStarted).pipe(Effect.zipRight(new Boom({ node: "b" }))))
            .step("c", ["b"], () => Effect.sync(() => (cRan = true)))
            .pipe(Dag.run())
      })
      const outcome = yield* Executor.execute(flow, undefined, { id: "failing-1" })
      assert.strictEqual(outcome._tag, "Completed")
      if (outcome._tag !== "Completed") return
      assert.isTrue(Exit.isFailure(outcome.exit))
      if (Exit.isSuccess(outcome.exit)) return
      // Exactly the node's failure: the interruptions it caused are not part of the cause.
      const failures = Array.from(Cause.failures(outcome.exit.cause))
      assert.strictEqual(failures.length, 1)
      assert.instanceOf(failures[0], Boom)
      assert.strictEqual(failures[0]?.node, "b")
      assert.isFalse(Cause.isInterrupted(outcome.exit.cause))
      assert.isTrue(yield* Deferred.isDone(aInterrupted))
      assert.isFalse(cRan)
      // The failed node has its timeline entry; the interrupted one has none.
      const timeline = yield* Dag.timeline("failing-1")
      assert.deepStrictEqual(timeline.map((entry) => [entry.node, entry.outcome]), [["b", "failure"]])
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.effect("replays the nodes that finished before a crash and runs the rest", () =>
    Effect.flatMap(observedLog, ({ attempted, awaitWritten, log }) =>
    Effect.gen(function*() {
      const runs = { a: 0, b: 0, c: 0, d: 0 }
      let blockB = true
      const bStarted = yield* Deferred.make<void>()
      const stepA = Step.make("a", { success: Schema.Number, run: () => Effect.sync(() => (runs.a++, 10)) })
      const stepB = Step.make("b", {
        success: Schema.Number,
        run: () =>
          Effect.gen(function*() {
            runs.b++
            if (blockB) {
              yield* Deferred.succeed(bStarted, undefined)
              return yield* Effect.never
            }
            return 20
          })
      })
      const stepC = Step.make("c", { success: Schema.Number, run: (a: number) => Effect.sync(() => (runs.c++, a + 1)) })
      const stepD = Step.make("d", {
        success: Schema.Number,
        run: (b: number, c: number) => Effect.sync(() => (runs.d++, b + c))
      })
      const flow = flowOf("crash", () =>
        Dag.make("crash")
          .step("a", stepA())
          .step("b", stepB())
          .step("c", ["a"], ({ a }) => stepC(a))
          .step("d", ["b", "c"], ({ b, c }) => stepD(b, c))
          .pipe(Dag.run()))

      const first = yield* Effect.fork(Executor.execute(flow, undefined, { id: "crash-1" }))
      yield* Deferred.await(bStarted)
      yield* awaitWritten("crash/c/$node")
      // The process "dies" while b is running.
      yield* Fiber.interrupt(first)
      const keys = yield* journalKeys("crash-1")
      assert.deepStrictEqual(keys, ["crash/a/a", "crash/a/$node", "crash/c/c", "crash/c/$node"])
      const before = yield* Dag.timeline("crash-1")

      yield* TestClock.adjust("1 minute")
      blockB = false
      const writesBefore = attempted.length
      const outcome = yield* Executor.execute(flow, undefined, { id: "crash-1" })
      assert.deepStrictEqual(completedValue(outcome), { a: 10, b: 20, c: 11, d: 31 })
      // a and c finished before the crash: their steps replay; b runs again, d for the first time.
      assert.deepStrictEqual(runs, { a: 1, b: 2, c: 1, d: 1 })
      // Replayed nodes write nothing, not even their timing entry: one step and one timing entry per new node.
      assert.deepStrictEqual(attempted.slice(writesBefore).sort(), ["crash/b/$node", "crash/b/b", "crash/d/$node", "crash/d/d"])
      // The replayed nodes keep the times of the run that finished them.
      const after = yield* Dag.timeline("crash-1")
      assert.deepStrictEqual(after.slice(0, 2), before)
      assert.deepStrictEqual(after.map((entry) => [entry.node, entry.startedAt]), [
        ["a", 0],
        ["c", 0],
        ["b", 60_000],
        ["d", 60_000]
      ])
    }).pipe(Effect.provideService(ExecutionLog.ExecutionLog, log))))

  it.effect("gives the same keys whatever order the nodes finish in", () =>
    Effect.gen(function*() {
      const work = Step.make("work", { success: Schema.String, run: (what: string) => Effect.succeed(what) })
      const runWith = (flowId: string, first: "x" | "y") =>
        Effect.gen(function*() {
          const latches = { x: yield* Deferred.make<void>(), y: yield* Deferred.make<void>() }
          const finished = { x: yield* Deferred.make<void>(), y: yield* Deferred.make<void>() }
          // Both nodes call the same step twice: the node scopes keep their keys apart.
          const node = (name: "x" | "y") =>
            work(`${name}-1`).pipe(
              Effect.zipRight(Deferred.await(latches[name])),
              Effect.zipRight(work(`${name}-2`)),
              Effect.tap(() => Deferred.succeed(finished[name], undefined))
            )
          const flow = flowOf("det", () => Dag.make("det").step("x", node("x")).step("y", node("y")).pipe(Dag.run()))
          const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id: flowId }))
          const second = first === "x" ? "y" : "x"
          yield* Deferred.succeed(latches[first], undefined)
          yield* Deferred.await(finished[first])
          yield* Deferred.succeed(latches[second], undefined)
          assert.deepStrictEqual(completedValue(yield* Fiber.join(fiber)), { x: "x-2", y: "y-2" })
          return yield* journalKeys(flowId)
        })
      const xFirst = yield* runWith("det-1", "x")
      const yFirst = yield* runWith("det-2", "y")
      // The runs did finish in different orders ...
      assert.notDeepEqual(xFirst, yFirst)
      // ... and recorded the same keys.
      const expected = ["det/x/$node", "det/x/work", "det/x/work#2", "det/y/$node", "det/y/work", "det/y/work#2"]
      assert.deepStrictEqual([...xFirst].sort(), expected)
      assert.deepStrictEqual([...yFirst].sort(), expected)
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.effect("records each finished node's start and finish times, read back by Dag.timeline", () =>
    Effect.gen(function*() {
      const flow = flowOf("timed", () =>
        Dag.make("timed")
          .step("slow", Effect.sleep("10 seconds").pipe(Effect.as(1)))
          .step("quick", Effect.succeed(2))
          .step("after", ["slow"], () => Effect.sleep("5 seconds").pipe(Effect.as(3)))
          .pipe(Dag.run()))
      const fiber = yield* Effect.fork(Executor.execute(flow, undefined, { id: "timed-1" }))
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(completedValue(yield* Fiber.join(fiber)), { slow: 1, quick: 2, after: 3 })
      const timeline = yield* Dag.timeline("timed-1")
      assert.deepStrictEqual(timeline, [
        { dag: "timed", node: "quick", key: "timed/quick/$node", startedAt: 0, finishedAt: 0, outcome: "success" },
        { dag: "timed", node: "slow", key: "timed/slow/$node", startedAt: 0, finishedAt: 10_000, outcome: "success" },
        { dag: "timed", node: "after", key: "timed/after/$node", startedAt: 10_000, finishedAt: 15_000, outcome: "success" }
      ])
      for (const entry of timeline) assert.isTrue(entry.startedAt <= entry.finishedAt)
      assert.deepStrictEqual(yield* Dag.timeline("unknown-flow"), [])
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.effect("suspends the whole flow when a node suspends, and resumes it from the journal", () =>
    Effect.gen(function*() {
      const runs = { quick: 0, waiting: 0 }
      const quick = Step.make("quick", { success: Schema.Number, run: () => Effect.sync(() => (runs.quick++, 1)) })
      const waiting = Step.make("waiting", { success: Schema.Number, run: () => Effect.sync(() => (runs.waiting++, 2)) })
      const flow = flowOf("sleepy", () =>
        Dag.run(
          Dag.make("sleepy")
            .step("quick", quick())
            .step("waiting", Flow.sleep("1 hour").pipe(Effect.zipRight(waiting())))
            .step("sum", ["quick", "waiting"], ({ quick, waiting }) => Effect.succeed(quick + waiting)),
          { concurrency: 1 }
        ))
      const first = yield* Executor.execute(flow, undefined, { id: "sleepy-1" })
      assert.strictEqual(first._tag, "Suspended")
      // The suspended node has not finished: it has no timing entry yet.
      assert.deepStrictEqual((yield* Dag.timeline("sleepy-1")).map((entry) => entry.node), ["quick"])
      yield* TestClock.adjust("1 hour")
      const second = yield* Executor.execute(flow, undefined, { id: "sleepy-1" })
      assert.deepStrictEqual(completedValue(second), { quick: 1, waiting: 2, sum: 3 })
      assert.deepStrictEqual(runs, { quick: 1, waiting: 1 })
      assert.deepStrictEqual(
        (yield* Dag.timeline("sleepy-1")).map(({ finishedAt, node, outcome, startedAt }) => [node, startedAt, finishedAt, outcome]),
        // Entries with the same times are ordered by key.
        [["quick", 0, 0, "success"], ["sum", 3_600_000, 3_600_000, "success"], ["waiting", 3_600_000, 3_600_000, "success"]]
      )
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.effect("gives a DAG run twice in one flow distinct timing keys", () =>
    Effect.gen(function*() {
      const double = Step.make("double", { success: Schema.Number, run: (n: number) => Effect.succeed(n * 2) })
      const dag = (n: number) => Dag.make("twice").step("x", double(n))
      const flow = flowOf("twice", () =>
        Effect.gen(function*() {
          const first = yield* Dag.run(dag(1))
          const second = yield* Dag.run(dag(2))
          return [first.x, second.x]
        }))
      assert.deepStrictEqual(completedValue(yield* Executor.execute(flow, undefined, { id: "twice-1" })), [2, 4])
      assert.deepStrictEqual(yield* journalKeys("twice-1"), [
        "twice/x/double",
        "twice/x/$node",
        "twice/x/double#2",
        "twice/x/$node#2"
      ])
      assert.deepStrictEqual((yield* Dag.timeline("twice-1")).map((entry) => entry.key), [
        "twice/x/$node",
        "twice/x/$node#2"
      ])
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  describe("definitions the types cannot rule out", () => {
    const dies = (dag: Dag.Any, options?: Dag.RunOptions) =>
      Effect.gen(function*() {
        const flow = flowOf("bad", () => Effect.orDie(Dag.run(dag, options)))
        const outcome = yield* Executor.execute(flow, undefined, { id: "bad-1" })
        assert.strictEqual(outcome._tag, "Completed")
        if (outcome._tag !== "Completed" || Exit.isSuccess(outcome.exit)) return assert.fail("expected a failure")
        const defect = Cause.dieOption(outcome.exit.cause)
        assert.isTrue(Option.isSome(defect))
        return Option.getOrThrow(defect) as FlowDefinitionError
      }).pipe(Effect.provide(ExecutionLog.layerMemory))

    let ran = false
    const node = Effect.sync(() => (ran = true))
    // Casts stand for names that are only known at run time.
    const anyName = (name: string) => name as "runtime"

    it.effect("an empty DAG name", () =>
      Effect.gen(function*() {
        const error = yield* dies(Dag.make("").step("a", node))
        assert.instanceOf(error, FlowDefinitionError)
        assert.strictEqual(error.detail, "a DAG name must not be empty")
        assert.isFalse(ran)
      }))

    it.effect("an empty step name", () =>
      Effect.gen(function*() {
        const error = yield* dies(Dag.make("d").step(anyName(""), node))
        assert.strictEqual(error.message, "ergon: invalid definition 'd': a step name must not be empty")
        assert.isFalse(ran)
      }))

    it.effect("a duplicate step name", () =>
      Effect.gen(function*() {
        const error = yield* dies(Dag.make("d").step("a", node).step(anyName("a"), node))
        assert.strictEqual(error.detail, "duplicate step 'a'")
        assert.isFalse(ran)
      }))

    it.effect("a dependency on a step not declared before", () =>
      Effect.gen(function*() {
        const dag = Dag.make("d").step("a", node) as unknown as Dag.Dag<"d", { readonly a: boolean; readonly b: boolean }, never, never>
        const error = yield* dies(dag.step("c", ["b"], () => node))
        assert.strictEqual(error.detail, "step 'c' depends on 'b', which is not a step declared before it")
        assert.isFalse(ran)
      }))

    it.effect("a concurrency that is not a positive integer", () =>
      Effect.gen(function*() {
        const error = yield* dies(Dag.make("d").step("a", node), { concurrency: 0 })
        assert.strictEqual(error.detail, "concurrency must be a positive integer or \"unbounded\", not 0")
        assert.isFalse(ran)
      }))
  })

  it("isDag tells DAGs from other values", () => {
    assert.isTrue(Dag.isDag(Dag.make("d")))
    assert.isFalse(Dag.isDag({ name: "d", nodes: [] }))
    assert.isFalse(Dag.isDag(null))
  })
})
