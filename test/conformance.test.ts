import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as String from "effect/String"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as ExecutionLog from "../src/ExecutionLog.js"
import * as ExecutionLogSql from "../src/sql/ExecutionLogSql.js"
import * as Sqlite from "../src/sqlite.js"
import { suite } from "./conformance/backend.js"
import * as Registry from "./conformance/registry.js"
import { makeRecords, T0 } from "./fixtures/records.js"

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-conformance-"))
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }))

suite("ExecutionLog conformance: memory", ExecutionLog.layerMemory)

suite("ExecutionLog conformance: SQLite file", Sqlite.layer({ filename: path.join(directory, "store.db") }))

Registry.suite("memory", ExecutionLog.layerMemory)
Registry.suite("SQLite file", Sqlite.layer({ filename: path.join(directory, "registry.db") }))

// The SQL store over a client the user configured with name transforms: it must not care.
suite(
  "ExecutionLog conformance: SQL store over a SqliteClient with name transforms",
  ExecutionLogSql.layer.pipe(
    Layer.provide(
      SqliteClient.layer({
        filename: path.join(directory, "transforms.db"),
        transformResultNames: String.snakeToCamel,
        transformQueryNames: String.camelToSnake
      })
    )
  )
)

describe("ExecutionLog on SQLite: several connections on one file", () => {

  it.scoped("claimers on two connections (two stores, as two processes would open) claim each flow once", () =>
    Effect.gen(function*() {
      const filename = path.join(directory, "claims.db")
      const open = Effect.map(Layer.build(Sqlite.layer({ filename })), Context.get(ExecutionLog.ExecutionLog))
      const first = yield* open
      const second = yield* open
      const type = "claim-race"
      for (let i = 0; i < 100; i++) {
        const inserted = yield* first.insertFlow(
          makeRecords(type).flowRecord(`flow-${i.toString().padStart(3, "0")}`, {
            input: { i },
            status: "pending",
            priority: i % 4,
            runAfter: T0 - i
          })
        )
        assert.isTrue(inserted)
      }
      // Two claimers per connection; each yields between claims, so the connections interleave.
      const claimer = (log: ExecutionLog.ExecutionLog.Service, owner: string) =>
        Effect.gen(function*() {
          const got: Array<string> = []
          while (true) {
            const claimed = yield* log.claimFlows({
              owner,
              now: T0,
              leaseMillis: 30_000,
              limit: 3,
              types: [type],
              versions: [null]
            })
            if (claimed.length === 0) return got
            for (const flow of claimed) {
              assert.strictEqual(flow.leaseOwner, owner)
              got.push(flow.id)
            }
            yield* Effect.yieldNow()
          }
        })
      const results = yield* Effect.all(
        [claimer(first, "a-1"), claimer(second, "b-1"), claimer(first, "a-2"), claimer(second, "b-2")],
        { concurrency: "unbounded" }
      )
      const all = results.flat().sort()
      assert.strictEqual(all.length, 100)
      assert.strictEqual(new Set(all).size, 100)
      // Both connections took part.
      assert.isTrue(results[0]!.length + results[2]!.length > 0 && results[1]!.length + results[3]!.length > 0)
      // What each connection sees is what the other wrote: one lease per flow, at epoch 1.
      const flows = yield* second.listFlows({ type, limit: 1_000 })
      assert.strictEqual(flows.length, 100)
      const ownerOf = new Map(results.flatMap((ids, i) => ids.map((id) => [id, ["a-1", "b-1", "a-2", "b-2"][i]!])))
      for (const flow of flows) {
        assert.strictEqual(flow.status, "running")
        assert.strictEqual(flow.leaseEpoch, 1)
        assert.strictEqual(flow.leaseOwner, ownerOf.get(flow.id))
      }
    }))
})

describe("ExecutionLog on SQLite: several processes on one file", () => {
  const type = "claim-race"
  const root = fileURLToPath(new URL("..", import.meta.url))
  const src = (file: string) => new URL(`../src/${file}`, import.meta.url).href

  // A child process that opens the store, says "ready", waits for a line on stdin, then claims
  // one flow at a time until none is left and prints the ids it got.
  const childSource = (filename: string, owner: string) => `
    import * as Effect from "effect/Effect"
    import { ExecutionLog } from ${JSON.stringify(src("ExecutionLog.ts"))}
    import * as Sqlite from ${JSON.stringify(src("sqlite.ts"))}
    const program = Effect.gen(function*() {
      const log = yield* ExecutionLog
      process.stdout.write("ready\\n")
      yield* Effect.promise(() => new Promise((resolve) => process.stdin.once("data", resolve)))
      const got = []
      while (true) {
        const claimed = yield* log.claimFlows({
          owner: ${JSON.stringify(owner)}, now: ${T0}, leaseMillis: 30000, limit: 1,
          types: [${JSON.stringify(type)}], versions: [null]
        })
        if (claimed.length === 0) break
        for (const flow of claimed) got.push(flow.id)
      }
      process.stdout.write("CLAIMED " + JSON.stringify(got) + "\\n")
    })
    await Effect.runPromise(Effect.provide(program, Sqlite.layer({ filename: ${JSON.stringify(filename)}, synchronous: "NORMAL" })))
  `

  interface Child {
    readonly ready: Promise<void>
    readonly claimed: Promise<ReadonlyArray<string>>
    readonly go: () => void
  }

  const startChild = (filename: string, owner: string): Child => {
    const proc = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", childSource(filename, owner)], {
      cwd: root,
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let onReady = () => {}
    const ready = new Promise<void>((resolve) => (onReady = resolve))
    proc.stdout.on("data", (data: Buffer) => {
      stdout += data.toString()
      if (stdout.includes("ready\n")) onReady()
    })
    proc.stderr.on("data", (data: Buffer) => (stderr += data.toString()))
    const claimed = new Promise<ReadonlyArray<string>>((resolve, reject) => {
      proc.on("error", reject)
      proc.on("exit", (code) => {
        const line = stdout.split("\n").find((text) => text.startsWith("CLAIMED "))
        if (code !== 0 || line === undefined) reject(new Error(`child ${owner} exited with ${code}: ${stderr}`))
        else resolve(JSON.parse(line.slice("CLAIMED ".length)) as ReadonlyArray<string>)
      })
    })
    return { ready, claimed, go: () => proc.stdin.end("go\n") }
  }

  it("two processes claiming from the same file at once claim each flow exactly once", async () => {
    const filename = path.join(directory, "processes.db")
    const count = 500
    await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Sqlite.layer({ filename }))
        const log = Context.get(context, ExecutionLog.ExecutionLog)
        const sql = Context.get(context, SqlClient.SqlClient)
        yield* sql.withTransaction(Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
          log.insertFlow(
            makeRecords(type).flowRecord(`flow-${i.toString().padStart(4, "0")}`, { input: { i }, status: "pending", runAfter: T0 - i })
          )))
      }))
    )
    const children = [startChild(filename, "process-a"), startChild(filename, "process-b")]
    await Promise.all(children.map((child) => child.ready))
    for (const child of children) child.go()
    const [a, b] = await Promise.all(children.map((child) => child.claimed))
    const all = [...a!, ...b!].sort()
    assert.strictEqual(new Set(all).size, all.length, "a flow was claimed twice")
    assert.strictEqual(all.length, count)
    assert.isAbove(a!.length, 0)
    assert.isAbove(b!.length, 0)
  })
})
