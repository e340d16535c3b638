/**
 * Group commit on PostgreSQL (src/sql/groupCommit.ts, on by default for `ergon/pg`): the callers of
 * a batch are settled only after its COMMIT; the checkpoint upserts of a batch are merged into one
 * multi-row statement, still fenced one by one (each caller gets its own result); a failing row
 * fails its caller alone; two upserts of one entry in a batch do not break it; statements inside a
 * caller's transaction belong to it; a batch transaction sends one wake-up notification, however
 * many of its rows would wake a worker.
 *
 * The statements the store runs on its batch connections are observed through the connections the
 * store reserves (one per batch run).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { afterAll, assert, describe, it } from "@effect/vitest"
import pg from "pg"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ExecutionLog } from "../src/ExecutionLog.js"
import { StoreError } from "../src/FlowError.js"
import * as Pg from "../src/pg.js"
import * as ExecutionLogSql from "../src/sql/ExecutionLogSql.js"
import { makeRecords } from "./fixtures/records.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const { flowRecord, stepRecord } = makeRecords("gc-pg")

let databases = 0

interface Observed {
  /** Statements run on the batch connections, in order. */
  readonly statements: Array<string>
  /** Those of them run as named (prepared) statements. */
  readonly prepared: Array<string>
  /** Connections reserved (one per batch run). */
  reservations: number
  /** When set, a batch's COMMIT waits for it. */
  commitGate: Deferred.Deferred<void> | undefined
  /** Completed once a COMMIT is waiting at the gate. */
  readonly atCommit: Deferred.Deferred<void>
}

/**
 * A fresh database with the PostgreSQL store on it, group commit on, its batch connections observed.
 * Also provides the plain `SqlClient` (its statements do not go through the batches).
 */
const observed = (options: { readonly groupCommit?: boolean } = {}) =>
  Effect.gen(function*() {
    const server = yield* Effect.promise(() => Server.start())
    const database = yield* Effect.promise(() => server.createDatabase(`gcpg_${Date.now().toString(36)}_${++databases}`))
    const seen: Observed = {
      statements: [],
      prepared: [],
      reservations: 0,
      commitGate: undefined,
      atCommit: yield* Deferred.make<void>()
    }
    const watch = (connection: SqlConnection.Connection): SqlConnection.Connection => {
      const executeRaw = connection.executeRaw.bind(connection)
      return new Proxy(connection, {
        get(target, property, receiver) {
          // the driver's client, for the statements the store runs prepared on it
          if (property === "pg") {
            const client = Reflect.get(target, property, receiver) as
              | { query: (config: { readonly text: string; readonly name?: string }, callback: unknown) => unknown }
              | undefined
            if (client === undefined) return undefined
            return {
              query: (config: { readonly text: string; readonly name?: string }, callback: unknown) => {
                seen.statements.push(config.text)
                if (config.name !== undefined) seen.prepared.push(config.text)
                return client.query(config, callback)
              }
            }
          }
          if (property !== "executeRaw") {
            const value = Reflect.get(target, property, receiver)
            return typeof value === "function" ? value.bind(target) : value
          }
          return (text: string, params: ReadonlyArray<unknown>) =>
            Effect.suspend(() => {
              seen.statements.push(text)
              const gate = seen.commitGate
              if (text !== "COMMIT" || gate === undefined) return executeRaw(text, params)
              return Effect.zipRight(
                Effect.zipRight(Deferred.succeed(seen.atCommit, undefined), Deferred.await(gate)),
                executeRaw(text, params)
              )
            })
        }
      })
    }
    const client = Layer.effect(
      SqlClient.SqlClient,
      Effect.map(SqlClient.SqlClient, (sql) => {
        const reserve = sql.reserve
        ;(sql as { reserve: typeof sql.reserve }).reserve = Effect.suspend(() => {
          seen.reservations++
          return Effect.map(reserve, watch)
        })
        return sql
      })
    ).pipe(Layer.provide(Pg.layer({ url: server.url(database), groupCommit: false })))
    const layer = Layer.provideMerge(
      ExecutionLogSql.layerWith({ groupCommit: options.groupCommit ?? true }),
      client
    )
    return { seen, layer, url: server.url(database) }
  })

