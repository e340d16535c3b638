/**
 * Observability: what a worker prints with no configuration, the traces and metrics exported by
 * `@effect/opentelemetry`, a flow's history, and the `ergon` command line on the same store.
 *
 * 1. A worker starts with Effect's default logger: its start line, the order that fails (at error
 *    level, with its cause) and its stop line are what an operator sees with no configuration.
 * 2. A web handler's span (`POST /orders`) schedules two orders; `ergon.schedule` stores its span
 *    with each flow, and the worker runs them.
 * 3. The spans, as the OpenTelemetry SDK received them: each execution is a trace of its own,
 *    linked to the scheduling span, with its step attempts and waits under it.
 * 4. The metrics, as the SDK's metric reader collected them.
 * 5. `Client.history` of the failed order, and the `ergon` commands that show the same.
 *
 *   npx tsx examples/observability.ts
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { MetricReader } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Layer, Schema } from "effect"
import { Client, Flow, Retryable, RetryPolicy, Scheduler, Step, Worker } from "ergon"
import * as Sqlite from "ergon/sqlite"

// ---------------------------------------------------------------------------------------------
// The flows
// ---------------------------------------------------------------------------------------------

class GatewayTimeout extends Retryable.TaggedError<GatewayTimeout>()("GatewayTimeout", { gateway: Schema.String }) {}
class CardDeclined extends Schema.TaggedError<CardDeclined>()("CardDeclined", { reason: Schema.String }) {}

const Order = Schema.Struct({ id: Schema.String, cents: Schema.Int })

// The gateway times out on the first attempt of each order, then answers: declined when the
// amount is over the card's limit.
const charge = Step.make("charge-card", {
  input: Order,
  success: Schema.String,
  error: Schema.Union(GatewayTimeout, CardDeclined),
  retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "1 second" }),
  run: (order) =>
    Effect.flatMap(Step.attempt, (attempt): Effect.Effect<string, GatewayTimeout | CardDeclined> =>
      attempt === 1
        ? Effect.fail(new GatewayTimeout({ gateway: "acme-pay" }))
        : order.cents > 100_000
        ? Effect.fail(new CardDeclined({ reason: "over the card's limit" }))
        : Effect.succeed(`pay-${order.id}`))
})

const pack = Step.make("pack", { success: Schema.String, run: (id: string) => Effect.succeed(`box-${id}`) })
// The courier is booked two seconds later: meanwhile the parent, with nothing else to do, suspends.
const ShipFlow = Flow.make("ship", {
  input: Schema.String,
  success: Schema.String,
  run: (id) => Effect.zipRight(Flow.sleep("2 seconds"), pack(id))
})

const OrderFlow = Flow.make("order", {
  input: Order,
  success: Schema.String,
  error: Schema.Union(GatewayTimeout, CardDeclined),
  run: (order) =>
    Effect.gen(function*() {
      const payment = yield* charge(order)
      yield* Flow.sleep("1 second")
      const box = yield* Flow.invoke(ShipFlow, order.id)
      return `${payment}, ${box}`
    })
})

// ---------------------------------------------------------------------------------------------
// Telemetry: @effect/opentelemetry with the SDK's in-memory span exporter and a metric reader
// ---------------------------------------------------------------------------------------------

const spans = new InMemorySpanExporter()
/** A metric reader that exports nothing: the example collects from it once, at the end. */
class Snapshot extends MetricReader {
  protected override onForceFlush = () => Promise.resolve()
  protected override onShutdown = () => Promise.resolve()
}
const metrics = new Snapshot()

const Telemetry = NodeSdk.layer(() => ({
  resource: { serviceName: "orders" },
  spanProcessor: new SimpleSpanProcessor(spans),
  metricReader: metrics
}))

// ---------------------------------------------------------------------------------------------
// The program
// ---------------------------------------------------------------------------------------------

const say = (line: string) => Effect.sync(() => console.log(line))

