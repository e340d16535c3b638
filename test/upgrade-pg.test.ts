/**
 * A rolling deploy from 1.3.0 to 1.4.0 on one PostgreSQL database, with real worker processes.
 *
 * Two 1.3.0 worker processes (`test/fixtures/upgrade-child-pg.ts`) run the `upgrade-order` flow
 * of release 1.3.0; the test schedules flows stamped 1.3.0, due over a few seconds. Once a share of
 * them has completed (progress, not the clock, decides each phase), two 1.4.0 workers start, whose
 * definition lists both versions and skips the fraud check under the patch `skip-fraud-check`:
 * workers of both versions are alive at once, and the test schedules flows stamped 1.4.0. Once
 * more have completed, and a 1.4.0 worker has taken over a 1.3.0 flow while both versions ran, the
 * 1.3.0 workers are stopped while 1.3.0 flows are still in flight: only
 * 1.4.0 workers are left, and they finish them.
 *
 * Then every flow must have completed with the right result; each journal entry must have been
 * checkpointed exactly once (audited by a PostgreSQL trigger on `ergon_steps`); the fraud check
 * must have been taken exactly where the patch says (a flow that checked fraud has the check in
 * its journal and no patch marker; one that skipped it has the marker and no check; every flow
 * stamped 1.4.0 skipped it); and 1.3.0 flows must have been finished by 1.4.0 workers.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, ManagedRuntime } from "effect"
import { Client, type ExecutionLog, Scheduler } from "ergon"
import * as Pg from "ergon/pg"
import { readEffects } from "./fixtures/effects-check.js"
import { makeFleet, type WorkerProcess } from "./fixtures/fleet.js"
import { expectedTotal, type OrderInput, OrderV13, OrderV14 } from "./fixtures/upgrade-child-pg.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const child = fileURLToPath(new URL("./fixtures/upgrade-child-pg.ts", import.meta.url))

const SCHEMA = "upgrade_pg"
/** Flows stamped 1.3.0, then flows stamped 1.4.0. */
const OLD_FLOWS = 80
const NEW_FLOWS = 40
/** The 1.3.0 flows become due over this window, so that some are in flight at each phase. */
const SPREAD_MILLIS = 20_000
/** The share of 1.3.0 flows completed when the 1.4.0 workers start, and when the 1.3.0 workers stop. */
const DEPLOY_AT = 0.2
const DRAIN_AT = 0.4
const BOUND_MILLIS = 240_000

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

type Runtime = ManagedRuntime.ManagedRuntime<ExecutionLog.ExecutionLog | SqlClient.SqlClient, unknown>

const query = <A extends object>(runtime: Runtime, statement: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(statement).withoutTransform))

/** After the store's migrations: a table and a trigger that log every write of a completed journal entry. */
const prepareAudit = (runtime: Runtime) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach([
      `CREATE TABLE "${SCHEMA}".ckpt_audit (flow_id TEXT NOT NULL, key TEXT NOT NULL, op TEXT NOT NULL)`,
      `CREATE FUNCTION "${SCHEMA}".ckpt_audit_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "${SCHEMA}".ckpt_audit VALUES (NEW.flow_id, NEW.key, TG_OP);
  RETURN NULL;
END
$$`,
      `CREATE TRIGGER ckpt_audit AFTER INSERT OR UPDATE ON "${SCHEMA}".ergon_steps
  FOR EACH ROW WHEN (NEW.status = 'completed') EXECUTE FUNCTION "${SCHEMA}".ckpt_audit_log()`
    ], (statement) => sql.unsafe(statement).withoutTransform, { discard: true })))

const completedOf = async (runtime: Runtime, version: string) => {
  const rows = await query<{ n: string }>(
    runtime,
    `SELECT count(*) AS n FROM ergon_flows WHERE status = 'completed' AND version = '${version}'`
  )
  return Number(rows[0]!.n)
}

