/**
 * The Ergon benchmark harness: `npm run bench` (or `npx tsx bench/run.ts`).
 *
 *   --quick                 a short smoke run (smaller N everywhere)
 *   --only 1,2,5            run only these scenarios
 *   --store memory,sqlite-full,sqlite-normal,pg
 *   --park <n>              how many flows scenario 7 parks (default 10,000; quick 5,000)
 *   --compare <file.json>   print the change of every figure against an earlier results file
 *   --no-group-commit       open the SQL stores with group commit off (each write commits alone)
 *   --no-peers              skip the peers (@effect/workflow, DBOS; installed in bench/peers on first use)
 *   --results <dir>         write the results JSON there instead of bench/results/
 *
 * Every figure is printed beside a baseline measured on the same store in the same run (machines
 * are noisy), with the ratio "Ergon cost ÷ baseline cost" (for rates: baseline rate ÷ Ergon rate).
 * Results go to bench/results/<timestamp>.json and bench/results/latest.json.
 * For steadier memory figures run with `node --expose-gc --import tsx bench/run.ts`.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ensurePeers, type PeerProgram, type PeerResult, runPeer } from "./peers.js"
import { freshDatabase } from "./pg.js"
import { type Context, type Figure, machine, type ScenarioResult, scenarios } from "./scenarios.js"
import { fmtBytes, fmtMillis, fmtNumber, table } from "./stats.js"
import { type RawCommits, removeDb, settings, type StoreName, stores } from "./stores.js"

/**
 * Peers: the workload of scenarios 1 and 2 written against @effect/workflow and DBOS Transact
 * (bench/peers, installed by its own package.json on first use), run beside the store they
 * compare with: @effect/workflow's memory engine beside the memory store, its durable engine
 * (@effect/cluster, one runner on SQLite) beside SQLite FULL, DBOS beside PostgreSQL (on the same
 * server). Each adds a figure whose baseline is the peer's: ratio < 1 means Ergon is faster.
 */
const peerFor = (store: StoreName): { readonly label: string; readonly args: (dir: string, name: string) => Promise<[PeerProgram, Array<string>]> } | undefined => {
  switch (store) {
    case "memory":
      return { label: "@effect/workflow (memory engine)", args: async () => ["effect-workflow", ["--engine", "memory"]] }
    case "sqlite-full":
      return {
        label: "@effect/workflow (@effect/cluster, SQLite)",
        args: async (dir, name) => ["effect-workflow", ["--engine", "sqlite", "--file", path.join(dir, `peer-${name}.db`)]]
      }
    case "pg":
      return { label: "DBOS Transact (same PostgreSQL)", args: async (_dir, name) => ["dbos", ["--url", await freshDatabase(`peer_${name}`)]] }
    default:
      return undefined
  }
}

/** Runs the peer of `store` on scenario `id` and returns the figures comparing Ergon's with it. */
const peerFigures = async (
  id: number,
  store: StoreName,
  n: number,
  dir: string,
  ergon: ReadonlyArray<Figure>
): Promise<{ figures: Array<Figure>; notes: Array<string> }> => {
  const peer = peerFor(store)
  if (peer === undefined || (id !== 1 && id !== 2)) return { figures: [], notes: [] }
  const installed = await ensurePeers()
  if (!installed.ok) return { figures: [], notes: [`${peer.label}: not measured (${installed.reason.split("\n")[0]})`] }
  const [program, args] = await peer.args(dir, `s${id}-${store}`)
  let result: PeerResult
  try {
    result = await runPeer(program, [...args, "--scenario", String(id), "--n", String(n), "--concurrency", "64"])
  } catch (error) {
    return { figures: [], notes: [`${peer.label}: FAILED (${String(error instanceof Error ? error.message : error).split("\n")[0]})`] }
  }
  const figures: Array<Figure> = []
  const find = (name: string) => ergon.find((figure) => figure.figure === name)
  // Scenario 2: the peers' clocks include starting the flows, so Ergon's figure does too.
  const steps = find(id === 2 ? "steps/s including scheduling" : "steps/s")
  if (steps !== undefined) {
    figures.push({ figure: `steps/s vs ${peer.label}`, kind: "rate", value: steps.value, baseline: { name: `${program} steps/s`, value: result.stepsPerSecond } })
  }
  const flowP50 = find("whole flow p50")
  if (flowP50 !== undefined && result.flowP50Ms !== undefined) {
    figures.push({ figure: `whole flow p50 vs ${peer.label}`, kind: "latency", value: flowP50.value, baseline: { name: `${program} flow p50`, value: result.flowP50Ms } })
  }
  const speedup = steps === undefined ? "" : `; Ergon ${(steps.value / result.stepsPerSecond).toFixed(1)}× its steps/s`
  return {
    figures,
    notes: [`${peer.label}: ${Math.round(result.stepsPerSecond).toLocaleString("en-US")} steps/s over ${result.n} flows${speedup}${result.notes.length > 0 ? ` (${result.notes.join("; ")})` : ""}`]
  }
}

