/**
 * The compile-time budgets of a 100-node DAG and of a 20-flow worker (STYLE.md, "Compile-time
 * hygiene").
 *
 * Each case runs `tsc --extendedDiagnostics` on a generated program and on its reference (the same
 * imports and calls with a one-node DAG, or a one-flow worker), and fails when the instantiations
 * grow by more than 20% over `baseline.json`: the whole program's, and the case's own share (the
 * difference between the two, which changes elsewhere in `src/` or in Effect do not move).
 *
 * - DAG: `tsconfig.json` (`dag100.ts`) and `tsconfig.reference.json` (`reference.ts`); the
 *   top-level fields of `baseline.json`.
 * - Worker: `tsconfig.worker20.json` (`worker20.ts`: 20 flows with their own services and step
 *   chains, registered on one versioned worker, run with Layers providing every service) and
 *   `tsconfig.worker1.json` (`worker1.ts`); the `worker20` entry of `baseline.json`. The program
 *   declares its `R` as `never`, so it compiles only if every service is provided.
 * - App: `tsconfig.app.json` (`app.ts`: a realistic app of 50 flows and 200 steps, 5 of the flows
 *   running a DAG of 20 nodes, 10 invoking a child, on 10 shared services, all registered on one
 *   worker and scheduled by one scheduler), with `worker1.ts` as its reference; the `app` entry of
 *   `baseline.json`.
 *
 * After an intended change, refresh one entry with
 * `UPDATE_PERF_BASELINE=1 npx vitest run test/types/perf.test.ts -t "<case name>"` (each case
 * rewrites only its own entry) and commit `baseline.json`. After changing the generator, run
 * `npx tsx test/types/perf/generate.ts` first.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { APP_FLOWS, FLOWS, generate, generateApp, generateWorker, NODES } from "./perf/generate.js"

const root = path.resolve(import.meta.dirname, "../..")
const perf = path.join(root, "test/types/perf")
const baselineFile = path.join(perf, "baseline.json")
const tsc = path.join(root, "node_modules/typescript/bin/tsc")
const BUDGET = 1.2

interface WorkerBaseline {
  readonly typescript: string
  readonly flows: number
  /** Instantiations of the whole program with the 20-flow worker. */
  readonly instantiations: number
  /** Instantiations of the same program with a one-flow worker. */
  readonly reference: number
  /** `instantiations - reference`: the worker's own share. */
  readonly worker: number
}

interface AppBaseline {
  readonly typescript: string
  readonly flows: number
  /** Instantiations of the whole app. */
  readonly instantiations: number
  /** Instantiations of the one-flow worker program. */
  readonly reference: number
  /** `instantiations - reference`: the app's own share. */
  readonly app: number
}

interface Baseline {
  readonly typescript: string
  readonly nodes: number
  /** Instantiations of the whole program with the 100-node DAG. */
  readonly instantiations: number
  /** Instantiations of the same program with a one-node DAG. */
  readonly reference: number
  /** `instantiations - reference`: the DAG's own share. */
  readonly dag: number
  readonly worker20?: WorkerBaseline | undefined
  readonly app?: AppBaseline | undefined
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

const typescriptVersion = (): string =>
  JSON.parse(fs.readFileSync(path.join(root, "node_modules/typescript/package.json"), "utf8")).version

const readBaseline = (): Baseline => JSON.parse(fs.readFileSync(baselineFile, "utf8"))

/** Rewrites `baseline.json` with `patch` applied, keeping the other entries as they are. */
const updateBaseline = (patch: Partial<Baseline>): void => {
  fs.writeFileSync(baselineFile, JSON.stringify({ ...readBaseline(), ...patch }, null, 2) + "\n")
}

const updating = process.env.UPDATE_PERF_BASELINE === "1"

describe("compile-time budget", () => {
  it("dag100.ts is what the generator writes", () => {
    assert.strictEqual(fs.readFileSync(path.join(perf, "dag100.ts"), "utf8"), generate())
  })

  it("worker20.ts, worker1.ts and app.ts are what the generator writes", () => {
    assert.strictEqual(fs.readFileSync(path.join(perf, "worker20.ts"), "utf8"), generateWorker())
    assert.strictEqual(fs.readFileSync(path.join(perf, "worker1.ts"), "utf8"), generateWorker(1))
    assert.strictEqual(fs.readFileSync(path.join(perf, "app.ts"), "utf8"), generateApp())
  })

  it(`a ${NODES}-node DAG stays within 20% of the baseline instantiations`, async () => {
    const [total, reference] = await Promise.all([
      instantiations(path.join(perf, "tsconfig.json")),
      instantiations(path.join(perf, "tsconfig.reference.json"))
    ])
    const measured = {
      typescript: typescriptVersion(),
      nodes: NODES,
      instantiations: total,
      reference,
      dag: total - reference
    }
    if (updating) return updateBaseline(measured)
    const { app: _app, worker20: _worker20, ...baseline } = readBaseline()
    const report = `measured ${JSON.stringify(measured)}, baseline ${JSON.stringify(baseline)}`
    assert.isAtMost(measured.dag, baseline.dag * BUDGET, `the DAG's instantiations grew by more than 20%: ${report}`)
    assert.isAtMost(
      measured.instantiations,
      baseline.instantiations * BUDGET,
      `the program's instantiations grew by more than 20%: ${report}`
    )
  }, 120_000)

  it(`a ${FLOWS}-flow worker stays within 20% of the baseline instantiations`, async () => {
    const [total, reference] = await Promise.all([
      instantiations(path.join(perf, "tsconfig.worker20.json")),
      instantiations(path.join(perf, "tsconfig.worker1.json"))
    ])
    const measured: WorkerBaseline = {
      typescript: typescriptVersion(),
      flows: FLOWS,
      instantiations: total,
      reference,
      worker: total - reference
    }
    if (updating) return updateBaseline({ worker20: measured })
    const baseline = readBaseline().worker20
    assert.isDefined(baseline, "baseline.json has no worker20 entry: run this case with UPDATE_PERF_BASELINE=1")
    const report = `measured ${JSON.stringify(measured)}, baseline ${JSON.stringify(baseline)}`
    assert.isAtMost(
      measured.worker,
      baseline!.worker * BUDGET,
      `the worker's instantiations grew by more than 20%: ${report}`
    )
    assert.isAtMost(
      measured.instantiations,
      baseline!.instantiations * BUDGET,
      `the program's instantiations grew by more than 20%: ${report}`
    )
  }, 120_000)

  it(`a realistic ${APP_FLOWS}-flow app stays within 20% of the baseline instantiations`, async () => {
    const [total, reference] = await Promise.all([
      instantiations(path.join(perf, "tsconfig.app.json")),
      instantiations(path.join(perf, "tsconfig.worker1.json"))
    ])
    const measured: AppBaseline = {
      typescript: typescriptVersion(),
      flows: APP_FLOWS,
      instantiations: total,
      reference,
      app: total - reference
    }
    if (updating) return updateBaseline({ app: measured })
    const baseline = readBaseline().app
    assert.isDefined(baseline, "baseline.json has no app entry: run this case with UPDATE_PERF_BASELINE=1")
    const report = `measured ${JSON.stringify(measured)}, baseline ${JSON.stringify(baseline)}`
    assert.isAtMost(measured.app, baseline!.app * BUDGET, `the app's instantiations grew by more than 20%: ${report}`)
    assert.isAtMost(
      measured.instantiations,
      baseline!.instantiations * BUDGET,
      `the program's instantiations grew by more than 20%: ${report}`
    )
  }, 120_000)
})
