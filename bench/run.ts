/**
 * The Ergon benchmark harness: `npm run bench` (`node --expose-gc --import tsx bench/run.ts`).
 *
 *   --quick                 a short smoke run (smaller N everywhere)
 *   --only 1,2,5            run only these scenarios
 *   --store memory,sqlite-full,sqlite-normal,pg
 *   --park <n>              how many flows scenario 7 parks (default 10,000; quick 5,000)
 *   --compare <file.json>   print the change of every figure against an earlier results file; a
 *                           figure whose scenario ran under a load that differs a lot from the
 *                           earlier run's is not compared (its change is withheld, with both loads)
 *   --compare-anyway        with --compare: print those changes too, flagged
 *   --no-group-commit       open the SQL stores with group commit off (each write commits alone)
 *   --no-peers              skip the peers (@effect/workflow, DBOS; installed in bench/peers on first use)
 *   --results <dir>         write the results JSON there instead of bench/results/
 *
 * Every figure is printed beside a baseline measured on the same store in the same run (machines
 * are noisy), with the ratio "Ergon cost ÷ baseline cost" (for rates: baseline rate ÷ Ergon rate),
 * and every rate beside the CPU per flow it cost (this process; on PostgreSQL also the server's).
 * Each scenario's table is headed by the store's physical limits (single-row commits and batched
 * durable writes) and the machine's load average before and after it.
 * Results go to bench/results/<timestamp>.json and bench/results/latest.json.
 * Without `--expose-gc` (npm run bench passes it) scenario 7's memory figures are noise: the
 * harness says so at the start.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { fmtLoad, type Load, loadNow, type Measured, startMeter } from "./meter.js"
import { ensurePeers, type PeerProgram, type PeerResult, runPeer } from "./peers.js"
import { freshDatabase, serverPid } from "./pg.js"
import { type Context, type Figure, type FlowCpu, machine, type ScenarioResult, scenarios } from "./scenarios.js"
import { fmtBytes, fmtMillis, fmtNumber, table } from "./stats.js"
import { type RawBatched, type RawCommits, removeDb, settings, sqlStatements, type StoreName, stores } from "./stores.js"

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
      return {
        label: "DBOS Transact (same PostgreSQL)",
        args: async (_dir, name) => {
          const url = await freshDatabase(`peer_${name}`)
          const pid = await serverPid()
          return ["dbos", ["--url", url, ...(pid === undefined ? [] : ["--server-pid", String(pid)])]]
        }
      }
    default:
      return undefined
  }
}

/**
 * Runs the peer of `store` on scenario `id` and returns the figures comparing Ergon's with it.
 * The peer runs `warmup` untimed flows of the workload in its process first, as Ergon did.
 */
const peerFigures = async (
  id: number,
  store: StoreName,
  n: number,
  warmup: number,
  dir: string,
  ergon: ReadonlyArray<Figure>
): Promise<{ figures: Array<Figure>; notes: Array<string> }> => {
  const peer = peerFor(store)
  if (peer === undefined || (id !== 1 && id !== 2)) return { figures: [], notes: [] }
  const installed = await ensurePeers()
  if (!installed.ok) return { figures: [], notes: [`${peer.label}: not measured (${installed.reason.split("\n")[0]})`] }
  const [program, args] = await peer.args(dir, `s${id}-${store}`)
  let result: PeerResult
  const loadBefore = loadNow()
  try {
    result = await runPeer(program, [...args, "--scenario", String(id), "--n", String(n), "--concurrency", "64", "--warmup", String(warmup)])
  } catch (error) {
    return { figures: [], notes: [`${peer.label}: FAILED (${String(error instanceof Error ? error.message : error).split("\n")[0]})`] }
  }
  const loadAfter = loadNow()
  const figures: Array<Figure> = []
  const find = (name: string) => ergon.find((figure) => figure.figure === name)
  // Scenario 2: the peers' clocks include starting the flows, so Ergon's figure does too.
  const steps = find(id === 2 ? "steps/s including scheduling" : "steps/s")
  if (steps !== undefined) {
    figures.push({ figure: `steps/s vs ${peer.label}`, kind: "rate", value: steps.value, baseline: { name: `${program} steps/s`, value: result.stepsPerSecond } })
  }
  if (steps?.cpu !== undefined && result.cpuPerFlowMicros !== undefined) {
    figures.push({
      figure: `process CPU per flow vs ${peer.label}`,
      kind: "latency",
      value: steps.cpu.perFlowMicros / 1000,
      baseline: { name: `${program} process CPU per flow`, value: result.cpuPerFlowMicros / 1000 }
    })
  }
  if (steps?.cpu?.serverPerFlowMicros !== undefined && result.serverCpuPerFlowMicros !== undefined) {
    figures.push({
      figure: `server CPU per flow vs ${peer.label}`,
      kind: "latency",
      value: steps.cpu.serverPerFlowMicros / 1000,
      baseline: { name: `${program} server CPU per flow`, value: result.serverCpuPerFlowMicros / 1000 }
    })
  }
  const flowP50 = find("whole flow p50")
  if (flowP50 !== undefined && result.flowP50Ms !== undefined) {
    figures.push({ figure: `whole flow p50 vs ${peer.label}`, kind: "latency", value: flowP50.value, baseline: { name: `${program} flow p50`, value: result.flowP50Ms } })
  }
  const speedup = steps === undefined ? "" : `; Ergon ${(steps.value / result.stepsPerSecond).toFixed(1)}× its steps/s`
  return {
    figures,
    notes: [
      `${peer.label}: ${Math.round(result.stepsPerSecond).toLocaleString("en-US")} steps/s over ${result.n} flows${speedup}, after ${result.warmup ?? "?"} untimed warm-up flows in its own process (Ergon: ${warmup} in this one); load average ${loadBefore.load1.toFixed(2)} → ${loadAfter.load1.toFixed(2)} over its run${result.notes.length > 0 ? ` (${result.notes.join("; ")})` : ""}`
    ]
  }
}

