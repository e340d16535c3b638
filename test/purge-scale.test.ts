/**
 * Retention at scale: with 1,000,000 ended flows, the statement `purgeFlows` uses to pick a batch
 * reads an index in order and stops at the batch's size, on SQLite and on PostgreSQL. The test
 * `EXPLAIN`s the pick (same SQL shape as src/sql/ExecutionLogSql.ts, literals for its parameters),
 * asserts that no plan step reads the whole flows table, prints the plans, and times a real batch.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, ManagedRuntime } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ExecutionLog } from "ergon"
import * as Pg from "ergon/pg"
import * as Sqlite from "ergon/sqlite"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const ENDED = 1_000_000
const BATCH = 500
const TYPE = "purge-flow"

type Runtime = ManagedRuntime.ManagedRuntime<ExecutionLog.ExecutionLog | SqlClient.SqlClient, unknown>

const exec = <A extends object = Record<string, unknown>>(runtime: Runtime, statement: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(statement).withoutTransform))

/** The pick of `purgeFlows` for completed and cancelled flows. */
const pickSql = (before: number) => {
  const branch = (status: string, i: number) =>
    `SELECT id, ended_at FROM (SELECT id, completed_at AS ended_at FROM ergon_flows f WHERE status = '${status}' AND completed_at < ${before} AND parent_id IS NULL AND NOT EXISTS (SELECT 1 FROM ergon_flows d WHERE d.id >= f.id || '/' AND d.id < f.id || '0' AND d.status IN ('pending', 'running', 'suspended')) ORDER BY completed_at LIMIT ${BATCH}) AS branch${i}`
  return `SELECT id FROM (${branch("completed", 0)} UNION ALL ${branch("cancelled", 1)}) AS ended ORDER BY ended_at, id LIMIT ${BATCH}`
}

/** Ended flows `from..to` (every tenth cancelled), ended a day before `now`, plus a few live ones. */
const fill = async (runtime: Runtime, series: string, padded: string, now: number) => {
  await exec(
    runtime,
    `INSERT INTO ergon_flows (id, type, version, input, input_hash, status, result, priority, run_after, lease_epoch, attempts, created_at, updated_at, completed_at)
SELECT 'ended-' || ${padded}, '${TYPE}', NULL, '{}', 'h', CASE WHEN g % 10 = 0 THEN 'cancelled' ELSE 'completed' END,
  '{"_tag":"Success"}', 0, NULL, 1, 1, ${now} - 86400000 + g, ${now} - 86400000 + g, ${now} - 86400000 + g
FROM ${series}`
  )
  await exec(
    runtime,
    `INSERT INTO ergon_flows (id, type, version, input, input_hash, status, priority, run_after, lease_epoch, attempts, created_at, updated_at)
SELECT 'live-' || g, '${TYPE}', NULL, '{}', 'h', 'suspended', 0, ${now} + 3600000, 0, 1, ${now}, ${now} FROM (SELECT 1 AS g UNION ALL SELECT 2) AS live`
  )
}

const measure = async (runtime: Runtime, name: string, explain: string, fullScan: RegExp) => {
  const now = Date.now()
  let t = Date.now()
  await fill(runtime, name === "sqlite"
    ? `(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ${ENDED}) SELECT g FROM s)`
    : `generate_series(1, ${ENDED}) AS g`, name === "sqlite" ? "substr('0000000' || g, -7, 7)" : "lpad(g::text, 7, '0')", now)
  const fillMillis = Date.now() - t
  await exec(runtime, name === "sqlite" ? "ANALYZE" : "ANALYZE ergon_flows")
  const rows = await exec<Record<string, unknown>>(runtime, `${explain} ${pickSql(now)}`)
  const plan = rows.map((row) => String(row["QUERY PLAN"] ?? row.detail)).join("\n")
  console.log(`purge-scale (${name}): ${ENDED} ended flows inserted in ${(fillMillis / 1000).toFixed(1)} s; plan of the pick:\n${plan}`)
  assert.notMatch(plan, fullScan, `${name}: the pick reads the whole table:\n${plan}`)
  t = Date.now()
  const deleted = await runtime.runPromise(
    Effect.flatMap(ExecutionLog.ExecutionLog, (log) =>
      log.purgeFlows({ statuses: ["completed", "cancelled"], finishedBefore: now, limit: BATCH }))
  )
  const batchMillis = Date.now() - t
  console.log(`purge-scale (${name}): one batch of ${deleted.length} root flows deleted in ${batchMillis} ms`)
  assert.strictEqual(deleted.length, BATCH)
  assert.deepStrictEqual(deleted.slice(0, 2), ["ended-0000001", "ended-0000002"])
}

describe("retention at scale", () => {
  it("SQLite: the purge pick reads the ended flows' index in order, with 1,000,000 of them", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-purge-scale-"))
    const runtime: Runtime = ManagedRuntime.make(Sqlite.layer({ filename: path.join(dir, "purge.db") }))
    try {
      // SQLite names a full scan `SCAN f` / `SCAN ergon_flows` (without `USING ... INDEX`).
      await measure(runtime, "sqlite", "EXPLAIN QUERY PLAN", /SCAN (f|d|ergon_flows)(?! USING)/)
    } finally {
      await runtime.dispose()
    }
  }, 300_000)

  it("PostgreSQL: the purge pick reads the ended flows' index in order, with 1,000,000 of them", async () => {
    const server = await Server.start()
    const runtime: Runtime = ManagedRuntime.make(Pg.layer({ url: server.url(), schema: "purge_scale" }))
    try {
      await measure(runtime, "pg", "EXPLAIN", /Seq Scan on ergon_flows/)
    } finally {
      await runtime.dispose()
    }
  }, 300_000)
})
