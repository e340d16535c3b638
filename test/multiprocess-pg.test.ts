/**
 * Many workers, many processes, one PostgreSQL database, and SIGKILL.
 *
 * The PostgreSQL variant of test/multiprocess.test.ts. Four worker processes
 * (`test/fixtures/worker-child-pg.ts`) share one schema of an embedded PostgreSQL with the test
 * process. The test schedules 600 parent flows over 100 seconds, a soak of about two minutes (steps, a durable sleep that suspends and is
 * resumed by a timer, for two flows in three a signal, and one or two child flows each, of a
 * child type registered on the same workers), sends the signals itself, and SIGKILLs one or two
 * workers at random moments, restarting them. Then every parent and child must have completed
 * with the right result, every journal entry must have been checkpointed exactly once (audited by
 * a PostgreSQL trigger on `ergon_steps`), and a step's side effect may have run again only when
 * the process that ran it before was killed (or, at-least-once by design, stalled past its lease
 * and said so). The figures are printed.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, ManagedRuntime, Option } from "effect"
import { Client, type ExecutionLog, Scheduler } from "ergon"
import * as Pg from "ergon/pg"
import {
  Approval,
  bonusFor,
  ChildFlow,
  expectedChild,
  expectedResult,
  ParentFlow,
  type ParentInput
} from "./fixtures/worker-child-pg.js"
import { checkRuns, type Explained, readEffects } from "./fixtures/effects-check.js"
import { killRounds, makeFleet, sendSignals, type Signalled } from "./fixtures/fleet.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const child = fileURLToPath(new URL("./fixtures/worker-child-pg.ts", import.meta.url))

const SCHEMA = "mp_pg"
// A soak of about two minutes: 600 parents (and 900 children) become due over 100 seconds.
const FLOWS = 600
const WORKERS = 4
/** Flows become due over this window, so there is work in flight whenever a worker is killed. */
const SPREAD_MILLIS = 100_000
/**
 * A kill round once each of these fractions of the flows (parents and children) has completed:
 * driven by progress, not the clock, so every round hits work in flight however loaded the machine.
 */
const KILL_AT = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85]
/** Give up when not every flow has completed by then (from the scheduling), or none completed for this long. */
const COMPLETION_BOUND_MILLIS = 300_000
const NO_PROGRESS_BOUND_MILLIS = 80_000

interface Planned extends ParentInput, Signalled {}

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

const countCompleted = async (runtime: Runtime) => {
  const rows = await query<{ type: string; n: string }>(
    runtime,
    `SELECT type, count(*) AS n FROM ergon_flows WHERE status = 'completed' GROUP BY type`
  )
  const of = (type: string) => Number(rows.find((row) => row.type === type)?.n ?? 0)
  return { parents: of(ParentFlow.name), children: of(ChildFlow.name) }
}

