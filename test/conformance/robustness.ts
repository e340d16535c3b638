/**
 * The robustness conformance suite: bad input at every entry, values a store cannot keep, and
 * the races at the edges of a flow's life (a cancel or a signal as the flow ends or suspends),
 * run against a store Layer. Each test names the defect of issue 12 it reproduces (D1–D17); each
 * failed before its fix, on every store it applies to.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Client, ExecutionLog, Executor, Flow, Scheduler, Step } from "../../src/index.js"
import { hashValue } from "../../src/internal/hash.js"
import * as json from "../../src/internal/json.js"

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

const scheduler = Scheduler.make().unversioned()

/** A flow of `Schema.Unknown` input whose one step returns whatever `result()` gives, counting its runs. */
const poisonFlow = (result: () => unknown) => {
  const runs = { count: 0 }
  const produce = Step.make("produce", {
    success: Schema.Unknown,
    run: () => Effect.sync(() => (runs.count++, result()))
  })
  const flow = Flow.make(freshId("poison"), { input: Schema.Unknown, success: Schema.Unknown, run: () => produce() })
  return { flow, runs }
}

/** A value nested `depth` arrays deep. */
const nested = (depth: number): unknown => {
  let value: unknown = 0
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

const circular = (): unknown => {
  const value: Record<string, unknown> = { a: 1 }
  value.self = value
  return value
}

/** A flow's stored state, which must exist. */
const stored = (id: string) => Effect.flatMap(Client.get(id), (row) => Effect.succeed(Option.getOrThrow(row)))

/** Nothing at all was written for `id`. */
const assertNothingWritten = (id: string) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog.ExecutionLog
    assert.isTrue(Option.isNone(yield* log.getFlow(id)), `flow '${id}' was written`)
  })

/** The flow is failed with an engine error of `tag`, and no claim will ever take it again. */
const assertFailedOnce = (id: string, tag: string) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog.ExecutionLog
    const row = yield* log.getFlow(id).pipe(Effect.map(Option.getOrThrow))
    assert.strictEqual(row.status, "failed")
    assert.strictEqual((row.error as { _tag?: string })._tag, tag)
    const claimed = yield* log.claimFlows({
      owner: "later",
      now: Date.now() + 365 * 86_400_000,
      leaseMillis: 1_000,
      limit: 100,
      types: [row.type],
      versions: [null]
    })
    assert.deepStrictEqual(claimed, [], "a failed flow is claimed again")
  })

/** Wraps the store's service, e.g. to make something happen right before an operation. */
const wrapLog = (f: (log: ExecutionLog.ExecutionLog.Service) => ExecutionLog.ExecutionLog.Service) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.flatMap(ExecutionLog.ExecutionLog, (log) => Effect.provideService(effect, ExecutionLog.ExecutionLog, f(log)))