interface Args {
  readonly quick: boolean
  readonly only: ReadonlyArray<number> | undefined
  readonly stores: ReadonlyArray<StoreName>
  readonly compare: string | undefined
  readonly compareAnyway: boolean
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
    compareAnyway: argv.includes("--compare-anyway"),
    park: value("--park") === undefined ? undefined : Number(value("--park")),
    noPeers: argv.includes("--no-peers"),
    results: value("--results")
  }
}

interface StoredFigure extends Figure {
  readonly ratio: number | null
}

/** What the machine did while one scenario ran on one store (its baselines and peers included). */
interface ScenarioLoad {
  /** os.loadavg() just before the scenario's baselines, and just after Ergon's run (before the peers'). */
  readonly before: Load
  readonly after: Load
  /** Cores the machine kept busy on average over the baselines and Ergon's run (/proc/stat). */
  readonly busyCores?: number | undefined
  /** Of those, cores taken by processes other than this one and the PostgreSQL server it started. */
  readonly otherCores?: number | undefined
}

/** The baselines of one scenario on one store: single-row commits and batched writes. */
type Baselines = RawCommits & { readonly batched?: RawBatched | undefined }

interface Results {
  readonly startedAt: string
  readonly quick: boolean
  readonly machine: ReturnType<typeof machine>
  /** Whether `global.gc` was there (node --expose-gc): scenario 7's memory figures need it. */
  readonly gcExposed?: boolean
  /** The load average when the run started and when it ended. */
  readonly load?: { readonly start: Load; readonly end: Load }
  /** Untimed warm-up flows before scenarios 1 and 2 (Ergon and each peer alike). */
  readonly warmup?: Context["warmup"]
  readonly baselines: Record<string, Baselines>
  readonly scenarios: Array<{
    readonly id: number
    readonly title: string
    readonly store: StoreName
    readonly elapsedMs: number
    readonly load?: ScenarioLoad
    readonly notes: ReadonlyArray<string>
    readonly figures: ReadonlyArray<StoredFigure>
  }>
}

/** Ergon cost ÷ baseline cost: > 1 means slower (or bigger) than the baseline. */
const ratioOf = (figure: Figure): number | null => {
  if (figure.kind === "share") return null
  if (figure.baseline === undefined || !Number.isFinite(figure.baseline.value) || figure.baseline.value === 0) return null
  return figure.kind === "rate" ? figure.baseline.value / figure.value : figure.value / figure.baseline.value
}

const fmtValue = (kind: Figure["kind"], value: number): string =>
  kind === "latency" ? fmtMillis(value) : kind === "bytes" ? fmtBytes(value) : kind === "share" ? value.toPrecision(3) : fmtNumber(value)

