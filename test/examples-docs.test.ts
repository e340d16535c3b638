/**
 * The programs that README.md and docs/workers.md show are files of examples/, the same text (so
 * the pages cannot drift from what runs), and they run as a user would run them: in a folder of
 * their own, with relative paths for the store.
 *
 * - README's example suspends on its timer, and a second run waits for the same timer.
 * - The workers page's program, run where its `./data` folder does not exist, prints the
 *   `StoreError` and exits with 1 (`Effect.runFork` would exit with 0 and print nothing); with
 *   the folder, it runs the flows scheduled by another process, and SIGTERM stops it with 0.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Schema } from "effect"
import { Client, Flow, Scheduler } from "ergon"
import * as Sqlite from "ergon/sqlite"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const root = path.resolve(import.meta.dirname, "..")

/** The first ```ts block of a page that starts with `firstLine`. */
const block = (page: string, firstLine: string): string => {
  const text = fs.readFileSync(path.join(root, page), "utf8")
  const start = text.indexOf("```ts\n" + firstLine)
  assert.isAtLeast(start, 0, `${page} has a block starting with ${firstLine}`)
  const body = text.slice(start + "```ts\n".length)
  return body.slice(0, body.indexOf("```\n"))
}

/** An example without its leading comment. */
const program = (file: string): string => {
  const text = fs.readFileSync(path.join(root, "examples", file), "utf8")
  return text.slice(text.indexOf("*/\n") + 3)
}

/** Runs an example with tsx, from `cwd`, resolving `ergon` through the repository's tsconfig. */
const tsx = pathToFileURL(path.join(root, "node_modules/tsx/dist/loader.mjs")).href
const args = (file: string) => ["--import", tsx, path.join(root, "examples", file)]
const env = { ...process.env, TSX_TSCONFIG_PATH: path.join(root, "tsconfig.json") }

const folder = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `ergon-${name}-`))

describe("README.md's example", () => {
  it("is examples/readme.ts", () => {
    assert.strictEqual(block("README.md", `import { Effect, Schema } from "effect"\nimport { Executor`), program("readme.ts"))
  })

  it("runs: it suspends on its timer, and a second run waits for the same timer", () => {
    const cwd = folder("readme")
    try {
      const runs = [1, 2].map(() => spawnSync(process.execPath, args("readme.ts"), { cwd, env, encoding: "utf8", timeout: 120_000 }))
      for (const run of runs) {
        assert.strictEqual(run.status, 0, run.stderr)
        assert.match(run.stdout, /_tag: 'Suspended'[\s\S]*_tag: 'Timer'/)
      }
      const until = /until: (\d+)/.exec(runs[0]!.stdout)?.[1]
      assert.isDefined(until)
      assert.include(runs[1]!.stdout, `until: ${until}`)
      assert.isTrue(fs.existsSync(path.join(cwd, "ergon.db")))
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true })
    }
  })
})

describe("docs/workers.md's program", () => {
  it("is examples/worker.ts", () => {
    assert.strictEqual(block("docs/workers.md", `import { NodeRuntime } from "@effect/platform-node"`), program("worker.ts"))
  })

  it("with a store it cannot open, prints the StoreError and exits with 1", () => {
    const cwd = folder("worker-nostore")
    try {
      const run = spawnSync(process.execPath, args("worker.ts"), { cwd, env, encoding: "utf8", timeout: 120_000 })
      assert.strictEqual(run.status, 1, `exit ${run.status}\n${run.stdout}\n${run.stderr}`)
      // runMain's logger prints the failure (on stdout).
      const printed = run.stdout + run.stderr
      assert.include(printed, "StoreError")
      assert.include(printed, "cannot open the SQLite database './data/ergon.db'")
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true })
    }
  })

  it.live("with its store, runs flows scheduled by another process; SIGTERM stops it with 0", () => {
    // The same flow type and schemas as the program's: a scheduler needs no more than that.
    const Order = Schema.Struct({ id: Schema.String, cents: Schema.Int })
    const OrderFlow = Flow.make("order", { input: Order, success: Schema.String, run: () => Effect.never })
    const cwd = folder("worker")
    fs.mkdirSync(path.join(cwd, "data"))
    const Store = Sqlite.layer({ filename: path.join(cwd, "data/ergon.db") })
    return Effect.gen(function*() {
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, args("worker.ts"), { cwd, env, stdio: ["ignore", "pipe", "pipe"] })),
        (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
      )
      let stderr = ""
      child.stderr!.on("data", (chunk) => (stderr += String(chunk)))
      const exited = yield* Deferred.make<number | null>()
      child.once("exit", (code) => Deferred.unsafeDone(exited, Exit.succeed(code)))
      const handle = yield* Scheduler.make().withVersion("1.4.0").schedule(OrderFlow, { id: "o-1", cents: 4999 }, { id: "order-o-1" })
      // The worker polls the file for work of other processes: the result comes once it has run
      // it, or the worker has died and the test fails at once.
      const result = yield* Effect.raceFirst(
        handle.await,
        Effect.flatMap(Deferred.await(exited), (code) => Effect.fail(new Error(`the worker exited with ${code}:\n${stderr}`)))
      )
      assert.strictEqual(result, "pay_4999")
      assert.strictEqual(yield* Client.status("order-o-1"), "completed")
      child.kill("SIGTERM")
      assert.strictEqual(yield* Deferred.await(exited), 0, stderr)
    }).pipe(
      Effect.scoped,
      Effect.provide(Store),
      Effect.ensuring(Effect.sync(() => fs.rmSync(cwd, { recursive: true, force: true })))
    )
  }, 180_000)
})