export const suite = (name: string, layer: Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`robustness conformance: ${name}`, () => {
    it.layer(layer)((it) => {
      // ---------------------------------------------------------------------------------------
      // Values a store cannot keep (D1, D5, D11, D14, D15, D16)
      // ---------------------------------------------------------------------------------------

      for (
        const [label, value, reason] of [
          ["a bigint", () => 10n, "bigint"],
          ["a circular value", circular, "cycle"],
          ["JSON nested 1,900 deep", () => nested(1_900), "depth"],
          ["NaN", () => Number.NaN, "number"],
          ["a Date", () => new Date(0), "object"]
        ] as const
      ) {
        it.effect(`D1/D5: a step result that is ${label} fails the flow once with UnstorableValueError, never loops`, () =>
          Effect.gen(function*() {
            const { flow, runs } = poisonFlow(value)
            const id = freshId("d1")
            const outcome = yield* Effect.flip(Executor.execute(flow, null, { id }))
            assert.strictEqual(outcome._tag, "UnstorableValueError")
            if (outcome._tag === "UnstorableValueError") assert.strictEqual(outcome.reason, reason)
            assert.strictEqual(runs.count, 1)
            yield* assertFailedOnce(id, "UnstorableValueError")
            const { steps } = Option.getOrThrow(yield* Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.loadFlow(id)))
            assert.deepStrictEqual(steps, [], "nothing of the step was stored")
          }))
      }

      it.effect("D5: a step result fixed after the failure: Client.retry runs the step again and the flow completes", () =>
        Effect.gen(function*() {
          let value: unknown = Number.POSITIVE_INFINITY
          const { flow, runs } = poisonFlow(() => value)
          const id = freshId("d5")
          yield* Effect.flip(Executor.execute(flow, null, { id }))
          yield* assertFailedOnce(id, "UnstorableValueError")
          value = 7
          yield* Client.retry(id)
          const outcome = yield* Executor.execute(flow, null, { id })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(7) })
          assert.strictEqual(runs.count, 2)
        }))

      it.effect("D5/D11/D14: NaN, Infinity, a bigint, a cycle or 1,900-deep JSON as input: a typed error, nothing written", () =>
        Effect.gen(function*() {
          const Numbers = Flow.make(freshId("numbers"), { input: Schema.Number, success: Schema.Number, run: Effect.succeed })
          const Anything = Flow.make(freshId("anything"), { input: Schema.Unknown, success: Schema.Number, run: () => Effect.succeed(1) })
          for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
            const id = freshId("nan")
            const error = yield* Effect.flip(scheduler.schedule(Numbers, value, { id }))
            assert.strictEqual(error._tag, "UnstorableValueError", String(value))
            yield* assertNothingWritten(id)
            const executed = yield* Effect.flip(Executor.execute(Numbers, value, { id }))
            assert.strictEqual(executed._tag, "UnstorableValueError")
            yield* assertNothingWritten(id)
          }
          for (const value of [{ n: 1n }, circular(), nested(1_900), { at: new Date() }, { f: () => 1 }, [undefined]]) {
            const id = freshId("bad-input")
            const error = yield* Effect.flip(scheduler.schedule(Anything, value, { id }))
            assert.strictEqual(error._tag, "UnstorableValueError")
            yield* assertNothingWritten(id)
          }
          // Deep, but within the limit: accepted, and read back the same.
          const id = freshId("deep-ok")
          const deep = nested(100)
          yield* scheduler.schedule(Anything, deep, { id })
          assert.deepStrictEqual((yield* Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.getFlow(id))).pipe(Option.map((row) => row.input)), Option.some(deep))
        }))

      it.effect("D15: a signal payload sent without a schema must be JSON that comes back exactly; nothing is stored otherwise", () =>
        Effect.gen(function*() {
          const Waiter = Flow.make(freshId("waiter"), { input: Schema.Void, success: Schema.Unknown, run: () => Flow.awaitSignal("go", Schema.Unknown) })
          const handle = yield* scheduler.schedule(Waiter, undefined)
          for (const payload of [() => 1, Symbol("s"), undefined, Number.NaN, { n: 2n }, circular()]) {
            const error = yield* Effect.flip(Client.signal(handle.id, "go", payload))
            assert.strictEqual(error._tag, "InvalidSignalError", String(typeof payload))
          }
          const log = yield* ExecutionLog.ExecutionLog
          assert.deepStrictEqual(yield* log.listSignals(handle.id), [])
          yield* Client.signal(handle.id, "go", { ok: null, list: [1, "two"] })
          assert.strictEqual((yield* log.listSignals(handle.id)).length, 1)
        }))

      it.effect("D16: the input hash covers __proto__ keys: two inputs that differ only there conflict", () =>
        Effect.gen(function*() {
          const a = JSON.parse(`{"__proto__": {"admin": true}, "n": 1}`)
          const b = JSON.parse(`{"__proto__": {"admin": false}, "n": 1}`)
          assert.notStrictEqual(hashValue(a), hashValue(b))
          const Anything = Flow.make(freshId("proto"), { input: Schema.Unknown, success: Schema.Number, run: () => Effect.succeed(1) })
          const id = freshId("proto")
          yield* scheduler.schedule(Anything, a, { id })
          const conflict = yield* Effect.flip(scheduler.schedule(Anything, b, { id }))
          assert.strictEqual(conflict._tag, "FlowConflictError")
          // The key is stored and read back as an own key.
          const row = yield* stored(id)
          const input = (yield* Effect.flatMap(ExecutionLog.ExecutionLog, (log) => log.getFlow(id))).pipe(Option.getOrThrow).input
          assert.strictEqual(row.id, id)
          assert.isTrue(Object.prototype.hasOwnProperty.call(input, "__proto__"))
          assert.deepStrictEqual(JSON.stringify(input), JSON.stringify(a))
        }))

      it.effect("D8: a payload over the store's size limit is a typed error at schedule; a step result over it fails the flow once", () =>
        Effect.gen(function*() {
          const log = yield* ExecutionLog.ExecutionLog
          const big = "x".repeat(log.limits.maxPayloadBytes)
          const Anything = Flow.make(freshId("big"), { input: Schema.Unknown, success: Schema.Number, run: () => Effect.succeed(1) })
          const id = freshId("big")
          const error = yield* Effect.flip(scheduler.schedule(Anything, { big }, { id }))
          assert.strictEqual(error._tag, "UnstorableValueError")
          if (error._tag === "UnstorableValueError") assert.strictEqual(error.reason, "size")
          yield* assertNothingWritten(id)
          const { flow, runs } = poisonFlow(() => big)
          const flowId = freshId("big-result")
          const failed = yield* Effect.flip(Executor.execute(flow, null, { id: flowId }))
          assert.strictEqual(failed._tag, "UnstorableValueError")
          assert.strictEqual(runs.count, 1)
          yield* assertFailedOnce(flowId, "UnstorableValueError")
        }))

      it.effect("D8: Client.list returns the flows' state without their payloads unless asked", () =>
        Effect.gen(function*() {
          const Anything = Flow.make(freshId("list"), { input: Schema.Unknown, success: Schema.Number, run: () => Effect.succeed(1) })
          const payload = { blob: "y".repeat(100_000) }
          for (let i = 0; i < 5; i++) yield* scheduler.schedule(Anything, payload, { id: freshId("list") })
          const listed = yield* Client.list({ type: Anything.name })
          assert.strictEqual(listed.length, 5)
          for (const row of listed) {
            assert.strictEqual(row.input, undefined)
            assert.strictEqual(row.status, "pending")
          }
          const whole = yield* Client.list({ type: Anything.name, payloads: true })
          assert.deepStrictEqual(whole.map((row) => row.input), Array.from({ length: 5 }, () => payload))
        }))

      // ---------------------------------------------------------------------------------------
      // Ids, names, times, priorities (D2, D3, D4, D14)
      // ---------------------------------------------------------------------------------------

      it.effect("D2/D14: an id over the limit, empty, or with a NUL is an InvalidIdError; nothing written", () =>
        Effect.gen(function*() {
          const Doubler = Flow.make(freshId("ids"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
          for (const id of ["x".repeat(2_690), "é".repeat(513), "", "a\u0000b"]) {
            const error = yield* Effect.flip(scheduler.schedule(Doubler, 1, { id }))
            assert.strictEqual(error._tag, "InvalidIdError", JSON.stringify(id.slice(0, 10)))
            const executed = yield* Effect.flip(Executor.execute(Doubler, 1, { id }))
            assert.strictEqual(executed._tag, "InvalidIdError")
          }
          // The longest id accepted round-trips.
          const longest = `${freshId("l")}-`.padEnd(json.MAX_ID_BYTES, "z")
          const handle = yield* scheduler.schedule(Doubler, 1, { id: longest })
          assert.strictEqual((yield* stored(handle.id)).id, longest)
          const outcome = yield* Executor.execute(Doubler, 1, { id: longest })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(2) })
        }))

      it.effect("D2: a child id or journal key over the limit fails the parent once with InvalidIdError", () =>
        Effect.gen(function*() {
          const Child = Flow.make(freshId("child"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n) })
          const Parent = Flow.make(freshId("parent"), {
            input: Schema.Number,
            success: Schema.Number,
            run: (n) => Flow.invoke(Child, n, { key: "k".repeat(1_000) })
          })
          const parentId = freshId("p")
          const error = yield* Effect.flip(Executor.execute(Parent, 1, { id: parentId }))
          assert.strictEqual(error._tag, "InvalidIdError")
          yield* assertFailedOnce(parentId, "InvalidIdError")
          const longStep = Step.make("s".repeat(1_100), { success: Schema.Number, run: () => Effect.succeed(1) })
          const LongKey = Flow.make(freshId("long-key"), { input: Schema.Void, success: Schema.Number, run: () => longStep() })
          const id = freshId("lk")
          const keyError = yield* Effect.flip(Executor.execute(LongKey, undefined, { id }))
          assert.strictEqual(keyError._tag, "InvalidIdError")
          yield* assertFailedOnce(id, "InvalidIdError")
        }))

      it.effect("D3: runAt NaN, an invalid Date, a string, out of range: InvalidOptionError, nothing written", () =>
        Effect.gen(function*() {
          const Doubler = Flow.make(freshId("runat"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
          for (const runAt of [Number.NaN, new Date("x"), "2024" as any, Number.POSITIVE_INFINITY, 1e20]) {
            const id = freshId("runat")
            const error = yield* Effect.flip(scheduler.schedule(Doubler, 1, { id, runAt }))
            assert.strictEqual(error._tag, "InvalidOptionError", String(runAt))
            yield* assertNothingWritten(id)
          }
          const id = freshId("runat-ok")
          yield* scheduler.schedule(Doubler, 1, { id, runAt: new Date(1_700_000_000_000.7) })
          assert.strictEqual((yield* stored(id)).runAfter, 1_700_000_000_000)
        }))

      it.effect("D14: priority NaN, 1.5, 2^31 or a string: InvalidOptionError; the extremes are kept", () =>
        Effect.gen(function*() {
          const Doubler = Flow.make(freshId("prio"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
          for (const priority of [Number.NaN, 1.5, 2 ** 31, -(2 ** 31) - 1, "1" as any]) {
            const id = freshId("prio")
            const error = yield* Effect.flip(scheduler.schedule(Doubler, 1, { id, priority }))
            assert.strictEqual(error._tag, "InvalidOptionError", String(priority))
            yield* assertNothingWritten(id)
            assert.strictEqual((yield* Effect.flip(Executor.execute(Doubler, 1, { id, priority })))._tag, "InvalidOptionError")
          }
          for (const priority of [2 ** 31 - 1, -(2 ** 31)]) {
            const id = freshId("prio-ok")
            yield* scheduler.schedule(Doubler, 1, { id, priority })
            assert.strictEqual((yield* stored(id)).priority, priority)
          }
        }))

      it.effect("D4: ids with a lone surrogate are refused (they would collide or never load); a status of one is not found", () =>
        Effect.gen(function*() {
          const Doubler = Flow.make(freshId("surrogate"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
          const base = freshId("s")
          for (const id of [`${base}\uD800`, `${base}\uDC00`, `${base}\uD800x`]) {
            const error = yield* Effect.flip(scheduler.schedule(Doubler, 1, { id }))
            assert.strictEqual(error._tag, "InvalidIdError")
            assert.strictEqual((yield* Effect.flip(Client.status(id)))._tag, "FlowNotFoundError")
          }
          // A well-formed pair (an emoji) is fine and comes back the same.
          const emoji = `${base}-😀`
          yield* scheduler.schedule(Doubler, 1, { id: emoji })
          assert.strictEqual((yield* stored(emoji)).id, emoji)
          const outcome = yield* Executor.execute(Doubler, 1, { id: emoji })
          assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(2) })
        }))

      it.effect("D14: a signal name or flow name that no store keeps is a typed error", () =>
        Effect.gen(function*() {
          const Waiter = Flow.make(freshId("names"), { input: Schema.Void, success: Schema.Unknown, run: () => Flow.awaitSignal("go", Schema.Unknown) })
          const handle = yield* scheduler.schedule(Waiter, undefined)
          for (const name of ["", "n".repeat(1_100), "a\u0000", "\uDFFF"]) {
            assert.strictEqual((yield* Effect.flip(Client.signal(handle.id, name, 1)))._tag, "InvalidSignalError")
          }
          const BadName = Flow.make("bad\u0000name", { input: Schema.Number, success: Schema.Number, run: Effect.succeed })
          assert.strictEqual((yield* Effect.flip(scheduler.schedule(BadName, 1)))._tag, "InvalidIdError")
        }))

      // ---------------------------------------------------------------------------------------
      // The edges of a flow's life (D9, D10, D17)
      // ---------------------------------------------------------------------------------------

      it.effect("D9: a cancel that lands as the flow completes reports FlowEndedError, not success", () =>
        Effect.gen(function*() {
          const Doubler = Flow.make(freshId("cancel"), { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
          const handle = yield* scheduler.schedule(Doubler, 1)
          // The flow completes right before the store is asked to cancel it.
          const completeFirst = wrapLog((log) => ({
            ...log,
            cancelFlow: (id, now) =>
              Effect.zipRight(
                log.updateFlow(id, { status: "completed", result: { _tag: "Success", value: 2 }, completedAt: now, updatedAt: now }),
                log.cancelFlow(id, now)
              )
          }))
          const error = yield* Effect.flip(completeFirst(Client.cancel(handle.id)))
          assert.strictEqual(error._tag, "FlowEndedError")
          if (error._tag === "FlowEndedError") assert.strictEqual(error.status, "completed")
          assert.strictEqual(yield* Client.status(handle.id), "completed")
          // Cancelling a flow that is not there: not found.
          assert.strictEqual((yield* Effect.flip(Client.cancel(freshId("none"))))._tag, "FlowNotFoundError")
        }))

      it.effect("D9: cancels racing completions: every success is a cancelled flow, every refusal a completed one", () =>
        Effect.gen(function*() {
          const work = Step.make("work", { success: Schema.Number, run: (n: number) => Effect.as(Effect.yieldNow(), n) })
          const Racer = Flow.make(freshId("race"), { input: Schema.Number, success: Schema.Number, run: (n) => work(n) })
          const ids = Array.from({ length: 30 }, () => freshId("race"))
          const results = yield* Effect.forEach(ids, (id, i) =>
            Effect.all([
              Effect.exit(Executor.execute(Racer, i, { id })),
              Effect.zipRight(Effect.repeatN(Effect.yieldNow(), i % 7), Effect.exit(Client.cancel(id)))
            ], { concurrency: "unbounded" }), { concurrency: 5 })
          for (const [i, [, cancelled]] of results.entries()) {
            const status = yield* Client.status(ids[i]!)
            if (Exit.isSuccess(cancelled)) assert.strictEqual(status, "cancelled", ids[i])
            else {
              // Refused: the flow had ended (it is completed), or was not there yet (then it ran).
              const error = String(cancelled.cause)
              if (error.includes("FlowEndedError")) assert.strictEqual(status, "completed", ids[i])
              else assert.include(error, "FlowNotFoundError", ids[i])
            }
          }
        }))

      it.effect("D10: a signal that lands as the flow completes is refused with FlowEndedError, never stored and dropped", () =>
        Effect.gen(function*() {
          const Waiter = Flow.make(freshId("late"), { input: Schema.Void, success: Schema.Number, run: () => Effect.succeed(1) })
          const handle = yield* scheduler.schedule(Waiter, undefined)
          const completeFirst = wrapLog((log) => ({
            ...log,
            insertSignal: (flowId, name, payload, now) =>
              Effect.zipRight(
                log.updateFlow(flowId, { status: "completed", result: { _tag: "Success", value: 1 }, completedAt: now, updatedAt: now }),
                log.insertSignal(flowId, name, payload, now)
              )
          }))
          const error = yield* Effect.flip(completeFirst(Client.signal(handle.id, "go", "late")))
          assert.strictEqual(error._tag, "FlowEndedError")
          const log = yield* ExecutionLog.ExecutionLog
          assert.deepStrictEqual(yield* log.listSignals(handle.id), [])
          // The store refuses it atomically too (cancelled, or not there at all).
          const other = yield* scheduler.schedule(Waiter, undefined)
          yield* Client.cancel(other.id)
          assert.strictEqual((yield* Effect.flip(log.insertSignal(other.id, "go", 1, Date.now())))._tag, "FlowEndedError")
          assert.strictEqual((yield* Effect.flip(log.insertSignal(freshId("none"), "go", 1, Date.now())))._tag, "FlowNotFoundError")
        }))

      it.effect("D17: a signal to a suspended flow wakes it in the same write (no reader needed between the two)", () =>
        Effect.gen(function*() {
          const Waiter = Flow.make(freshId("wake"), { input: Schema.Void, success: Schema.String, run: () => Flow.awaitSignal("go", Schema.String) })
          const id = freshId("wake")
          const outcome = yield* Executor.execute(Waiter, undefined, { id })
          assert.strictEqual(outcome._tag, "Suspended")
          assert.strictEqual((yield* stored(id)).status, "suspended")
          const log = yield* ExecutionLog.ExecutionLog
          // The store alone (not the sender) makes the flow ready, in the insert's own write.
          yield* log.insertSignal(id, "go", "now", 1_234)
          const row = yield* stored(id)
          assert.strictEqual(row.status, "pending")
          assert.strictEqual(row.runAfter, 1_234)
          assert.deepStrictEqual(yield* Executor.execute(Waiter, undefined, { id }), { _tag: "Completed", exit: Exit.succeed("now") })
        }))
    })
  })