const fmtRatio = (ratio: number | null): string => (ratio === null ? "—" : `${ratio >= 100 ? Math.round(ratio).toLocaleString("en-US") : ratio.toPrecision(3)}×`)

const fmtMicros = (micros: number): string => fmtMillis(micros / 1000)

/** "812 µs" or "812 µs + 640 µs server": the CPU beside a rate. */
const fmtCpu = (cpu: FlowCpu | undefined): string =>
  cpu === undefined ? "" : `${fmtMicros(cpu.perFlowMicros)}${cpu.serverPerFlowMicros === undefined ? "" : ` + ${fmtMicros(cpu.serverPerFlowMicros)} server`}`

const fmtCores = (cores: number | undefined): string => (cores === undefined ? "n/a" : cores.toFixed(2))

/** The store's physical limits, printed above its table. */
const limitsLine = (raw: Baselines): string => {
  const single = `single-row commits ${fmtNumber(raw.commitsPerSecond)}/s (p50 ${fmtMillis(raw.p50)})${
    raw.concurrent === undefined ? "" : `, ${fmtNumber(raw.concurrent.commitsPerSecond)}/s from ${raw.concurrent.connections} connections`
  }`
  const b = raw.batched
  if (b === undefined) return `physical limit: ${single}`
  const server = (micros: number | undefined) => (micros === undefined ? "" : `, ${fmtMicros(micros)} server CPU a row`)
  const batched = `batched durable writes (${b.batch} rows a commit) ${fmtNumber(b.rowsPerSecond)} rows/s on 1 connection (${fmtMicros(b.cpuPerRowMicros)} process CPU a row${server(b.serverCpuPerRowMicros)})${
    b.concurrent === undefined ? "" : `, ${fmtNumber(b.concurrent.rowsPerSecond)} rows/s from ${b.concurrent.connections} connections${server(b.concurrent.serverCpuPerRowMicros)}`
  }`
  return `physical limits: ${single}; ${batched}`
}

/** The warm-up flows of scenarios 1 and 2: run untimed before the timed run, by Ergon and by each peer. */
const warmupOf = (quick: boolean): Context["warmup"] => (quick ? { sequential: 20, concurrent: 64 } : { sequential: 200, concurrent: 256 })

