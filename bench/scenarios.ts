/**
 * The benchmark scenarios. Each runs on one store (a fresh database file) and returns its figures;
 * run.ts puts each figure beside a baseline measured in the same run and prints the tables.
 */
import * as os from "node:os"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Client, Dag, ExecutionLog, Executor, Flow, Scheduler, Step, Worker } from "ergon"
import { type Measured, startMeter } from "./meter.js"
import { batchedLimit, freshFile, type RawBatched, sqlStatements, type StoreSpec } from "./stores.js"
import { mean, percentile } from "./stats.js"

/**
 * What a figure measures: a cost (smaller is better), a rate (larger is better) or a share of a
 * limit (Ergon's rate ÷ the baseline's rate: larger is better, 1 would be the limit itself).
 */
export type Kind = "latency" | "rate" | "bytes" | "count" | "share"

/** The CPU spent over the interval a rate was measured on, per flow. */
export interface FlowCpu {
  readonly flows: number
  /** This process (user + system, all threads), µs per flow. */
  readonly perFlowMicros: number
  /** The PostgreSQL server's processes, µs per flow (the pg store, where /proc can be read). */
  readonly serverPerFlowMicros?: number | undefined
}

export interface Figure {
  readonly figure: string
  readonly kind: Kind
  /** ms for latency, per second for rate, bytes for bytes. */
  readonly value: number
  /** The baseline the figure is compared with, by name in the run's baselines. */
  readonly baseline?: { readonly name: string; readonly value: number } | undefined
  readonly detail?: string | undefined
  /** Rates: the CPU per flow over the same interval. */
  readonly cpu?: FlowCpu | undefined
}

export interface ScenarioResult {
  readonly figures: ReadonlyArray<Figure>
  readonly notes: ReadonlyArray<string>
  readonly elapsedMs: number
}

export interface Context {
  readonly store: StoreSpec
  readonly quick: boolean
  readonly dir: string
  /** `--park <n>`: how many flows scenario 7 parks. */
  readonly parkOverride?: number | undefined
  /** Baselines measured on this store in this run. */
  readonly raw: {
    readonly commitMs: { readonly p50: number; readonly p99: number; readonly mean: number }
    readonly commitsPerSecond: number
    /** Commits/s from many connections at once (PostgreSQL: 64); one connection's rate on SQLite. */
    readonly concurrent: { readonly connections: number; readonly commitsPerSecond: number }
    /** The batched durable write rate (stores on disk). */
    readonly batched?: RawBatched | undefined
  }
  /** The PostgreSQL server's postmaster (pg store), whose processes' CPU is reported. */
  readonly serverPid?: number | undefined
  /**
   * Untimed flows of the same workload run in this process before the timed ones (scenario 1:
   * one after the other; scenario 2: under a worker); the peers are given the same numbers.
   */
  readonly warmup: { readonly sequential: number; readonly concurrent: number }
}

export interface Scenario {
  readonly id: number
  readonly title: string
  readonly measures: string
  readonly run: (ctx: Context) => Promise<ScenarioResult>
}

// ---------------------------------------------------------------------------------------------
// helpers

type Store = ExecutionLog.ExecutionLog

const runOn = <A>(
  ctx: Context,
  name: string,
  program: Effect.Effect<A, unknown, Store>,
  wrap?: (layer: Layer.Layer<Store, unknown>) => Layer.Layer<Store, unknown>
): Promise<A> => {
  const file = freshFile(ctx.dir, ctx.store.name, name)
  const base = ctx.store.layer(file)
  const layer = wrap === undefined ? base : wrap(base)
  return Effect.runPromise(program.pipe(Effect.provide(layer)) as Effect.Effect<A, unknown, never>)
}

const fileOf = (ctx: Context, name: string) => `${ctx.dir}/${ctx.store.name}-${name}.db`

const gc = () => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g !== undefined) {
    g()
    g()
  }
}

