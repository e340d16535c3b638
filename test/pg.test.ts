import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as net from "node:net"
import * as Pg from "../src/pg.js"
import { StoreError } from "../src/FlowError.js"
import * as Backend from "./conformance/backend.js"
import * as Engine from "./conformance/engine.js"
import * as LongLived from "./conformance/longlived.js"
import * as Replay from "./conformance/replay.js"
import * as Registry from "./conformance/registry.js"
import * as Upgrade from "./conformance/upgrade.js"
import * as Workers from "./conformance/workers.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

// Each suite gets its own schema of the one server, so suites never see each other's flows.
const store = (schema: string) =>
  Layer.unwrapEffect(
    Effect.map(
      Effect.tryPromise({ try: () => Server.start(), catch: (cause) => cause }),
      (server) =>
        Pg.layer({
          host: server.host,
          port: server.port,
          database: "postgres",
          username: server.username,
          password: Redacted.make(server.password),
          schema
        })
    )
  )

Backend.suite("ExecutionLog conformance: PostgreSQL", store("conformance"))
Engine.suite("PostgreSQL", store("engine"))
Workers.suite("PostgreSQL", store("workers"))
Replay.suite("PostgreSQL", store("replay"))
LongLived.suite("PostgreSQL", store("longlived"))
Registry.suite("PostgreSQL", store("registry"))
Upgrade.suite("PostgreSQL", store("upgrade"))

// A port nothing listens on: one that was free a moment ago.
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const openFailure = (options: Pg.Options) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Layer.build(Pg.layer(options))))
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isSuccess(exit)) throw new Error("unreachable")
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    assert.instanceOf(error, StoreError, `expected a StoreError, got ${String(exit.cause)}`)
    return error as StoreError
  })

describe("ergon/pg: opening", () => {
  it.live("an unreachable database fails fast with a StoreError naming host and port", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const started = Date.now()
      const error = yield* openFailure({ url: `postgresql://ergon:secret@127.0.0.1:${port}/ergon` })
      assert.isBelow(Date.now() - started, 5_000)
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.notInclude(error.message, "secret")
    }))

  it.live("a wrong password fails with a StoreError naming the user", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const error = yield* openFailure({
        host: server.host,
        port: server.port,
        database: "postgres",
        username: server.username,
        password: "not-the-password"
      })
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, `'${server.username}'`)
      assert.include(error.message, "password authentication failed")
      assert.notInclude(error.message, "not-the-password")
    }))

  it.live("a schema name that is not a plain identifier is a StoreError", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const error = yield* openFailure({ url: server.url(), schema: "bad\"name" })
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, "schema")
    }))
})
