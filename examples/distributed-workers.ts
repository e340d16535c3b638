/**
 * Distributed workers: three worker processes share one SQLite file; one of them is killed with
 * SIGKILL in the middle of its work, and the others finish its flows once its leases expire.
 *
 * The program is both parts. Run plainly, it is the coordinator: it creates the store, starts three
 * worker processes (this same file, with `worker` as first argument), schedules 30 jobs, prints
 * which worker runs which job, kills worker-2 while it holds jobs, waits for every job's result
 * (each job returns the name of the worker that finished it), and stops the other two workers
 * gracefully (SIGTERM: the worker is interrupted and releases what it holds). It exits with 0 when
 * every job is done.
 *
 * What happens to worker-2's jobs: they are `running`, leased to worker-2 for 3 seconds. Nobody
 * renews the lease any more, so once it expires another worker claims them (the lease epoch goes
 * up by one), replays their journal and runs the step that was cut short again. Had worker-2 only
 * been slow, its late writes would be refused: every checkpoint is fenced by owner and epoch.
 *
 *   npx tsx examples/distributed-workers.ts
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { Context, Effect, Schema } from "effect"
import { Client, Flow, Scheduler, Step, Worker } from "ergon"
import * as Sqlite from "ergon/sqlite"

// ---------------------------------------------------------------------------------------------
// The flows (both parts need them: the coordinator schedules, the workers run)
// ---------------------------------------------------------------------------------------------

/** The name of the worker process a step runs in (each worker's program provides it). */
class RunningOn extends Context.Tag("example/RunningOn")<RunningOn, string>() {}

const Job = Schema.Struct({ id: Schema.String, millis: Schema.Int })

/** The work: takes `millis` of real time, says where it runs, returns the worker's name. */
const processJob = Step.make("process", {
  input: Job,
  success: Schema.String,
  run: (job) =>
    Effect.gen(function*() {
      const me = yield* RunningOn
      console.log(`start ${job.id}`)
      yield* Effect.sleep(`${job.millis} millis`)
      console.log(`done ${job.id}`)
      return me
    })
})

const JobFlow = Flow.make("job", { input: Job, success: Schema.String, run: (job) => processJob(job) })

const LEASE = "3 seconds"

// ---------------------------------------------------------------------------------------------
// A worker process
// ---------------------------------------------------------------------------------------------

const runWorker = (filename: string, name: string) => {
  const worker = Worker.make(name)
    .unversioned()
    .register(JobFlow) // JobFlow needs RunningOn: run() requires it, so it must be provided below
    .withConcurrency(2)
    .withLease(LEASE)
    .withPollInterval("100 millis")
  const program = Effect.gen(function*() {
    console.log("ready")
    return yield* worker.run()
  }).pipe(Effect.provideService(RunningOn, name), Effect.provide(Sqlite.layer({ filename })))
  // SIGTERM/SIGINT interrupt the worker: it releases its flows, and the process exits with 0.
  NodeRuntime.runMain(program)
}

// ---------------------------------------------------------------------------------------------
// The coordinator
// ---------------------------------------------------------------------------------------------

const self = fileURLToPath(import.meta.url)
const began = Date.now()
const clock = () => `+${((Date.now() - began) / 1000).toFixed(1)}s`.padStart(6)

interface WorkerProcess {
  readonly name: string
  readonly proc: ChildProcess
  ready: boolean
  exit: string | undefined
}

/** What the coordinator sees of the workers' output: who started and who finished which job. */
const started = new Map<string, Array<string>>()
const finished = new Map<string, string>()

const spawnWorker = (filename: string, name: string): WorkerProcess => {
  // `node --import tsx`, so that SIGKILL hits the worker itself (the `tsx` binary is a wrapper process).
  const proc = spawn(process.execPath, ["--import", "tsx", self, "worker", filename, name], { stdio: ["ignore", "pipe", "inherit"] })
  const worker: WorkerProcess = { name, proc, ready: false, exit: undefined }
  let rest = ""
  proc.stdout!.on("data", (data: Buffer) => {
    const lines = (rest + data.toString()).split("\n")
    rest = lines.pop()!
    for (const line of lines) {
      const [what, job] = line.split(" ")
      if (what === "ready") worker.ready = true
      if (what === "start") started.set(job!, [...(started.get(job!) ?? []), name])
      if (what === "done") finished.set(job!, name)
      if (what === "start" || what === "done") console.log(`${clock()}  [${name}] ${line}`)
    }
  })
  proc.on("exit", (code, signal) => (worker.exit = signal ?? `exit code ${code}`))
  return worker
}