/** Runs `effect` on chunks of `items`, each chunk in one SQL transaction when the store has one. */
const inChunks = <A>(items: ReadonlyArray<A>, size: number, each: (item: A) => Effect.Effect<unknown, unknown, Store>) =>
  Effect.gen(function*() {
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    for (let i = 0; i < items.length; i += size) {
      const chunk = Effect.forEach(items.slice(i, i + size), each, { discard: true })
      yield* Option.isSome(sql) ? sql.value.withTransaction(chunk) : chunk
    }
  })

/** The baseline of a concurrent scenario: raw commits/s from as many connections as the store takes at once. */
const concurrentCommits = (ctx: Context) => ({
  name: ctx.raw.concurrent.connections > 1 ? `raw commits/s (${ctx.raw.concurrent.connections} connections)` : "raw commits/s",
  value: ctx.raw.concurrent.commitsPerSecond
})

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** The CPU of `measured` per flow (the server's only on the pg store). */
export const cpuPerFlow = (ctx: Context, measured: Measured, flows: number): FlowCpu => ({
  flows,
  perFlowMicros: measured.cpuMicros / flows,
  serverPerFlowMicros: ctx.store.name === "pg" && measured.serverCpuMicros !== undefined ? measured.serverCpuMicros / flows : undefined
})

/** The batched baseline of a figure counting `what` per second (rows written = checkpoints). */
const batchedBaseline = (ctx: Context) => {
  if (ctx.raw.batched === undefined) return undefined
  const limit = batchedLimit(ctx.raw.batched)
  return {
    name: `raw batched rows/s (${ctx.raw.batched.batch} a commit${limit.connections > 1 ? `, ${limit.connections} connections` : ""})`,
    value: limit.rowsPerSecond
  }
}

/** Forks a worker for `flows` and returns its fiber. */
const startWorker = (flows: Flow.Any, options?: { readonly suspendAfter?: number }) => {
  let worker = Worker.make("bench").unversioned().register(flows as never).withConcurrency(64).withTimers()
  if (options?.suspendAfter !== undefined) worker = worker.withSuspendAfter(options.suspendAfter)
  return Effect.fork(worker.run() as Effect.Effect<never, unknown, Store>)
}

/** Waits until no flow of the store is pending or running (polling). */
const drained = Effect.gen(function*() {
  while (true) {
    const busy = yield* Client.list({ status: ["pending", "running"], limit: 1 })
    if (busy.length === 0) return
    yield* Effect.sleep("20 millis")
  }
})

// ---------------------------------------------------------------------------------------------
// flows

let stamps: Array<number> = []
const stamp = () => {
  stamps.push(performance.now())
}

const incQuiet = Step.make("inc", { success: Schema.Number, run: (x: number) => Effect.sync(() => x + 1) })
const stepA = Step.make("a", { success: Schema.Number, run: (x: number) => Effect.sync(() => (stamp(), x + 1)) })
const stepB = Step.make("b", { success: Schema.Number, run: (x: number) => Effect.sync(() => (stamp(), x + 1)) })
const stepC = Step.make("c", { success: Schema.Number, run: (x: number) => Effect.sync(() => (stamp(), x + 1)) })

const ThreeSteps = Flow.make("three-steps", {
  input: Schema.Number,
  success: Schema.Number,
  run: (x) =>
    Effect.gen(function*() {
      const a = yield* stepA(x)
      const b = yield* stepB(a)
      return yield* stepC(b)
    })
})

const DagFlow = Flow.make("dag-10", {
  input: Schema.Number,
  success: Schema.Number,
  run: (x) =>
    Effect.gen(function*() {
      // root -> 8 independent nodes -> join: 10 checkpointed nodes
      const dag = Dag.make("d")
        .step("root", incQuiet(x))
        .step("n1", ["root"], ({ root }) => incQuiet(root))
        .step("n2", ["root"], ({ root }) => incQuiet(root))
        .step("n3", ["root"], ({ root }) => incQuiet(root))
        .step("n4", ["root"], ({ root }) => incQuiet(root))
        .step("n5", ["root"], ({ root }) => incQuiet(root))
        .step("n6", ["root"], ({ root }) => incQuiet(root))
        .step("n7", ["root"], ({ root }) => incQuiet(root))
        .step("n8", ["root"], ({ root }) => incQuiet(root))
        .step("join", ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"], (d) =>
          incQuiet(d.n1 + d.n2 + d.n3 + d.n4 + d.n5 + d.n6 + d.n7 + d.n8))
      const out = yield* Dag.run(dag, { concurrency: 10 })
      return out.join
    })
})

let resumeMark: { at: number; sql: number; calls: Map<string, number> } | undefined
let calls = new Map<string, number>()
const marker = Step.make("marker", {
  success: Schema.Number,
  run: (x: number) =>
    Effect.sync(() => {
      resumeMark = { at: performance.now(), sql: sqlStatements.count, calls: new Map(calls) }
      return x
    })
})

const LongFlow = Flow.make("long", {
  input: Schema.Number,
  success: Schema.Number,
  run: (n) =>
    Effect.gen(function*() {
      let x = 0
      for (let i = 0; i < n; i++) x = yield* incQuiet(x)
      const go = yield* Flow.awaitSignal("go", Schema.Number)
      return yield* marker(x + go)
    })
})

let lateness: Array<number> = []
const late = Step.make("late", {
  success: Schema.Number,
  run: (due: number) =>
    Effect.sync(() => {
      const ms = Date.now() - due
      lateness.push(ms)
      return ms
    })
})

const Sleeper = Flow.make("sleeper", {
  input: Schema.Number,
  success: Schema.Number,
  run: () =>
    Effect.gen(function*() {
      const start = yield* Flow.now
      yield* Flow.sleepUntil(start + 1000)
      return yield* late(start + 1000)
    })
})

let signalLatency: Array<number> = []
const received = Step.make("received", {
  success: Schema.Number,
  run: (sentAt: number) =>
    Effect.sync(() => {
      signalLatency.push(performance.now() - sentAt)
      return 0
    })
})

const Waiter = Flow.make("waiter", {
  input: Schema.Number,
  success: Schema.Number,
  run: () =>
    Effect.gen(function*() {
      const sentAt = yield* Flow.awaitSignal("go", Schema.Number)
      return yield* received(sentAt)
    })
})

const Parked = Flow.make("parked", {
  input: Schema.Number,
  success: Schema.Number,
  run: () => Flow.awaitSignal("never", Schema.Number)
})

/** Wraps the store's `ExecutionLog` so every call is counted in `calls` (by method). */
const countingLog = (layer: Layer.Layer<Store, unknown>): Layer.Layer<Store, unknown> =>
  Layer.effect(
    ExecutionLog.ExecutionLog,
    Effect.map(ExecutionLog.ExecutionLog, (service) => {
      const wrapped: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(service)) {
        wrapped[key] = typeof value !== "function" ? value : (...args: Array<unknown>) =>
          Effect.suspend(() => {
            calls.set(key, (calls.get(key) ?? 0) + 1)
            return (value as (...a: Array<unknown>) => Effect.Effect<unknown>)(...args)
          })
      }
      return wrapped as unknown as ExecutionLog.ExecutionLog.Service
    })
  ).pipe(Layer.provide(layer))

