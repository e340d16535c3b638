/**
 * The `ergon` command line, run as users run it: the package is built with tsconfig.build.json into
 * a temporary folder, and its bin is started as a child process against a SQLite file and a
 * PostgreSQL database that the test prepared (flows that completed, failed after retries, wait for
 * a signal, wait for a child no worker registers, sleep with no worker firing timers, were
 * scheduled on a version no worker runs), with a live worker, and a worker that was killed.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, type Layer, ManagedRuntime, Option } from "effect"
import { Client, ExecutionLog, Scheduler, Worker } from "../src/index.js"
import { OrderFlow, ReminderFlow, ShipFlow, storeOf } from "./fixtures/cli-flows.js"
import * as Server from "./pg/server.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const build = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-cli-"))
const bin = path.join(build, "cli", "bin.js")

beforeAll(() => {
  // The package as it is published: built by tsc, resolving its dependencies from node_modules.
  const result = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json", "--outDir", build], {
    cwd: root,
    encoding: "utf8"
  })
  assert.strictEqual(result.status, 0, `the build failed: ${result.stdout}${result.stderr}`)
  fs.symlinkSync(path.join(root, "node_modules"), path.join(build, "node_modules"), "dir")
  assert.isTrue(fs.readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node"))
}, 600_000)

afterAll(async () => {
  fs.rmSync(build, { recursive: true, force: true })
  await Server.stop()
})

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built bin (asynchronously: the test's own worker keeps its heartbeat meanwhile). */
const ergon = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Run> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ERGON_DATABASE_URL: "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (data: Buffer) => (stdout += data.toString()))
    proc.stderr.on("data", (data: Buffer) => (stderr += data.toString()))
    const timer = setTimeout(() => proc.kill("SIGKILL"), 120_000)
    proc.on("error", reject)
    proc.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** The lines of a table whose first cell is `id`, split on runs of two spaces or more. */
const row = (out: string, id: string): ReadonlyArray<string> | undefined =>
  out.split("\n").map((line) => line.trim().split(/ {2,}/)).find((cells) => cells[0] === id)

const ids = (out: string): ReadonlyArray<string> =>
  out.split("\n").slice(1).map((line) => line.split(" ")[0]!).filter((id) => id !== "" && id !== "more:")

/** Waits (in real time) until `check` holds. */
const until = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    // Generous: on a loaded machine a worker may take a while; never forever.
    const deadline = Date.now() + 180_000
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

const statusIs = (id: string, status: string) =>
  until(`${id} to be ${status}`, Effect.map(Client.status(id), (current) => current === status))

/**
 * The store of a suite: a worker of version 1.0.0 (no timers) running in this process for the
 * whole suite, and the flows of every scenario.
 */
const prepare = Effect.gen(function*() {
  // Waits shorter than a minute (the retries' backoffs) are spent in memory; the reminder's hour suspends it.
  const worker = Worker.make("orders").withVersion("1.0.0").register(OrderFlow, ShipFlow, ReminderFlow).withPollInterval("20 millis")
  yield* Effect.forkDaemon(worker.run())
  yield* until("the worker", Effect.map(Client.workers(), (workers) => workers.some((w) => w.name === "orders" && w.live)))
  const v1 = Scheduler.make().withVersion("1.0.0")
  yield* v1.schedule(OrderFlow, { id: "ok", cents: 2000 }, { id: "order-ok" })
  yield* statusIs("order-ok", "completed")
  yield* v1.schedule(OrderFlow, { id: "failed", cents: 4999 }, { id: "order-failed" })
  yield* statusIs("order-failed", "completed")
  yield* v1.schedule(OrderFlow, { id: "big", cents: 20_000 }, { id: "order-big" })
  yield* statusIs("order-big", "suspended")
  yield* v1.schedule(ShipFlow, "apple", { id: "ship-1" })
  yield* statusIs("ship-1", "suspended")
  yield* v1.schedule(ReminderFlow, "ada", { id: "reminder-1" })
  yield* statusIs("reminder-1", "suspended")
  yield* Scheduler.make().withVersion("1.0.1").schedule(OrderFlow, { id: "next", cents: 2000 }, { id: "order-next" })
  // Twelve flows of a version nobody runs, for paging and bulk actions.
  const v2 = Scheduler.make().withVersion("2.0.0")
  for (let i = 0; i < 12; i++) yield* v2.schedule(OrderFlow, { id: `bulk-${i}`, cents: 2 }, { id: `bulk-${String(i).padStart(2, "0")}` })
})

