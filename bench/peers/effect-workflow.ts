/**
 * The benchmark workload on `@effect/workflow`:
 *
 *   node --import tsx bench/peers/effect-workflow.ts --engine memory|sqlite --scenario 1|2 --n <N>
 *     [--file <sqlite path>] [--concurrency 64] [--synchronous FULL|NORMAL]
 *
 * - `--engine memory`: `WorkflowEngine.layerMemory` (nothing durable; the library's own in-memory
 *   engine).
 * - `--engine sqlite`: the durable engine, `ClusterWorkflowEngine.layer` over `SingleRunner.layer`
 *   (the SQL message storage and the SQL runner storage of `@effect/cluster`) on
 *   `@effect/sql-sqlite-node` (WAL). `synchronous` is set to FULL (like Ergon's sqlite-full
 *   store) unless `--synchronous NORMAL`. The file is created fresh (an existing one is deleted).
 *
 * Scenario 1: one workflow of 3 activities (each returns its input + 1) executed and awaited N times
 * in a row. Scenario 2: N executions started at once through `Effect.forEach` bounded to
 * `--concurrency` in flight, each awaited; the clock runs from the first start to the last result.
 * Prints one JSON line (see common.ts).
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Activity from "@effect/workflow/Activity"
import * as Workflow from "@effect/workflow/Workflow"
import * as WorkflowEngine from "@effect/workflow/WorkflowEngine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { startMeter } from "../meter.js"
import {
  cpuFields,
  intFlag,
  parseFlags,
  type PeerResult,
  runMain,
  scenarioFlag,
  sequentialSamples,
  stamps,
  stepLatencyNote,
  warmupFlag
} from "./common.js"

const ThreeSteps = Workflow.make({
  name: "ThreeSteps",
  payload: { id: Schema.String, x: Schema.Number },
  success: Schema.Number,
  idempotencyKey: ({ id }) => id
})

const step = (name: string, x: number) =>
  Activity.make({
    name,
    success: Schema.Number,
    execute: Effect.sync(() => {
      stamps.stamp()
      return x + 1
    })
  })

const ThreeStepsLive = ThreeSteps.toLayer(({ x }) =>
  Effect.gen(function*() {
    const a = yield* step("a", x)
    const b = yield* step("b", a)
    return yield* step("c", b)
  })
)

const check = (x: number, result: number) =>
  result === x + 3 ? Effect.void : Effect.dieMessage(`flow of input ${x} returned ${result}, not ${x + 3}`)

const sequential = (n: number, warmUp: number, notes: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (let i = 0; i < warmUp; i++) yield* ThreeSteps.execute({ id: `warm-${i}`, x: i })
    const samples = sequentialSamples()
    stamps.enabled = true
    const meter = startMeter()
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      stamps.reset()
      const begin = performance.now()
      const result = yield* ThreeSteps.execute({ id: `flow-${i}`, x: i })
      const end = performance.now()
      samples.add(begin, end)
      yield* check(i, result)
    }
    const elapsedMs = performance.now() - t0
    const measured = meter.stop()
    stamps.enabled = false
    return { ...samples.result(n, elapsedMs, [...notes, stepLatencyNote]), warmup: warmUp, ...cpuFields(measured, n) }
  })

const concurrent = (n: number, concurrency: number, warmUp: number, notes: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const run = (prefix: string, count: number) =>
      Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) => Effect.flatMap(ThreeSteps.execute({ id: `${prefix}-${i}`, x: i }), (result) => check(i, result)),
        { concurrency, discard: true }
      )
    yield* run("warm", warmUp)
    const meter = startMeter()
    const t0 = performance.now()
    yield* run("flow", n)
    const elapsedMs = performance.now() - t0
    const measured = meter.stop()
    return {
      n,
      elapsedMs,
      warmup: warmUp,
      ...cpuFields(measured, n),
      stepsPerSecond: (3 * n) / elapsedMs * 1000,
      flowsPerSecond: n / elapsedMs * 1000,
      notes: [...notes, `${n} executions through Effect.forEach, at most ${concurrency} in flight, each awaited`]
    }
  })

/** A fresh SQLite file: the given one (deleted first, with its WAL) or one in a temporary folder. */
const freshFile = (given: string | undefined): { readonly file: string; readonly cleanup: () => void } => {
  if (given !== undefined) {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) fs.rmSync(given + suffix, { force: true })
    return { file: given, cleanup: () => undefined }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-peer-effect-workflow-"))
  return { file: path.join(dir, "cluster.db"), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

const main = async (): Promise<PeerResult> => {
  const flags = parseFlags(process.argv.slice(2), ["engine", "scenario", "n", "file", "concurrency", "synchronous", "warmup"])
  const engine = flags.get("engine")
  if (engine !== "memory" && engine !== "sqlite") throw new Error(`--engine must be memory or sqlite, not '${String(engine)}'`)
  const scenario = scenarioFlag(flags)
  const n = intFlag(flags, "n")
  const concurrency = intFlag(flags, "concurrency", 64)
  const warmUp = warmupFlag(flags)
  const synchronous = flags.get("synchronous") ?? "FULL"
  if (synchronous !== "FULL" && synchronous !== "NORMAL") throw new Error(`--synchronous must be FULL or NORMAL`)
  const workload = (notes: ReadonlyArray<string>) =>
    scenario === 1 ? sequential(n, warmUp, notes) : concurrent(n, concurrency, warmUp, notes)
  const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

  if (engine === "memory") {
    const figures = await Effect.runPromise(
      workload(["WorkflowEngine.layerMemory: nothing is persisted"]).pipe(
        Effect.provide(ThreeStepsLive.pipe(Layer.provideMerge(WorkflowEngine.layerMemory))),
        quiet
      )
    )
    return { peer: "effect-workflow-memory", scenario, ...figures }
  }

  const { cleanup, file } = freshFile(flags.get("file"))
  try {
    // One connection (better-sqlite3): the pragma holds for every statement the cluster runs.
    const Sql = Layer.effectDiscard(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`PRAGMA synchronous = ${synchronous}`)
      })
    ).pipe(Layer.provideMerge(SqliteClient.layer({ filename: file })))
    const settings = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [journal] = yield* sql.unsafe<{ journal_mode: string }>("PRAGMA journal_mode")
      const [sync] = yield* sql.unsafe<{ synchronous: number }>("PRAGMA synchronous")
      const levels = ["OFF", "NORMAL", "FULL", "EXTRA"]
      return `SQLite journal_mode=${journal?.journal_mode ?? "?"}, synchronous=${levels[sync?.synchronous ?? -1] ?? "?"}`
    })
    const Live = ThreeStepsLive.pipe(
      Layer.provideMerge(ClusterWorkflowEngine.layer),
      Layer.provideMerge(SingleRunner.layer()),
      Layer.provideMerge(Sql)
    )
    const figures = await Effect.runPromise(
      Effect.gen(function*() {
        const pragmas = yield* settings
        return yield* workload([
          "ClusterWorkflowEngine over SingleRunner.layer() (SQL message and runner storage, default ShardingConfig)",
          pragmas
        ])
      }).pipe(Effect.provide(Live), quiet)
    )
    return { peer: "effect-workflow-sqlite", scenario, ...figures }
  } finally {
    cleanup()
  }
}

runMain("effect-workflow", main)