const main = async () => {
  const args = parseArgs(process.argv.slice(2))
  settings.groupCommit = !process.argv.includes("--no-group-commit")
  sqlStatements.install()
  const here = path.dirname(fileURLToPath(import.meta.url))
  const resultsDir = args.results ?? path.join(here, "results")
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-bench-"))
  const selected = scenarios.filter((s) => args.only === undefined || args.only.includes(s.id))
  const gcExposed = typeof (globalThis as { gc?: unknown }).gc === "function"
  const warmup = warmupOf(args.quick)
  const startLoad = loadNow()
  const results: Results & { load: { start: Load; end: Load } } = {
    startedAt: new Date().toISOString(),
    quick: args.quick,
    machine: machine(),
    gcExposed,
    load: { start: startLoad, end: startLoad },
    warmup,
    baselines: {},
    scenarios: []
  }
  console.log(`ergon bench ${args.quick ? "(quick) " : ""}— ${results.machine.cpus} × ${results.machine.cpuModel}, node ${results.machine.node}, files in ${dir}`)
  console.log(`load average (1, 5, 15 min) at the start: ${fmtLoad(startLoad)}`)
  console.log(
    gcExposed
      ? "gc exposed (--expose-gc): scenario 7 reads memory after a full GC"
      : "WARNING: gc is not exposed: scenario 7's memory figures are noise. Run `npm run bench` or `node --expose-gc --import tsx bench/run.ts`."
  )
  console.log(`warm-up: ${warmup.sequential} untimed flows before scenario 1, ${warmup.concurrent} before scenario 2, in this process and in each peer's`)
  const started = performance.now()
  try {
    for (const scenario of selected) {
      console.log(`\n## ${scenario.id}. ${scenario.title}\n`)
      for (const store of stores.filter((s) => args.stores.includes(s.name))) {
        const meter = startMeter(store.name === "pg" ? await serverPid() : undefined)
        // the baselines, on this store, just before the scenario
        const rawFile = path.join(dir, `${store.name}-raw.db`)
        const sql = store.name === "sqlite-full" || store.name === "pg"
        const commits = sql ? (args.quick ? 300 : 1000) : args.quick ? 2000 : 10_000
        let raw: Baselines
        try {
          const single = await store.rawCommit(rawFile, commits)
          removeDb(rawFile)
          const batched = store.rawBatched === undefined
            ? undefined
            : await store.rawBatched(rawFile, args.quick ? 3_200 : store.name === "pg" ? 19_200 : 32_000)
          raw = { ...single, batched }
        } catch (error) {
          console.log(`### ${store.name}: the baseline FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
          continue
        } finally {
          removeDb(rawFile)
        }
        results.baselines[`${scenario.id}/${store.name}`] = raw
        const ctx: Context = {
          store,
          quick: args.quick,
          dir,
          parkOverride: args.park,
          raw: {
            commitMs: raw,
            commitsPerSecond: raw.commitsPerSecond,
            concurrent: raw.concurrent ?? { connections: 1, commitsPerSecond: raw.commitsPerSecond },
            batched: raw.batched
          },
          serverPid: store.name === "pg" ? await serverPid() : undefined,
          warmup
        }
        let result: ScenarioResult
        try {
          result = await scenario.run(ctx)
        } catch (error) {
          console.log(`### ${store.name}: FAILED: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
          continue
        }
        // before the peers: their processes would count as "other processes"
        const measured: Measured = meter.stop()
        if (!args.noPeers) {
          const n = args.quick ? 200 : 2000
          const peer = await peerFigures(scenario.id, store.name, n, scenario.id === 1 ? warmup.sequential : warmup.concurrent, dir, result.figures)
          result = { ...result, figures: [...result.figures, ...peer.figures], notes: [...result.notes, ...peer.notes] }
        }
        const load: ScenarioLoad = { before: measured.loadBefore, after: measured.loadAfter, busyCores: measured.busyCores, otherCores: measured.otherCores }
        const figures = result.figures.map((f): StoredFigure => ({ ...f, ratio: ratioOf(f) }))
        results.scenarios.push({ id: scenario.id, title: scenario.title, store: store.name, elapsedMs: result.elapsedMs, load, notes: result.notes, figures })
        console.log(`### ${store.name} (${store.settings}; ${(result.elapsedMs / 1000).toFixed(1)} s)\n`)
        console.log(`_load average ${fmtLoad(load.before)} before, ${fmtLoad(load.after)} after; cores busy ${fmtCores(load.busyCores)} of ${results.machine.cpus}, other processes ${fmtCores(load.otherCores)}_\n`)
        console.log(`_${limitsLine(raw)}_\n`)
        console.log(table(
          ["figure", "ergon", "CPU per flow", "baseline", "baseline value", "ratio (cost ÷ baseline cost)"],
          figures.map((f) => [
            f.figure + (f.detail === undefined ? "" : ` (${f.detail})`),
            fmtValue(f.kind, f.value),
            fmtCpu(f.cpu),
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
  results.load.end = loadNow()
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s; load average at the end: ${fmtLoad(results.load.end)}`)
  console.log(
    "CPU per flow: this process's CPU (user + system, all threads; process.cpuUsage) over the interval the rate was measured on, ÷ the flows; on PostgreSQL + the server's processes' CPU (from /proc)."
  )

  fs.mkdirSync(resultsDir, { recursive: true })
  const stamp = results.startedAt.replace(/[:.]/g, "-")
  const json = JSON.stringify(results, null, 2)
  const previousLatest = path.join(resultsDir, "latest.json")
  fs.writeFileSync(path.join(resultsDir, `${stamp}${args.quick ? "-quick" : ""}.json`), json)
  fs.writeFileSync(previousLatest, json)
  console.log(`results: ${path.relative(process.cwd(), path.join(resultsDir, `${stamp}${args.quick ? "-quick" : ""}.json`))} (and latest.json)`)

  if (args.compare !== undefined) compare(JSON.parse(fs.readFileSync(args.compare, "utf8")) as Results, results, args.compareAnyway)
}

/**
 * When two runs' loads differ too much to compare their figures: the 1-minute load average
 * (mean of before and after) by more than a quarter of the cores, or the other processes' CPU by
 * more than a quarter of a core. Returns why, with the numbers, or undefined when comparable.
 */
const loadDiffers = (cores: number, before: ScenarioLoad | undefined, after: ScenarioLoad | undefined): string | undefined => {
  if (before === undefined || after === undefined) return undefined
  const mean = (load: ScenarioLoad) => (load.before.load1 + load.after.load1) / 2
  const reasons: Array<string> = []
  const a = mean(before)
  const b = mean(after)
  if (Math.abs(a - b) > 0.25 * cores) reasons.push(`load ${a.toFixed(2)} → ${b.toFixed(2)}`)
  if (before.otherCores !== undefined && after.otherCores !== undefined && Math.abs(before.otherCores - after.otherCores) > 0.25) {
    reasons.push(`other processes ${before.otherCores.toFixed(2)} → ${after.otherCores.toFixed(2)} cores`)
  }
  return reasons.length === 0 ? undefined : reasons.join(", ")
}

const loadSummary = (results: Results): string => {
  const loads = results.scenarios.flatMap((s) => (s.load === undefined ? [] : [s.load.before.load1, s.load.after.load1]))
  const others = results.scenarios.flatMap((s) => (s.load?.otherCores === undefined ? [] : [s.load.otherCores]))
  if (loads.length === 0) return "no load recorded"
  const avg = (xs: ReadonlyArray<number>) => xs.reduce((x, y) => x + y, 0) / xs.length
  return `1-min load ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (mean ${avg(loads).toFixed(2)})${
    others.length === 0 ? "" : `, other processes ${avg(others).toFixed(2)} cores on average`
  }`
}

const fmtChange = (change: number): string => `${change >= 0 ? "+" : ""}${(change * 100).toFixed(1)}%`

/**
 * Prints, for every figure in both runs, the old value, the new one and the change; withholds the
 * change (unless `anyway`) where the scenario ran under loads too different to compare.
 */
const compare = (before: Results, after: Results, anyway: boolean) => {
  const cores = after.machine.cpus
  console.log(`\n## compared with ${before.startedAt}${before.quick ? " (quick)" : ""}\n`)
  console.log(`before: ${loadSummary(before)}`)
  console.log(`after:  ${loadSummary(after)}`)
  console.log(
    `a scenario is not compared when its 1-min load average (mean of before and after) differs by more than ${(0.25 * cores).toFixed(2)} (a quarter of the ${cores} cores), or the other processes' CPU by more than 0.25 cores${
      anyway ? "; --compare-anyway: shown, flagged" : "; --compare-anyway shows those too, flagged"
    }\n`
  )
  const rows: Array<Array<string>> = []
  let withheld = 0
  let unknown = 0
  for (const scenario of after.scenarios) {
    const old = before.scenarios.find((s) => s.id === scenario.id && s.store === scenario.store)
    if (old === undefined) continue
    const differs = loadDiffers(cores, old.load, scenario.load)
    if (old.load === undefined || scenario.load === undefined) unknown++
    for (const figure of scenario.figures) {
      const prior = old.figures.find((f) => f.figure === figure.figure)
      if (prior === undefined) continue
      const change = (figure.value - prior.value) / prior.value
      const better = figure.kind === "rate" || figure.kind === "share" ? change > 0 : change < 0
      const shown = `${fmtChange(change)}${Math.abs(change) < 0.05 ? "" : better ? " better" : " worse"}`
      const ratio = prior.ratio === null || figure.ratio === null ? "—" : `${fmtRatio(prior.ratio)} → ${fmtRatio(figure.ratio)}`
      const cpuChange = prior.cpu === undefined || figure.cpu === undefined
        ? ""
        : `${fmtCpu(prior.cpu)} → ${fmtCpu(figure.cpu)} (${fmtChange(figure.cpu.perFlowMicros / prior.cpu.perFlowMicros - 1)})`
      if (differs !== undefined) withheld++
      rows.push([
        `${scenario.id}`,
        scenario.store,
        figure.figure,
        fmtValue(figure.kind, prior.value),
        fmtValue(figure.kind, figure.value),
        differs === undefined ? shown : anyway ? `${shown} (LOAD DIFFERS: ${differs})` : `not compared: ${differs}`,
        differs === undefined || anyway ? ratio : "—",
        differs === undefined || anyway ? cpuChange : ""
      ])
    }
  }
  console.log(table(["#", "store", "figure", "before", "after", "change", "ratio", "CPU per flow"], rows))
  if (withheld > 0) {
    console.log(`\n${withheld} figure(s) ran under loads too different to compare${anyway ? " (shown anyway, flagged)" : " (changes withheld)"}`)
  }
  if (unknown > 0) console.log(`\n${unknown} scenario(s) have no load recorded in one of the runs: their changes are shown, but cannot be checked for load`)
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