/** The store's notifications (payloads) heard on a connection of their own, for the scope. */
const listening = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: url })
      const heard: Array<string> = []
      client.on("notification", (message) => void heard.push(message.payload ?? ""))
      await client.connect()
      await client.query("LISTEN ergon")
      return { client, heard }
    }),
    ({ client }) => Effect.promise(() => client.end())
  )

const storeFailure = <A>(exit: Exit.Exit<A, unknown>): StoreError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure) && failure.value instanceof StoreError, "expected a StoreError")
  return (failure as Option.Some<StoreError>).value
}

const merged = (seen: Observed) => seen.statements.filter((text) => text.includes("unnest(")).length

describe("group commit (PostgreSQL)", () => {
  it.live("a batch's callers are settled only after its COMMIT, and its writes are seen by no one before", () =>
    Effect.gen(function*() {
      const { layer, seen } = yield* observed()
      yield* Effect.gen(function*() {
        const log = yield* ExecutionLog
        const sql = yield* SqlClient.SqlClient
        yield* log.insertFlow(flowRecord("f", { leaseOwner: "a", leaseEpoch: 1 }))
        const gate = yield* Deferred.make<void>()
        seen.commitGate = gate
        const writes = yield* Effect.fork(Effect.all(
          Array.from({ length: 20 }, (_, i) => log.putStep(stepRecord("f", `s-${i}`), { owner: "a", epoch: 1 })),
          { concurrency: "unbounded" }
        ))
        yield* Deferred.await(seen.atCommit)
        // the batch is written, its COMMIT not sent: no caller has its result, no other connection sees a row
        assert.isTrue(Option.isNone(yield* Fiber.poll(writes)), "a caller went on before the COMMIT")
        const before = yield* sql.unsafe<{ n: string }>(`SELECT COUNT(*) AS n FROM ergon_steps WHERE flow_id = 'f'`)
        assert.strictEqual(Number(before[0]!.n), 0)
        yield* Deferred.succeed(gate, undefined)
        assert.deepStrictEqual(yield* Fiber.join(writes), Array(20).fill(true))
        seen.commitGate = undefined
        const after = yield* sql.unsafe<{ n: string }>(`SELECT COUNT(*) AS n FROM ergon_steps WHERE flow_id = 'f'`)
        assert.strictEqual(Number(after[0]!.n), 20)
        // the 20 upserts went as one statement, prepared (named): parsed and planned once per connection
        assert.strictEqual(merged(seen), 1)
        assert.strictEqual(seen.prepared.filter((text) => text.includes("unnest(")).length, 1)
        // so do the store's fixed statements: a lone checkpoint, the journal's load
        seen.prepared.length = 0
        yield* log.putStep(stepRecord("f", "alone"), { owner: "a", epoch: 1 })
        yield* log.loadFlow("f")
        assert.strictEqual(seen.prepared.length, 2, seen.prepared.join("\n"))
      }).pipe(Effect.provide(layer))
    }))

  it.live("checkpoints merged in one statement are each fenced, and each caller gets its own result", () =>
    Effect.gen(function*() {
      const { layer, seen } = yield* observed()
      yield* Effect.gen(function*() {
        const log = yield* ExecutionLog
        yield* log.insertFlow(flowRecord("f", { leaseOwner: "a", leaseEpoch: 2 }))
        yield* log.insertFlow(flowRecord("g", { leaseOwner: "b", leaseEpoch: 1 }))
        // an entry already completed is never written over
        yield* log.putStep(stepRecord("g", "done", { exit: { old: true } }), { owner: "b", epoch: 1 })
        yield* log.putStep(stepRecord("g", "run", { status: "retrying", exit: undefined, completedAt: null }), { owner: "b", epoch: 1 })
        seen.statements.length = 0
        const results = yield* Effect.all(
          [
            ...Array.from({ length: 10 }, (_, i) => log.putStep(stepRecord("f", `ok-${i}`), { owner: "a", epoch: 2 })),
            // stale epoch, wrong owner, no such flow
            ...Array.from({ length: 5 }, (_, i) => log.putStep(stepRecord("f", `stale-${i}`), { owner: "a", epoch: 1 })),
            ...Array.from({ length: 5 }, (_, i) => log.putStep(stepRecord("f", `other-${i}`), { owner: "b", epoch: 2 })),
            log.putStep(stepRecord("missing", "x"), { owner: "a", epoch: 2 }),
            log.putStep(stepRecord("missing", "y")),
            // unfenced, on a flow that exists
            log.putStep(stepRecord("g", "free")),
            log.putStep(stepRecord("g", "done", { exit: { new: true } }), { owner: "b", epoch: 1 }),
            // a retrying entry, completed now (written over)
            log.putStep(stepRecord("g", "run"), { owner: "b", epoch: 1 })
          ],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(results, [
          ...Array(10).fill(true),
          ...Array(10).fill(false),
          false,
          false,
          true,
          false,
          true
        ])
        assert.isAtLeast(merged(seen), 1, "the upserts were not merged")
        const f = yield* yield* log.loadFlow("f")
        assert.deepStrictEqual(f.steps.map((step) => step.key).sort(), Array.from({ length: 10 }, (_, i) => `ok-${i}`).sort())
        const g = yield* yield* log.loadFlow("g")
        assert.deepStrictEqual(g.steps.map((step) => step.key), ["done", "free", "run"])
        assert.deepStrictEqual(g.steps[0]!.exit, { old: true })
        assert.strictEqual(g.steps[2]!.status, "completed")
      }).pipe(Effect.provide(layer))
    }))

  it.live("a row that fails the merged statement fails its caller alone; the others are written", () =>
    Effect.gen(function*() {
      const { layer, seen } = yield* observed()
      yield* Effect.gen(function*() {
        const log = yield* ExecutionLog
        yield* log.insertFlow(flowRecord("f", { leaseOwner: "a", leaseEpoch: 1 }))
        seen.statements.length = 0
        const exits = yield* Effect.all(
          [
            ...Array.from({ length: 8 }, (_, i) => Effect.exit(log.putStep(stepRecord("f", `a-${i}`), { owner: "a", epoch: 1 }))),
            // `status` is NOT NULL: PostgreSQL refuses this row, and with it the merged statement
            Effect.exit(log.putStep(stepRecord("f", "bad", { status: null as unknown as "completed" }), { owner: "a", epoch: 1 })),
            ...Array.from({ length: 8 }, (_, i) => Effect.exit(log.putStep(stepRecord("f", `b-${i}`), { owner: "a", epoch: 1 })))
          ],
          { concurrency: "unbounded" }
        )
        assert.isAtLeast(merged(seen), 1, "the upserts were not merged")
        assert.include(seen.statements, "ROLLBACK")
        const bad = storeFailure(exits[8]!)
        assert.strictEqual(bad.operation, "putStep")
        assert.include(bad.detail, "null value")
        for (const [i, exit] of exits.entries()) {
          if (i !== 8) assert.deepStrictEqual(exit, Exit.succeed(true), `write ${i}`)
        }
        const f = yield* yield* log.loadFlow("f")
        assert.strictEqual(f.steps.length, 16)
      }).pipe(Effect.provide(layer))
    }))

  it.live("two upserts of one entry in one batch are written one after the other, and nothing fails", () =>
    Effect.gen(function*() {
      const { layer } = yield* observed()
      yield* Effect.gen(function*() {
        const log = yield* ExecutionLog
        yield* log.insertFlow(flowRecord("f", { leaseOwner: "a", leaseEpoch: 1 }))
        const results = yield* Effect.all(
          [
            log.putStep(stepRecord("f", "same", { status: "retrying", exit: undefined, completedAt: null }), { owner: "a", epoch: 1 }),
            log.putStep(stepRecord("f", "same", { status: "retrying", exit: undefined, completedAt: null }), { owner: "a", epoch: 1 }),
            ...Array.from({ length: 6 }, (_, i) => log.putStep(stepRecord("f", `k-${i}`), { owner: "a", epoch: 1 }))
          ],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(results, Array(8).fill(true))
        const f = yield* yield* log.loadFlow("f")
        assert.strictEqual(f.steps.length, 7)
      }).pipe(Effect.provide(layer))
    }))

  it.live("inside the caller's transaction, writes belong to it: rolled back with it, committed with it", () =>
    Effect.gen(function*() {
      const { layer, seen } = yield* observed()
      yield* Effect.gen(function*() {
        const log = yield* ExecutionLog
        const sql = yield* SqlClient.SqlClient
        seen.statements.length = 0
        const failed = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          assert.isTrue(yield* log.insertFlow(flowRecord("rolled-back")))
          assert.isTrue(Option.isSome(yield* log.getFlow("rolled-back")))
          return yield* Effect.fail("the caller's own failure")
        })))
        assert.isTrue(Exit.isFailure(failed))
        // nothing went through a batch
        assert.deepStrictEqual(seen.statements, [])
        assert.isTrue(Option.isNone(yield* log.getFlow("rolled-back")))
        yield* sql.withTransaction(log.insertFlow(flowRecord("committed")))
        assert.isTrue(Option.isSome(yield* log.getFlow("committed")))
      }).pipe(Effect.provide(layer))
    }))

  it.live("a batch transaction sends one notification, not one per row that wakes workers", () =>
    Effect.scoped(Effect.gen(function*() {
      const { layer, seen, url } = yield* observed()
      const { heard } = yield* listening(url)
      yield* Effect.gen(function*() {
        const log = yield* ExecutionLog
        for (let i = 0; i < 20; i++) yield* log.insertFlow(flowRecord(`f-${i}`, { leaseOwner: "a", leaseEpoch: 1 }))
        // (the inserts were running flows: no notification)
        seen.statements.length = 0
        heard.length = 0
        // 20 completions and 20 flows made ready again, all at once: each row would notify alone
        const results = yield* Effect.all(
          [
            ...Array.from({ length: 10 }, (_, i) =>
              log.updateFlow(`f-${i}`, { status: "completed", result: "1", completedAt: 2, updatedAt: 2 }, { owner: "a", epoch: 1 })),
            ...Array.from({ length: 10 }, (_, i) => log.releaseFlow(`f-${i + 10}`, { owner: "a", epoch: 1 }, 2))
          ],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(results, Array(20).fill(true))
        const commits = seen.statements.filter((text) => text === "COMMIT").length
        assert.isAtLeast(commits, 1, "the writes were not batched")
        assert.isAtMost(commits, 3, `${commits} transactions for 20 writes`)
        // every notification of the batches arrives (they are sent at commit), and no more than one each
        const deadline = Date.now() + 5_000
        while (heard.length < commits && Date.now() < deadline) yield* Effect.sleep("20 millis")
        yield* Effect.sleep("300 millis")
        assert.deepStrictEqual(heard, Array(commits).fill("public"))
      }).pipe(Effect.provide(layer))
    })))

  it.live("flow updates merged in one statement are each fenced, never touch a cancelled flow, and a bad one fails alone", () =>
    Effect.gen(function*() {
      const { layer, seen } = yield* observed()
      yield* Effect.gen(function*() {
        const log = yield* ExecutionLog
        for (let i = 0; i < 12; i++) yield* log.insertFlow(flowRecord(`f-${i}`, { leaseOwner: "a", leaseEpoch: 1 }))
        yield* log.insertFlow(flowRecord("cancelled", { status: "cancelled", leaseOwner: "a", leaseEpoch: 1 }))
        seen.statements.length = 0
        const completed = (i: number) => ({ status: "completed" as const, result: `${i}`, completedAt: 5, updatedAt: 5 })
        const results = yield* Effect.all(
          [
            ...Array.from({ length: 6 }, (_, i) => log.updateFlow(`f-${i}`, completed(i), { owner: "a", epoch: 1 })),
            // a stale lease, another owner, a cancelled flow, no such flow
            log.updateFlow("f-6", completed(6), { owner: "a", epoch: 0 }),
            log.updateFlow("f-7", completed(7), { owner: "b", epoch: 1 }),
            log.updateFlow("cancelled", completed(0), { owner: "a", epoch: 1 }),
            log.updateFlow("missing", completed(0), { owner: "a", epoch: 1 }),
            // other shapes in the same batch: a failure with a retry count, an unfenced one
            log.updateFlow("f-8", { status: "failed", error: "boom", incrementAttempts: true, updatedAt: 5 }, { owner: "a", epoch: 1 }),
            log.updateFlow("f-9", { runAfter: 99, updatedAt: 5 })
          ],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(results, [...Array(6).fill(true), false, false, false, false, true, true])
        assert.isAtLeast(seen.statements.filter((text) => text.startsWith("UPDATE ergon_flows f SET")).length, 1, "not merged")
        for (let i = 0; i < 6; i++) {
          const flow = yield* yield* log.getFlow(`f-${i}`)
          assert.strictEqual(flow.status, "completed")
          assert.deepStrictEqual(flow.result, `${i}`)
        }
        for (const id of ["f-6", "f-7"]) assert.strictEqual((yield* yield* log.getFlow(id)).status, "running")
        assert.strictEqual((yield* yield* log.getFlow("cancelled")).status, "cancelled")
        const failed = yield* yield* log.getFlow("f-8")
        assert.strictEqual(failed.status, "failed")
        assert.strictEqual(failed.attempts, 1)
        assert.strictEqual((yield* yield* log.getFlow("f-9")).runAfter, 99)

        // a row the merged statement cannot write (`status` is NOT NULL) fails its caller alone
        seen.statements.length = 0
        const exits = yield* Effect.all(
          [
            Effect.exit(log.updateFlow("f-10", { status: null as unknown as "failed", updatedAt: 6 }, { owner: "a", epoch: 1 })),
            Effect.exit(log.updateFlow("f-11", { status: "failed", updatedAt: 6 }, { owner: "a", epoch: 1 })),
            Effect.exit(log.updateFlow("f-6", { runAfter: 2, updatedAt: 6 }, { owner: "a", epoch: 1 }))
          ],
          { concurrency: "unbounded" }
        )
        assert.include(seen.statements, "ROLLBACK")
        assert.strictEqual(storeFailure(exits[0]!).operation, "updateFlow")
        assert.deepStrictEqual(exits.slice(1), [Exit.succeed(true), Exit.succeed(true)])
        assert.strictEqual((yield* yield* log.getFlow("f-11")).status, "failed")
        assert.strictEqual((yield* yield* log.getFlow("f-6")).runAfter, 2)
        // two updates of one flow in the batch run one after the other
        const twice = yield* Effect.all(
          [
            log.updateFlow("f-7", { runAfter: 1, updatedAt: 7 }, { owner: "a", epoch: 1 }),
            log.updateFlow("f-7", { suspendReason: "x", updatedAt: 7 }, { owner: "a", epoch: 1 }),
            log.updateFlow("f-6", { runAfter: 3, updatedAt: 7 }, { owner: "a", epoch: 1 })
          ],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(twice, [true, true, true])
        const f7 = yield* yield* log.getFlow("f-7")
        assert.strictEqual(f7.runAfter, 1)
        assert.strictEqual(f7.suspendReason, "x")
      }).pipe(Effect.provide(layer))
    }))
})
