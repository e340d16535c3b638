import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import type { FlowInstance, SingleReason } from "./instance.js"

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
  /** The signal's name, or the child flow's id. */
  waitName: "ergon.wait.name",
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

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/** Milliseconds, from 1 ms to about 9 hours, doubling. */
const millisBoundaries = MetricBoundaries.exponential({ start: 1, factor: 2, count: 25 })

const Keys = {
  flowsScheduled: MetricKey.counter("ergon.flows.scheduled", {
    description: "Flows written by `schedule` (an id that existed is not counted)",
    incremental: true
  }),
  flowsStarted: MetricKey.counter("ergon.flows.started", {
    description: "Flows whose first execution started",
    incremental: true
  }),
  flowsCompleted: MetricKey.counter("ergon.flows.completed", {
    description: "Flows that ended with a success",
    incremental: true
  }),
  flowsFailed: MetricKey.counter("ergon.flows.failed", {
    description: "Flows that ended with their own failure (ergon.failure=flow) or were stopped by an engine error (ergon.failure=engine)",
    incremental: true
  }),
  stepDuration: MetricKey.histogram(
    "ergon.step.duration",
    millisBoundaries,
    "Duration of step attempts that ran (not replayed), in milliseconds"
  ),
  stepRetries: MetricKey.counter("ergon.step.retries", {
    description: "Step attempts after the first (retries)",
    incremental: true
  }),
  claimLatency: MetricKey.histogram(
    "ergon.claim.latency",
    millisBoundaries,
    "Time from a flow becoming ready (due, or its lease expired) to a worker claiming it, in milliseconds"
  ),
  leasesLost: MetricKey.counter("ergon.leases.lost", {
    description: "Leases a worker lost while it ran the flow (taken over after it stalled, or cancelled)",
    incremental: true
  }),
  executionsInFlight: MetricKey.gauge("ergon.executions.in_flight", {
    description: "Executions running in workers of this process"
  })
} as const

export const Metrics = {
  flowsScheduled: Metric.fromMetricKey(Keys.flowsScheduled),
  flowsStarted: Metric.fromMetricKey(Keys.flowsStarted),
  flowsCompleted: Metric.fromMetricKey(Keys.flowsCompleted),
  flowsFailed: Metric.fromMetricKey(Keys.flowsFailed),
  stepDuration: Metric.fromMetricKey(Keys.stepDuration),
  stepRetries: Metric.fromMetricKey(Keys.stepRetries),
  claimLatency: Metric.fromMetricKey(Keys.claimLatency),
  leasesLost: Metric.fromMetricKey(Keys.leasesLost),
  executionsInFlight: Metric.fromMetricKey(Keys.executionsInFlight)
} as const

// A metric tagged per call (`Metric.tagged`) finds its value in the registry by hashing its key
// and labels at every update; the engine updates a few per step. So each combination of labels is
// made once, with the labels in its key, and kept.
const taggedMetrics = new Map<string, Metric.Metric<any, any, any>>()
const withLabels = <Type extends MetricKeyType.MetricKeyType<any, any>>(
  key: MetricKey.MetricKey<Type>,
  labels: ReadonlyArray<readonly [string, string]>
): Metric.Metric<Type, MetricKeyType.MetricKeyType.InType<Type>, MetricKeyType.MetricKeyType.OutType<Type>> => {
  let id = key.name
  for (const [name, value] of labels) id += `\u0000${name}\u0000${value}`
  let metric = taggedMetrics.get(id)
  if (metric === undefined) {
    metric = Metric.fromMetricKey(
      MetricKey.taggedWithLabels(key, labels.map(([name, value]) => MetricLabel.make(name, value)))
    )
    taggedMetrics.set(id, metric)
  }
  return metric
}

const typeTagged = <Type extends MetricKeyType.MetricKeyType<any, any>>(key: MetricKey.MetricKey<Type>, flowType: string) =>
  withLabels(key, [[Attributes.flowType, flowType]])

export const countScheduled = (flowType: string): Effect.Effect<void> =>
  Metric.increment(typeTagged(Keys.flowsScheduled, flowType))

export const countLeaseLost = (flowType: string): Effect.Effect<void> =>
  Metric.increment(typeTagged(Keys.leasesLost, flowType))

export const recordClaimLatency = (flowType: string, millis: number): Effect.Effect<void> =>
  Metric.update(typeTagged(Keys.claimLatency, flowType), Math.max(0, millis))

export const inFlight = (delta: number): Effect.Effect<void> => Metric.incrementBy(Metrics.executionsInFlight, delta)