const inFlightOn = (name: string) =>
  Array.from(started.entries())
    .filter(([job, runs]) => runs[runs.length - 1] === name && finished.get(job) !== name)
    .map(([job]) => job)

const until = (condition: () => boolean) =>
  Effect.gen(function*() {
    while (!condition()) yield* Effect.sleep("20 millis")
  })

const coordinate = (filename: string) =>
  Effect.gen(function*() {
    const workers = ["worker-1", "worker-2", "worker-3"].map((name) => spawnWorker(filename, name))
    // Whatever happens, leave no worker process behind.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => workers.forEach((worker) => worker.exit === undefined && worker.proc.kill("SIGKILL")))
    )
    yield* until(() => workers.every((worker) => worker.ready)).pipe(Effect.timeout("60 seconds"))
    console.log(`${clock()}  3 worker processes up on ${path.basename(filename)}`)

    const scheduler = Scheduler.make().unversioned()
    const handles = yield* Effect.forEach(Array.from({ length: 30 }, (_, i) => i + 1), (i) => {
      const id = `job-${String(i).padStart(2, "0")}`
      return scheduler.schedule(JobFlow, { id, millis: 300 + ((i * 137) % 400) }, { id })
    })
    console.log(`${clock()}  scheduled 30 jobs`)

    // Kill worker-2 once it holds two jobs.
    const victim = workers[1]!
    yield* until(() => inFlightOn(victim.name).length >= 2).pipe(Effect.timeout("30 seconds"))
    const orphans = inFlightOn(victim.name)
    victim.proc.kill("SIGKILL")
    const killedAt = Date.now()
    console.log(`${clock()}  *** SIGKILL ${victim.name} (pid ${victim.proc.pid}) while it runs ${orphans.join(", ")} ***`)

    // Every job's result is the worker that finished it.
    const results = yield* Effect.forEach(handles, (handle) => Effect.map(handle.await, (by) => [handle.id, by] as const))
    console.log(`${clock()}  all 30 jobs completed`)

    console.log("which worker finished which job:")
    for (const name of ["worker-1", "worker-2", "worker-3"]) {
      const jobs = results.filter(([, by]) => by === name).map(([id]) => id)
      console.log(`  ${name}: ${jobs.length} jobs${jobs.length > 0 ? `: ${jobs.join(" ")}` : ""}`)
    }
    console.log(`${victim.name}'s jobs when it was killed:`)
    for (const job of orphans) {
      const record = yield* Client.get(job)
      const row = record._tag === "Some" ? record.value : undefined
      const by = results.find(([id]) => id === job)![1]
      const after = row === undefined ? "?" : ((row.completedAt! - killedAt) / 1000).toFixed(1)
      console.log(
        `  ${job}: started on ${started.get(job)!.join(", then ")}; finished by ${by} ${after} s after the kill ` +
          `(lease ${LEASE}; lease epoch ${row?.leaseEpoch})`
      )
    }

    // Graceful stop: SIGTERM interrupts each worker, which releases what it holds and exits.
    const survivors = workers.filter((worker) => worker !== victim)
    for (const worker of survivors) worker.proc.kill("SIGTERM")
    yield* until(() => survivors.every((worker) => worker.exit !== undefined)).pipe(Effect.timeout("30 seconds"))
    for (const worker of workers) console.log(`${worker.name}: ${worker.exit}`)
    if (orphans.some((job) => results.find(([id]) => id === job)![1] === victim.name)) {
      return yield* Effect.die(`a job of ${victim.name} was not taken over`)
    }
  })

const [mode, ...args] = process.argv.slice(2)
if (mode === "worker") {
  runWorker(args[0]!, args[1]!)
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-example-distributed-"))
  const filename = path.join(dir, "jobs.db")
  // The coordinator opens the store first (its migrations run here, once).
  Effect.runPromise(coordinate(filename).pipe(Effect.scoped, Effect.provide(Sqlite.layer({ filename })))).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
