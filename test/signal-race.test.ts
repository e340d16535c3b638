/**
 * A signal whose insert lands after its flow read "no signal" but before the sender looks at the
 * flow must still wake it: the sender reads the flow after its insert (regression test for a lost
 * wake-up found by the multi-process crash test).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Client, ExecutionLog, Flow, Scheduler, Step, Worker } from "ergon"

describe("signals", () => {
  it.live("a signal inserted while its flow suspends still wakes it", () =>
    Effect.gen(function*() {
      const inStep = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const base = ExecutionLog.makeMemoryBackend()
      // the sender's insert is held until the flow has suspended
      const backend: ExecutionLog.Encoded = {
        ...base,
        insertSignal: (...args) => Effect.zipRight(Deferred.await(gate), base.insertSignal(...args))
      }
      const work = Step.make("work", { run: () => Effect.zipRight(Deferred.succeed(inStep, undefined), Deferred.await(release)) })
      const Waiter = Flow.make("waiter", {
        input: Schema.Void,
        success: Schema.String,
        run: () => Effect.zipRight(work(), Flow.awaitSignal("go", Schema.String))
      })
      const result = yield* Effect.gen(function*() {
        const handle = yield* Scheduler.make().unversioned().schedule(Waiter, undefined)
        const worker = yield* Effect.fork(Worker.make("w").unversioned().register(Waiter).withPollInterval("1 hour").run())
        yield* Deferred.await(inStep) // the flow is running
        const sender = yield* Effect.fork(Client.signal(handle.id, "go", Schema.String, "now"))
        yield* Effect.sleep("20 millis")
        yield* Deferred.succeed(release, undefined) // the flow finds no signal and suspends
        while ((yield* Client.status(handle.id)) !== "suspended") yield* Effect.sleep("5 millis")
        yield* Deferred.succeed(gate, undefined) // now the insert lands
        yield* Fiber.join(sender)
        const value = yield* handle.await.pipe(Effect.timeout("5 seconds"))
        yield* Fiber.interrupt(worker)
        return value
      }).pipe(Effect.provide(ExecutionLog.layerBackend(backend)))
      assert.strictEqual(result, "now")
    }))
})
