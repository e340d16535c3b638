/**
 * What an operator sees of a worker without configuring anything: its registration among the live
 * workers, its logs (start and stop at info, failed flows at error, lost leases at warning), and
 * the metrics of flows, steps, claims and leases. In real time, on the memory store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Fiber, HashMap, Layer, Logger, Metric, Option, Schema } from "effect"
import {
  Client,
  ExecutionLog,
  Flow,
  Observability,
  Retryable,
  RetryPolicy,
  Scheduler,
  Step,
  Worker
} from "../src/index.js"

interface Logged {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
  readonly cause: Cause.Cause<unknown>
}

const captureLogs = () => {
  const logs: Array<Logged> = []
  const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
    const parts: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
    logs.push({ level: logLevel.label, message: String(parts[0]), annotations: Object.fromEntries(HashMap.toEntries(annotations)), cause })
  })
  return { logs, layer: Logger.add(logger) }
}

const eventually = <A, E, R>(what: string, find: () => Effect.Effect<A | undefined, E, R>) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (true) {
      const found = yield* find()
      if (found !== undefined) return found
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

const logged = (logs: ReadonlyArray<Logged>, level: string, event: string, flowId?: string) =>
  logs.find((log) =>
    log.level === level && log.annotations["ergon.event"] === event &&
    (flowId === undefined || log.annotations["ergon.flow.id"] === flowId)
  )

class Declined extends Schema.TaggedError<Declined>()("Declined", { reason: Schema.String }) {}
class Flaky extends Retryable.TaggedError<Flaky>()("Flaky", {}) {}

const counter = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
  Effect.map(
    Metric.value(Object.entries(tags).reduce((m, [key, value]) => Metric.tagged(m, key, value), metric)),
    (state) => state.count
  )

describe("observability", () => {
  it.live("a worker registers while it runs, refreshes its registration, and removes it when it stops", () =>
    Effect.gen(function*() {
      const tag = crypto.randomUUID().slice(0, 8)
      const A = Flow.make(`a-${tag}`, { input: Schema.Void, run: () => Effect.void })
      const B = Flow.make(`b-${tag}`, { input: Schema.Void, run: () => Effect.void })
      const fiber = yield* Effect.fork(
        Worker.make("registry").withVersion("2.1.0").register(A, B).withTimers().withConcurrency(3).withLease("300 millis").run()
      )
      const first = yield* eventually("the registration", () =>
        Effect.map(Client.workers(), (workers) => workers.find((worker) => worker.name === "registry")))
      assert.isTrue(first.live)
      assert.match(first.id, /^registry\/[0-9a-f]{8}$/)
      assert.strictEqual(first.version, "2.1.0")
      assert.deepStrictEqual(first.types, [A.name, B.name])
      assert.isTrue(first.timers)
      assert.isFalse(first.signals)
      assert.strictEqual(first.concurrency, 3)
      assert.strictEqual(first.pid, process.pid)
      // After more than a lease's length it is still live: its heartbeat refreshed it.
      yield* Effect.sleep("700 millis")
      const later = (yield* Client.workers()).find((worker) => worker.id === first.id)!
      assert.isTrue(later.live)
      assert.isAbove(later.heartbeatAt, first.heartbeatAt)
      assert.strictEqual(later.startedAt, first.startedAt)
      yield* Fiber.interrupt(fiber)
      assert.isUndefined((yield* Client.workers()).find((worker) => worker.id === first.id))
      // A registration nobody refreshes is dead once it expires (a killed worker's).
      const log = yield* ExecutionLog.ExecutionLog
      yield* log.registerWorker({ ...first, id: "killed/1", expiresAt: first.startedAt - 1 })
      const dead = (yield* Client.workers()).find((worker) => worker.id === "killed/1")!
      assert.isFalse(dead.live)
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.live("logs: start and stop at info, a failed flow at error with its cause, an engine error at error", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const tag = crypto.randomUUID().slice(0, 8)
      const Failing = Flow.make(`failing-${tag}`, {
        input: Schema.String,
        error: Declined,
        run: (reason) => Effect.fail(new Declined({ reason }))
      })
      const Numbers = Flow.make(`numbers-${tag}`, { input: Schema.Number, run: () => Effect.void })
      const worker = Worker.make("logs").unversioned().register(Failing, Numbers).withSignals().withPollInterval("20 millis")
      const fiber = yield* Effect.fork(worker.run())
      const started = yield* eventually("the start line", () => Effect.succeed(logged(logs, "INFO", "worker-started")))
      assert.strictEqual(
        started.message,
        `ergon: worker 'logs' started (unversioned; flows ${Failing.name}, ${Numbers.name}; concurrency 16; timers off, signals on; lease 30s)`
      )
      // Everything the worker logs carries its id (its executions' lines too).
      assert.strictEqual(started.annotations["ergon.worker"], started.annotations["ergon.worker.id"])
      assert.deepStrictEqual(
        { ...started.annotations, "ergon.worker": undefined, "ergon.worker.id": undefined, "ergon.worker.host": undefined },
        {
          "ergon.event": "worker-started",
          "ergon.worker": undefined,
          "ergon.worker.name": "logs",
          "ergon.worker.id": undefined,
          "ergon.worker.types": `${Failing.name},${Numbers.name}`,
          "ergon.worker.concurrency": 16,
          "ergon.worker.timers": false,
          "ergon.worker.signals": true,
          "ergon.worker.host": undefined,
          "ergon.worker.pid": process.pid
        }
      )

      const handle = yield* Scheduler.make().unversioned().schedule(Failing, "card expired")
      yield* Effect.flip(handle.await)
      const failed = yield* eventually("the failure", () => Effect.succeed(logged(logs, "ERROR", "flow-failed", handle.id)))
      assert.strictEqual(failed.message, `ergon: flow '${handle.id}' (${Failing.name}) failed`)
      assert.strictEqual(failed.annotations["ergon.flow.type"], Failing.name)
      const error = Cause.failureOption(failed.cause)
      assert.isTrue(Option.isSome(error) && error.value instanceof Declined && error.value.reason === "card expired")

      // An input that no longer decodes: the flow is stopped by an engine error.
      const log = yield* ExecutionLog.ExecutionLog
      const bad = `numbers-${crypto.randomUUID()}`
      yield* log.insertFlow({
        id: bad,
        type: Numbers.name,
        version: null,
        input: "not a number",
        inputHash: "",
        status: "pending",
        result: undefined,
        error: undefined,
        parentId: null,
        parentKey: null,
        priority: 0,
        runAfter: 0,
        suspendReason: undefined,
        leaseOwner: null,
        leaseEpoch: 0,
        leaseExpiresAt: null,
        attempts: 0,
        createdAt: 0,
        updatedAt: 0,
        completedAt: null
      })
      const engine = yield* eventually("the engine error", () => Effect.succeed(logged(logs, "ERROR", "flow-failed", bad)))
      assert.strictEqual(engine.annotations["ergon.error"], "CheckpointDecodeError")
      assert.match(engine.message, new RegExp(`^ergon: flow '${bad}' \\(${Numbers.name}\\) was stopped by CheckpointDecodeError; it stays failed until retried`))
      assert.strictEqual(yield* Client.status(bad), "failed")

      yield* Fiber.interrupt(fiber)
      const stopped = logged(logs, "INFO", "worker-stopped")
      assert.strictEqual(stopped?.message, "ergon: worker 'logs' stopped (0 flows released)")
      // Nothing else at warning or above.
      assert.deepStrictEqual(
        logs.filter((entry) => entry.level === "WARN" || entry.level === "ERROR").map((entry) => entry.annotations["ergon.event"]),
        ["flow-failed", "flow-failed"]
      )
    }).pipe(Effect.provide(Layer.merge(ExecutionLog.layerMemory, layer)))
  })

  it.live("a lease taken over is logged at warning and counted; a cancellation is neither", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const tag = crypto.randomUUID().slice(0, 8)
      const block = Step.make("block", { run: () => Effect.never })
      const Blocked = Flow.make(`blocked-${tag}`, { input: Schema.Number, run: () => block() })
      const worker = Worker.make("leases").unversioned().register(Blocked).withLease("300 millis").withPollInterval("20 millis")
      const fiber = yield* Effect.fork(worker.run())
      const scheduler = Scheduler.make().unversioned()
      const stolen = yield* scheduler.schedule(Blocked, 1)
      const cancelled = yield* scheduler.schedule(Blocked, 2)
      const log = yield* ExecutionLog.ExecutionLog
      for (const id of [stolen.id, cancelled.id]) yield* eventually("the run", () => Effect.map(Client.status(id), (s) => s === "running" ? s : undefined))
      const lost = yield* counter(Observability.leasesLost, { [Observability.Attributes.flowType]: Blocked.name })

      // Another owner claims it as if the worker had stalled past its lease.
      const taken = yield* log.claimFlows({
        owner: "thief",
        now: Date.now() + 60_000,
        leaseMillis: 60_000,
        limit: 10,
        types: [Blocked.name],
        versions: [null]
      })
      assert.deepStrictEqual(taken.map((flow) => flow.id).sort(), [stolen.id, cancelled.id].sort())
      yield* Client.cancel(cancelled.id)
      const warning = yield* eventually("the warning", () => Effect.succeed(logged(logs, "WARN", "lease-lost", stolen.id)))
      assert.strictEqual(warning.annotations["ergon.lease.owner"], "thief")
      assert.match(warning.message, new RegExp(`^ergon: lost the lease on flow '${stolen.id}' \\(${Blocked.name}\\) to 'thief'`))
      assert.strictEqual(yield* counter(Observability.leasesLost, { [Observability.Attributes.flowType]: Blocked.name }), lost + 1)
      yield* Effect.sleep("300 millis")
      assert.isUndefined(logged(logs, "WARN", "lease-lost", cancelled.id))
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(Layer.merge(ExecutionLog.layerMemory, layer)))
  })

  it.live("metrics: flows scheduled, started, completed and failed by type; step durations and retries; claims; in flight", () =>
    Effect.gen(function*() {
      const tag = crypto.randomUUID().slice(0, 8)
      let calls = 0
      const flaky = Step.make(`flaky-${tag}`, {
        success: Schema.Number,
        error: Flaky,
        retry: RetryPolicy.fixed({ maxAttempts: 3, delay: "10 millis" }),
        run: () => Effect.suspend(() => (++calls % 2 === 1 ? Effect.fail(new Flaky()) : Effect.succeed(calls)))
      })
      const Good = Flow.make(`good-${tag}`, { input: Schema.Number, success: Schema.Number, error: Flaky, run: () => flaky() })
      const Bad = Flow.make(`bad-${tag}`, { input: Schema.Number, error: Declined, run: () => Effect.fail(new Declined({ reason: "no" })) })
      const type = (flow: Flow.Any) => ({ [Observability.Attributes.flowType]: flow.name })
      const fiber = yield* Effect.fork(Worker.make("metrics").unversioned().register(Good, Bad).withPollInterval("20 millis").run())
      const scheduler = Scheduler.make().unversioned()
      const goods = yield* Effect.forEach([1, 2, 3], (n) => scheduler.schedule(Good, n))
      const bad = yield* scheduler.schedule(Bad, 1)
      for (const handle of goods) yield* handle.await
      yield* Effect.flip(bad.await)

      assert.strictEqual(yield* counter(Observability.flowsScheduled, type(Good)), 3)
      assert.strictEqual(yield* counter(Observability.flowsStarted, type(Good)), 3)
      assert.strictEqual(yield* counter(Observability.flowsCompleted, type(Good)), 3)
      assert.strictEqual(yield* counter(Observability.flowsFailed, { ...type(Bad), "ergon.failure": "flow" }), 1)
      assert.strictEqual(yield* counter(Observability.flowsCompleted, type(Bad)), 0)
      assert.strictEqual(yield* counter(Observability.stepRetries, { [Observability.Attributes.stepName]: flaky.stepName }), 3)
      const durations = (outcome: string) =>
        Effect.map(
          Metric.value(
            Observability.stepDuration.pipe(
              Metric.tagged(Observability.Attributes.stepName, flaky.stepName),
              Metric.tagged("ergon.outcome", outcome)
            )
          ),
          (state) => state.count
        )
      assert.strictEqual(yield* durations("success"), 3)
      assert.strictEqual(yield* durations("failure"), 3)
      const claims = yield* Metric.value(Metric.tagged(Observability.claimLatency, Observability.Attributes.flowType, Good.name))
      assert.strictEqual(claims.count, 3)
      assert.isAtLeast(claims.min, 0)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* Metric.value(Observability.executionsInFlight)).value, 0)
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))
})
