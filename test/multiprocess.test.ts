/**
 * Many workers, many processes, one SQLite file, and SIGKILL.
 *
 * Three worker processes (`test/fixtures/worker-child.ts`) share one SQLite file with the test
 * process. The test schedules 200 flows (steps, a durable sleep that suspends and is resumed by a
 * timer, and for two flows in three a signal), sends the signals itself through the store (some
 * before the flow is due, some once it waits, some at random moments), and meanwhile SIGKILLs one
 * or two workers at random moments, several times, restarting them each time. Then every flow
 * must have completed with the right result, every journal entry must have been checkpointed
 * exactly once (audited by SQLite triggers), and a step's side effect may have run again only when
 * the process that ran it before was killed, or (at-least-once, by design) stalled past its
 * 2-second lease and said so. The figures are printed for the record.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Clock, Effect, Exit, ManagedRuntime, Option } from "effect"
import { Client, ExecutionLog, Scheduler } from "ergon"
import * as Sqlite from "ergon/sqlite"
import { checkRuns, type Explained, readEffects } from "./fixtures/effects-check.js"
import { killRounds, makeFleet, sendSignals, type Signalled } from "./fixtures/fleet.js"
import { Approval, bonusFor, expectedResult, OrderFlow, type OrderInput } from "./fixtures/worker-child.js"

const child = fileURLToPath(new URL("./fixtures/worker-child.ts", import.meta.url))

const FLOWS = 200
const WORKERS = 3
/** Flows become due over this window, so there is work in flight whenever a worker is killed. */
const SPREAD_MILLIS = 14_000
/**
 * A kill round once each of these fractions of the flows has completed (progress, not the clock:
 * on a loaded machine the flows are slower, and the rounds wait for them); the workers up finish
 * the rest.
 */
const KILL_AT = [0.1, 0.25, 0.4, 0.55, 0.7]
/** Give up when not every flow has completed by then, or when none completed for this long. */
const COMPLETION_BOUND_MILLIS = 240_000
const NO_PROGRESS_BOUND_MILLIS = 30_000

interface Planned extends OrderInput, Signalled {}

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** Creates the store (migrations) and triggers that log every write of a completed journal entry. */
const prepareStore = async (filename: string) => {
  await Effect.runPromise(Effect.scoped(Effect.asVoid(Effect.provide(Effect.void, Sqlite.layer({ filename })))))
  const db = new Database(filename)
  db.exec(`
    CREATE TABLE ckpt_audit (flow_id TEXT, key TEXT, op TEXT);
    CREATE TRIGGER ckpt_audit_insert AFTER INSERT ON ergon_steps WHEN NEW.status = 'completed'
      BEGIN INSERT INTO ckpt_audit VALUES (NEW.flow_id, NEW.key, 'insert'); END;
    CREATE TRIGGER ckpt_audit_update AFTER UPDATE ON ergon_steps WHEN NEW.status = 'completed'
      BEGIN INSERT INTO ckpt_audit VALUES (NEW.flow_id, NEW.key, 'update'); END;
  `)
  db.close()
}

interface Audit {
  readonly checkpoints: Map<string, number>
  readonly entries: Array<{ readonly flowId: string; readonly key: string; readonly status: string; readonly completedAt: number | null }>
  readonly signals: Array<{ readonly flowId: string; readonly createdAt: number; readonly consumedBy: string | null }>
}

const readAudit = (filename: string): Audit => {
  const db = new Database(filename, { readonly: true })
  const audit = db.prepare("SELECT flow_id, key, count(*) AS n FROM ckpt_audit GROUP BY flow_id, key").all() as Array<
    { flow_id: string; key: string; n: number }
  >
  const entries = db.prepare("SELECT flow_id, key, status, completed_at FROM ergon_steps").all() as Array<
    { flow_id: string; key: string; status: string; completed_at: number | null }
  >
  const signals = db.prepare("SELECT flow_id, created_at, consumed_by FROM ergon_signals").all() as Array<
    { flow_id: string; created_at: number; consumed_by: string | null }
  >
  db.close()
  return {
    checkpoints: new Map(audit.map((row) => [`${row.flow_id} ${row.key}`, row.n])),
    entries: entries.map((row) => ({ flowId: row.flow_id, key: row.key, status: row.status, completedAt: row.completed_at })),
    signals: signals.map((row) => ({ flowId: row.flow_id, createdAt: row.created_at, consumedBy: row.consumed_by }))
  }
}