// Each command is a process of its own: on a loaded machine, a test of several takes minutes.
const TIMEOUT = 600_000

const suite = (name: string, open: () => Promise<string>) =>
  describe(`ergon on ${name}`, { timeout: TIMEOUT }, () => {
    let db = ""
    let runtime: ManagedRuntime.ManagedRuntime<ExecutionLog.ExecutionLog, unknown>
    const run = <A, E>(effect: Effect.Effect<A, E, ExecutionLog.ExecutionLog>) => runtime.runPromise(effect)

    beforeAll(async () => {
      db = await open()
      runtime = ManagedRuntime.make(storeOf(db) as Layer.Layer<ExecutionLog.ExecutionLog, unknown>)
      await run(prepare)
    }, 300_000)
    afterAll(() => runtime.dispose())

    it("list: newest first, filtered, paged with a cursor, every page with --all", async () => {
      const byType = await ergon(["list", "--db", db, "--type", "cli-order", "--flow-version", "1.0.0"])
      assert.strictEqual(byType.code, 0, byType.stderr)
      assert.deepStrictEqual(ids(byType.stdout), ["order-big", "order-failed", "order-ok"])
      assert.match(byType.stdout.split("\n")[0]!, /^ID +TYPE +VERSION +STATUS +RUNS +CREATED +UPDATED$/)
      assert.deepStrictEqual(row(byType.stdout, "order-big")!.slice(0, 5), ["order-big", "cli-order", "1.0.0", "suspended", "1"])
      assert.deepStrictEqual(row(byType.stdout, "order-ok")!.slice(0, 4), ["order-ok", "cli-order", "1.0.0", "completed"])

      const suspended = await ergon(["list", "--db", db, "--status", "suspended", "--json"])
      assert.strictEqual(suspended.code, 0)
      const flows = (JSON.parse(suspended.stdout) as { flows: ReadonlyArray<{ id: string; status: string }> }).flows
      assert.deepStrictEqual(flows.map((flow) => flow.id), ["reminder-1", "ship-1", "order-big"])

      const first = await ergon(["list", "--db", db, "--flow-version", "2.0.0", "--limit", "5"])
      assert.deepStrictEqual(ids(first.stdout), ["bulk-11", "bulk-10", "bulk-09", "bulk-08", "bulk-07"])
      const cursor = /more: --before (\S+)/.exec(first.stdout)![1]!
      const second = await ergon(["list", "--db", db, "--flow-version", "2.0.0", "--limit", "5", "--before", cursor])
      assert.deepStrictEqual(ids(second.stdout), ["bulk-06", "bulk-05", "bulk-04", "bulk-03", "bulk-02"])
      const last = await ergon(["list", "--db", db, "--flow-version", "2.0.0", "--limit", "5", "--json", "--before", /more: --before (\S+)/.exec(second.stdout)![1]!])
      const page = JSON.parse(last.stdout) as { flows: ReadonlyArray<{ id: string }>; next: string | null }
      assert.deepStrictEqual(page.flows.map((flow) => flow.id), ["bulk-01", "bulk-00"])
      assert.strictEqual(page.next, null)

      const all = await ergon(["list", "--db", db, "--flow-version", "2.0.0", "--limit", "5", "--all", "--json"])
      assert.strictEqual((JSON.parse(all.stdout) as { flows: ReadonlyArray<unknown> }).flows.length, 12)
      assert.include(all.stderr, "listed 12 flows")

      const bad = await ergon(["list", "--db", db, "--status", "sleeping"])
      assert.strictEqual(bad.code, 2)
      assert.include(bad.stderr, "'sleeping' is not a status")
    })

    it("show: a flow that failed after retries, as a timeline, with its error in full", async () => {
      const shown = await ergon(["show", "order-failed", "--db", db])
      assert.strictEqual(shown.code, 0, shown.stderr)
      const out = shown.stdout
      assert.match(out, /^order-failed {2}cli-order, version 1\.0\.0$/m)
      assert.match(out, /status +completed with a failure: GatewayTimeout \{"gateway":"acme-pay"\}/)
      assert.match(out, /runs +1 execution/)
      assert.match(out, /trace +00-[0-9a-f]{32}-[0-9a-f]{16}-01/)
      const charge = out.split("\n").find((line) => line.includes("charge-card"))!
      assert.match(charge, /^ {2}\+\S+ +step +charge-card +failed +\S+ +3 +GatewayTimeout \{"gateway":"acme-pay"\}$/)
      const validate = out.split("\n").find((line) => line.includes("validate-order"))!
      assert.match(validate, /^ {2}\+\S+ +step +validate-order +completed +\S+ +1 +→ true$/)
      assert.match(out, /\nERROR\n {2}GatewayTimeout \{"gateway":"acme-pay"\}/)

      const json = await ergon(["show", "order-failed", "--db", db, "--json"])
      const history = JSON.parse(json.stdout) as Client.FlowHistory
      assert.deepStrictEqual(history.entries.map((entry) => [entry.kind, entry.name, entry.attempts, entry.outcome]), [
        ["step", "validate-order", 1, "success"],
        ["step", "charge-card", 3, "failure"]
      ])
      assert.deepStrictEqual(history.outcome, {
        _tag: "Failed",
        error: { _tag: "GatewayTimeout", gateway: "acme-pay" },
        message: `GatewayTimeout {"gateway":"acme-pay"}`
      } as unknown as Client.HistoryOutcome<unknown, unknown>)

      const missing = await ergon(["show", "order-404", "--db", db])
      assert.strictEqual(missing.code, 3)
      assert.include(missing.stderr, "there is no flow 'order-404'")
    })

    it("show: why a flow waits and why nobody can run it, its signals, its children as a tree", async () => {
      const ship = await ergon(["show", "ship-1", "--db", db])
      assert.strictEqual(ship.code, 0, ship.stderr)
      assert.match(ship.stdout, /waits for +child flow 'ship-1\/\$invoke\/cli-reserve'/)
      assert.match(ship.stdout, /stuck +it waits for its child 'ship-1\/\$invoke\/cli-reserve' \(cli-reserve\), which is stuck: no live worker registers flow type 'cli-reserve'/)
      assert.match(ship.stdout, /\nCHILDREN\n {2}└─ ship-1\/\$invoke\/cli-reserve {2}cli-reserve {2}pending {2}started \+\S+/)
      // The wait it is on, though the journal holds nothing for it yet; the worker that ran it last.
      assert.match(ship.stdout, /^ {2}\+\S+ +child +cli-reserve +waiting +ship-1\/\$invoke\/cli-reserve is pending$/m)
      assert.match(ship.stdout, /last run by +orders\/[0-9a-f]{8} \(epoch 1\)/)

      const reminder = await ergon(["show", "reminder-1", "--db", db])
      assert.match(reminder.stdout, /waits for +a timer \(\$sleep\), fires at \+1h 00m \(in (\d+m \d\ds|1h 00m)\)/)
      assert.match(reminder.stdout, /^ {2}\+\S+ +timer +sleep +waiting +fires at \+1h 00m/m)
      assert.match(reminder.stdout, /stuck +it waits on a timer, and no live worker that takes 'cli-reminder' \(version '1\.0\.0'\) runs withTimers\(\)/)

      const next = await ergon(["show", "order-next", "--db", db])
      assert.match(next.stdout, /stuck +no live worker takes version '1\.0\.1' of 'cli-order' \(the live workers that register it take '1\.0\.0'\)/)
      assert.match(next.stdout, /nothing recorded yet/)
    })

    it("stuck: each reason, as a table and as JSON; --fail exits 6", async () => {
      const stuck = await ergon(["stuck", "--db", db])
      assert.strictEqual(stuck.code, 0, stuck.stderr)
      const why = (id: string) => row(stuck.stdout, id)?.at(-1)
      assert.strictEqual(why("order-next"), "no live worker takes version '1.0.1' of 'cli-order' (the live workers that register it take '1.0.0')")
      assert.strictEqual(why("ship-1/$invoke/cli-reserve"), "no live worker registers flow type 'cli-reserve'")
      assert.strictEqual(
        why("ship-1"),
        "it waits for its child 'ship-1/$invoke/cli-reserve' (cli-reserve), which is stuck: no live worker registers flow type 'cli-reserve'"
      )
      assert.strictEqual(why("reminder-1"), "it waits on a timer, and no live worker that takes 'cli-reminder' (version '1.0.0') runs withTimers()")
      assert.match(row(stuck.stdout, "reminder-1")!.at(-2)!, /^due in (\d+m \d\ds|1h 00m)$/)
      assert.isUndefined(row(stuck.stdout, "order-big"), "a flow waiting for a signal that a live worker will run is not stuck")

      const json = JSON.parse((await ergon(["stuck", "--db", db, "--json"])).stdout) as ReadonlyArray<Client.StuckFlow>
      const reasons = new Map(json.map((flow) => [flow.id, flow.reason._tag]))
      assert.strictEqual(reasons.get("order-next"), "NoWorkerForVersion")
      assert.strictEqual(reasons.get("ship-1/$invoke/cli-reserve"), "NoWorkerForType")
      assert.strictEqual(reasons.get("ship-1"), "StuckChild")
      assert.strictEqual(reasons.get("reminder-1"), "NoTimerWorker")

      assert.strictEqual((await ergon(["stuck", "--db", db, "--fail"])).code, 6)
    })

    it("workers: the live worker, and a killed one shown dead", async () => {
      const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", path.join(root, "test", "fixtures", "cli-flows.ts"), db, "doomed"], {
        cwd: root,
        stdio: ["ignore", "pipe", "inherit"]
      })
      await new Promise<void>((resolve, reject) => {
        proc.stdout!.on("data", (data: Buffer) => data.toString().includes("ready") && resolve())
        proc.on("exit", (code) => reject(new Error(`the worker exited with ${code}`)))
      })
      const both = await ergon(["workers", "--db", db])
      assert.strictEqual(both.code, 0, both.stderr)
      assert.match(both.stdout.split("\n")[0]!, /^NAME +ID +VERSION +STATE +RUNNING +TIMERS +SIGNALS +HOST +PID +STARTED +HEARTBEAT +FLOWS$/)
      const orders = row(both.stdout, "orders")!
      assert.deepStrictEqual(orders.slice(2, 7), ["1.0.0", "live", "0/16", "off", "off"])
      assert.strictEqual(orders.at(-1), "cli-order, cli-ship, cli-reminder")
      assert.strictEqual(orders[8], String(process.pid))
      assert.deepStrictEqual(row(both.stdout, "doomed")!.slice(3, 4), ["live"])

      proc.kill("SIGKILL")
      await run(until("the killed worker to be dead", Effect.map(Client.workers(), (workers) => workers.some((w) => w.name === "doomed" && !w.live))))
      const after = await ergon(["workers", "--db", db])
      assert.deepStrictEqual(row(after.stdout, "doomed")!.slice(3, 4), ["dead"])
      assert.include(after.stdout, "1 live, 1 dead")
      const live = JSON.parse((await ergon(["workers", "--db", db, "--live", "--json"])).stdout) as ReadonlyArray<Client.WorkerInfo>
      assert.deepStrictEqual(live.map((worker) => [worker.name, worker.live, worker.types]), [["orders", true, ["cli-order", "cli-ship", "cli-reminder"]]])
    })

    it("signal: sent and taken; a payload that is not JSON, an unknown flow and an ended one are refused", async () => {
      const sent = await ergon(["signal", "order-big", "approve", `{"by":"maria"}`, "--db", db])
      assert.strictEqual(sent.code, 0, sent.stderr)
      assert.include(sent.stdout, "sent signal 'approve' to order-big")
      assert.strictEqual(await run(Client.awaitResult(OrderFlow, "order-big")), "pay-big approved by maria")
      const notJson = await ergon(["signal", "order-next", "approve", "{by: maria}", "--db", db])
      assert.strictEqual(notJson.code, 2)
      assert.include(notJson.stderr, "the payload is not JSON")
      assert.strictEqual((await ergon(["signal", "order-404", "approve", "1", "--db", db])).code, 3)
      const ended = await ergon(["signal", "order-ok", "approve", "1", "--db", db, "--json"])
      assert.strictEqual(ended.code, 4)
      assert.include(ended.stderr, "'order-ok' is completed")
    })

    it("retry and cancel: by id, refused when they cannot apply, and in bulk with --yes and a progress line", async () => {
      const retried = await ergon(["retry", "order-failed", "--db", db])
      assert.strictEqual(retried.code, 0, retried.stderr)
      assert.deepStrictEqual(row(retried.stdout, "order-failed")!.slice(0, 2), ["order-failed", "retried"])
      // It runs again (and fails again: the gateway still times out): a second execution.
      await run(until("the retry", Effect.map(Client.get("order-failed"), (flow) => Option.isSome(flow) && flow.value.attempts === 2 && flow.value.status === "completed")))
      const refused = await ergon(["retry", "order-ok", "--db", db])
      assert.strictEqual(refused.code, 4)
      assert.include(row(refused.stdout, "order-ok")!.join(" "), "refused")

      const withoutYes = await ergon(["cancel", "--flow-version", "2.0.0", "--db", db])
      assert.strictEqual(withoutYes.code, 4)
      assert.include(withoutYes.stderr, "12 flows match; pass --yes to cancel them")
      assert.strictEqual((await run(Client.count({ version: "2.0.0", status: "pending" }))), 12)
      const bulk = await ergon(["cancel", "--flow-version", "2.0.0", "--yes", "--json", "--db", db])
      assert.strictEqual(bulk.code, 0, bulk.stderr)
      assert.include(bulk.stderr, "cancelled 12 of 12 flows")
      const results = JSON.parse(bulk.stdout) as ReadonlyArray<{ id: string; result: string }>
      assert.strictEqual(results.length, 12)
      assert.isTrue(results.every((result) => result.result === "cancelled"))
      assert.strictEqual((await run(Client.count({ version: "2.0.0", status: "cancelled" }))), 12)

      // Cancelling a cancelled flow is idempotent; a completed one is refused.
      const mixed = await ergon(["cancel", "reminder-1", "bulk-00", "order-ok", "order-404", "--db", db])
      assert.strictEqual(mixed.code, 4, mixed.stdout + mixed.stderr)
      assert.deepStrictEqual(row(mixed.stdout, "reminder-1")!.slice(0, 2), ["reminder-1", "cancelled"])
      assert.deepStrictEqual(row(mixed.stdout, "bulk-00")!.slice(0, 2), ["bulk-00", "cancelled"])
      assert.deepStrictEqual(row(mixed.stdout, "order-ok")!.slice(0, 2), ["order-ok", "refused"])
      assert.deepStrictEqual(row(mixed.stdout, "order-404")!.slice(0, 2), ["order-404", "not-found"])
      assert.strictEqual((await ergon(["cancel", "order-404", "--db", db])).code, 3)
      assert.strictEqual((await ergon(["cancel", "--db", db])).code, 2)
    })

    it("the store from ERGON_DATABASE_URL; a command that does not exist", async () => {
      const fromEnv = await ergon(["list", "--type", "cli-ship"], { ERGON_DATABASE_URL: db })
      assert.strictEqual(fromEnv.code, 0, fromEnv.stderr)
      assert.deepStrictEqual(ids(fromEnv.stdout), ["ship-1"])
      assert.strictEqual((await ergon(["frobnicate", "--db", db])).code, 2)
    })

    it("versions: unfinished flows by type and version, stranded ones warned (--fail exits 6); migrate refused with the reason, then done", async () => {
      const shown = await ergon(["versions", "--db", db])
      assert.strictEqual(shown.code, 0, shown.stderr)
      assert.match(shown.stdout.split("\n")[0]!, /^TYPE +VERSION +PENDING +RUNNING +SUSPENDED +TAKEN BY$/)
      assert.deepStrictEqual(row(shown.stdout, "cli-order"), ["cli-order", "1.0.1", "1", "0", "0", "nobody: stranded"])
      assert.deepStrictEqual(row(shown.stdout, "cli-ship"), ["cli-ship", "1.0.0", "0", "0", "1", "orders (1.0.0)"])
      assert.deepStrictEqual(row(shown.stdout, "cli-reserve")?.slice(0, 2), ["cli-reserve", "1.0.0"])
      assert.include(
        shown.stdout,
        "warning: 1 flow of 'cli-order' stamped 1.0.1 is stranded: no live worker takes that version. Start a worker that does, or re-stamp them: ergon versions migrate --type cli-order --from 1.0.1"
      )
      assert.strictEqual((await ergon(["versions", "--db", db, "--fail"])).code, 6)
      const json = JSON.parse((await ergon(["versions", "--db", db, "--json"])).stdout) as ReadonlyArray<Client.VersionGroup>
      const order = json.find((group) => group.type === "cli-order")!
      assert.deepStrictEqual([order.version, order.pending, order.stranded, order.workers], ["1.0.1", 1, true, []])

      const migrate = (...args: ReadonlyArray<string>) => ergon(["versions", "migrate", "--db", db, ...args])
      const same = await migrate("--type", "cli-order", "--from", "1.0.1", "--to", "1.0.1")
      assert.strictEqual(same.code, 4)
      assert.include(same.stderr, "from and to are the same version")
      const bad = await migrate("--type", "cli-order", "--from", "1.0", "--to", "1.0.0")
      assert.strictEqual(bad.code, 2)
      assert.include(bad.stderr, "'1.0'")
      const unknown = await migrate("--type", "cli-nope", "--from", "1.0.1", "--to", "1.0.0")
      assert.strictEqual(unknown.code, 4)
      assert.include(unknown.stderr, "no flow of type 'cli-nope' is in the store")
      const strand = await migrate("--type", "cli-order", "--from", "1.0.1", "--to", "3.0.0")
      assert.strictEqual(strand.code, 4)
      assert.include(strand.stderr, "start workers of version '3.0.0' first")
      assert.strictEqual(await run(Client.status("order-next")), "pending")

      const done = await migrate("--type", "cli-order", "--from", "1.0.1", "--to", "1.0.0")
      assert.strictEqual(done.code, 0, done.stderr)
      assert.include(done.stdout, "migrated 1 unfinished flow of 'cli-order' from 1.0.1 to 1.0.0")
      // The live 1.0.0 worker takes it now.
      assert.strictEqual(await run(Client.awaitResult(OrderFlow, "order-next")), "pay-next")
      const after = await ergon(["versions", "--db", db])
      assert.isUndefined(row(after.stdout, "cli-order"))
    })
  })

suite("SQLite", async () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ergon-cli-db-")), "store.db"))
suite("PostgreSQL", async () => {
  const server = await Server.start()
  return server.url(await server.createDatabase("cli"))
})

describe("ergon with a store it cannot reach", { timeout: TIMEOUT }, () => {
  it("a SQLite file that does not exist (not created) and a PostgreSQL server that is not there: exit 5", async () => {
    const file = path.join(os.tmpdir(), `ergon-missing-${process.pid}.db`)
    const sqlite = await ergon(["list", "--db", file])
    assert.strictEqual(sqlite.code, 5)
    assert.include(sqlite.stderr, `there is no SQLite database at '${file}'`)
    assert.isFalse(fs.existsSync(file))
    const pg = await ergon(["workers", "--db", "postgresql://nobody:secret@127.0.0.1:9/none"])
    assert.strictEqual(pg.code, 5)
    assert.include(pg.stderr, "127.0.0.1:9")
  })
})