// ---------------------------------------------------------------------------------------------
// scenarios

const timed = async (f: () => Promise<Omit<ScenarioResult, "elapsedMs">>): Promise<ScenarioResult> => {
  const t0 = performance.now()
  const result = await f()
  return { ...result, elapsedMs: performance.now() - t0 }
}

const sequential: Scenario = {
  id: 1,
  title: "sequential: one flow of 3 trivial steps, run N times in a row (Executor.execute)",
  measures:
    "Per-step cost on the hot path with no concurrency: run the step, write its checkpoint, continue. Step latency is the time from one step's run to the next (checkpoint write + engine); the last step's sample ends when execute returns (its checkpoint + the flow's completion write).",
  run: (ctx) =>
    timed(() =>
      runOn(ctx, "s1", Effect.gen(function*() {
        const n = ctx.quick ? 200 : 2000
        // warm-up (JIT, statement cache), not measured; the peers run as many
        for (let i = 0; i < ctx.warmup.sequential; i++) yield* Executor.execute(ThreeSteps, i, { id: `warm-${i}` })
        const stepSamples: Array<number> = []
        const startSamples: Array<number> = []
        const flowSamples: Array<number> = []
        const meter = startMeter(ctx.serverPid)
        const t0 = performance.now()
        for (let i = 0; i < n; i++) {
          stamps = []
          const start = performance.now()
          yield* Executor.execute(ThreeSteps, i, { id: `flow-${i}` })
          const end = performance.now()
          startSamples.push(stamps[0]! - start)
          stepSamples.push(stamps[1]! - stamps[0]!, stamps[2]! - stamps[1]!, end - stamps[2]!)
          flowSamples.push(end - start)
        }
        const total = performance.now() - t0
        const cpu = cpuPerFlow(ctx, meter.stop(), n)
        const commit = ctx.raw.commitMs
        return {
          figures: [
            { figure: "steps/s", kind: "rate", value: (3 * n) / total * 1000, baseline: { name: "raw commits/s", value: ctx.raw.commitsPerSecond }, cpu },
            { figure: "flows/s", kind: "rate", value: n / total * 1000, baseline: { name: "raw commits/s", value: ctx.raw.commitsPerSecond }, cpu },
            { figure: "step latency p50", kind: "latency", value: percentile(stepSamples, 50), baseline: { name: "raw commit p50", value: commit.p50 } },
            { figure: "step latency p99", kind: "latency", value: percentile(stepSamples, 99), baseline: { name: "raw commit p99", value: commit.p99 } },
            { figure: "flow start (execute → first step) p50", kind: "latency", value: percentile(startSamples, 50), baseline: { name: "raw commit p50", value: commit.p50 } },
            { figure: "whole flow p50", kind: "latency", value: percentile(flowSamples, 50), baseline: { name: "raw commit p50", value: commit.p50 } },
            { figure: "whole flow p99", kind: "latency", value: percentile(flowSamples, 99), baseline: { name: "raw commit p99", value: commit.p99 } }
          ],
          notes: [`N = ${n} flows (${3 * n} steps), after ${ctx.warmup.sequential} untimed warm-up flows in this process`]
        }
      }))
    )
}

