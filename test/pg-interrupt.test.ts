/**
 * On PostgreSQL, interrupting a fiber in the middle of a store call does not cancel its statement
 * at the server. @effect/sql-pg would cancel it with `pg_cancel_backend`, which is racy on a pooled
 * connection: the cancel can land on the next statement run there, another flow's, which then
 * fails (seen in the benchmark as a flow stuck until its lease expired). The interrupted caller
 * lets its statement finish instead.
 *
 * Deterministic: the flow's row is locked from another connection, so the store's update waits at
 * the server; the caller is interrupted; the lock is released later; the update must have been
 * applied, and the caller must have waited for it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import pg from "pg"
import { ExecutionLog } from "../src/ExecutionLog.js"
import * as Pg from "../src/pg.js"
import { makeRecords } from "./fixtures/records.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

describe("ergon/pg: an interrupted store call", () => {
  it.live("is not cancelled at the server: the interrupted caller waits for its statement, which completes", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const schema = `interrupt_${Date.now().toString(36)}`
      const store = yield* Layer.build(Pg.layer({ url: server.url(), schema }))
      const log = Context.get(store, ExecutionLog)
      yield* log.insertFlow(makeRecords("t").flowRecord("locked"))
      // Another connection locks the row, so the store's update waits at the server.
      const locker = new pg.Client({ connectionString: server.url() })
      yield* Effect.promise(() => locker.connect())
      yield* Effect.promise(() => locker.query("BEGIN"))
      yield* Effect.promise(() => locker.query(`SELECT 1 FROM "${schema}".ergon_flows WHERE id = 'locked' FOR UPDATE`))
      // The lock goes away after 600 ms; the caller gives up (is interrupted) after 200 ms.
      yield* Effect.forkScoped(Effect.zipRight(
        Effect.sleep("600 millis"),
        Effect.promise(async () => {
          await locker.query("COMMIT")
          await locker.end()
        })
      ))
      const started = Date.now()
      yield* Effect.option(Effect.timeout(log.updateFlow("locked", { status: "suspended", updatedAt: 1 }), "200 millis"))
      // The interrupted caller waited for its statement (not cancelled) to finish.
      assert.isAtLeast(Date.now() - started, 550, "the statement was cancelled, or never waited for the lock")
      // The statement was not cancelled: it ran once the lock was gone.
      const deadline = Date.now() + 5_000
      let status = ""
      while (Date.now() < deadline) {
        const row = yield* log.getFlow("locked")
        status = Option.isSome(row) ? row.value.status : "missing"
        if (status === "suspended") break
        yield* Effect.sleep("20 millis")
      }
      assert.strictEqual(status, "suspended", "the interrupted update was cancelled at the server")
      const sql = Context.get(store, SqlClient.SqlClient)
      yield* sql.unsafe(`DROP SCHEMA "${schema}" CASCADE`).withoutTransform
    }).pipe(Effect.scoped), 30_000)
})