/** Flows suspended on their signal while a signal of that name waits for them, unconsumed. */
const findUnwoken = Effect.gen(function*() {
  const log = yield* ExecutionLog.ExecutionLog
  const suspended = yield* Client.list({ type: OrderFlow.name, status: "suspended", limit: 1000 })
  const onSignal = suspended.filter((row) => (row.suspendReason as { _tag?: string } | undefined)?._tag === "Signal")
  const waiting = yield* Effect.filter(onSignal, (row) => log.hasSignal(row.id, "approve"))
  return waiting.map((row) => row.id)
})

/** Makes a suspended flow ready now, as a signal's sender does. */
const wakeByHand = (id: string) =>
  Effect.flatMap(ExecutionLog.ExecutionLog, (log) => Effect.flatMap(Clock.currentTimeMillis, (now) => log.wakeFlow(id, now)))

/** What the flows that did not complete are doing, and whether a signal for them waits unconsumed. */
const stuckReport = async (runtime: ManagedRuntime.ManagedRuntime<ExecutionLog.ExecutionLog, unknown>, filename: string) => {
  const rows = await runtime.runPromise(
    Client.list({ type: OrderFlow.name, status: ["pending", "running", "suspended", "failed"], limit: 1000 })
  )
  const audit = readAudit(filename)
  const unconsumed = new Set(audit.signals.filter((signal) => signal.consumedBy === null).map((signal) => signal.flowId))
  const lostWakeUps = rows.filter((row) =>
    row.status === "suspended" && (row.suspendReason as { _tag?: string } | undefined)?._tag === "Signal" && unconsumed.has(row.id)
  )
  return `${rows.length} flows (${lostWakeUps.length} lost wake-ups: suspended on a signal that is in the store, unconsumed: ${
    lostWakeUps.map((row) => row.id).join(", ")
  }); ${rows.slice(0, 10).map((row) => `${row.id} ${row.status} ${JSON.stringify(row.suspendReason ?? row.error ?? null)}`).join("; ")}`
}