const throughput: Scenario = {
  id: 2,
  title: "worker throughput: N flows of 3 steps scheduled at once, one worker (concurrency 64)",
  measures:
    "Throughput of the worker: after an untimed warm-up of the same workload (W flows scheduled and run by a worker in this process, as each peer does in its own), N flows are scheduled first (64 schedule calls in flight, timed separately), then one worker with concurrency 64 claims and runs them; the clock runs from the worker's start to the last flow's completion (awaited through its handle). Store calls and SQL statements are counted over the timed run.",
  run: (ctx) =>
    timed(() =>
      runOn(ctx, "s2", Effect.gen(function*() {
        const n = ctx.quick ? 200 : 2000
        const scheduler = Scheduler.make().unversioned()
        const runAll = (prefix: string, count: number) =>
          Effect.gen(function*() {
            // started at once: 64 `schedule` calls in flight (as the peers start theirs)
            const meter = startMeter(ctx.serverPid)
            const ts = performance.now()
            const handles = yield* Effect.forEach(range(count), (i) => scheduler.schedule(ThreeSteps, i, { id: `${prefix}-${i}` }), { concurrency: 64 })
            const scheduleMs = performance.now() - ts
            const scheduled = meter.stop()
            calls = new Map()
            const statements0 = sqlStatements.snapshot()
            const worked = startMeter(ctx.serverPid)
            const t0 = performance.now()
            const worker = yield* startWorker(ThreeSteps)
            for (const handle of handles) yield* handle.await
            const total = performance.now() - t0
            const work = worked.stop()
            const statements = sqlStatements.since(statements0)
            yield* Fiber.interrupt(worker)
            return { scheduleMs, total, scheduled, work, statements }
          })
        // the warm-up: the same workload, untimed (the peers run as many in their process)
        yield* runAll("warm", ctx.warmup.concurrent)
        const { scheduleMs, scheduled, statements, total, work } = yield* runAll("w", n)
        const perFlow = Array.from(calls.entries()).sort((a, b) => b[1] - a[1])
          .map(([method, count]) => `${method} ${(count / n).toFixed(2)}`).join(", ")
        const callsPerFlow = Array.from(calls.values()).reduce((a, b) => a + b, 0) / n
        const cpu = cpuPerFlow(ctx, work, n)
        const both: Measured = {
          ...work,
          wallMs: scheduled.wallMs + work.wallMs,
          cpuMicros: scheduled.cpuMicros + work.cpuMicros,
          serverCpuMicros: scheduled.serverCpuMicros === undefined || work.serverCpuMicros === undefined ? undefined : scheduled.serverCpuMicros + work.serverCpuMicros
        }
        const steps = (3 * n) / total * 1000
        const figures: Array<Figure> = [
          { figure: "flows/s", kind: "rate", value: n / total * 1000, baseline: concurrentCommits(ctx), cpu },
          { figure: "steps/s", kind: "rate", value: steps, baseline: concurrentCommits(ctx), cpu },
          // what the peers measure: their clocks include starting the flows
          { figure: "steps/s including scheduling", kind: "rate", value: (3 * n) / (scheduleMs + total) * 1000, baseline: concurrentCommits(ctx), cpu: cpuPerFlow(ctx, both, n) },
          { figure: "schedule (64 at a time) flows/s", kind: "rate", value: n / scheduleMs * 1000, baseline: { name: "raw commits/s", value: ctx.raw.commitsPerSecond }, cpu: cpuPerFlow(ctx, scheduled, n) }
        ]
        const batched = batchedBaseline(ctx)
        if (batched !== undefined) {
          figures.push(
            { figure: "steps/s vs batched raw writes", kind: "rate", value: steps, baseline: batched, cpu },
            { figure: "steps/s ÷ batched raw rows/s (target ≥ 0.15)", kind: "share", value: steps / batched.value },
            { figure: `steps/s ÷ single-row ${concurrentCommits(ctx).name}`, kind: "share", value: steps / concurrentCommits(ctx).value }
          )
        }
        figures.push({ figure: "store calls per flow (worker and awaits)", kind: "count", value: callsPerFlow, detail: perFlow })
        if (ctx.store.name !== "memory") {
          figures.push({
            figure: "SQL statements per flow (worker and awaits; target ≤ 4)",
            kind: "count",
            value: statements.statements / n,
            detail: `per flow: ${((statements.begins + statements.loneWrites) / n).toFixed(2)} commits (${(statements.begins / n).toFixed(2)} transactions + ${(statements.loneWrites / n).toFixed(2)} lone writes), ${(statements.loneReads / n).toFixed(2)} reads outside a transaction, ${(statements.control / n).toFixed(2)} BEGIN/COMMIT`
          })
        }
        return {
          figures,
          notes: [
            `N = ${n} flows, worker concurrency 64, after an untimed warm-up of ${ctx.warmup.concurrent} flows of the same workload in this process (the peers: the same number in theirs); store calls per flow: ${perFlow}`
          ]
        }
      }), countingLog)
    )
}

