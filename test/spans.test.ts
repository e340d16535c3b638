/**
 * Spans only when a tracer that exports is installed: without one (Effect's built-in tracer), an
 * execution and its steps make none, so the hot path does not pay for spans nobody reads; with one
 * (any other tracer, here a recording one), each execution and step attempt has its span.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import * as ExecutionLog from "../src/ExecutionLog.js"
import * as Executor from "../src/Executor.js"
import * as Flow from "../src/Flow.js"
import * as Step from "../src/Step.js"

/** The span current inside the step's run, by name (none when there is no span). */
const seen: Array<string> = []
const look = Step.make("look", {
  success: Schema.Number,
  run: (x: number) =>
    Effect.map(Effect.option(Effect.currentSpan), (span) => {
      seen.push(Option.match(span, { onNone: () => "(none)", onSome: (s) => s.name }))
      return x + 1
    })
})
const Looking = Flow.make("spans-looking", {
  input: Schema.Number,
  success: Schema.Number,
  run: (x) => look(x)
})

/** Runs the flow to its end; its value. */
const runLooking = (id: string) =>
  Effect.flatMap(Executor.execute(Looking, 1, { id }), (outcome) =>
    Executor.isCompleted(outcome) ? outcome.exit : Effect.dieMessage("the flow did not complete"))

/** A tracer that records the names of the spans it starts (it is not Effect's built-in one). */
const recording = () => {
  const names: Array<string> = []
  const native = Effect.runSync(Effect.tracer)
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      names.push(name)
      return native.span(name, parent, context, links, startTime, kind, options)
    },
    context: (f) => f()
  })
  return { names, tracer }
}

/**
 * Runs the flow once under `setting` (nothing, a recording tracer, that tracer with tracing off):
 * the span seen inside its step, and the names of the spans the tracer was asked for.
 */
const spansUnder = (setting: "no tracer" | "tracer" | "tracer, tracing off") => {
  const { names, tracer } = recording()
  const run = Effect.gen(function*() {
    seen.length = 0
    assert.strictEqual(yield* runLooking(`spans-${setting}`), 2)
    return { inStep: [...seen], started: names }
  })
  const traced = setting === "no tracer" ? run : Effect.withTracer(run, tracer)
  return (setting === "tracer, tracing off" ? Effect.withTracerEnabled(traced, false) : traced).pipe(
    Effect.provide(ExecutionLog.layerMemory)
  )
}

describe("spans", () => {
  it.effect("without a tracer that exports, an execution and its steps make no span", () =>
    Effect.map(spansUnder("no tracer"), ({ inStep }) => assert.deepStrictEqual(inStep, ["(none)"])))

  it.effect("with one, each execution and each step attempt has its span", () =>
    Effect.map(spansUnder("tracer"), ({ inStep, started }) => {
      assert.deepStrictEqual(inStep, ["ergon.step"])
      assert.includeMembers(started, ["ergon.execute", "ergon.step"])
    }))

  it.effect("tracing turned off: no span, even with a tracer installed", () =>
    Effect.map(spansUnder("tracer, tracing off"), ({ inStep, started }) => {
      assert.deepStrictEqual(inStep, ["(none)"])
      assert.notInclude(started, "ergon.step")
    }))
})
