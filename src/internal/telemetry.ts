import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/**
 * Traces and metrics of the engine, on Effect's own `Tracer` and `Metric` (so `@effect/opentelemetry`
 * exports them). The engine calls the wrappers here at a few points: an execution, a step attempt
 * (or its replay), a wait; the worker and the scheduler use the metrics and the trace context.
 */

// ---------------------------------------------------------------------------------------------
// Span names and attributes
// ---------------------------------------------------------------------------------------------

export const SpanNames = {
  schedule: "ergon.schedule",
  execute: "ergon.execute",
  step: "ergon.step",
  wait: "ergon.wait",
  worker: "ergon.worker"
} as const

export const Attributes = {
  flowId: "ergon.flow.id",
  flowType: "ergon.flow.type",
  version: "ergon.flow.version",
  attempt: "ergon.flow.attempt",
  resumed: "ergon.flow.resumed",
  outcome: "ergon.flow.outcome",
  stepName: "ergon.step.name",
  key: "ergon.step.key",
  stepAttempt: "ergon.step.attempt",
  replayed: "ergon.step.replayed",
  waitKind: "ergon.wait.kind",
  waitUntil: "ergon.wait.until",
  suspended: "ergon.wait.suspended",
  worker: "ergon.worker.name",
  workerId: "ergon.worker.id"
} as const

// ---------------------------------------------------------------------------------------------
// Trace context stored with a flow (W3C traceparent)
// ---------------------------------------------------------------------------------------------

/** A span as a W3C `traceparent` header value. */
export const traceParentOf = (span: Tracer.AnySpan): string =>
  `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

const traceParentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** Reads a stored `traceparent` back as an external span (to link to); `undefined` when it is not one. */
export const parseTraceParent = (text: string | null | undefined): Tracer.ExternalSpan | undefined => {
  if (text === null || text === undefined) return undefined
  const match = traceParentPattern.exec(text)
  if (match === null) return undefined
  return Tracer.externalSpan({
    traceId: match[1]!,
    spanId: match[2]!,
    sampled: (parseInt(match[3]!, 16) & 1) === 1
  })
}

/** The current span as a `traceparent`, or `null` outside any span. */
export const currentTraceParent: Effect.Effect<string | null> = Effect.map(
  Effect.option(Effect.currentParentSpan),
  Option.match({ onNone: () => null, onSome: traceParentOf })
)

/** Runs `effect` with no parent span: its spans start new traces (an execution under a worker). */
export const withoutParentSpan = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(effect, (context: Context.Context<R>) => Context.omit(Tracer.ParentSpan)(context) as Context.Context<R>)
