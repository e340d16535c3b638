/**
 * The benchmark harness still runs: a `--quick` run of the scenarios on the memory store and on
 * SQLite (no peers), its JSON written to a temporary folder. Timings are not asserted (they are
 * measured by `npm run bench`, never in a test); the run must finish, every figure must be a
 * number beside its baseline, and what makes the figures honest must be there: the load average
 * around each scenario, the CPU per flow beside every rate, the batched durable write limit, the
 * SQL statements per flow, `--expose-gc` in `npm run bench`, and `--compare` refusing runs whose
 * load differs a lot.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import pg from "pg"
import { sqlStatements } from "../bench/statements.js"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Load {
  readonly load1: number
  readonly load5: number
  readonly load15: number
}

interface Results {
  readonly quick: boolean
  readonly gcExposed: boolean
  readonly load: { readonly start: Load; readonly end: Load }
  readonly warmup: { readonly sequential: number; readonly concurrent: number }
  readonly baselines: Record<string, {
    readonly commitsPerSecond: number
    readonly batched?: { readonly batch: number; readonly rowsPerSecond: number; readonly cpuPerRowMicros: number }
  }>
  readonly scenarios: ReadonlyArray<{
    readonly id: number
    readonly store: string
    readonly load: { readonly before: Load; readonly after: Load; readonly busyCores?: number; readonly otherCores?: number }
    readonly figures: ReadonlyArray<{
      readonly figure: string
      readonly kind: string
      readonly value: number
      readonly ratio: number | null
      readonly baseline?: { readonly name: string; readonly value: number }
      readonly cpu?: { readonly flows: number; readonly perFlowMicros: number }
    }>
  }>
}

const bench = (args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", "bench/run.ts", ...args], { cwd: root, encoding: "utf8", timeout: 170_000 })

const isLoad = (load: Load | undefined): boolean =>
  load !== undefined && [load.load1, load.load5, load.load15].every((x) => Number.isFinite(x) && x >= 0)

describe("bench/statements.ts", () => {
  it("counts statements apart from transaction control, and transactions, on SQLite and PostgreSQL", () => {
    sqlStatements.install()
    const db = new Database(":memory:")
    try {
      db.exec("CREATE TABLE t (x)")
      const s0 = sqlStatements.snapshot()
      const insert = db.prepare("INSERT INTO t VALUES (?)")
      insert.run(1) // a transaction of its own
      db.prepare("BEGIN IMMEDIATE").run()
      insert.run(2)
      insert.run(3)
      db.prepare("COMMIT").run()
      db.exec("BEGIN; INSERT INTO t VALUES (4); INSERT INTO t VALUES (5); COMMIT")
      db.prepare("SELECT * FROM t").all() // a transaction of its own
      assert.deepStrictEqual(sqlStatements.since(s0), { statements: 6, control: 4, transactions: 4, begins: 2, loneWrites: 1, loneReads: 1 })
    } finally {
      db.close()
    }
    // node-postgres: counted when sent (this client never connects; its queries just wait)
    const client = new pg.Client({ connectionString: "postgres://nobody@127.0.0.1:1/none" })
    const s1 = sqlStatements.snapshot()
    for (const text of ["BEGIN", "INSERT INTO t VALUES (1)", "COMMIT", "SELECT 1"]) client.query(text).catch(() => undefined)
    client.query({ text: "SELECT $1::int", values: [1] }).catch(() => undefined)
    assert.deepStrictEqual(sqlStatements.since(s1), { statements: 3, control: 2, transactions: 3, begins: 1, loneWrites: 0, loneReads: 2 })
  })
})

describe("bench/run.ts --quick", () => {
  it("npm run bench exposes gc", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { readonly scripts: Record<string, string> }
    assert.match(pkg.scripts["bench"] ?? "", /^node --expose-gc --import tsx bench\/run\.ts$/)
  })

  it("runs scenarios 1, 2, 4 and 6 on memory and SQLite and writes their figures, loads, CPU and limits", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-bench-smoke-"))
    try {
      const run = bench(["--quick", "--no-peers", "--only", "1,2,4,6", "--store", "memory,sqlite-normal", "--results", out])
      assert.strictEqual(run.status, 0, `exit ${run.status}: ${run.stderr}\n${run.stdout.slice(-2000)}`)
      assert.notInclude(run.stdout, "FAILED")
      // the header: the load and whether gc is exposed
      assert.include(run.stdout, "load average (1, 5, 15 min) at the start")
      assert.include(run.stdout, "gc exposed (--expose-gc)")
      assert.notInclude(run.stdout, "WARNING: gc is not exposed")
      // the tables: CPU beside the rates, the load and the physical limits above each
      assert.include(run.stdout, "| CPU per flow")
      assert.include(run.stdout, "_load average ")
      assert.match(run.stdout, /physical limits: single-row commits [\d,]+\/s .*; batched durable writes \(64 rows a commit\) [\d,]+ rows\/s/)

      const results = JSON.parse(fs.readFileSync(path.join(out, "latest.json"), "utf8")) as Results
      assert.isTrue(results.quick)
      assert.isTrue(results.gcExposed)
      assert.isTrue(isLoad(results.load.start) && isLoad(results.load.end))
      assert.isAbove(results.warmup.concurrent, 0)
      assert.deepStrictEqual(
        results.scenarios.map((s) => `${s.id}/${s.store}`).sort(),
        ["1/memory", "1/sqlite-normal", "2/memory", "2/sqlite-normal", "4/memory", "4/sqlite-normal", "6/memory", "6/sqlite-normal"]
      )
      for (const scenario of results.scenarios) {
        const where = `${scenario.id}/${scenario.store}`
        assert.isTrue(isLoad(scenario.load.before) && isLoad(scenario.load.after), `${where}: load ${JSON.stringify(scenario.load)}`)
        assert.isAbove(scenario.figures.length, 0)
        for (const figure of scenario.figures) {
          assert.isTrue(Number.isFinite(figure.value), `${where}: ${JSON.stringify(figure)}`)
          // every throughput figure carries the CPU it cost per flow
          if (figure.kind === "rate") {
            assert.isTrue(figure.cpu !== undefined && Number.isFinite(figure.cpu.perFlowMicros) && figure.cpu.perFlowMicros > 0, `${where}: ${JSON.stringify(figure)}`)
          }
        }
      }
      // the batched limit beside the SQL store, and scenario 2's share of it and its statements per flow
      const batched = results.baselines["2/sqlite-normal"]?.batched
      assert.isTrue(batched !== undefined && batched.batch === 64 && batched.rowsPerSecond > 0 && batched.cpuPerRowMicros > 0)
      assert.isUndefined(results.baselines["2/memory"]?.batched)
      const s2 = results.scenarios.find((s) => s.id === 2 && s.store === "sqlite-normal")!
      const figure = (name: string) => s2.figures.find((f) => f.figure.startsWith(name))
      assert.strictEqual(figure("steps/s vs batched raw writes")?.baseline?.value, batched!.rowsPerSecond)
      const share = figure("steps/s ÷ batched raw rows/s")
      assert.isTrue(share !== undefined && share.kind === "share" && share.value > 0)
      assert.closeTo(share!.value, figure("steps/s")!.value / batched!.rowsPerSecond, 1e-9)
      assert.isAbove(figure("SQL statements per flow")?.value ?? 0, 0)
      assert.isAbove(figure("store calls per flow")?.value ?? 0, 0)
      assert.isUndefined(results.scenarios.find((s) => s.id === 2 && s.store === "memory")!.figures.find((f) => f.figure.startsWith("SQL statements")))

      // --compare withholds the changes of scenarios that ran under a very different load
      const earlier = path.join(out, "earlier.json")
      const loaded = (load: Load): Load => ({ ...load, load1: load.load1 + 50 })
      fs.writeFileSync(earlier, JSON.stringify({
        ...results,
        scenarios: results.scenarios.map((s) => ({ ...s, load: { ...s.load, before: loaded(s.load.before), after: loaded(s.load.after) } }))
      }))
      const compared = bench(["--quick", "--no-peers", "--only", "6", "--store", "memory", "--results", out, "--compare", earlier])
      assert.strictEqual(compared.status, 0, `exit ${compared.status}: ${compared.stderr}\n${compared.stdout.slice(-2000)}`)
      const comparison = compared.stdout.slice(compared.stdout.indexOf("## compared with"))
      assert.match(comparison, /not compared: load \d+\.\d\d → \d+\.\d\d/)
      assert.notMatch(comparison, /% (better|worse)/)
      assert.include(comparison, "changes withheld")
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  }, 340_000)
})