describe("many worker processes on one PostgreSQL database, SIGKILLed at random", () => {
  it("600 flows with steps, timers, signals and child flows all complete (a soak of about two minutes); each checkpoint written once; effects repeat only after a kill", async () => {
    const began = Date.now()
    const server = await Server.start()
    const url = server.url()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-multiprocess-pg-"))
    const effectsLog = path.join(dir, "effects.log")
    fs.writeFileSync(effectsLog, "")
    const runtime: Runtime = ManagedRuntime.make(Pg.layer({ url, schema: SCHEMA }))
    await prepareAudit(runtime)
    const fleet = makeFleet(dir, child, [url, SCHEMA, effectsLog])
    let stopped = false
    try {
      for (let i = 1; i <= WORKERS; i++) fleet.start(`w${i}`)
      while (Array.from(fleet.live.values()).some((worker) => !worker.ready) && fleet.unexpected.length === 0) {
        assert(Date.now() - began < 180_000, "the workers did not start")
        await sleep(50)
      }
      assert.deepStrictEqual(fleet.unexpected, [], "a worker process died while starting")
      const t0 = Date.now()
      const inputs: Array<Planned> = Array.from({ length: FLOWS }, (_, n) => ({
        id: `mpg-${String(n).padStart(3, "0")}`,
        n,
        sleepMillis: 200 + ((n * 37) % 300),
        awaitsSignal: n % 3 !== 0,
        children: 1 + (n % 2),
        runAt: t0 + Math.floor((n * SPREAD_MILLIS) / FLOWS),
        signal: n % 3 === 0 ? "none" : n % 3 === 2 ? "waiting" : n % 6 === 1 ? "early" : "random"
      }))
      const childCount = inputs.reduce((sum, input) => sum + input.children, 0)
      const scheduler = Scheduler.make().unversioned()
      await runtime.runPromise(
        Effect.forEach(inputs, ({ awaitsSignal, children, id, n, runAt, sleepMillis }) =>
          scheduler.schedule(ParentFlow, { n, sleepMillis, awaitsSignal, children }, { id, runAt }), { discard: true })
      )

      // -- signals ----------------------------------------------------------------------------
      const signalling = await sendSignals(
        inputs,
        async (input) => {
          const exit = await runtime.runPromiseExit(Client.signal(input.id, "approve", Approval, { bonus: bonusFor(input.n) }))
          return Exit.isFailure(exit) ? String(exit.cause) : undefined
        },
        async () => {
          const suspended = await runtime.runPromise(Client.list({ type: ParentFlow.name, status: "suspended", limit: 1000 }))
          return suspended
            .filter((row) => (row.suspendReason as { _tag?: string } | undefined)?._tag === "Signal")
            .map((row) => row.id)
        },
        () => stopped
      )

      // -- kills -----------------------------------------------------------------------------------
      const completedShare = async () => {
        const done = await countCompleted(runtime)
        return (done.parents + done.children) / (FLOWS + childCount)
      }
      const { kills, roundTimes, rounds } = await killRounds(
        fleet,
        t0,
        completedShare,
        KILL_AT,
        () => fleet.unexpected.length > 0 || Date.now() - t0 > COMPLETION_BOUND_MILLIS
      )

      // -- wait for every flow to complete ------------------------------------------------------
      const deadline = t0 + COMPLETION_BOUND_MILLIS
      // Counted once before the loop: the kill rounds may have used the whole bound on a slow
      // machine, and the report must say how far the flows got.
      let completed = await countCompleted(runtime)
      let progressAt = Date.now()
      while (Date.now() < deadline && Date.now() - progressAt < NO_PROGRESS_BOUND_MILLIS && fleet.unexpected.length === 0) {
        const now = await countCompleted(runtime)
        if (now.parents + now.children > completed.parents + completed.children) progressAt = Date.now()
        completed = now
        if (completed.parents === FLOWS && completed.children === childCount) break
        await sleep(250)
      }
      const duration = Date.now() - t0
      stopped = true
      await signalling.done
      await fleet.stopAll()

      assert.deepStrictEqual(fleet.unexpected, [], "a worker process died on its own")
      assert.deepStrictEqual(signalling.errors, [], "a signal could not be sent")
      if (completed.parents !== FLOWS || completed.children !== childCount) {
        const stuck = await query<{ id: string; status: string; suspend_reason: string | null; error: string | null }>(
          runtime,
          `SELECT id, status, suspend_reason, error FROM ergon_flows WHERE status <> 'completed' ORDER BY id LIMIT 10`
        )
        // Parents not completed, grouped by what they wait for and the state of the child they wait for.
        const parents = await query<{ status: string; reason: string | null; child: string | null; n: string }>(
          runtime,
          `SELECT p.status, p.suspend_reason::json->>'_tag' AS reason, c.status AS child, count(*) AS n
           FROM ergon_flows p LEFT JOIN ergon_flows c ON c.id = p.suspend_reason::json->>'childId'
           WHERE p.type = '${ParentFlow.name}' AND p.status <> 'completed' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
        )
        const children = await query<{ status: string; reason: string | null; due: string | null; n: string }>(
          runtime,
          `SELECT status, suspend_reason::json->>'_tag' AS reason,
             CASE WHEN run_after IS NULL THEN 'no run_after' WHEN run_after <= ${Date.now()} THEN 'due' ELSE 'not due' END AS due,
             count(*) AS n
           FROM ergon_flows WHERE type = '${ChildFlow.name}' AND status <> 'completed' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
        )
        // For parents suspended on a child that completed: did the child complete after the parent's
        // suspension was written (its wake-up was lost) or before (the parent's re-check missed it),
        // and was the process that ran the child's last step killed (a crash between the child's
        // completion and the parent's wake-up)?
        const lost = await query<{ parent: string; child: string; after: boolean; owner: string | null }>(
          runtime,
          `SELECT p.id AS parent, c.id AS child, c.completed_at >= p.updated_at AS after, c.lease_owner AS owner
           FROM ergon_flows p JOIN ergon_flows c ON c.id = p.suspend_reason::json->>'childId'
           WHERE p.type = '${ParentFlow.name}' AND p.status = 'suspended' AND c.status = 'completed'`
        )
        const lastRunner = new Map<string, string>()
        for (const line of fs.readFileSync(effectsLog, "utf8").trim().split("\n")) {
          const [what, flowId, key, pid] = line.split(" ")
          if (what === "start" && key === "work") lastRunner.set(flowId!, pid!)
        }
        const runnerKilled = lost.filter((row) => fleet.killedPids.has(lastRunner.get(row.child) ?? "")).length
        const afterSuspend = lost.filter((row) => row.after).length
        const leaseLostChildren = new Set(Array.from(fleet.leasesLost).map((entry) => entry.slice(entry.indexOf(" ") + 1)))
        const childLeaseLost = lost.filter((row) => leaseLostChildren.has(row.child)).length
        console.log(
          `multiprocess-pg: ${lost.length} parents suspended on a completed child: ${afterSuspend} children completed after ` +
            `the parent's suspension was written, ${lost.length - afterSuspend} before; the child's last step ran on a ` +
            `killed process for ${runnerKilled}; a live worker reported the child's lease lost (heartbeat) for ${childLeaseLost}; e.g. ${lost.slice(0, 5).map((row) => `${row.child} (owner ${row.owner}, pid ${lastRunner.get(row.child)})`).join(", ")}`
        )
        const onSignal = await query<{ id: string; n: string; unconsumed: string }>(
          runtime,
          `SELECT f.id, (SELECT count(*) FROM ergon_signals s WHERE s.flow_id = f.id) AS n,
             (SELECT count(*) FROM ergon_signals s WHERE s.flow_id = f.id AND s.consumed_by IS NULL) AS unconsumed
           FROM ergon_flows f WHERE f.status = 'suspended' AND f.suspend_reason::json->>'_tag' = 'Signal'`
        )
        if (onSignal.length > 0) {
          console.log(`multiprocess-pg: suspended on a signal: ${onSignal.map((row) => `${row.id} (${row.n} signals, ${row.unconsumed} unconsumed)`).join(", ")}`)
        }
        assert.fail(
          `${completed.parents}/${FLOWS} parents and ${completed.children}/${childCount} children completed ` +
            `(${Date.now() - progressAt >= NO_PROGRESS_BOUND_MILLIS ? "no progress" : "deadline"}); parents not completed: ${
              parents.map((row) => `${row.n} ${row.status}/${row.reason}/child ${row.child}`).join(", ")
            }; children not completed: ${children.map((row) => `${row.n} ${row.status}/${row.reason}/${row.due}`).join(", ")}; first stuck: ${
              stuck.map((row) => `${row.id} ${row.status} ${row.suspend_reason ?? row.error ?? ""}`).join("; ")
            }`
        )
      }

      // -- every flow completed with the right result ------------------------------------------
      for (const input of inputs) {
        const result = await runtime.runPromise(Client.result(ParentFlow, input.id))
        assert(Option.isSome(result), `${input.id} has no result`)
        assert.deepStrictEqual(result.value, Exit.succeed(expectedResult(input)), `${input.id}: wrong result`)
        for (let k = 1; k <= input.children; k++) {
          const childId = `${input.id}/$invoke/c${k}`
          const childResult = await runtime.runPromise(Client.result(ChildFlow, childId))
          assert(Option.isSome(childResult), `${childId} has no result`)
          assert.deepStrictEqual(childResult.value, Exit.succeed(expectedChild(input.n, k)), `${childId}: wrong result`)
        }
      }
      const allFlows = await query<{ n: string }>(runtime, `SELECT count(*) AS n FROM ergon_flows`)
      assert.strictEqual(Number(allFlows[0]!.n), FLOWS + childCount, "unexpected flows in the store")

      // -- each journal entry checkpointed exactly once ----------------------------------------
      const audit = await query<{ flow_id: string; key: string; n: string }>(
        runtime,
        `SELECT flow_id, key, count(*) AS n FROM ckpt_audit GROUP BY flow_id, key`
      )
      const checkpoints = new Map(audit.map((row) => [`${row.flow_id} ${row.key}`, Number(row.n)]))
      const entries = await query<{ flow_id: string; key: string; status: string; completed_at: string | null }>(
        runtime,
        `SELECT flow_id, key, status, completed_at FROM ergon_steps`
      )
      const entryKeys = new Set(entries.map((entry) => `${entry.flow_id} ${entry.key}`))
      let expectedEntries = 0
      const expect = (id: string) => {
        expectedEntries++
        assert(entryKeys.has(id), `${id}: no journal entry`)
        assert.strictEqual(checkpoints.get(id), 1, `${id} was checkpointed ${checkpoints.get(id) ?? 0} times`)
      }
      for (const input of inputs) {
        const keys = [
          "reserve",
          "$sleep",
          ...(input.awaitsSignal ? ["$signal/approve"] : []),
          ...Array.from({ length: input.children }, (_, i) => `$invoke/c${i + 1}`),
          "charge",
          "ship"
        ]
        for (const key of keys) expect(`${input.id} ${key}`)
        for (let k = 1; k <= input.children; k++) {
          for (const key of ["$sleep", "work"]) expect(`${input.id}/$invoke/c${k} ${key}`)
        }
      }
      assert.strictEqual(entries.length, expectedEntries, "unexpected journal entries")
      assert(entries.every((entry) => entry.status === "completed"), "a journal entry is not completed")
      assert.strictEqual(checkpoints.size, entries.length)
      const signals = await query<{ flow_id: string; consumed_by: string | null }>(
        runtime,
        `SELECT flow_id, consumed_by FROM ergon_signals`
      )
      assert.strictEqual(signals.length, inputs.filter((input) => input.awaitsSignal).length)
      assert(signals.every((signal) => signal.consumed_by === "$signal/approve"), "a signal was not consumed")

      // -- side effects repeat only after a kill or a lost lease ---------------------------------
      const runs = readEffects(effectsLog)
      /** Every line the workers printed about a flow, and its side effects (for a failed check). */
      const traceOf = (flowId: string) => {
        const lines: Array<string> = []
        for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".log") && name !== "effects.log")) {
          for (const line of fs.readFileSync(path.join(dir, file), "utf8").split("\n")) {
            if (line.split(" ")[2] === flowId || line.includes(`'${flowId}'`)) lines.push(`${file}: ${line}`)
          }
        }
        for (const line of fs.readFileSync(effectsLog, "utf8").split("\n")) {
          if (line.split(" ")[1] === flowId) lines.push(`effects: ${line}`)
        }
        return lines
      }
      const totals: Explained = { reExecuted: 0, byKilled: 0, byLeaseLost: 0 }
      const checkEffects = (flowId: string, key: string) => {
        const failure = checkRuns(flowId, key, runs.get(`${flowId} ${key}`), fleet.killedPids, fleet.leasesLost, totals)
        if (failure !== undefined) assert.fail(`${failure}; the flow's trace:\n${traceOf(flowId).join("\n")}`)
      }
      for (const input of inputs) {
        for (const key of ["reserve", "charge", "ship"]) checkEffects(input.id, key)
        for (let k = 1; k <= input.children; k++) checkEffects(`${input.id}/$invoke/c${k}`, "work")
      }
      assert.strictEqual(runs.size, inputs.length * 3 + childCount, "side effects of unknown steps")

      console.log(
        `multiprocess-pg: ${FLOWS} flows + ${childCount} child flows, ${signals.length} signals, ${WORKERS} workers, ` +
          `${kills} SIGKILLs in ${rounds} rounds (${fleet.all.length} worker processes in all), ` +
          `${totals.reExecuted} step runs repeated (${totals.byKilled} cut short by a kill, ${totals.byLeaseLost} on live workers that ` +
          `stalled past their lease; ${fleet.leasesLost.size} leases lost in all), ${entries.length} checkpoints, ` +
          `${fleet.warnings.length} worker warnings; all completed in ${(duration / 1000).toFixed(1)} s ` +
          `(test ${((Date.now() - began) / 1000).toFixed(1)} s)`
      )
      console.log(`  kill rounds at (flows completed @ s after scheduling: killed/up) ${roundTimes.join(" ")}`)
      if (fleet.warnings.length > 0) console.log(`  worker warnings (first 5):\n    ${fleet.warnings.slice(0, 5).join("\n    ")}`)
      assert(kills >= KILL_AT.length, `only ${kills} kills`)
      assert.strictEqual(rounds, KILL_AT.length)
    } finally {
      stopped = true
      await fleet.stopAll()
      await runtime.dispose()
    }
  }, 540_000)
})
