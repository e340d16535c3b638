/**
 * What Ergon reports about itself, on Effect's own `Tracer` and `Metric`: install a tracer and a
 * metric reader (`@effect/opentelemetry`'s `NodeSdk.layer`, for one) and they are exported with
 * the rest of your program's. Nothing here needs configuring; this module names what there is.
 *
 * Spans:
 * - `ergon.schedule` (kind producer): `schedule`; the flow stores it (W3C `traceparent`);
 * - `ergon.execute` (kind consumer): one execution of a flow, from its load to its end or its
 *   suspension. Under a worker it starts a trace of its own (never a child of the worker's
 *   process-long `ergon.worker` span) and links to the span the flow was written in: the
 *   `ergon.schedule` span, or for a child flow its parent's span. Attributes: flow id, type,
 *   version, attempt (how many executions have started), resumed, outcome;
 * - `ergon.step`: one attempt of a step (`ergon.step.replayed: false`), or its replay from the
 *   journal (`true`). Attributes: flow id, type, version, step name, key, attempt;
 * - `ergon.wait`: a timer, a retry's backoff, a signal, a child flow; `ergon.wait.suspended`
 *   says whether the flow suspended on it (the span then ends there).
 *
 * Metrics (tagged `ergon.flow.type`, or `ergon.step.name` for steps): flows scheduled, started,
 * completed and failed (`ergon.failure`: `flow` or `engine`), step duration (by `ergon.outcome`)
 * and retries, claim latency, leases lost, executions in flight.
 *
 * @since 0.1.0
 */
import type * as Metric from "effect/Metric"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"
import * as telemetry from "./internal/telemetry.js"

/**
 * The names of Ergon's spans.
 *
 * @since 0.1.0
 * @category Models
 */
export const SpanNames: {
  readonly schedule: "ergon.schedule"
  readonly execute: "ergon.execute"
  readonly step: "ergon.step"
  readonly wait: "ergon.wait"
  readonly worker: "ergon.worker"
} = telemetry.SpanNames

/**
 * The attribute keys of Ergon's spans and metric tags.
 *
 * @since 0.1.0
 * @category Models
 */
export const Attributes: typeof telemetry.Attributes = telemetry.Attributes

/**
 * Flows written by `schedule` (an id that existed already is not counted), by type.
 *
 * @since 0.1.0
 * @category Models
 */
export const flowsScheduled: Metric.Metric.Counter<number> = telemetry.Metrics.flowsScheduled

/**
 * Flows whose first execution started, by type.
 *
 * @since 0.1.0
 * @category Models
 */
export const flowsStarted: Metric.Metric.Counter<number> = telemetry.Metrics.flowsStarted

/**
 * Flows that ended with a success, by type.
 *
 * @since 0.1.0
 * @category Models
 */
export const flowsCompleted: Metric.Metric.Counter<number> = telemetry.Metrics.flowsCompleted

/**
 * Flows that ended with their own failure (`ergon.failure: flow`) or were stopped by an engine
 * error (`ergon.failure: engine`: non-determinism, a value that no longer decodes), by type.
 *
 * @since 0.1.0
 * @category Models
 */
export const flowsFailed: Metric.Metric.Counter<number> = telemetry.Metrics.flowsFailed

/**
 * The duration of step attempts that ran (replays are not timed), in milliseconds, by step name
 * and `ergon.outcome` (`success`, `failure`, `interrupted`).
 *
 * @since 0.1.0
 * @category Models
 */
export const stepDuration: Metric.Metric<MetricKeyType.MetricKeyType.Histogram, number, MetricState.MetricState.Histogram> =
  telemetry.Metrics.stepDuration

/**
 * Step attempts after the first, by step name.
 *
 * @since 0.1.0
 * @category Models
 */
export const stepRetries: Metric.Metric.Counter<number> = telemetry.Metrics.stepRetries

/**
 * The time from a flow's due time (`runAt`, a timer, a wake-up) to a worker claiming it, in
 * milliseconds, by type. A flow taken over from a dead worker counts from its last due time.
 *
 * @since 0.1.0
 * @category Models
 */
export const claimLatency: Metric.Metric<MetricKeyType.MetricKeyType.Histogram, number, MetricState.MetricState.Histogram> =
  telemetry.Metrics.claimLatency

/**
 * Leases that workers lost while running the flow (another worker took it over after this one
 * stalled past its lease), by type. Cancellations are not counted.
 *
 * @since 0.1.0
 * @category Models
 */
export const leasesLost: Metric.Metric.Counter<number> = telemetry.Metrics.leasesLost

/**
 * The executions running in the workers of this process.
 *
 * @since 0.1.0
 * @category Models
 */
export const executionsInFlight: Metric.Metric.Gauge<number> = telemetry.Metrics.executionsInFlight