const dag: Scenario = {
  id: 3,
  title: "DAG: a 10-node DAG flow (root → 8 parallel → join), run M times concurrently",
  measures:
    "M flows started at once with Executor.execute (unbounded concurrency), each running a 10-node DAG (Dag.run, concurrency 10); figures over the whole batch, latency per flow.",
  run: (ctx) =>
    timed(() =>
      runOn(ctx, "s3", Effect.gen(function*() {
        const m = ctx.quick ? 50 : 500
        yield* Executor.execute(DagFlow, 0, { id: "warm" })
        const flowSamples: Array<number> = []
        const meter = startMeter(ctx.serverPid)
        const t0 = performance.now()
        yield* Effect.forEach(range(m), (i) =>
          Effect.suspend(() => {
            const start = performance.now()
            return Executor.execute(DagFlow, i, { id: `dag-${i}` }).pipe(
              Effect.tap(() => Effect.sync(() => flowSamples.push(performance.now() - start)))
            )
          }), { concurrency: "unbounded", discard: true })
        const total = performance.now() - t0
        const cpu = cpuPerFlow(ctx, meter.stop(), m)
        return {
          figures: [
            { figure: "flows/s", kind: "rate", value: m / total * 1000, baseline: { name: "raw commits/s", value: ctx.raw.commitsPerSecond }, cpu },
            { figure: "DAG steps/s", kind: "rate", value: (10 * m) / total * 1000, baseline: { name: "raw commits/s", value: ctx.raw.commitsPerSecond }, cpu },
            { figure: "flow latency p50", kind: "latency", value: percentile(flowSamples, 50), baseline: { name: "raw commit p50", value: ctx.raw.commitMs.p50 } },
            { figure: "flow latency p99", kind: "latency", value: percentile(flowSamples, 99), baseline: { name: "raw commit p99", value: ctx.raw.commitMs.p99 } }
          ],
          notes: [`M = ${m} flows × 10 nodes`]
        }
      }))
    )
}

