/**
 * The benchmark harness still runs: a `--quick` run of the scenarios on the memory store and on
 * SQLite (no peers), its JSON written to a temporary folder. Timings are not asserted (they are
 * measured by `npm run bench`, never in a test); the run must finish, and every figure must be a
 * number beside its baseline.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

describe("bench/run.ts --quick", () => {
  it("runs scenarios 1, 2, 4 and 6 on memory and SQLite and writes their figures", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-bench-smoke-"))
    try {
      const run = spawnSync(
        process.execPath,
        ["--import", "tsx", "bench/run.ts", "--quick", "--no-peers", "--only", "1,2,4,6", "--store", "memory,sqlite-normal", "--results", out],
        { cwd: root, encoding: "utf8", timeout: 170_000 }
      )
      assert.strictEqual(run.status, 0, `exit ${run.status}: ${run.stderr}\n${run.stdout.slice(-2000)}`)
      assert.notInclude(run.stdout, "FAILED")
      const results = JSON.parse(fs.readFileSync(path.join(out, "latest.json"), "utf8")) as {
        readonly quick: boolean
        readonly scenarios: ReadonlyArray<{ readonly id: number; readonly store: string; readonly figures: ReadonlyArray<{ readonly value: number; readonly ratio: number | null }> }>
      }
      assert.isTrue(results.quick)
      assert.deepStrictEqual(
        results.scenarios.map((s) => `${s.id}/${s.store}`).sort(),
        ["1/memory", "1/sqlite-normal", "2/memory", "2/sqlite-normal", "4/memory", "4/sqlite-normal", "6/memory", "6/sqlite-normal"]
      )
      for (const scenario of results.scenarios) {
        assert.isAbove(scenario.figures.length, 0)
        for (const figure of scenario.figures) assert.isTrue(Number.isFinite(figure.value), `${scenario.id}/${scenario.store}: ${JSON.stringify(figure)}`)
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  }, 180_000)
})
