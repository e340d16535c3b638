/**
 * Distributed workers on PostgreSQL: two worker processes (they could be on two machines) share one
 * database; this program schedules 20 jobs, each worker claims what it can (`FOR UPDATE SKIP
 * LOCKED`: never the same job twice), and the program waits for every result, then stops the
 * workers gracefully (SIGTERM: each releases what it holds and exits).
 *
 * One command against a local server (the URL of any database you may write to):
 *
 *   ERGON_DATABASE_URL=postgresql://postgres:secret@localhost:5432/postgres npx tsx examples/distributed-workers-pg.ts
 *
 * The store's tables go into the schema `ERGON_SCHEMA` (default `ergon_example`), created when missing.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Context, Effect, Schema } from "effect"
import { Flow, Scheduler, Step, Worker } from "ergon"
import * as Pg from "ergon/pg"

/** The name of the worker process a step runs in (each worker's program provides it). */
class RunningOn extends Context.Tag("example/RunningOn")<RunningOn, string>() {}

const Job = Schema.Struct({ id: Schema.String, millis: Schema.Int })

const processJob = Step.make("process", {
  input: Job,
  success: Schema.String,
  run: (job) => Effect.as(Effect.sleep(`${job.millis} millis`), job.id)
})

/** A job: one step, then returns the worker that ran the flow's last part. */
const JobFlow = Flow.make("pg-job", {
  input: Job,
  success: Schema.String,
  run: (job) => Effect.zipRight(processJob(job), RunningOn)
})

// Both parts read the same configuration: the URL from ERGON_DATABASE_URL, and a schema.
const Store = Pg.layerConfig({
  url: Config.redacted("ERGON_DATABASE_URL"),
  schema: Config.string("ERGON_SCHEMA").pipe(Config.withDefault("ergon_example"))
})

const runWorker = (name: string) => {
  const worker = Worker.make(name).unversioned().register(JobFlow).withConcurrency(4).withLease("10 seconds")
  const program = Effect.gen(function*() {
    console.log("ready")
    return yield* worker.run()
  }).pipe(Effect.provideService(RunningOn, name), Effect.provide(Store))
  NodeRuntime.runMain(program)
}

const self = fileURLToPath(import.meta.url)

const coordinate = Effect.gen(function*() {
  const names = ["worker-1", "worker-2"]
  const exits = new Map<string, string>()
  let ready = 0
  const procs: Array<ChildProcess> = names.map((name) => {
    const proc = spawn(process.execPath, ["--import", "tsx", self, "worker", name], { stdio: ["ignore", "pipe", "inherit"] })
    proc.stdout!.on("data", (data: Buffer) => (ready += data.toString().split("\n").filter((l) => l === "ready").length))
    proc.on("exit", (code, signal) => void exits.set(name, signal ?? `exit code ${code}`))
    return proc
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => procs.forEach((proc) => proc.exitCode === null && proc.kill("SIGKILL"))))
  while (ready < names.length) {
    if (exits.size > 0) return yield* Effect.die(`a worker exited while starting: ${JSON.stringify([...exits])}`)
    yield* Effect.sleep("50 millis")
  }
  console.log(`${names.length} worker processes up`)

  const run = Date.now().toString(36)
  const scheduler = Scheduler.make().unversioned()
  const handles = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i + 1), (i) => {
    const id = `job-${run}-${String(i).padStart(2, "0")}`
    return scheduler.schedule(JobFlow, { id, millis: 100 + ((i * 37) % 200) }, { id })
  })
  console.log("scheduled 20 jobs")
  const results = yield* Effect.forEach(handles, (handle) => handle.await, { concurrency: "unbounded" })
  console.log("all 20 jobs completed")
  for (const name of names) console.log(`  ${name}: ${results.filter((by) => by === name).length} jobs`)

  for (const proc of procs) proc.kill("SIGTERM")
  while (exits.size < names.length) yield* Effect.sleep("50 millis")
  for (const name of names) console.log(`${name}: ${exits.get(name)}`)
})

const [mode, name] = process.argv.slice(2)
if (mode === "worker") {
  runWorker(name!)
} else {
  // The coordinator opens the store first, so the migrations run once, here.
  Effect.runPromise(coordinate.pipe(Effect.scoped, Effect.provide(Store))).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