const resume: Scenario = {
  id: 4,
  title: "resume: a flow with 1,000 checkpoints resumed (after a signal); time to its first new step",
  measures:
    "A flow runs 1,000 steps and suspends on a signal; the signal is sent; Executor.execute is called again and the time until the first step after the wait runs is measured: loading the journal, replaying (decoding) 1,000 checkpoints, consuming the signal. Store calls and SQL statements up to that step are counted.",
  run: (ctx) =>
    timed(async () => {
      const checkpoints = 1000
      const repeats = ctx.quick ? 1 : 3
      const resumeSamples: Array<number> = []
      let sqlCount = 0
      let callSummary = ""
      await runOn(ctx, "s4", Effect.gen(function*() {
        for (let r = 0; r < repeats; r++) {
          const id = `long-${r}`
          yield* Executor.execute(LongFlow, checkpoints, { id })
          yield* Client.signal(id, "go", 1)
          calls = new Map()
          resumeMark = undefined
          const sql0 = sqlStatements.count
          const t0 = performance.now()
          yield* Executor.execute(LongFlow, checkpoints, { id })
          const mark = resumeMark as { at: number; sql: number; calls: Map<string, number> } | undefined
          if (mark === undefined) return yield* Effect.dieMessage("the marker step did not run")
          resumeSamples.push(mark.at - t0)
          sqlCount = mark.sql - sql0
          callSummary = Array.from(mark.calls.entries()).map(([k, v]) => `${k}×${v}`).join(", ")
        }
      }), countingLog)
      const rawLoad = await ctx.store.rawLoad(fileOf(ctx, "s4-raw"), checkpoints)
      const figures: Array<Figure> = [
        { figure: "time to first new step (median)", kind: "latency", value: percentile(resumeSamples, 50), baseline: { name: "raw load+parse of 1,000 rows", value: rawLoad } },
        { figure: "store calls before the first new step", kind: "count", value: Array.from((callSummary.match(/×(\d+)/g) ?? []).map((s) => Number(s.slice(1)))).reduce((a, b) => a + b, 0), baseline: { name: "contract (one load)", value: 1 }, detail: callSummary }
      ]
      if (ctx.store.name !== "memory") {
        figures.push({ figure: "SQL statements before the first new step", kind: "count", value: sqlCount, baseline: { name: "contract (one load)", value: 1 } })
      }
      return { figures, notes: [`${checkpoints} checkpoints, ${repeats} resume(s); store calls: ${callSummary}`] }
    })
}

