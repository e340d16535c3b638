/**
 * The PostgreSQL store's pool: a statement that waits for a free connection (all of them busy)
 * waits up to `acquireTimeout`, not `connectTimeout` (a busy pool is not a failed connection), and
 * fails with a `StoreError` once that has passed. (`acquireTimeout` is never shorter than
 * `connectTimeout`: node-postgres bounds the opening of a connection by it too.)
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ExecutionLog } from "../src/ExecutionLog.js"
import { StoreError } from "../src/FlowError.js"
import * as Pg from "../src/pg.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

let databases = 0
const fresh = Effect.gen(function*() {
  const server = yield* Effect.promise(() => Server.start())
  const database = yield* Effect.promise(() => server.createDatabase(`pool_${Date.now().toString(36)}_${++databases}`))
  return server.url(database)
})

/**
 * Holds the pool's only connection (a transaction that waits) for `holdMillis`, and meanwhile asks
 * the store for a flow: the outcome of that read, and how long it waited.
 */
const readWhileHeld = (options: Pick<Pg.Options, "connectTimeout" | "acquireTimeout">, holdMillis: number) =>
  Effect.gen(function*() {
    const url = yield* fresh
    const layer = Pg.layer({ url, maxConnections: 1, ...options })
    return yield* Effect.gen(function*() {
      const log = yield* ExecutionLog
      const sql = yield* SqlClient.SqlClient
      const holding = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(sql.withTransaction(
        Effect.zipRight(Deferred.succeed(holding, undefined), Effect.sleep(holdMillis))
      ))
      yield* Deferred.await(holding)
      const exit = yield* Effect.exit(log.getFlow("none"))
      // whether the connection was still held when the read returned (the holder had not let go)
      const stillHeld = holder.unsafePoll() === null
      yield* Fiber.join(holder)
      return { exit, stillHeld }
    }).pipe(Effect.provide(Layer.fresh(layer)))
  })

describe("ergon/pg: waiting for a pooled connection", () => {
  it.live("a busy pool is waited for past connectTimeout, up to acquireTimeout", () =>
    Effect.gen(function*() {
      const { exit, stillHeld } = yield* readWhileHeld({ connectTimeout: "1 second", acquireTimeout: "30 seconds" }, 2_500)
      assert.deepStrictEqual(exit, Exit.succeed(Option.none()))
      // it waited for the connection to be free: the holder (2.5 s, past connectTimeout) let go first
      assert.isFalse(stillHeld)
    }), 30_000)

  it.live("past acquireTimeout, the statement fails with a StoreError that says so", () =>
    Effect.gen(function*() {
      const { exit, stillHeld } = yield* readWhileHeld({ connectTimeout: "1 second", acquireTimeout: "1200 millis" }, 4_000)
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(failure) && failure.value instanceof StoreError, "expected a StoreError")
      const error = (failure as Option.Some<StoreError>).value
      assert.strictEqual(error.operation, "getFlow")
      assert.include(error.detail, "timeout")
      // it gave up while the connection was still held, not once it came free
      assert.isTrue(stillHeld)
    }), 30_000)

  it.live("an acquireTimeout that is not a positive duration is refused when the store opens", () =>
    Effect.gen(function*() {
      const url = yield* fresh
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Pg.layer({ url, acquireTimeout: "soon" as never }))))
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(failure) && failure.value instanceof StoreError)
      assert.include((failure as Option.Some<StoreError>).value.detail, "acquireTimeout")
    }))
})
