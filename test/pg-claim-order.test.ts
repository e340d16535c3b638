/**
 * Claims in claim order from an index (migration `9_claim_order`): on PostgreSQL the claim reads
 * the first entries of `ergon_flows_ready` (priority, then due time, then id) instead of sorting
 * the whole ready backlog, and takes exactly the flows first in that order; on SQLite too.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import pg from "pg"
import { ExecutionLog } from "../src/ExecutionLog.js"
import * as Pg from "../src/pg.js"
import * as Sqlite from "../src/sqlite.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const NOW = 1_800_000_000_000
const READY = 20_000

// Ready flows of type `t`: every 10th of priority 1, due times spread over 5 seconds; a few
// running ones whose lease expired (claimable too), and ended ones (never).
const fill = (sql: SqlClient.SqlClient, series: string, padded: string) =>
  Effect.gen(function*() {
    yield* sql.unsafe(`INSERT INTO ergon_flows (id, type, input, input_hash, status, priority, run_after, created_at, updated_at)
      SELECT 'r' || ${padded}, 't', '1', 'h', 'pending', CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, ${NOW} - (i % 5000), ${NOW}, ${NOW} FROM ${series}`)
    yield* sql.unsafe(`INSERT INTO ergon_flows (id, type, input, input_hash, status, priority, lease_owner, lease_epoch, lease_expires_at, created_at, updated_at)
      VALUES ('expired', 't', '1', 'h', 'running', 1, 'gone', 1, ${NOW} - 10000, ${NOW}, ${NOW})`)
    yield* sql.unsafe(`INSERT INTO ergon_flows (id, type, input, input_hash, status, priority, run_after, created_at, updated_at, completed_at)
      VALUES ('ended', 't', '1', 'h', 'completed', 5, ${NOW} - 100000, ${NOW}, ${NOW}, ${NOW})`)
  })

/** The ids the first `n` claims should take, in claim order, computed here from the rows. */
const sorted = (ids: ReadonlyArray<string>): ReadonlyArray<string> => [...ids].sort()
const ids = (rows: ReadonlyArray<{ readonly id: string }>) => sorted(rows.map((row) => row.id))
const expected = (n: number): ReadonlyArray<string> => {
  const rows: Array<{ id: string; priority: number; due: number }> = []
  for (let i = 1; i <= READY; i++) {
    rows.push({ id: `r${String(i).padStart(7, "0")}`, priority: i % 10 === 0 ? 1 : 0, due: NOW - (i % 5000) })
  }
  rows.push({ id: "expired", priority: 1, due: NOW - 10000 })
  rows.sort((a, b) => b.priority - a.priority || a.due - b.due || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return rows.slice(0, n).map((row) => row.id)
}

const claim = Effect.flatMap(ExecutionLog, (log) =>
  log.claimFlows({ owner: "w", now: NOW, leaseMillis: 30_000, limit: 64, types: ["t"], versions: [null], timers: true }))

describe("claims in claim order, from an index", () => {
  it.live("PostgreSQL: the claim reads ergon_flows_ready in order (no sort of the backlog) and takes the first flows", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const url = server.url(yield* Effect.promise(() => server.createDatabase(`claims_${Date.now().toString(36)}`)))
      // the claim statement as the store sends it
      const captured: Array<{ text: string; values: ReadonlyArray<unknown> }> = []
      const original = pg.Client.prototype.query
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          pg.Client.prototype.query = function(this: pg.Client, config: unknown, values?: unknown, callback?: unknown) {
            const text = typeof config === "string" ? config : (config as { text?: unknown } | null)?.text
            if (typeof text === "string" && text.includes("lease_epoch = lease_epoch + 1")) {
              captured.push({ text, values: Array.isArray(values) ? values : [] })
            }
            return (original as (...args: Array<unknown>) => unknown).call(this, config, values, callback)
          } as typeof original
        }),
        () => Effect.sync(() => void (pg.Client.prototype.query = original))
      )
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* fill(sql, `generate_series(1, ${READY}) AS i`, "lpad(i::text, 7, '0')")
        yield* sql.unsafe("ANALYZE ergon_flows")
        const first = yield* claim
        assert.deepStrictEqual(ids(first), sorted(expected(64)))
        const second = yield* claim
        assert.deepStrictEqual(ids(second), sorted(expected(128).slice(64)))
        const statement = captured.at(-1)
        assert.isDefined(statement, "the claim statement was not seen")
        // (EXPLAIN without ANALYZE plans the statement, it does not run it)
        const plan = (yield* sql.unsafe<Record<string, string>>(`EXPLAIN (COSTS OFF) ${statement!.text}`, statement!.values))
          .map((row) => row["QUERY PLAN"]).join("\n")
        assert.include(plan, "Index Scan using ergon_flows_ready", plan)
        assert.notInclude(plan, "Sort", plan)
      }).pipe(Effect.provide(Layer.fresh(Pg.layer({ url }))))
    })), 60_000)

  it.effect("SQLite: the claim reads ergon_flows_ready in order and takes the first flows", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* fill(
        sql,
        `(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${READY}) SELECT i FROM n) AS series`,
        "substr('0000000' || i, -7, 7)"
      )
      const first = yield* claim
      assert.deepStrictEqual(ids(first), sorted(expected(64)))
      const second = yield* claim
      assert.deepStrictEqual(ids(second), sorted(expected(128).slice(64)))
    }).pipe(Effect.provide(Sqlite.layerInMemory())))
})