const timers: Scenario = {
  id: 5,
  title: "timers: many flows sleeping 1 s (durable: worker suspendAfter 0, withTimers)",
  measures:
    "K flows are scheduled; each records Flow.now, sleeps until now + 1 s (suspended to the store, since the worker's suspendAfter is 0) and then runs a step that records how late it woke (real time). One worker, concurrency 64. Lateness includes the backlog: flows still starting compete with flows waking.",
  run: (ctx) =>
    timed(async () => {
      const k = ctx.quick ? 500 : ctx.store.name === "sqlite-full" ? 2000 : 10_000
      // baseline: the same number of plain setTimeout(1000) in this process
      const timeoutLateness = await new Promise<Array<number>>((resolve) => {
        const out: Array<number> = []
        const due = Date.now() + 1000
        for (let i = 0; i < k; i++) {
          setTimeout(() => {
            out.push(Date.now() - due)
            if (out.length === k) resolve(out)
          }, 1000)
        }
      })
      lateness = []
      let total = 0
      let measured: Measured | undefined
      await runOn(ctx, "s5", Effect.gen(function*() {
        const scheduler = Scheduler.make().unversioned()
        const meter = startMeter(ctx.serverPid)
        const t0 = performance.now()
        const worker = yield* startWorker(Sleeper, { suspendAfter: 0 })
        yield* inChunks(range(k), 500, (i) => scheduler.schedule(Sleeper, i, { id: `sleeper-${i}` }))
        while (lateness.length < k) yield* Effect.sleep("20 millis")
        total = performance.now() - t0
        measured = meter.stop()
        yield* Fiber.interrupt(worker)
      }))
      return {
        figures: [
          { figure: "wake-up lateness p50", kind: "latency", value: percentile(lateness, 50), baseline: { name: "setTimeout lateness p50", value: percentile(timeoutLateness, 50) } },
          { figure: "wake-up lateness p99", kind: "latency", value: percentile(lateness, 99), baseline: { name: "setTimeout lateness p99", value: percentile(timeoutLateness, 99) } },
          { figure: "flows/s (start, sleep, wake, end)", kind: "rate", value: k / total * 1000, baseline: { name: "raw commits/s", value: ctx.raw.commitsPerSecond }, cpu: measured === undefined ? undefined : cpuPerFlow(ctx, measured, k) }
        ],
        notes: [`K = ${k} flows${ctx.store.name === "sqlite-full" && !ctx.quick ? " (reduced on FULL to keep the run short)" : ""}; mean lateness ${mean(lateness).toFixed(1)} ms; scheduling in transactions of 500`]
      }
    })
}

const signals: Scenario = {
  id: 6,
  title: "signals: send-to-resume latency (Client.signal → the next step of the flow)",
  measures:
    "S flows wait on Flow.awaitSignal under a worker (suspended in the store). Signals are sent one at a time; latency is from the Client.signal call to the first step after the wait running in the worker (signal commit, wake-up, claim, journal load, replay, signal consumption).",
  run: (ctx) =>
    timed(() =>
      runOn(ctx, "s6", Effect.gen(function*() {
        const s = ctx.quick ? 50 : 300
        const scheduler = Scheduler.make().unversioned()
        const worker = yield* startWorker(Waiter)
        const handles = []
        for (let i = 0; i < s; i++) handles.push(yield* scheduler.schedule(Waiter, i, { id: `waiter-${i}` }))
        yield* drained
        signalLatency = []
        const sendSamples: Array<number> = []
        for (const handle of handles) {
          const t0 = performance.now()
          yield* Client.signal(handle.id, "go", t0)
          sendSamples.push(performance.now() - t0)
          yield* handle.await
        }
        yield* Fiber.interrupt(worker)
        return {
          figures: [
            { figure: "send-to-resume p50", kind: "latency", value: percentile(signalLatency, 50), baseline: { name: "raw commit p50", value: ctx.raw.commitMs.p50 } },
            { figure: "send-to-resume p99", kind: "latency", value: percentile(signalLatency, 99), baseline: { name: "raw commit p99", value: ctx.raw.commitMs.p99 } },
            { figure: "Client.signal call p50", kind: "latency", value: percentile(sendSamples, 50), baseline: { name: "raw commit p50", value: ctx.raw.commitMs.p50 } }
          ],
          notes: [`S = ${s} signals, sent one at a time`]
        }
      }))
    )
}