interface Args {
  readonly quick: boolean
  readonly only: ReadonlyArray<number> | undefined
  readonly stores: ReadonlyArray<StoreName>
  readonly compare: string | undefined
  readonly park: number | undefined
  readonly noPeers: boolean
  readonly results: string | undefined
}

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const value = (flag: string) => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const only = value("--only")
  const storeList = value("--store")
  const names = stores.map((s) => s.name)
  const chosen = storeList === undefined ? names : storeList.split(",").map((s) => s.trim()) as Array<StoreName>
  for (const name of chosen) {
    if (!names.includes(name)) throw new Error(`unknown store '${name}' (known: ${names.join(", ")})`)
  }
  return {
    quick: argv.includes("--quick"),
    only: only === undefined ? undefined : only.split(",").map((s) => Number(s.trim())),
    stores: chosen,
    compare: value("--compare"),
    park: value("--park") === undefined ? undefined : Number(value("--park")),
    noPeers: argv.includes("--no-peers"),
    results: value("--results")
  }
}

interface StoredFigure extends Figure {
  readonly ratio: number | null
}

interface Results {
  readonly startedAt: string
  readonly quick: boolean
  readonly machine: ReturnType<typeof machine>
  readonly baselines: Record<string, RawCommits>
  readonly scenarios: Array<{
    readonly id: number
    readonly title: string
    readonly store: StoreName
    readonly elapsedMs: number
    readonly notes: ReadonlyArray<string>
    readonly figures: ReadonlyArray<StoredFigure>
  }>
}

/** Ergon cost ÷ baseline cost: > 1 means slower (or bigger) than the baseline. */
const ratioOf = (figure: Figure): number | null => {
  if (figure.baseline === undefined || !Number.isFinite(figure.baseline.value) || figure.baseline.value === 0) return null
  return figure.kind === "rate" ? figure.baseline.value / figure.value : figure.value / figure.baseline.value
}

const fmtValue = (kind: Figure["kind"], value: number): string =>
  kind === "latency" ? fmtMillis(value) : kind === "bytes" ? fmtBytes(value) : fmtNumber(value)

const fmtRatio = (ratio: number | null): string => (ratio === null ? "—" : `${ratio >= 100 ? Math.round(ratio).toLocaleString("en-US") : ratio.toPrecision(3)}×`)