describe("many worker processes on one SQLite file, SIGKILLed at random", () => {
  it("200 flows with steps, timers and signals all complete; each checkpoint written once; effects repeat only after a kill", async () => {
    const began = Date.now()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-multiprocess-"))
    const filename = path.join(dir, "store.db")
    const effectsLog = path.join(dir, "effects.log")
    await prepareStore(filename)
    const runtime = ManagedRuntime.make(Sqlite.layer({ filename }))
    const fleet = makeFleet(dir, child, [filename, effectsLog])
    let stopped = false
    try {
      // -- workers up, then schedule -------------------------------------------------------------
      for (let i = 1; i <= WORKERS; i++) fleet.start(`w${i}`)
      while (Array.from(fleet.live.values()).some((worker) => !worker.ready) && fleet.unexpected.length === 0) {
        assert(Date.now() - began < 180_000, "the workers did not start")
        await sleep(50)
      }
      const t0 = Date.now()
      const inputs: Array<Planned> = Array.from({ length: FLOWS }, (_, n) => ({
        id: `mp-${String(n).padStart(3, "0")}`,
        n,
        sleepMillis: 200 + ((n * 37) % 300),
        awaitsSignal: n % 3 !== 0,
        // due over the window, so there is work in flight at every kill
        runAt: t0 + Math.floor((n * SPREAD_MILLIS) / FLOWS),
        signal: n % 3 === 0 ? "none" : n % 3 === 2 ? "waiting" : n % 6 === 1 ? "early" : "random"
      }))
      const scheduler = Scheduler.make().unversioned()
      await runtime.runPromise(
        Effect.forEach(inputs, ({ id, n, sleepMillis, awaitsSignal, runAt }) =>
          scheduler.schedule(OrderFlow, { n, sleepMillis, awaitsSignal }, { id, runAt }), { discard: true })
      )

      // -- signals ----------------------------------------------------------------------------
      // "early": sent before the flow is even due (buffered); "waiting": sent once the flow is
      // seen suspended on it (wakes it); "random": at a random moment around the flow's run.
      const signalling = await sendSignals(
        inputs,
        async (input) => {
          const exit = await runtime.runPromiseExit(Client.signal(input.id, "approve", Approval, { bonus: bonusFor(input.n) }))
          return Exit.isFailure(exit) ? String(exit.cause) : undefined
        },
        async () => {
          const suspended = await runtime.runPromise(Client.list({ type: OrderFlow.name, status: "suspended", limit: 1000 }))
          return suspended
            .filter((row) => (row.suspendReason as { _tag?: string } | undefined)?._tag === "Signal")
            .map((row) => row.id)
        },
        () => stopped
      )

      // -- kills -----------------------------------------------------------------------------------
      // Kill rounds: one or two of the workers that are up, each restarted shortly after.
      let maxLag = 0
      let lastTick = Date.now()
      const lagTimer = setInterval(() => {
        maxLag = Math.max(maxLag, Date.now() - lastTick - 100)
        lastTick = Date.now()
      }, 100)
      const completedShare = async () =>
        (await runtime.runPromise(Client.list({ type: OrderFlow.name, status: "completed", limit: 1000 }))).length / FLOWS
      const { kills, roundTimes, rounds } = await killRounds(
        fleet,
        t0,
        completedShare,
        KILL_AT,
        () => fleet.unexpected.length > 0 || Date.now() - t0 > COMPLETION_BOUND_MILLIS
      )

      // -- wait for every flow to complete ------------------------------------------------------
      // A flow found twice in a row, 2 s apart, suspended on its signal while that signal waits in
      // the store unconsumed, was never woken (the engine bug described at the assertion below).
      // It is recorded, and woken by hand (what `Client.signal` should have done), so that the run
      // goes on and every other property is still checked.
      const lostWakeUps = new Set<string>()
      let suspects = new Set<string>()
      let lookedAt = 0
      const deadline = t0 + COMPLETION_BOUND_MILLIS
      // (read once before the loop: the kill rounds may have run until the deadline)
      let completed = Math.round((await completedShare()) * FLOWS)
      let progressAt = Date.now()
      while (Date.now() < deadline && Date.now() - progressAt < NO_PROGRESS_BOUND_MILLIS && fleet.unexpected.length === 0) {
        const rows = await runtime.runPromise(Client.list({ type: OrderFlow.name, status: "completed", limit: 1000 }))
        if (rows.length > completed) progressAt = Date.now()
        completed = rows.length
        if (completed === FLOWS) break
        if (Date.now() - lookedAt >= 2000) {
          lookedAt = Date.now()
          const unwoken = await runtime.runPromise(findUnwoken)
          for (const id of unwoken) {
            if (suspects.has(id) && !lostWakeUps.has(id)) {
              lostWakeUps.add(id)
              await runtime.runPromise(wakeByHand(id))
            }
          }
          suspects = new Set(unwoken)
        }
        await sleep(250)
      }
      const duration = Date.now() - t0
      clearInterval(lagTimer)
      stopped = true
      await signalling.done
      await fleet.stopAll()

      assert.deepStrictEqual(fleet.unexpected, [], "a worker process died on its own")
      assert.deepStrictEqual(signalling.errors, [], "a signal could not be sent")
      if (completed !== FLOWS) {
        assert.fail(`${completed}/${FLOWS} flows completed; stuck: ${await stuckReport(runtime, filename)}`)
      }

      // -- every flow completed with the right result ------------------------------------------
      for (const input of inputs) {
        const result = await runtime.runPromise(Client.result(OrderFlow, input.id))
        assert(Option.isSome(result), `${input.id} has no result`)
        assert.deepStrictEqual(result.value, Exit.succeed(expectedResult(input)), `${input.id}: wrong result`)
      }

      // -- each journal entry checkpointed exactly once ----------------------------------------
      const audit = readAudit(filename)
      const expectedKeys = (input: OrderInput) =>
        ["reserve", "$sleep", ...(input.awaitsSignal ? ["$signal/approve"] : []), "charge", "ship"]
      const entryKeys = new Set(audit.entries.map((entry) => `${entry.flowId} ${entry.key}`))
      for (const input of inputs) {
        for (const key of expectedKeys(input)) {
          const id = `${input.id} ${key}`
          assert(entryKeys.has(id), `${id}: no journal entry`)
          assert.strictEqual(audit.checkpoints.get(id), 1, `${id} was checkpointed ${audit.checkpoints.get(id) ?? 0} times`)
        }
      }
      assert.strictEqual(audit.entries.length, inputs.reduce((sum, input) => sum + expectedKeys(input).length, 0))
      assert(audit.entries.every((entry) => entry.status === "completed"), "a journal entry is not completed")
      assert.strictEqual(audit.checkpoints.size, audit.entries.length)
      assert(audit.signals.every((signal) => signal.consumedBy === "$signal/approve"), "a signal was not consumed")

      // -- side effects repeat only after a kill or a lost lease ---------------------------------
      const runs = readEffects(effectsLog)
      const totals: Explained = { reExecuted: 0, byKilled: 0, byLeaseLost: 0 }
      for (const input of inputs) {
        for (const key of ["reserve", "charge", "ship"]) {
          const failure = checkRuns(input.id, key, runs.get(`${input.id} ${key}`), fleet.killedPids, fleet.leasesLost, totals)
          if (failure !== undefined) assert.fail(failure)
        }
      }

      // -- figures -------------------------------------------------------------------------------
      const waitBegan = new Map(
        audit.entries.filter((entry) => entry.key === "$sleep").map((entry) => [entry.flowId, entry.completedAt ?? 0])
      )
      const buffered = audit.signals.filter((signal) => signal.createdAt <= (waitBegan.get(signal.flowId) ?? 0)).length
      console.log(
        `multiprocess: ${FLOWS} flows, ${audit.signals.length} signals (${buffered} sent before the flow waited), ` +
          `${WORKERS} workers, ${kills} SIGKILLs in ${rounds} rounds (${fleet.all.length} worker processes in all), ` +
          `${totals.reExecuted} step runs repeated (${totals.byKilled} cut short by a kill, ${totals.byLeaseLost} on live workers that ` +
          `stalled past their lease; ${fleet.leasesLost.size} leases lost in all), ` +
          `${fleet.warnings.length} worker warnings; all completed in ${(duration / 1000).toFixed(1)} s ` +
          `(test ${((Date.now() - began) / 1000).toFixed(1)} s)`
      )
      console.log(`  kill rounds at (flows completed @ s after scheduling: killed/up) ${roundTimes.join(" ")}; longest stall of the test process ${maxLag} ms`)
      if (lostWakeUps.size > 0) console.log(`  lost wake-ups, woken by hand: ${Array.from(lostWakeUps).join(", ")}`)
      if (fleet.warnings.length > 0) console.log(`  worker warnings (first 5):\n    ${fleet.warnings.slice(0, 5).join("\n    ")}`)
      assert(kills >= KILL_AT.length, `only ${kills} kills`)
      assert.strictEqual(rounds, KILL_AT.length)

      // No flow may stay suspended on a signal that was sent (a lost wake-up). This test found
      // one in `Client.signal` (it decided to wake from the status read before its insert); the
      // sender now reads the flow after inserting, and test/signal-race.test.ts pins the race.
      assert.deepStrictEqual(
        Array.from(lostWakeUps),
        [],
        "flows left suspended on a signal that was sent (lost wake-up in Client.signal)"
      )
    } finally {
      stopped = true
      await fleet.stopAll()
      await runtime.dispose()
    }
  }, 300_000)
})