const suspended: Scenario = {
  id: 7,
  title: "many suspended flows: worker memory and database size",
  measures:
    "P flows are scheduled (in transactions of 1,000) and run by one worker until each waits on a signal that never comes (suspended, released by the worker). RSS and heap are read after a GC before scheduling and after all are parked; the database size (WAL checkpointed) is divided by P.",
  run: (ctx) =>
    timed(async () => {
      // 100,000 is the target size; at the parking rate measured so far (~150–450 flows/s) it would
      // take 4–11 minutes per store, so a full run parks 10,000 (pass --park <n> to override).
      const p = ctx.parkOverride ?? (ctx.quick ? 5000 : 10_000)
      const file = fileOf(ctx, "s7")
      let before = { rss: 0, heap: 0 }
      let after = { rss: 0, heap: 0 }
      let emptyBytes = 0
      let parkMs = 0
      let scheduleMs = 0
      let bytesPerFlow = Number.NaN
      let measured: Measured | undefined
      await runOn(ctx, "s7", Effect.gen(function*() {
        const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
        const settle = ctx.store.settle
        const checkpoint = Option.isSome(sql) && settle !== undefined ? sql.value.unsafe(settle).withoutTransform : Effect.void
        yield* checkpoint
        emptyBytes = ctx.store.size === undefined ? 0 : yield* Effect.promise(() => ctx.store.size!(file))
        const worker = yield* startWorker(Parked)
        yield* Effect.sleep("100 millis")
        gc()
        before = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed }
        const scheduler = Scheduler.make().unversioned()
        const meter = startMeter(ctx.serverPid)
        const t0 = performance.now()
        yield* inChunks(range(p), 1000, (i) => scheduler.schedule(Parked, i, { id: `parked-${i}` }))
        scheduleMs = performance.now() - t0
        yield* drained
        parkMs = performance.now() - t0
        measured = meter.stop()
        gc()
        after = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed }
        yield* checkpoint
        yield* Fiber.interrupt(worker)
        if (ctx.store.size !== undefined) bytesPerFlow = ((yield* Effect.promise(() => ctx.store.size!(file))) - emptyBytes) / p
      }))
      // baselines: one raw row's bytes on disk (SQLite) / in a JS Map (memory)
      const rowBytes = ctx.store.rawRowBytes !== undefined ? await ctx.store.rawRowBytes(fileOf(ctx, "s7-raw"), p) : mapRowBytes(Math.min(p, 100_000))
      const figures: Array<Figure> = [
        { figure: "RSS growth per suspended flow", kind: "bytes", value: (after.rss - before.rss) / p, baseline: { name: ctx.store.onDisk ? "raw row on disk" : "raw row in a Map", value: rowBytes }, detail: `RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB` },
        { figure: "heap growth per suspended flow", kind: "bytes", value: (after.heap - before.heap) / p, baseline: { name: ctx.store.onDisk ? "raw row on disk" : "raw row in a Map", value: rowBytes } },
        { figure: "flows parked/s (schedule → suspended)", kind: "rate", value: p / parkMs * 1000, baseline: { name: "raw commits/s", value: ctx.raw.commitsPerSecond }, cpu: measured === undefined ? undefined : cpuPerFlow(ctx, measured, p) }
      ]
      if (ctx.store.size !== undefined) figures.push({ figure: "database bytes per flow", kind: "bytes", value: bytesPerFlow, baseline: { name: "raw row on disk", value: rowBytes } })
      return {
        figures,
        notes: [
          `P = ${p} flows (scheduling took ${(scheduleMs / 1000).toFixed(1)} s of ${(parkMs / 1000).toFixed(1)} s); RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB, heap ${(before.heap / 2 ** 20).toFixed(0)} → ${(after.heap / 2 ** 20).toFixed(0)} MiB${(globalThis as { gc?: unknown }).gc === undefined ? " (NO --expose-gc: these memory figures are noise; npm run bench passes it)" : " (after a full GC each time: --expose-gc)"}`
        ]
      }
    })
}

const mapRowBytes = (rows: number): number => {
  gc()
  const before = process.memoryUsage().heapUsed
  const map = new Map<string, { id: string; type: string; status: string; input: string }>()
  for (let i = 0; i < rows; i++) map.set(`parked-${i}`, { id: `parked-${i}`, type: "parked", status: "suspended", input: String(i) })
  gc()
  const bytes = (process.memoryUsage().heapUsed - before) / rows
  return map.size > 0 ? bytes : Number.NaN
}


export const scenarios: ReadonlyArray<Scenario> = [sequential, throughput, dag, resume, timers, signals, suspended]

export const machine = () => ({
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`
})
