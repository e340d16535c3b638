/**
 * D13 (clock skew): a worker measures its clock against the store's and claims nothing while they
 * differ by more than a sixth of its lease, logging an error; once they agree again, it goes on.
 * The store's clock is a memory store's with an offset the test moves (PostgreSQL's own clock is
 * measured in test/robustness-pg.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Schema } from "effect"
import { Client, ExecutionLog, Flow, Scheduler, Worker } from "ergon"
import * as skew from "../src/internal/skew.js"

describe("clock skew", () => {
  it("the bound is a sixth of the lease; a measurement counts only beyond its uncertainty", () => {
    assert.strictEqual(skew.boundFor(30_000), 5_000)
    assert.isTrue(skew.beyond({ offsetMillis: 6_000, uncertaintyMillis: 500 }, 5_000))
    assert.isTrue(skew.beyond({ offsetMillis: -6_000, uncertaintyMillis: 500 }, 5_000))
    assert.isFalse(skew.beyond({ offsetMillis: 5_400, uncertaintyMillis: 500 }, 5_000))
  })

  it.live("a worker whose clock is off the store's by more than the bound claims nothing and logs an error, then recovers", () =>
    Effect.gen(function*() {
      let offset = 60_000
      const backend: ExecutionLog.Encoded = {
        ...ExecutionLog.makeMemoryBackend(),
        storeTime: Effect.sync(() => Date.now() + offset)
      }
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => void logs.push(JSON.stringify(message)))
      const Doubler = Flow.make("skewed-doubler", { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
      const program = Effect.gen(function*() {
        const handle = yield* Scheduler.make().unversioned().schedule(Doubler, 21)
        // lease 3 s: bound 500 ms, checked every second
        const worker = yield* Effect.fork(
          Worker.make("skewed").unversioned().register(Doubler).withLease("3 seconds").withPollInterval("50 millis").run()
        )
        // Once the worker has measured the skew (progress, not a fixed time), and a few more polls:
        // nothing is claimed while the clocks disagree.
        while (!logs.some((line) => line.includes("clock-skew"))) yield* Effect.sleep("20 millis")
        yield* Effect.sleep("500 millis")
        assert.strictEqual(yield* Client.status(handle.id), "pending")
        assert.isTrue(logs.some((line) => line.includes("clock-skew") && line.includes("60000")), logs.join("\n"))
        offset = 0
        const result = yield* handle.await.pipe(Effect.timeout("10 seconds"))
        yield* Fiber.interrupt(worker)
        return result
      })
      const result = yield* program.pipe(
        Effect.provide(Layer.merge(ExecutionLog.layerBackend(backend), Logger.replace(Logger.defaultLogger, logger)))
      )
      assert.strictEqual(result, 42)
      assert.isTrue(logs.some((line) => line.includes("clock-skew-resolved")), logs.join("\n"))
    }))

  it.effect("stores without a clock of their own (memory, SQLite) are not measured", () =>
    Effect.gen(function*() {
      const log = ExecutionLog.makeUnsafe(ExecutionLog.makeMemoryBackend())
      assert.strictEqual(yield* skew.measure(log), undefined)
    }))
})