const main = async () => {
  const args = parseArgs(process.argv.slice(2))
  settings.groupCommit = !process.argv.includes("--no-group-commit")
  const here = path.dirname(fileURLToPath(import.meta.url))
  const resultsDir = args.results ?? path.join(here, "results")
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-bench-"))
  const selected = scenarios.filter((s) => args.only === undefined || args.only.includes(s.id))
  const results: Results = {
    startedAt: new Date().toISOString(),
    quick: args.quick,
    machine: machine(),
    baselines: {},
    scenarios: []
  }
  console.log(`ergon bench ${args.quick ? "(quick) " : ""}— ${results.machine.cpus} × ${results.machine.cpuModel}, node ${results.machine.node}, files in ${dir}`)
  const started = performance.now()
  try {
    for (const scenario of selected) {
      console.log(`\n## ${scenario.id}. ${scenario.title}\n`)
      for (const store of stores.filter((s) => args.stores.includes(s.name))) {
        // the baseline, on this store, just before the scenario
        const rawFile = path.join(dir, `${store.name}-raw.db`)
        const commits = store.name === "sqlite-full" || store.name === "pg" ? (args.quick ? 300 : 1000) : args.quick ? 2000 : 10_000
        let raw: RawCommits
        try {
          raw = await store.rawCommit(rawFile, commits)
        } catch (error) {
          console.log(`### ${store.name}: the baseline FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
          continue
        }
        removeDb(rawFile)
        results.baselines[`${scenario.id}/${store.name}`] = raw
        const ctx: Context = {
          store,
          quick: args.quick,
          dir,
          parkOverride: args.park,
          raw: {
            commitMs: raw,
            commitsPerSecond: raw.commitsPerSecond,
            concurrent: raw.concurrent ?? { connections: 1, commitsPerSecond: raw.commitsPerSecond }
          }
        }
        let result: ScenarioResult
        try {
          result = await scenario.run(ctx)
        } catch (error) {
          console.log(`### ${store.name}: FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
          continue
        }
        if (!args.noPeers) {
          const n = args.quick ? 200 : 2000
          const peer = await peerFigures(scenario.id, store.name, n, dir, result.figures)
          result = { ...result, figures: [...result.figures, ...peer.figures], notes: [...result.notes, ...peer.notes] }
        }
        const figures = result.figures.map((f): StoredFigure => ({ ...f, ratio: ratioOf(f) }))
        results.scenarios.push({ id: scenario.id, title: scenario.title, store: store.name, elapsedMs: result.elapsedMs, notes: result.notes, figures })
        console.log(`### ${store.name} (${store.settings}; ${(result.elapsedMs / 1000).toFixed(1)} s)\n`)
        console.log(table(
          ["figure", "ergon", "baseline", "baseline value", "ratio (cost ÷ baseline cost)"],
          figures.map((f) => [
            f.figure + (f.detail === undefined ? "" : ` (${f.detail})`),
            fmtValue(f.kind, f.value),
            f.baseline?.name ?? "—",
            f.baseline === undefined ? "—" : fmtValue(f.kind, f.baseline.value),
            fmtRatio(f.ratio)
          ])
        ))
        for (const note of result.notes) console.log(`\n_${note}_`)
        console.log("")
      }
    }
  } finally {
    for (const store of stores) await store.close?.().catch(() => undefined)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`)

  fs.mkdirSync(resultsDir, { recursive: true })
  const stamp = results.startedAt.replace(/[:.]/g, "-")
  const json = JSON.stringify(results, null, 2)
  const previousLatest = path.join(resultsDir, "latest.json")
  fs.writeFileSync(path.join(resultsDir, `${stamp}${args.quick ? "-quick" : ""}.json`), json)
  fs.writeFileSync(previousLatest, json)
  console.log(`results: ${path.relative(process.cwd(), path.join(resultsDir, `${stamp}${args.quick ? "-quick" : ""}.json`))} (and latest.json)`)

  if (args.compare !== undefined) compare(JSON.parse(fs.readFileSync(args.compare, "utf8")) as Results, results)
}

/** Prints, for every figure in both runs, the old value, the new one and the change. */
const compare = (before: Results, after: Results) => {
  console.log(`\n## compared with ${before.startedAt}${before.quick ? " (quick)" : ""}\n`)
  const rows: Array<Array<string>> = []
  for (const scenario of after.scenarios) {
    const old = before.scenarios.find((s) => s.id === scenario.id && s.store === scenario.store)
    if (old === undefined) continue
    for (const figure of scenario.figures) {
      const prior = old.figures.find((f) => f.figure === figure.figure)
      if (prior === undefined) continue
      const change = (figure.value - prior.value) / prior.value
      const better = figure.kind === "rate" ? change > 0 : change < 0
      rows.push([
        `${scenario.id}`,
        scenario.store,
        figure.figure,
        fmtValue(figure.kind, prior.value),
        fmtValue(figure.kind, figure.value),
        `${change >= 0 ? "+" : ""}${(change * 100).toFixed(1)}%${Math.abs(change) < 0.05 ? "" : better ? " better" : " worse"}`,
        prior.ratio === null || figure.ratio === null ? "—" : `${fmtRatio(prior.ratio)} → ${fmtRatio(figure.ratio)}`
      ])
    }
  }
  console.log(table(["#", "store", "figure", "before", "after", "change", "ratio"], rows))
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
