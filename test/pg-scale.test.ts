/**
 * The claim statement at scale: with 1,000,000 completed flows in `ergon_flows` (and a few hundred
 * that are ready, parked or running), PostgreSQL must find the claimable flows through an index,
 * not by reading the whole table. The test `EXPLAIN`s the statement `claimFlows` runs (same SQL
 * shape as src/sql/ExecutionLogSql.ts, with literals for its parameters), asserts that the plan has
 * no `Seq Scan on ergon_flows`, and times real `claimFlows` calls through the store (printed only).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, ManagedRuntime } from "effect"
import { ExecutionLog } from "ergon"
import * as Pg from "ergon/pg"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const SCHEMA = "scale"
const TYPE = "scale-flow"
const COMPLETED = 1_000_000
const READY = 300
const PARKED = 200
const RUNNING = 100
const LIMIT = 32

type Runtime = ManagedRuntime.ManagedRuntime<ExecutionLog.ExecutionLog | SqlClient.SqlClient, unknown>

const exec = <A extends object = Record<string, unknown>>(runtime: Runtime, statement: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(statement).withoutTransform))

/** The claim statement of `claimFlows` on PostgreSQL (a worker with timers, unversioned flows of one type). */
const claimSql = (now: number, owner: string, leaseMillis: number) =>
  `WITH picked AS MATERIALIZED (SELECT id FROM ergon_flows WHERE type IN ('${TYPE}') AND (version IS NULL) AND ((status IN ('pending', 'suspended') AND run_after IS NOT NULL AND run_after <= ${now}) OR (status = 'running' AND lease_expires_at IS NOT NULL AND lease_expires_at < ${now})) ORDER BY priority DESC, COALESCE(run_after, lease_expires_at), id LIMIT ${LIMIT} FOR UPDATE SKIP LOCKED) UPDATE ergon_flows SET status = 'running', lease_owner = '${owner}', lease_epoch = lease_epoch + 1, lease_expires_at = ${
    now + leaseMillis
  }, updated_at = ${now} WHERE id IN (SELECT id FROM picked) RETURNING id`

const insertRows = (from: number, to: number, status: string, runAfter: string, lease: string, base: number) =>
  `INSERT INTO ergon_flows (id, type, version, input, input_hash, status, result, priority, run_after, lease_owner, lease_epoch, lease_expires_at, attempts, created_at, updated_at, completed_at)
SELECT '${status}-' || lpad(g::text, 7, '0'), '${TYPE}', NULL, '{"n":' || g || '}', md5(g::text), '${status}',
  ${status === "completed" ? `'{"_tag":"Success","value":' || g || '}'` : "NULL"}, 0, ${runAfter}, ${lease}, ${
    status === "completed" ? 1 : 0
  }, ${status === "running" ? `${base} + 600000` : "NULL"}, 1, ${base} - 86400000 + g, ${base} - 86400000 + g, ${
    status === "completed" ? `${base} - 86400000 + g` : "NULL"
  }
FROM generate_series(${from}, ${to}) AS g`

describe("ergon/pg at scale", () => {
  it("the claim statement uses an index with 1,000,000 completed flows", async () => {
    const server = await Server.start()
    const runtime: Runtime = ManagedRuntime.make(Pg.layer({ url: server.url(), schema: SCHEMA }))
    try {
      const now = Date.now()
      let t = Date.now()
      // Completed flows keep a `run_after` (their last due time): the harder case for the claim index.
      await exec(runtime, insertRows(1, COMPLETED, "completed", `${now} - 86400000 + g`, "NULL", now))
      const insertMillis = Date.now() - t
      await exec(runtime, insertRows(1, READY, "pending", `${now} - 1000 - g`, "NULL", now))
      // Suspended on a timer that is not due yet: not claimable.
      await exec(runtime, insertRows(1, PARKED, "suspended", `${now} + 3600000 + g`, "NULL", now))
      // Running under a live lease: not claimable.
      await exec(runtime, insertRows(1, RUNNING, "running", "NULL", "'other'", now))
      t = Date.now()
      await exec(runtime, "ANALYZE ergon_flows")
      const analyzeMillis = Date.now() - t
      const counts = await exec<{ status: string; n: string }>(runtime, "SELECT status, count(*) AS n FROM ergon_flows GROUP BY status ORDER BY status")
      console.log(
        `pg-scale: inserted ${COMPLETED} completed flows in ${(insertMillis / 1000).toFixed(1)} s, ANALYZE ${analyzeMillis} ms; ` +
          counts.map((row) => `${row.status} ${row.n}`).join(", ")
      )

      const plan = await exec<{ "QUERY PLAN": string }>(runtime, `EXPLAIN ${claimSql(now, "explainer", 30_000)}`)
      const planText = plan.map((row) => row["QUERY PLAN"]).join("\n")
      console.log(`pg-scale: EXPLAIN of the claim statement:\n${planText}`)
      const analyzed = await runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.withTransaction(Effect.gen(function*() {
          const rows = yield* sql.unsafe<{ "QUERY PLAN": string }>(
            `EXPLAIN (ANALYZE, BUFFERS) ${claimSql(now, "explainer", 30_000)}`
          ).withoutTransform
          // EXPLAIN ANALYZE runs the UPDATE: undo it.
          return yield* Effect.fail({ rows })
        })).pipe(Effect.catchAll((error) =>
          "rows" in (error as object) ? Effect.succeed((error as { rows: Array<{ "QUERY PLAN": string }> }).rows) : Effect.fail(error)
        ))
      ))
      console.log(`pg-scale: EXPLAIN (ANALYZE, BUFFERS), rolled back:\n${analyzed.map((row) => row["QUERY PLAN"]).join("\n")}`)

      // -- real claims through the store -------------------------------------------------------
      const log = await runtime.runPromise(ExecutionLog.ExecutionLog)
      const timings: Array<string> = []
      let claimed = 0
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        const rows = await runtime.runPromise(log.claimFlows({
          owner: `scale-${i}`,
          now,
          leaseMillis: 30_000,
          limit: LIMIT,
          types: [TYPE],
          versions: [null]
        }))
        timings.push(`${(performance.now() - started).toFixed(1)} ms (${rows.length} flows)`)
        claimed += rows.length
        assert.strictEqual(rows.length, LIMIT)
        assert(rows.every((row) => row.status === "running" && row.id.startsWith("pending-")), "claimed a flow that is not ready")
      }
      console.log(`pg-scale: claimFlows (limit ${LIMIT}) through the store: ${timings.join(", ")}; ${claimed} claimed`)

      assert.notInclude(planText, "Seq Scan on ergon_flows", "the claim statement reads the whole table")
    } finally {
      await runtime.dispose()
    }
  }, 240_000)
})
