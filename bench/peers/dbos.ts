/**
 * The benchmark workload on DBOS Transact (`@dbos-inc/dbos-sdk`) over PostgreSQL:
 *
 *   node --import tsx bench/peers/dbos.ts --url <postgres url> --scenario 1|2 --n <N>
 *     [--concurrency 64] [--poll-ms 10]
 *
 * The program creates a database of its own on the server of `--url` (a fresh name, dropped at
 * the end) and gives it to DBOS as its system database; DBOS runs its migrations there.
 *
 * Scenario 1: a workflow of 3 steps (each returns its input + 1) called and awaited N times in a
 * row (calling the registered workflow function runs it in this process, as DBOS apps do).
 * Scenario 2: N workflows enqueued one at a time on a queue of worker concurrency `--concurrency`
 * (polled every `--poll-ms`; DBOS's default is 1000 ms, which would cap the queue at
 * `concurrency` flows per second), then awaited through their handles in order (each handle polls
 * the database every `--poll-ms`); the clock runs from the first enqueue to the last result.
 * Prints one JSON line (see common.ts).
 */
import { DBOS } from "@dbos-inc/dbos-sdk"
import pg from "pg"
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

const increment = (x: number): Promise<number> => {
  stamps.stamp()
  return Promise.resolve(x + 1)
}
const stepA = DBOS.registerStep(increment, { name: "a" })
const stepB = DBOS.registerStep(increment, { name: "b" })
const stepC = DBOS.registerStep(increment, { name: "c" })

const threeSteps = DBOS.registerWorkflow(
  async (x: number): Promise<number> => {
    const a = await stepA(x)
    const b = await stepB(a)
    return stepC(b)
  },
  { name: "threeSteps" }
)

const queueName = "ergon-bench"

const check = (x: number, result: number) => {
  if (result !== x + 3) throw new Error(`flow of input ${x} returned ${result}, not ${x + 3}`)
}

const withClient = async <A>(url: string, use: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

const sequential = async (n: number, warmUp: number, serverPid: number | undefined, notes: ReadonlyArray<string>) => {
  for (let i = 0; i < warmUp; i++) check(i, await threeSteps(i))
  const samples = sequentialSamples()
  stamps.enabled = true
  const meter = startMeter(serverPid)
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    stamps.reset()
    const begin = performance.now()
    const result = await threeSteps(i)
    const end = performance.now()
    samples.add(begin, end)
    check(i, result)
  }
  const elapsedMs = performance.now() - t0
  const measured = meter.stop()
  stamps.enabled = false
  return {
    ...samples.result(n, elapsedMs, [...notes, "each flow: the registered workflow function called and awaited", stepLatencyNote]),
    warmup: warmUp,
    ...cpuFields(measured, n)
  }
}

const queued = async (n: number, pollMs: number, warmUp: number, serverPid: number | undefined, notes: ReadonlyArray<string>) => {
  const run = async (prefix: string, count: number) => {
    const t0 = performance.now()
    const handles = []
    for (let i = 0; i < count; i++) {
      handles.push(await DBOS.startWorkflow(threeSteps, { queueName, workflowID: `${prefix}-${i}` })(i))
    }
    const enqueuedMs = performance.now() - t0
    for (let i = 0; i < count; i++) check(i, await handles[i]!.getResult({ pollingIntervalMs: pollMs }))
    return { elapsedMs: performance.now() - t0, enqueuedMs }
  }
  await run("warm", warmUp)
  const meter = startMeter(serverPid)
  const { elapsedMs, enqueuedMs } = await run("flow", n)
  const measured = meter.stop()
  return {
    n,
    elapsedMs,
    warmup: warmUp,
    ...cpuFields(measured, n),
    stepsPerSecond: (3 * n) / elapsedMs * 1000,
    flowsPerSecond: n / elapsedMs * 1000,
    notes: [
      ...notes,
      `enqueueing the ${n} workflows one at a time took ${enqueuedMs.toFixed(0)} ms of it (the queue runs meanwhile)`
    ]
  }
}

const main = async (): Promise<PeerResult> => {
  const flags = parseFlags(process.argv.slice(2), ["url", "scenario", "n", "concurrency", "poll-ms", "warmup", "server-pid"])
  const url = flags.get("url")
  if (url === undefined) throw new Error("--url is required")
  const scenario = scenarioFlag(flags)
  const n = intFlag(flags, "n")
  const concurrency = intFlag(flags, "concurrency", 64)
  const pollMs = intFlag(flags, "poll-ms", 10)
  const warmUp = warmupFlag(flags)
  // the PostgreSQL postmaster (the harness's embedded server is its child): its processes' CPU is reported
  const serverPid = flags.has("server-pid") ? intFlag(flags, "server-pid") : undefined

  const database = `ergon_peer_dbos_${Date.now()}_${process.pid}`
  const systemDatabaseUrl = new URL(url)
  systemDatabaseUrl.pathname = `/${database}`
  const settings = await withClient(url, async (client) => {
    await client.query(`CREATE DATABASE "${database}"`)
    const show = async (name: string) => (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? "?"
    const version = (await client.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "?"
    return `PostgreSQL ${version}: fsync=${await show("fsync")}, synchronous_commit=${await show("synchronous_commit")}, full_page_writes=${await show("full_page_writes")}`
  })
  try {
    DBOS.setConfig({ name: "ergon-bench", systemDatabaseUrl: systemDatabaseUrl.href, logLevel: "warn" })
    await DBOS.launch()
    try {
      const notes = [settings, "DBOS system database pool: the default size (10)"]
      if (scenario === 1) return { peer: "dbos", scenario, ...(await sequential(n, warmUp, serverPid, notes)) }
      await DBOS.registerQueue(queueName, { workerConcurrency: concurrency, minPollingIntervalMs: pollMs })
      const figures = await queued(n, pollMs, warmUp, serverPid, [
        ...notes,
        `queue: workerConcurrency ${concurrency}, minPollingIntervalMs ${pollMs}; handles awaited in order, polling every ${pollMs} ms`
      ])
      return { peer: "dbos", scenario, ...figures }
    } finally {
      await DBOS.shutdown()
    }
  } finally {
    await withClient(url, (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).catch(
      (error: unknown) => process.stderr.write(`dbos: could not drop database ${database}: ${String(error)}\n`)
    )
  }
}

runMain("dbos", main)
