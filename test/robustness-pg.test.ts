/**
 * The robustness suite on PostgreSQL, and what only PostgreSQL has: the listening connection
 * terminated while it is closed (D6), connection URLs and their secrets (D12), the server's clock
 * (D13), and ids at the index limit (D2: the suite's longest id is written and read here).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as util from "node:util"
import { ExecutionLog } from "../src/ExecutionLog.js"
import { StoreError } from "../src/FlowError.js"
import * as Pg from "../src/pg.js"
import { suite } from "./conformance/robustness.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

const store = (schema: string) =>
  Layer.unwrapEffect(
    Effect.map(
      Effect.tryPromise({ try: () => Server.start(), catch: (cause) => cause }),
      (server) => Pg.layer({ url: server.url(), schema })
    )
  )

suite("PostgreSQL", store("robustness"))

/** Opens the store with `options` and returns the `StoreError` it must fail with. */
const openFailure = (options: Pg.Options) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Layer.build(Pg.layer({ connectTimeout: "2 seconds", ...options }))))
    assert.isTrue(Exit.isFailure(exit), "the store opened")
    const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
    assert.instanceOf(error, StoreError, String(Exit.isFailure(exit) ? exit.cause : ""))
    return error as StoreError
  })

/** Every way an error can reach a log: its message, detail, cause, and a deep inspection. */
const everyRendering = (error: StoreError): string =>
  [error.message, error.detail, String(error.cause), util.inspect(error, { depth: 10 }), JSON.stringify(error)].join("\n")

describe("ergon/pg: connection URLs never leak their password (D12)", () => {
  const secret = "s3cret-Pa55word"
  for (
    const [label, url] of [
      ["a URL that does not parse", `postgresql://ergon:${secret}@[not-a-host/db`],
      ["a URL without //", `postgresql:ergon:${secret}@127.0.0.1:1/db`],
      ["a URL of another scheme", `mysql://ergon:${secret}@127.0.0.1:1/db`],
      ["a URL with a port that is not a number", `postgresql://ergon:${secret}@127.0.0.1:port/db`],
      ["a URL whose password is percent-encoded", `postgresql://ergon:${encodeURIComponent(`${secret}/@:`)}@127.0.0.1:1/db`]
    ] as const
  ) {
    it.live(`${label}: a StoreError 'open' without the password anywhere`, () =>
      Effect.gen(function*() {
        const error = yield* openFailure({ url })
        assert.strictEqual(error.operation, "open")
        const text = everyRendering(error)
        assert.notInclude(text, secret)
        assert.notInclude(text, encodeURIComponent(`${secret}/@:`))
      }))
  }

  it.live("a URL without // is refused, not used to connect to localhost", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      // Parsed as a path, this URL named no host: it would have connected to localhost:5432.
      const error = yield* openFailure({ url: `postgresql:${server.username}:${server.password}@127.0.0.1:${server.port}/postgres` })
      assert.include(error.message, "names no host")
      assert.notInclude(everyRendering(error), server.password)
    }))

  it.live("a wrong password: the message names the user, and no rendering holds the password", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const error = yield* openFailure({ url: `postgresql://${server.username}:${secret}@127.0.0.1:${server.port}/postgres` })
      assert.include(error.message, "password authentication failed")
      assert.notInclude(everyRendering(error), secret)
    }))
})

describe("ergon/pg: the listening connection (D6)", () => {
  it.live("terminated by the server while it is being closed, 40 times: no uncaught error, the store goes on", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const database = yield* Effect.promise(() => server.createDatabase(`listen_${Date.now()}`))
      const uncaught: Array<unknown> = []
      const onUncaught = (error: unknown) => void uncaught.push(error)
      process.on("uncaughtException", onUncaught)
      try {
        yield* Effect.scoped(Effect.gen(function*() {
          const context = yield* Layer.build(Pg.layer({ url: server.url(database) }))
          const log = Context.get(context, ExecutionLog)
          const sql = Context.get(context, SqlClient.SqlClient)
          const listeners = sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = ${database} AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`
          for (let trial = 0; trial < 40; trial++) {
            // Subscribe, wait until the connection listens, then close it while the server ends it.
            yield* Effect.scoped(Effect.gen(function*() {
              yield* Effect.forkScoped(Stream.runDrain(log.changes!))
              let pids: ReadonlyArray<{ pid: number }> = []
              for (let i = 0; i < 200 && pids.length === 0; i++) {
                yield* Effect.sleep("10 millis")
                pids = yield* listeners
              }
              assert.isAbove(pids.length, 0, "the subscription never listened")
              yield* Effect.forkDaemon(Effect.zipRight(
                Effect.sleep(`${trial % 4} millis`),
                sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database} AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`
              ))
            }))
          }
          // Give late socket errors the time to arrive.
          yield* Effect.sleep("300 millis")
          // The store still answers.
          assert.isTrue(yield* Effect.map(log.getFlow("nothing"), (found) => found._tag === "None"))
        }))
      } finally {
        process.off("uncaughtException", onUncaught)
      }
      assert.deepStrictEqual(uncaught.map(String), [], "an 'error' event went unhandled")
    }), 120_000)
})

describe("ergon/pg: the server's clock (D13)", () => {
  it.live("storeTime is PostgreSQL's clock, in epoch milliseconds (this machine's, within a second)", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const time = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Pg.layer({ url: Redacted.make(server.url()) }))
        const log = Context.get(context, ExecutionLog)
        assert.isDefined(log.storeTime)
        return yield* log.storeTime!
      }))
      assert.isBelow(Math.abs(time - Date.now()), 1_000)
    }))
})
