import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ExecutionLog } from "../src/ExecutionLog.js"
import { StoreError } from "../src/FlowError.js"
import * as Migrations from "../src/sql/migrations.js"
import * as Sqlite from "../src/sqlite.js"
import { makeRecords, T0 } from "./fixtures/records.js"

const directory = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-sqlite-"))
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }))

let files = 0
const freshFile = (): string => path.join(directory, `store-${++files}.db`)

const { flowRecord, stepRecord } = makeRecords("sqlite-test")

/** Runs `effect` against a store opened with `options`, closing it afterwards. */
const withStore = <A, E>(
  options: Sqlite.Options,
  effect: Effect.Effect<A, E, ExecutionLog | SqlClient.SqlClient>
): Effect.Effect<A, E | StoreError> => Effect.provide(effect, Sqlite.layer(options))

/** Reads a pragma (`PRAGMA busy_timeout` names its column `timeout`). */
const pragma = (name: string, column: string = name) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql.unsafe<Record<string, unknown>>(`PRAGMA ${name}`)
    return rows[0]?.[column]
  })

/** Asserts that `exit` failed (not died) with a `StoreError` for `operation`, and returns it. */
const assertStoreError = <A>(exit: Exit.Exit<A, unknown>, operation: string): StoreError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure), `expected a typed failure, got ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
  const error = Option.getOrUndefined(failure)
  assert.instanceOf(error, StoreError)
  const storeError = error as StoreError
  assert.strictEqual(storeError.operation, operation, storeError.detail)
  return storeError
}

describe("ergon/sqlite", () => {
  describe("synchronous level and WAL", () => {
    for (const [level, value] of [["FULL", 2], ["NORMAL", 1]] as const) {
      it.effect(`a reopened file reports synchronous = ${level} and journal_mode = wal`, () =>
        Effect.gen(function*() {
          const filename = freshFile()
          // Create the file in WAL mode with the other level, then reopen it.
          const other = level === "FULL" ? "NORMAL" : "FULL"
          yield* withStore({ filename, synchronous: other }, Effect.void)
          const [synchronous, journalMode] = yield* withStore(
            { filename, synchronous: level },
            Effect.all([pragma("synchronous"), pragma("journal_mode")])
          )
          assert.strictEqual(synchronous, value)
          assert.strictEqual(journalMode, "wal")
        }))
    }

    it.effect("synchronous defaults to FULL, busy_timeout to 5 seconds; both can be set", () =>
      Effect.gen(function*() {
        const filename = freshFile()
        yield* withStore({ filename }, Effect.void)
        const defaults = yield* withStore({ filename }, Effect.all([pragma("synchronous"), pragma("busy_timeout", "timeout")]))
        assert.deepStrictEqual(defaults, [2, 5000])
        const set = yield* withStore(
          { filename, busyTimeout: "250 millis", synchronous: "NORMAL" },
          Effect.all([pragma("synchronous"), pragma("busy_timeout", "timeout")])
        )
        assert.deepStrictEqual(set, [1, 250])
      }))

    it.effect("foreign keys are on", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* withStore({ filename: freshFile() }, pragma("foreign_keys")), 1)
      }))
  })

  describe("a path that cannot be opened", () => {
    it.effect("a missing folder gives StoreError 'open' naming the path", () =>
      Effect.gen(function*() {
        const filename = path.join(directory, "no-such-folder", "store.db")
        const exit = yield* Effect.exit(withStore({ filename }, Effect.void))
        const error = assertStoreError(exit, "open")
        assert.include(error.detail, filename)
        assert.isFalse(fs.existsSync(path.dirname(filename)), "the folder is not created")
      }))

    it.effect("a path that is a folder gives StoreError 'open' naming the path", () =>
      Effect.gen(function*() {
        const folder = fs.mkdtempSync(path.join(directory, "folder-"))
        const error = yield* Effect.flip(withStore({ filename: folder }, Effect.void))
        assert.instanceOf(error, StoreError)
        assert.strictEqual(error.operation, "open")
        assert.include(error.detail, folder)
      }))

    it.effect("an invalid option gives StoreError 'open'", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(withStore({ filename: freshFile(), busyTimeout: "soon" as never }, Effect.void))
        assertStoreError(exit, "open")
      }))
  })

  describe("a store that cannot be written", () => {
    it.effect("readonly: reads work, every write fails with a typed StoreError", () =>
      Effect.gen(function*() {
        const filename = freshFile()
        yield* withStore(
          { filename },
          Effect.flatMap(ExecutionLog, (log) => log.insertFlow(flowRecord("existing")))
        )
        yield* withStore(
          { filename, readonly: true },
          Effect.gen(function*() {
            const log = yield* ExecutionLog
            assert.isTrue(Option.isSome(yield* log.getFlow("existing")))
            const insert = assertStoreError(yield* Effect.exit(log.insertFlow(flowRecord("new"))), "insertFlow")
            assert.include(insert.detail, "readonly")
            assertStoreError(yield* Effect.exit(log.putStep(stepRecord("existing", "a"))), "putStep")
            assertStoreError(
              yield* Effect.exit(log.updateFlow("existing", { status: "completed", updatedAt: T0 })),
              "updateFlow"
            )
            assert.deepStrictEqual(yield* log.getFlow("existing"), Option.some(flowRecord("existing")))
          })
        )
      }))

    it.effect("readonly over a file that was never migrated gives StoreError 'migrate'", () =>
      Effect.gen(function*() {
        const filename = freshFile()
        fs.writeFileSync(filename, "")
        const exit = yield* Effect.exit(withStore({ filename, readonly: true }, Effect.void))
        assertStoreError(exit, "migrate")
      }))

    it.effect.skipIf(process.getuid?.() === 0)("a file without write permission gives a typed StoreError", () =>
      Effect.gen(function*() {
        const filename = freshFile()
        yield* withStore({ filename }, Effect.void)
        fs.chmodSync(filename, 0o444)
        const exit = yield* Effect.exit(
          withStore({ filename }, Effect.flatMap(ExecutionLog, (log) => log.insertFlow(flowRecord("new"))))
        )
        assert.isTrue(Exit.isFailure(exit))
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.instanceOf(Option.getOrUndefined(failure), StoreError)
      }))
  })

  // D7: SQLite opens a file it may not write read-only, silently; the store used to say ready and
  // fail every claim forever (even once the file was writable again). As root, file modes do not
  // stop writes: the immutable attribute (chattr +i) does, where the file system has it.
  describe("a file this process may not write (D7)", () => {
    const immutable = (filename: string, on: boolean): boolean => {
      try {
        execFileSync("chattr", [on ? "+i" : "-i", filename], { stdio: "ignore" })
        return true
      } catch {
        return false
      }
    }
    const filename = freshFile()
    fs.writeFileSync(filename, "")
    const canLock = immutable(filename, true) && immutable(filename, false)

    it.effect.skipIf(!canLock)("is a StoreError 'open' saying it opened read-only; once writable, it opens and works", () =>
      Effect.gen(function*() {
        const file = freshFile()
        yield* withStore({ filename: file }, Effect.void)
        immutable(file, true)
        const exit = yield* Effect.exit(withStore({ filename: file }, Effect.void)).pipe(
          Effect.ensuring(Effect.sync(() => immutable(file, false)))
        )
        const error = assertStoreError(exit, "open")
        assert.include(error.detail, "read-only")
        assert.include(error.detail, file)
        // Writable again: a new store opens and writes.
        yield* withStore({ filename: file }, Effect.flatMap(ExecutionLog, (log) => log.insertFlow(flowRecord("after"))))
        assert.isTrue(Option.isSome(yield* withStore({ filename: file }, Effect.flatMap(ExecutionLog, (log) => log.getFlow("after")))))
      }))
  })

  it.effect("integers come back as JS numbers, also with SafeIntegers on", () =>
    withStore(
      { filename: freshFile() },
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const big = Number.MAX_SAFE_INTEGER
        yield* log.insertFlow(flowRecord("numbers", { createdAt: big, leaseEpoch: big, runAfter: big, attempts: 3 }))
        yield* log.putStep({ ...stepRecord("numbers", "a"), startedAt: big, attempts: 2 })
        const loaded = yield* yield* log.loadFlow("numbers")
        const listed = yield* log.listFlows({ type: "sqlite-test" })
        for (const value of [
          loaded.flow.createdAt,
          loaded.flow.leaseEpoch,
          loaded.flow.runAfter,
          loaded.flow.attempts,
          loaded.steps[0]!.startedAt,
          loaded.steps[0]!.attempts,
          listed[0]!.createdAt
        ]) {
          assert.strictEqual(typeof value, "number")
        }
        assert.strictEqual(loaded.flow.createdAt, big)
      }).pipe(Effect.provideService(SqlClient.SafeIntegers, true))
    ))

  // Through the client's statement path (group commit off), where a Statement transformer can inject it.
  it.effect("a driver defect becomes a StoreError, not a defect", () =>
    withStore(
      { filename: freshFile(), groupCommit: false },
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const explode = Statement.withTransformer(() => Effect.die(new Error("driver exploded")))
        const error = assertStoreError(yield* Effect.exit(explode(log.insertFlow(flowRecord("boom")))), "insertFlow")
        assert.include(error.detail, "driver exploded")
        assertStoreError(yield* Effect.exit(explode(log.loadFlow("boom"))), "loadFlow")
        assertStoreError(yield* Effect.exit(explode(log.listFlows({}))), "listFlows")
      })
    ))

  it.effect("migrations are idempotent: a file opened again keeps its data and migrates once", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      yield* withStore({ filename }, Effect.flatMap(ExecutionLog, (log) => log.insertFlow(flowRecord("kept"))))
      const [flow, migrations] = yield* withStore(
        { filename },
        Effect.gen(function*() {
          const log = yield* ExecutionLog
          const sql = yield* SqlClient.SqlClient
          return [
            yield* log.getFlow("kept"),
            yield* sql<{ readonly migration_id: number }>`SELECT migration_id FROM ergon_migrations`
          ] as const
        })
      )
      assert.deepStrictEqual(flow, Option.some(flowRecord("kept")))
      assert.deepStrictEqual(
        migrations.map((row) => row.migration_id),
        Object.keys(Migrations.migrations).map((key) => Number(key.split("_")[0]))
      )
      // A third time, in read-only mode: nothing left to apply, so nothing to write.
      yield* withStore({ filename, readonly: true }, Effect.void)
    }))

  it.effect("two layers over one file interleaving writes lose none", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = freshFile()
      const a = Context.get(yield* Layer.build(Sqlite.layer({ filename })), ExecutionLog)
      const b = Context.get(yield* Layer.build(Sqlite.layer({ filename })), ExecutionLog)
      assert.isTrue(yield* a.insertFlow(flowRecord("shared")))
      const writes = Array.from({ length: 100 }, (_, i) => {
        const log = i % 2 === 0 ? a : b
        return Effect.all([
          log.putStep(stepRecord("shared", `step-${String(i).padStart(3, "0")}`)),
          log.updateFlow("shared", { incrementAttempts: true, updatedAt: T0 + i })
        ])
      })
      const results = yield* Effect.all(writes, { concurrency: "unbounded" })
      assert.isTrue(results.every(([put, updated]) => put && updated))
      for (const log of [a, b]) {
        const loaded = yield* yield* log.loadFlow("shared")
        assert.strictEqual(loaded.steps.length, 100)
        assert.strictEqual(loaded.flow.attempts, 100)
      }
    })))

  it.effect("layerConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const layer = Sqlite.layerConfig({
        filename: Config.string("ERGON_SQLITE_FILE"),
        synchronous: Config.literal("FULL", "NORMAL")("ERGON_SQLITE_SYNCHRONOUS")
      })
      const synchronous = yield* pragma("synchronous").pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["ERGON_SQLITE_FILE", filename], ["ERGON_SQLITE_SYNCHRONOUS", "NORMAL"]]))
        )
      )
      assert.strictEqual(synchronous, 1)
      assert.isTrue(fs.existsSync(filename))
    }))

  it.effect("layerInMemory gives a private, working store", () =>
    Effect.gen(function*() {
      const log = yield* ExecutionLog
      assert.isTrue(yield* log.insertFlow(flowRecord("memory")))
      assert.isTrue(yield* log.putStep(stepRecord("memory", "a")))
      assert.strictEqual((yield* yield* log.loadFlow("memory")).steps.length, 1)
    }).pipe(Effect.provide(Sqlite.layerInMemory())))
})