/** A step attempt's duration and, from its second attempt, a retry. */
export const stepRan = (name: string, attempt: number, exit: Exit.Exit<unknown, unknown>, millis: number): Effect.Effect<void> => {
  const duration = Metric.update(
    withLabels(Keys.stepDuration, [[Attributes.stepName, name], ["ergon.outcome", exitOutcome(exit)]]),
    millis
  )
  return attempt > 1
    ? Effect.zipRight(Metric.increment(withLabels(Keys.stepRetries, [[Attributes.stepName, name]])), duration)
    : duration
}

// ---------------------------------------------------------------------------------------------
// Whether spans are wanted
// ---------------------------------------------------------------------------------------------

/** Effect's built-in tracer: its spans go nowhere unless something reads them in the fiber. */
const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * Whether the engine makes spans here: tracing is on and a tracer other than Effect's built-in
 * one is installed (an exporter: `@effect/opentelemetry`, a test's). Without one, a span per
 * execution and per step would cost the hot path for nothing anyone reads.
 */
export const tracing: Effect.Effect<boolean> = Effect.withFiberRuntime((fiber) =>
  Effect.succeed(
    fiber.getFiberRef(FiberRef.currentTracerEnabled) &&
      Context.get(fiber.getFiberRef(DefaultServices.currentServices), Tracer.Tracer) !== nativeTracer
  )
)

// ---------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------

/** What an execution's wrapper learns from the execution itself (through `executionStarted`). */
export interface Execution {
  /** Whether it makes spans (see `tracing`). */
  readonly traced: boolean
  started: boolean
}

/** The outcome of an execution, as far as telemetry looks at it. */
type AnyOutcome =
  | { readonly _tag: "Completed"; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Suspended"; readonly reason: { readonly _tag: string } }

// Engine errors that stop a flow for good (until it is retried); a store error or a lost lease
// only stops this execution, and errors before the start (input, conflict) start nothing.
const engineFailures: ReadonlySet<string> = new Set(["NonDeterminismError", "CheckpointDecodeError", "CheckpointEncodeError"])

const failed = (flowType: string, failure: "flow" | "engine") =>
  Metric.increment(withLabels(Keys.flowsFailed, [[Attributes.flowType, flowType], ["ergon.failure", failure]]))

const outcomeAttribute = (execution: Execution, outcome: string): Effect.Effect<void> =>
  execution.traced ? Effect.annotateCurrentSpan(Attributes.outcome, outcome) : Effect.void

const settled = (execution: Execution, flowType: string, outcome: AnyOutcome): Effect.Effect<void> => {
  if (outcome._tag === "Suspended") return outcomeAttribute(execution, "suspended")
  const exit = outcome.exit
  if (Exit.isSuccess(exit)) {
    return Effect.zipRight(outcomeAttribute(execution, "completed"), Metric.increment(typeTagged(Keys.flowsCompleted, flowType)))
  }
  if (Cause.isInterruptedOnly(exit.cause)) return outcomeAttribute(execution, "cancelled")
  return Effect.zipRight(outcomeAttribute(execution, "failed"), failed(flowType, "flow"))
}

/**
 * The span of one execution of a flow (`ergon.execute`, when spans are wanted: see `tracing`), and
 * the flow metrics of its end. Its attributes are completed by `executionStarted`, once the flow is
 * loaded.
 */
export const execution = <O extends AnyOutcome, E extends { readonly _tag: string }, R>(
  flowId: string,
  flowType: string,
  /** A trace of its own (an execution under a worker), not a child of the current span. */
  root: boolean,
  effect: (execution: Execution) => Effect.Effect<O, E, R>
): Effect.Effect<O, E, R> =>
  Effect.flatMap(tracing, (traced) => {
    const state: Execution = { traced, started: false }
    const measured = Effect.tapBoth(effect(state), {
      onSuccess: (outcome) => (state.started ? settled(state, flowType, outcome) : Effect.void),
      onFailure: (error) =>
        state.started && engineFailures.has(error._tag)
          ? Effect.zipRight(outcomeAttribute(state, "failed"), failed(flowType, "engine"))
          : Effect.void
    })
    return traced
      ? Effect.withSpan(measured, SpanNames.execute, {
        kind: "consumer",
        root,
        attributes: { [Attributes.flowId]: flowId, [Attributes.flowType]: flowType },
        captureStackTrace: false
      })
      : measured
  })

/**
 * Called by the executor once the flow is loaded and marked running: annotates the execution's
 * span (version, attempt, resumed), links it to the span the flow was written in (the one that
 * scheduled it, or its parent's), and counts a flow's first start.
 */
export const executionStarted = (execution: Execution, fields: {
  readonly flowType: string
  readonly version: string | null
  readonly attempt: number
  readonly resumed: boolean
  readonly traceContext: string | null | undefined
}): Effect.Effect<void> => {
  const first = !execution.started
  execution.started = true
  const count = first && !fields.resumed ? Metric.increment(typeTagged(Keys.flowsStarted, fields.flowType)) : Effect.void
  if (!execution.traced) return count
  const annotate = Effect.annotateCurrentSpan({
    [Attributes.version]: fields.version ?? "",
    [Attributes.attempt]: fields.attempt,
    [Attributes.resumed]: fields.resumed
  })
  if (!first) return annotate
  const origin = parseTraceParent(fields.traceContext)
  const link = origin === undefined
    ? Effect.void
    : Effect.flatMap(Effect.option(Effect.currentSpan), (current) =>
      current._tag === "Some" && current.value.spanId === origin.spanId
        ? Effect.void
        : Effect.linkSpanCurrent(origin, { "ergon.link": "origin" }))
  return Effect.all([annotate, link, count], { discard: true })
}

const stepAttributes = (instance: FlowInstance.Service, name: string, key: string, attempt: number, replayed: boolean) => ({
  [Attributes.flowId]: instance.flowId,
  [Attributes.flowType]: instance.flowType,
  [Attributes.version]: instance.version ?? "",
  [Attributes.stepName]: name,
  [Attributes.key]: key,
  [Attributes.stepAttempt]: attempt,
  [Attributes.replayed]: replayed
})

const exitOutcome = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? "success" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failure"

/**
 * The span (`ergon.step`, replayed: false) of one attempt of a step that runs, when the execution
 * makes spans (its metrics: `stepRan`).
 */
export const stepAttempt = <A, E, R>(
  instance: FlowInstance.Service,
  name: string,
  key: string,
  attempt: number,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  instance.traced
    ? Effect.withSpan(effect, SpanNames.step, {
      attributes: stepAttributes(instance, name, key, attempt, false),
      captureStackTrace: false
    })
    : effect

/** The span (`ergon.step`, replayed: true) of a step whose recorded result is returned. */
export const stepReplayed = <A, E, R>(
  instance: FlowInstance.Service,
  name: string,
  key: string,
  attempts: number,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  instance.traced
    ? Effect.withSpan(effect, SpanNames.step, {
      attributes: stepAttributes(instance, name, key, attempts, true),
      captureStackTrace: false
    })
    : effect

/** What a flow waits for, as a wait span shows it. */
export interface Wait {
  readonly kind: "timer" | "retry" | "signal" | "child"
  readonly key: string
  readonly until?: number | undefined
  /** The signal's name, or the child flow's id. */
  readonly name?: string | undefined
}

/** A parked durable wait (see `journal.park`) as its span describes it. */
export const parked = <A, E, R>(
  instance: FlowInstance.Service,
  wait: { readonly key: string; readonly reason: SingleReason; readonly until: number | undefined },
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const reason = wait.reason
  const kind = reason._tag === "Retry" ? "retry" : reason._tag === "Signal" ? "signal" : reason._tag === "Child" ? "child" : "timer"
  const name = reason._tag === "Signal" ? reason.name : reason._tag === "Child" ? reason.childId : undefined
  return waitSpan(instance, { kind, key: wait.key, until: wait.until, name }, effect)
}

/**
 * The span of a wait (`ergon.wait`): a timer, a retry's backoff, a signal, a child flow. It ends
 * when the wait is over or when the flow suspends on it (`ergon.wait.suspended`). A wait whose
 * journal entry is already completed (a replay) has none.
 */
const waitSpan = <A, E, R>(instance: FlowInstance.Service, what: Wait, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    if (!instance.traced || instance.journal.get(what.key)?.status === "completed") return effect
    const attributes: Record<string, unknown> = {
      [Attributes.flowId]: instance.flowId,
      [Attributes.flowType]: instance.flowType,
      [Attributes.waitKind]: what.kind,
      [Attributes.key]: what.key
    }
    if (what.until !== undefined) attributes[Attributes.waitUntil] = what.until
    if (what.name !== undefined) attributes[Attributes.waitName] = what.name
    return effect.pipe(
      Effect.onExit(() =>
        Effect.annotateCurrentSpan(Attributes.suspended, instance.abort !== undefined && instance.abort._tag === "Suspend")
      ),
      Effect.withSpan(SpanNames.wait, { attributes, captureStackTrace: false })
    )
  })