const printTraces = Effect.sync(() => {
  const finished = spans.getFinishedSpans()
  const name = (id: string | undefined) => finished.find((span) => span.spanContext().spanId === id)?.name ?? "another process's span"
  const lines: Array<string> = []
  const walk = (parent: string, depth: number) => {
    // Ergon's spans (the SQL client's own, `sql.transaction`, are left out).
    for (const span of finished.filter((s) => s.parentSpanContext?.spanId === parent && s.name.startsWith("ergon."))) {
      const a = span.attributes
      const what = span.name === "ergon.step"
        ? `${a["ergon.step.key"]} attempt ${a["ergon.step.attempt"]}${a["ergon.step.replayed"] ? " (replayed)" : ""}`
        : span.name === "ergon.wait"
        ? `${a["ergon.wait.kind"]} ${a["ergon.step.key"]}${a["ergon.wait.suspended"] ? " (suspended)" : ""}`
        : span.name === "ergon.schedule"
        ? String(a["ergon.flow.id"])
        : ""
      lines.push(`${"  ".repeat(depth)}${span.name} ${what}`)
      walk(span.spanContext().spanId, depth + 1)
    }
  }
  for (const root of finished.filter((span) => span.parentSpanContext === undefined && span.name !== "ergon.worker")) {
    const a = root.attributes
    const about = root.name === "ergon.execute"
      ? ` ${a["ergon.flow.id"]} (execution ${a["ergon.flow.attempt"]}, ${a["ergon.flow.outcome"]}), linked to ${
        root.links.map((link) => name(link.context.spanId)).join(", ")
      }`
      : ""
    lines.push(`trace ${root.spanContext().traceId.slice(0, 8)}: ${root.name}${about}`)
    walk(root.spanContext().spanId, 1)
  }
  console.log(lines.join("\n"))
})

const printMetrics = Effect.promise(() => metrics.collect()).pipe(
  Effect.flatMap(({ resourceMetrics }) =>
    say(
      resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
        .filter((metric) => metric.descriptor.name.startsWith("ergon."))
        .flatMap((metric) =>
          metric.dataPoints.map((point) => {
            const tags = Object.entries(point.attributes).map(([key, value]) => `${key}=${String(value)}`).join(" ")
            const value = typeof point.value === "number" ? point.value : `count ${(point.value as { count: number }).count}`
            return `${metric.descriptor.name} {${tags}} ${value}`
          })
        )
        .sort()
        .join("\n")
    )
  )
)

const program = Effect.gen(function*() {
  yield* say("--- 1. a worker starts (its lines are Effect's default logger's)")
  const worker = Worker.make("orders").withVersion("1.0.0").register(OrderFlow, ShipFlow).withTimers().withPollInterval("50 millis")
  const running = yield* Effect.fork(worker.run())
  // Registered in the store once it has started: `schedule` sees it (and would warn otherwise).
  while (!(yield* Client.workers()).some((w) => w.name === "orders" && w.live)) yield* Effect.sleep("20 millis")

  yield* say("--- 2. two orders scheduled inside the web handler's span; the worker runs them")
  const scheduler = Scheduler.make().withVersion("1.0.0")
  const [good, bad] = yield* Effect.all([
    scheduler.schedule(OrderFlow, { id: "o-1", cents: 4_999 }, { id: "order-o-1" }),
    scheduler.schedule(OrderFlow, { id: "o-2", cents: 250_000 }, { id: "order-o-2" })
  ]).pipe(Effect.withSpan("POST /orders"))
  yield* say(`order-o-1: ${yield* good.await}`)
  yield* say(`order-o-2: ${yield* Effect.flip(bad.await).pipe(Effect.map((error) => error._tag))}`)
  yield* Fiber.interrupt(running)

  yield* say("--- 3. traces")
  yield* printTraces
  yield* say("--- 4. metrics")
  yield* printMetrics

  yield* say("--- 5. the history of order-o-2")
  const history = yield* Client.history(OrderFlow, "order-o-2")
  for (const entry of history.entries) {
    yield* say(`${entry.kind} ${entry.name}: ${entry.outcome ?? entry.status} after ${entry.attempts} attempt(s)${
      entry.error instanceof CardDeclined ? ` (CardDeclined: ${entry.error.reason})` : ""
    }`)
  }
  yield* say(`outcome: ${history.outcome?._tag}`)
  yield* say(`the same from a shell:  ergon show order-o-2 --db ${file}   (and: ergon list, ergon workers, ergon stuck)`)
})

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ergon-example-observability-")), "orders.db")
Effect.runPromise(program.pipe(Effect.provide(Layer.merge(Sqlite.layer({ filename: file }), Telemetry)))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
