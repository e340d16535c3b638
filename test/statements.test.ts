/**
 * Store statements per flow, counted: a 3-step flow run by a worker, with its handle awaited in the
 * same process, costs its three checkpoints and its completion, plus its share of the claims and
 * wake-up lookups made for a whole batch of flows. In particular:
 *
 * - no load after the claim (a first execution has no journal, and the claim carries its input);
 * - no read by the awaiting handle once the run in this process wrote the end (it takes it from
 *   the run);
 * - no lease renewal per flow.
 *
 * Counted on the store service (memory, SQLite) and, on SQLite, as the SQL statements the driver
 * ran (transaction control included).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as ExecutionLog from "../src/ExecutionLog.js"
import * as Flow from "../src/Flow.js"
import * as Scheduler from "../src/Scheduler.js"
import * as Sqlite from "../src/sqlite.js"
import * as Step from "../src/Step.js"
import * as Worker from "../src/Worker.js"

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-statements-"))
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }))

/** Every statement better-sqlite3 runs in this process, counted. */
const sqlStatements = (() => {
  const counter = { count: 0 }
  const db = new Database(":memory:")
  const proto = Object.getPrototypeOf(db.prepare("SELECT 1")) as Record<string, unknown>
  db.close()
  for (const method of ["run", "get", "all", "iterate"]) {
    const original = proto[method] as (...args: Array<unknown>) => unknown
    proto[method] = function(this: unknown, ...args: Array<unknown>) {
      counter.count++
      return original.apply(this, args)
    }
  }
  return counter
})()

/** The store service with a count of its calls, by method. */
const counting = <E>(layer: Layer.Layer<ExecutionLog.ExecutionLog, E>) => {
  const calls = new Map<string, number>()
  const wrapped = Layer.effect(
    ExecutionLog.ExecutionLog,
    Effect.map(ExecutionLog.ExecutionLog, (service) => {
      const counted: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(service)) {
        counted[key] = typeof value !== "function" ? value : (...args: Array<unknown>) =>
          Effect.suspend(() => {
            calls.set(key, (calls.get(key) ?? 0) + 1)
            return (value as (...a: Array<unknown>) => Effect.Effect<unknown>)(...args)
          })
      }
      return counted as unknown as ExecutionLog.ExecutionLog.Service
    })
  ).pipe(Layer.provide(layer))
  return { calls, layer: wrapped }
}

const step = (name: string) => Step.make(name, { success: Schema.Number, run: (x: number) => Effect.sync(() => x + 1) })
const a = step("a")
const b = step("b")
const c = step("c")
const ThreeSteps = Flow.make("statements-three", {
  input: Schema.Number,
  success: Schema.Number,
  run: (x) =>
    Effect.gen(function*() {
      return yield* c(yield* b(yield* a(x)))
    })
})

const N = 200

/** Schedules N flows, runs them with one worker, awaits every handle; the store calls made meanwhile. */
const runBatch = (calls: Map<string, number>, statements?: { count: number }) =>
  Effect.gen(function*() {
    const scheduler = Scheduler.make().unversioned()
    const handles = yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) =>
      scheduler.schedule(ThreeSteps, i, { id: `s-${i}` }), { concurrency: 16 })
    calls.clear()
    const sql0 = statements?.count ?? 0
    const worker = yield* Effect.fork(
      Worker.make("statements").unversioned().register(ThreeSteps).withConcurrency(32).run()
    )
    for (const [i, handle] of handles.entries()) assert.strictEqual(yield* handle.await, i + 3)
    const sql = (statements?.count ?? 0) - sql0
    // (counted before the worker stops: its shutdown writes are not the flows')
    const counted = new Map(calls)
    yield* Fiber.interrupt(worker)
    return { calls: counted, sql }
  })

const perFlow = (calls: Map<string, number>, method: string) => (calls.get(method) ?? 0) / N
const total = (calls: Map<string, number>) => Array.from(calls.values()).reduce((x, y) => x + y, 0) / N
const show = (calls: Map<string, number>) =>
  Array.from(calls.entries()).map(([method, count]) => `${method} ${(count / N).toFixed(3)}`).join(", ")

const assertLean = (calls: Map<string, number>) => {
  const detail = show(calls)
  // The flow's own writes: three checkpoints and its end.
  assert.strictEqual(perFlow(calls, "putStep"), 3, detail)
  assert.strictEqual(perFlow(calls, "updateFlow"), 1, detail)
  // Nothing read back: no load after the claim, no read by the handle once the end was written
  // here. (A handle awaited before its flow was claimed reads it: a few of the first ones.)
  assert.strictEqual(perFlow(calls, "loadFlow"), 0, detail)
  assert.isAtMost(perFlow(calls, "getFlow"), 0.1, detail)
  // Claims and wake-up lookups serve a batch of flows; renewals are the heartbeat's.
  assert.isAtMost(perFlow(calls, "claimFlows") + perFlow(calls, "nextWakeAt"), 0.2, detail)
  assert.isAtMost(calls.get("renewLeases") ?? 0, 2, detail)
  assert.isAtMost(total(calls), 4.25, detail)
}

describe("store statements per flow", () => {
  it.effect("memory: a 3-step flow under a worker costs its 3 checkpoints and its end", () => {
    const { calls, layer } = counting(ExecutionLog.layerMemory)
    return Effect.gen(function*() {
      const { calls: counted } = yield* runBatch(calls)
      assertLean(counted)
    }).pipe(Effect.provide(layer))
  }, 60_000)

  it.effect("SQLite: the same, and as many SQL statements (group commit's BEGIN and COMMIT included)", () => {
    const { calls, layer } = counting(Sqlite.layer({ filename: path.join(directory, "statements.db") }))
    return Effect.gen(function*() {
      const { calls: counted, sql } = yield* runBatch(calls, sqlStatements)
      assertLean(counted)
      // Each store call is one statement; a batch of concurrent flows' statements adds a BEGIN
      // and a COMMIT, shared by the batch.
      assert.isAtMost(sql / N, 4.6, `${(sql / N).toFixed(2)} SQL statements per flow; ${show(counted)}`)
    }).pipe(Effect.provide(layer))
  }, 60_000)
})
