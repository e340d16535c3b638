/**
 * Group commit on SQLite (src/sql/groupCommit.ts): the statements of concurrent fibers share one
 * transaction; each gets its own result; a failing statement fails alone; statements inside a
 * caller's transaction belong to it; concurrent flows all complete with every checkpoint written.
 *
 * Batches are counted through the connection reservations the store makes (one per batch run).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ExecutionLog } from "../src/ExecutionLog.js"
import * as Executor from "../src/Executor.js"
import * as Flow from "../src/Flow.js"
import { StoreError } from "../src/FlowError.js"
import * as ExecutionLogSql from "../src/sql/ExecutionLogSql.js"
import * as Sqlite from "../src/sqlite.js"
import * as Step from "../src/Step.js"
import { makeRecords } from "./fixtures/records.js"

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-group-commit-"))
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }))
let files = 0
const freshFile = (): string => path.join(directory, `store-${++files}.db`)

const { flowRecord, stepRecord } = makeRecords("gc-test")

/** The SQLite store with group commit, and a count of the connection reservations it makes. */
const counted = (filename: string, groupCommit = true) => {
  const counter = { reservations: 0 }
  const client = Layer.effect(
    SqlClient.SqlClient,
    Effect.map(SqlClient.SqlClient, (sql) => {
      const reserve = sql.reserve
      ;(sql as { reserve: typeof sql.reserve }).reserve = Effect.suspend(() => {
        counter.reservations++
        return reserve
      })
      return sql
    })
  ).pipe(Layer.provide(Sqlite.layer({ filename, groupCommit: false })))
  const layer = Layer.provideMerge(ExecutionLogSql.layerWith({ groupCommit }), client)
  return { counter, layer }
}

const storeFailure = <A>(exit: Exit.Exit<A, unknown>): StoreError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure) && failure.value instanceof StoreError, "expected a StoreError")
  return (failure as Option.Some<StoreError>).value
}

describe("group commit (SQLite)", () => {
  it.effect("concurrent writes share transactions, and each gets its own result", () => {
    const { counter, layer } = counted(freshFile())
    return Effect.gen(function*() {
      const log = yield* ExecutionLog
      yield* log.insertFlow(flowRecord("f", { leaseOwner: "a", leaseEpoch: 1 }))
      counter.reservations = 0
      // 100 steps under the right lease and 20 under a stale one, all at once
      const results = yield* Effect.all(
        [
          ...Array.from({ length: 100 }, (_, i) => log.putStep(stepRecord("f", `ok-${i}`), { owner: "a", epoch: 1 })),
          ...Array.from({ length: 20 }, (_, i) => log.putStep(stepRecord("f", `stale-${i}`), { owner: "a", epoch: 0 }))
        ],
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(results, [...Array(100).fill(true), ...Array(20).fill(false)])
      // far fewer transactions than writes (on this test's fibers: one or two)
      assert.isAtLeast(counter.reservations, 1, "no batch")
      assert.isAtMost(counter.reservations, 10, `${counter.reservations} batches for 120 writes`)
      const loaded = yield* yield* log.loadFlow("f")
      assert.strictEqual(loaded.steps.length, 100)
      assert.isTrue(loaded.steps.every((step) => step.key.startsWith("ok-")))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a statement that fails in a batch fails alone; the others are written", () => {
    const { counter, layer } = counted(freshFile())
    return Effect.gen(function*() {
      const log = yield* ExecutionLog
      counter.reservations = 0
      const exits = yield* Effect.all(
        [
          ...Array.from({ length: 10 }, (_, i) => Effect.exit(log.insertFlow(flowRecord(`good-${i}`)))),
          // `type` is NOT NULL: SQLite refuses this row
          Effect.exit(log.insertFlow(flowRecord("bad", { type: null as unknown as string }))),
          ...Array.from({ length: 10 }, (_, i) => Effect.exit(log.insertFlow(flowRecord(`good-${i + 10}`))))
        ],
        { concurrency: "unbounded" }
      )
      assert.isAtLeast(counter.reservations, 1, "no batch")
      assert.isAtMost(counter.reservations, 3, "the writes were not batched")
      const bad = storeFailure(exits[10]!)
      assert.strictEqual(bad.operation, "insertFlow")
      assert.include(bad.detail, "NOT NULL")
      for (const [i, exit] of exits.entries()) {
        if (i !== 10) assert.deepStrictEqual(exit, Exit.succeed(true), `write ${i}`)
      }
      const listed = yield* log.listFlows({ type: "gc-test", limit: 100 })
      assert.strictEqual(listed.length, 20)
      assert.isTrue(Option.isNone(yield* log.getFlow("bad")))
    }).pipe(Effect.provide(layer))
  })

  it.effect("inside the caller's transaction, reads and writes belong to it: rolled back with it, committed with it", () => {
    const { layer } = counted(freshFile())
    return Effect.gen(function*() {
      const log = yield* ExecutionLog
      const sql = yield* SqlClient.SqlClient
      const failed = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
        assert.isTrue(yield* log.insertFlow(flowRecord("rolled-back")))
        // a read in the transaction sees its write (and does not wait for the connection it holds)
        assert.isTrue(Option.isSome(yield* log.getFlow("rolled-back")))
        return yield* Effect.fail("the caller's own failure")
      })))
      assert.isTrue(Exit.isFailure(failed))
      assert.isTrue(Option.isNone(yield* log.getFlow("rolled-back")))
      yield* sql.withTransaction(log.insertFlow(flowRecord("committed")))
      assert.isTrue(Option.isSome(yield* log.getFlow("committed")))
    }).pipe(Effect.provide(layer))
  })

  it.effect("64 concurrent flows of 3 steps complete with every checkpoint, in far fewer commits than writes", () => {
    const { counter, layer } = counted(freshFile())
    const inc = Step.make("inc", { success: Schema.Number, run: (x: number) => Effect.succeed(x + 1) })
    const three = Flow.make("gc-three", {
      input: Schema.Number,
      success: Schema.Number,
      run: (x) => Effect.flatMap(inc(x), (y) => Effect.flatMap(inc(y), inc))
    })
    return Effect.gen(function*() {
      const log = yield* ExecutionLog
      counter.reservations = 0
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 64 }, (_, i) => i),
        (i) => Executor.execute(three, i, { id: `flow-${i}` }),
        { concurrency: "unbounded" }
      )
      outcomes.forEach((outcome, i) => assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(i + 3) }))
      // each flow: insert, 3 checkpoints, completion (5 writes) plus its reads
      assert.isAtLeast(counter.reservations, 1, "no batch")
      assert.isBelow(counter.reservations, 64 * 5 / 4, `${counter.reservations} batches`)
      for (let i = 0; i < 64; i++) {
        const loaded = yield* yield* log.loadFlow(`flow-${i}`)
        assert.strictEqual(loaded.flow.status, "completed")
        assert.deepStrictEqual(loaded.steps.map((step) => step.key), ["inc", "inc#2", "inc#3"])
      }
    }).pipe(Effect.provide(layer))
  })

  it.effect("with group commit off, every statement takes the connection on its own path", () => {
    const { counter, layer } = counted(freshFile(), false)
    return Effect.gen(function*() {
      const log = yield* ExecutionLog
      counter.reservations = 0
      yield* Effect.all(Array.from({ length: 20 }, (_, i) => log.insertFlow(flowRecord(`f-${i}`))), { concurrency: "unbounded" })
      assert.strictEqual(counter.reservations, 0)
      assert.strictEqual((yield* log.listFlows({ type: "gc-test" })).length, 20)
    }).pipe(Effect.provide(layer))
  })
})
