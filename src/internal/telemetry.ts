import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
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

/** Runs `effect` with no parent span: its spans start new traces (an execution under a worker). */
export const withoutParentSpan = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(effect, (context: Context.Context<R>) => Context.omit(Tracer.ParentSpan)(context) as Context.Context<R>)

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/** Milliseconds, from 1 ms to about 9 hours, doubling. */
const millisBoundaries = MetricBoundaries.exponential({ start: 1, factor: 2, count: 25 })

export const Metrics = {
  flowsScheduled: Metric.counter("ergon.flows.scheduled", {
    description: "Flows written by `schedule` (an id that existed is not counted)",
    incremental: true
  }),
  flowsStarted: Metric.counter("ergon.flows.started", {
    description: "Flows whose first execution started",
    incremental: true
  }),
  flowsCompleted: Metric.counter("ergon.flows.completed", {
    description: "Flows that ended with a success",
    incremental: true
  }),
  flowsFailed: Metric.counter("ergon.flows.failed", {
    description: "Flows that ended with their own failure (ergon.failure=flow) or were stopped by an engine error (ergon.failure=engine)",
    incremental: true
  }),
  stepDuration: Metric.histogram(
    "ergon.step.duration",
    millisBoundaries,
    "Duration of step attempts that ran (not replayed), in milliseconds"
  ),
  stepRetries: Metric.counter("ergon.step.retries", {
    description: "Step attempts after the first (retries)",
    incremental: true
  }),
  claimLatency: Metric.histogram(
    "ergon.claim.latency",
    millisBoundaries,
    "Time from a flow becoming ready (due, or its lease expired) to a worker claiming it, in milliseconds"
  ),
  leasesLost: Metric.counter("ergon.leases.lost", {
    description: "Leases a worker lost while it ran the flow (taken over after it stalled, or cancelled)",
    incremental: true
  }),
  executionsInFlight: Metric.gauge("ergon.executions.in_flight", {
    description: "Executions running in workers of this process"
  })
} as const

const typeTagged = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, flowType: string) =>
  Metric.tagged(metric, Attributes.flowType, flowType)

export const countScheduled = (flowType: string): Effect.Effect<void> =>
  Metric.increment(typeTagged(Metrics.flowsScheduled, flowType))

export const countLeaseLost = (flowType: string): Effect.Effect<void> =>
  Metric.increment(typeTagged(Metrics.leasesLost, flowType))

export const recordClaimLatency = (flowType: string, millis: number): Effect.Effect<void> =>
  Metric.update(typeTagged(Metrics.claimLatency, flowType), Math.max(0, millis))

export const inFlight = (delta: number): Effect.Effect<void> => Metric.incrementBy(Metrics.executionsInFlight, delta)

// ---------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------

/** What an execution's wrapper learns from the execution itself (through `executionStarted`). */
interface ExecutionState {
  started: boolean
}

const currentExecution: FiberRef.FiberRef<ExecutionState | undefined> = FiberRef.unsafeMake<ExecutionState | undefined>(
  undefined
)

/** The outcome of an execution, as far as telemetry looks at it. */
type AnyOutcome =
  | { readonly _tag: "Completed"; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Suspended"; readonly reason: { readonly _tag: string } }

// Engine errors that stop a flow for good (until it is retried); a store error or a lost lease
// only stops this execution, and errors before the start (input, conflict) start nothing.
const engineFailures: ReadonlySet<string> = new Set(["NonDeterminismError", "CheckpointDecodeError", "CheckpointEncodeError"])

const failed = (flowType: string, failure: "flow" | "engine") =>
  Metric.increment(Metric.tagged(typeTagged(Metrics.flowsFailed, flowType), "ergon.failure", failure))

const settled = (flowType: string, outcome: AnyOutcome): Effect.Effect<void> => {
  if (outcome._tag === "Suspended") return Effect.annotateCurrentSpan(Attributes.outcome, "suspended")
  const exit = outcome.exit
  if (Exit.isSuccess(exit)) {
    return Effect.zipRight(
      Effect.annotateCurrentSpan(Attributes.outcome, "completed"),
      Metric.increment(typeTagged(Metrics.flowsCompleted, flowType))
    )
  }
  if (Cause.isInterruptedOnly(exit.cause)) return Effect.annotateCurrentSpan(Attributes.outcome, "cancelled")
  return Effect.zipRight(Effect.annotateCurrentSpan(Attributes.outcome, "failed"), failed(flowType, "flow"))
}

/**
 * The span of one execution of a flow (`ergon.execute`), and the flow metrics of its end. Its
 * attributes are completed by `executionStarted`, once the flow is loaded.
 */
export const execution = <O extends AnyOutcome, E extends { readonly _tag: string }, R>(
  flowId: string,
  flowType: string,
  effect: Effect.Effect<O, E, R>
): Effect.Effect<O, E, R> =>
  Effect.suspend(() => {
    const state: ExecutionState = { started: false }
    return effect.pipe(
      Effect.locally(currentExecution, state),
      Effect.tap((outcome) => (state.started ? settled(flowType, outcome) : Effect.void)),
      Effect.tapError((error) =>
        state.started && engineFailures.has(error._tag)
          ? Effect.zipRight(Effect.annotateCurrentSpan(Attributes.outcome, "failed"), failed(flowType, "engine"))
          : Effect.void
      ),
      Effect.withSpan(SpanNames.execute, {
        kind: "consumer",
        attributes: { [Attributes.flowId]: flowId, [Attributes.flowType]: flowType },
        captureStackTrace: false
      })
    )
  })

/**
 * Called by the executor once the flow is loaded and marked running: annotates the execution's
 * span (version, attempt, resumed), links it to the span the flow was written in (the one that
 * scheduled it, or its parent's), and counts a flow's first start.
 */
export const executionStarted = (fields: {
  readonly flowType: string
  readonly version: string | null
  readonly attempt: number
  readonly resumed: boolean
  readonly traceContext: string | null | undefined
}): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(currentExecution), (state) => {
    if (state === undefined) return Effect.void
    const first = !state.started
    state.started = true
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
    return Effect.all([
      annotate,
      link,
      fields.resumed ? Effect.void : Metric.increment(typeTagged(Metrics.flowsStarted, fields.flowType))
    ], { discard: true })
  })

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

/** The span (`ergon.step`, replayed: false) and metrics of one attempt of a step that runs. */
export const stepAttempt = <A, E, R>(
  instance: FlowInstance.Service,
  name: string,
  key: string,
  attempt: number,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) =>
    Effect.zipRight(
      attempt > 1 ? Metric.increment(Metric.tagged(Metrics.stepRetries, Attributes.stepName, name)) : Effect.void,
      effect.pipe(
        Effect.onExit((exit) =>
          Effect.flatMap(Clock.currentTimeMillis, (end) =>
            Metric.update(
              Metric.tagged(Metric.tagged(Metrics.stepDuration, Attributes.stepName, name), "ergon.outcome", exitOutcome(exit)),
              end - start
            ))
        ),
        Effect.withSpan(SpanNames.step, { attributes: stepAttributes(instance, name, key, attempt, false), captureStackTrace: false })
      )
    ))

/** The span (`ergon.step`, replayed: true) of a step whose recorded result is returned. */
export const stepReplayed = <A, E, R>(
  instance: FlowInstance.Service,
  name: string,
  key: string,
  attempts: number,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withSpan(effect, SpanNames.step, {
    attributes: stepAttributes(instance, name, key, attempts, true),
    captureStackTrace: false
  })

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
    if (instance.journal.get(what.key)?.status === "completed") return effect
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
