import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { ExecutionLog, Executor, Flow, Step } from "../src/index.js"

describe("smoke", () => {
  it.effect("runs and replays", () =>
    Effect.gen(function*() {
      let runs = 0
      const double = Step.make("double", {
        success: Schema.Number,
        run: (n: number) => Effect.sync(() => { runs++; return n * 2 })
      })
      const flow = Flow.make("smoke", {
        input: Schema.Number,
        success: Schema.Number,
        run: (n) => Effect.gen(function*() {
          const a = yield* double(n)
          const b = yield* double(a)
          const t = yield* Flow.now
          return a + b + t * 0
        })
      })
      const o1 = yield* Executor.execute(flow, 3, { id: "f1" })
      const o2 = yield* Executor.execute(flow, 3, { id: "f1" })
      assert.strictEqual(runs, 2)
      assert.deepStrictEqual(o1, { _tag: "Completed", exit: Exit.succeed(18) })
      assert.deepStrictEqual(o2._tag, "Completed")
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))
})
