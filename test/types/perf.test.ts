/**
 * The compile-time budget of a 100-node DAG (STYLE.md, "Compile-time hygiene").
 *
 * Runs `tsc --extendedDiagnostics` on `test/types/perf/tsconfig.json` (the generated `dag100.ts`)
 * and on `tsconfig.reference.json` (the same imports with a one-node DAG), and fails when the
 * instantiations grow by more than 20% over `baseline.json`: the whole program's, and the DAG's
 * own share (the difference between the two, which changes elsewhere in `src/` or in Effect do
 * not move).
 *
 * After an intended change, refresh the baseline with
 * `UPDATE_PERF_BASELINE=1 npx vitest run test/types/perf.test.ts` and commit `baseline.json`.
 * After changing the generator, run `npx tsx test/types/perf/generate.ts` first.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { generate, NODES } from "./perf/generate.js"

const root = path.resolve(import.meta.dirname, "../..")
const perf = path.join(root, "test/types/perf")
const baselineFile = path.join(perf, "baseline.json")
const tsc = path.join(root, "node_modules/typescript/bin/tsc")
const BUDGET = 1.2

interface Baseline {
  readonly typescript: string
  readonly nodes: number
  /** Instantiations of the whole program with the 100-node DAG. */
  readonly instantiations: number
  /** Instantiations of the same program with a one-node DAG. */
  readonly reference: number
  /** `instantiations - reference`: the DAG's own share. */
  readonly dag: number
}

const instantiations = async (project: string): Promise<number> => {
  const { stdout } = await promisify(execFile)(process.execPath, [tsc, "--extendedDiagnostics", "-p", project], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024
  })
  const match = /^Instantiations:\s+(\d+)$/m.exec(stdout)
  if (match === null) throw new Error(`no instantiation count in the output of tsc -p ${project}:\n${stdout}`)
  return Number(match[1])
}

describe("compile-time budget", () => {
  it("dag100.ts is what the generator writes", () => {
    assert.strictEqual(fs.readFileSync(path.join(perf, "dag100.ts"), "utf8"), generate())
  })

  it(`a ${NODES}-node DAG stays within 20% of the baseline instantiations`, async () => {
    const [total, reference] = await Promise.all([
      instantiations(path.join(perf, "tsconfig.json")),
      instantiations(path.join(perf, "tsconfig.reference.json"))
    ])
    const measured: Baseline = {
      typescript: JSON.parse(fs.readFileSync(path.join(root, "node_modules/typescript/package.json"), "utf8")).version,
      nodes: NODES,
      instantiations: total,
      reference,
      dag: total - reference
    }
    if (process.env.UPDATE_PERF_BASELINE === "1") {
      fs.writeFileSync(baselineFile, JSON.stringify(measured, null, 2) + "\n")
      return
    }
    const baseline: Baseline = JSON.parse(fs.readFileSync(baselineFile, "utf8"))
    const report = `measured ${JSON.stringify(measured)}, baseline ${JSON.stringify(baseline)}`
    assert.isAtMost(measured.dag, baseline.dag * BUDGET, `the DAG's instantiations grew by more than 20%: ${report}`)
    assert.isAtMost(
      measured.instantiations,
      baseline.instantiations * BUDGET,
      `the program's instantiations grew by more than 20%: ${report}`
    )
  }, 120_000)
})