/** Waits until `check` holds, while no worker process died on its own. */
const until = async (what: string, check: () => Promise<boolean>, unexpected: ReadonlyArray<string>, began: number) => {
  while (!(await check())) {
    assert.deepStrictEqual(unexpected, [], `a worker process died while waiting for ${what}`)
    assert(Date.now() - began < BOUND_MILLIS, `timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe("a rolling deploy from 1.3.0 to 1.4.0 on PostgreSQL, with worker processes of both versions", () => {
  it("every flow completes, each checkpoint written once; the patch decides the path once per flow; 1.4.0 workers finish the 1.3.0 flows", async () => {
    const began = Date.now()
    const server = await Server.start()
    const url = server.url()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-upgrade-pg-"))
    const effectsLog = path.join(dir, "effects.log")
    fs.writeFileSync(effectsLog, "")
    const runtime: Runtime = ManagedRuntime.make(Pg.layer({ url, schema: SCHEMA }))
    await prepareAudit(runtime)
    const fleet = makeFleet(dir, child, [url, SCHEMA, effectsLog])
    const ready = (workers: ReadonlyArray<WorkerProcess>) =>
      until("the workers to start", async () => workers.every((worker) => worker.ready), fleet.unexpected, began)
    try {
      // -- release 1.3.0 ----------------------------------------------------------------------
      const old = [fleet.start("a@1.3.0"), fleet.start("b@1.3.0")]
      await ready(old)
      const t0 = Date.now()
      const inputs = new Map<string, OrderInput>()
      const scheduler13 = Scheduler.make().withVersion("1.3.0")
      await runtime.runPromise(Effect.forEach(Array.from({ length: OLD_FLOWS }, (_, n) => n), (n) => {
        const input = { n, sleepMillis: 150 + ((n * 37) % 250) }
        const id = `old-${String(n).padStart(3, "0")}`
        inputs.set(id, input)
        return scheduler13.schedule(OrderV13, input, { id, runAt: t0 + Math.floor((n * SPREAD_MILLIS) / OLD_FLOWS) })
      }, { discard: true }))

      // -- release 1.4.0 deployed next to it ----------------------------------------------------
      await until("the first 1.3.0 flows", async () => (await completedOf(runtime, "1.3.0")) >= OLD_FLOWS * DEPLOY_AT, fleet.unexpected, began)
      const neu = [fleet.start("c@1.4.0"), fleet.start("d@1.4.0")]
      await ready(neu)
      // `ready` is printed as a worker starts; it is live once it has registered in the store.
      const liveVersions = async () =>
        (await runtime.runPromise(Client.workers({ live: true }))).map((worker) => worker.version).sort().join(" ")
      await until("workers of both versions live at once", async () => (await liveVersions()) === "1.3.0 1.3.0 1.4.0 1.4.0", fleet.unexpected, began)
      const scheduler14 = Scheduler.make().withVersion("1.4.0")
      await runtime.runPromise(Effect.forEach(Array.from({ length: NEW_FLOWS }, (_, n) => n), (n) => {
        const input = { n: 1000 + n, sleepMillis: 150 + ((n * 53) % 250) }
        const id = `new-${String(n).padStart(3, "0")}`
        inputs.set(id, input)
        return scheduler14.schedule(OrderV14, input, { id })
      }, { discard: true }))

      // -- drain: only 1.4.0 workers left, with 1.3.0 flows in flight ------------------------------
      // While both versions run, a 1.4.0 worker takes over a 1.3.0 flow (they compete for them).
      const takenOver = async () =>
        Number((await query<{ n: string }>(
          runtime,
          `SELECT count(*) AS n FROM ergon_flows WHERE version = '1.3.0' AND ran_version = '1.4.0'`
        ))[0]!.n)
      await until(
        "more 1.3.0 flows, one of them taken by a 1.4.0 worker",
        async () => {
          const done = await completedOf(runtime, "1.3.0")
          assert.isBelow(done, OLD_FLOWS, "every 1.3.0 flow completed before a 1.4.0 worker took one over")
          return done >= OLD_FLOWS * DRAIN_AT && (await takenOver()) > 0
        },
        fleet.unexpected,
        began
      )
      const leftAtDrain = OLD_FLOWS - (await completedOf(runtime, "1.3.0"))
      const takenDuringOverlap = await takenOver()
      for (const worker of old) {
        worker.stopping = true
        worker.proc.kill("SIGTERM")
      }
      await Promise.all(old.map((worker) => worker.exited))
      assert.isAbove(leftAtDrain, 0, "1.3.0 flows were still in flight when the 1.3.0 workers were stopped")
      const versions = await runtime.runPromise(Client.versions())
      const old13 = versions.find((group) => group.type === OrderV13.name && group.version === "1.3.0")
      if (old13 !== undefined) {
        assert.isFalse(old13.stranded, "the 1.4.0 workers take the 1.3.0 flows")
        assert.deepStrictEqual(old13.workers.map((worker) => worker.version), ["1.4.0", "1.4.0"])
      }

      await until(
        "every flow to complete",
        async () => (await completedOf(runtime, "1.3.0")) + (await completedOf(runtime, "1.4.0")) === OLD_FLOWS + NEW_FLOWS,
        fleet.unexpected,
        began
      )
      const duration = Date.now() - t0
      await fleet.stopAll()
      assert.deepStrictEqual(fleet.unexpected, [], "a worker process died on its own")

      // -- results, and the path each flow took --------------------------------------------------
      const flows = await query<{ id: string; version: string; ran_version: string | null }>(
        runtime,
        `SELECT id, version, ran_version FROM ergon_flows ORDER BY id`
      )
      assert.strictEqual(flows.length, OLD_FLOWS + NEW_FLOWS, "unexpected flows in the store")
      const entries = await query<{ flow_id: string; key: string; status: string }>(runtime, `SELECT flow_id, key, status FROM ergon_steps`)
      const keysOf = new Map<string, Set<string>>()
      for (const entry of entries) {
        assert.strictEqual(entry.status, "completed", `${entry.flow_id} ${entry.key} is not completed`)
        const keys = keysOf.get(entry.flow_id) ?? new Set()
        keys.add(entry.key)
        keysOf.set(entry.flow_id, keys)
      }
      let checked = 0
      let skipped = 0
      let finishedByNew = 0
      for (const flow of flows) {
        const input = inputs.get(flow.id)!
        const result = await runtime.runPromise(Client.awaitResult(OrderV14, flow.id))
        const keys = keysOf.get(flow.id)!
        // The path taken agrees with the journal: the check and no marker, or the marker and no check.
        const marker = keys.has("$patch/skip-fraud-check")
        assert.strictEqual(keys.has("check-fraud"), !marker, `${flow.id}: ${Array.from(keys).join(", ")}`)
        assert.strictEqual(result.fraud, marker ? "skipped" : "checked", flow.id)
        assert.strictEqual(result.total, expectedTotal(input, result.fraud), `${flow.id}: wrong total`)
        const expectedKeys = ["reserve", "$sleep", "$sleep#2", "ship", marker ? "$patch/skip-fraud-check" : "check-fraud"]
        assert.deepStrictEqual(Array.from(keys).sort(), expectedKeys.sort(), `${flow.id}: unexpected journal`)
        if (flow.version === "1.4.0") assert.strictEqual(result.fraud, "skipped", `${flow.id}: a new flow takes the patched path`)
        if (flow.version === "1.3.0" && flow.ran_version === "1.4.0") finishedByNew++
        if (result.fraud === "checked") checked++
        else skipped++
      }
      assert.isAbove(finishedByNew, 0, "1.4.0 workers finished 1.3.0 flows")
      assert.isAbove(checked, 0, "some 1.3.0 flows checked fraud under 1.3.0")

      // -- each journal entry checkpointed exactly once ----------------------------------------
      const audit = await query<{ flow_id: string; key: string; n: string }>(
        runtime,
        `SELECT flow_id, key, count(*) AS n FROM ckpt_audit GROUP BY flow_id, key`
      )
      assert.strictEqual(audit.length, entries.length, "every entry audited")
      for (const row of audit) assert.strictEqual(Number(row.n), 1, `${row.flow_id} ${row.key} was checkpointed ${row.n} times`)

      // -- a step's side effect ran again only where a stopping worker cut it short (or a worker
      //    that stalled past its lease said so) ----------------------------------------------------
      const stoppedPids = new Set(old.map((worker) => String(worker.pid)))
      let repeated = 0
      for (const [id, runs] of readEffects(effectsLog)) {
        if (runs.starts.length <= 1) continue
        repeated++
        const flowId = id.split(" ")[0]!
        const cutShort = runs.starts.slice(0, -1).every((pid) => stoppedPids.has(pid) || fleet.leasesLost.has(`${pid} ${flowId}`))
        assert(cutShort, `${id} ran ${runs.starts.length} times: ${JSON.stringify(runs)}`)
      }

      console.log(
        `upgrade-pg: ${OLD_FLOWS} flows stamped 1.3.0 (${finishedByNew} finished by 1.4.0 workers, ${takenDuringOverlap} taken by them while ` +
          `1.3.0 workers were up, ${leftAtDrain} in flight when the ` +
          `1.3.0 workers stopped) and ${NEW_FLOWS} stamped 1.4.0; fraud checked on ${checked}, skipped on ${skipped}; ` +
          `${entries.length} checkpoints, each once; ${repeated} step runs repeated after a stop; completed in ${(duration / 1000).toFixed(1)} s`
      )
    } finally {
      await fleet.stopAll()
      await runtime.dispose()
    }
  }, 300_000)
})
