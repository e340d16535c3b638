/**
 * The three mistakes that used to hang flows forever with nothing logged, each reported by
 * `Client.stuck()` with its reason and logged by the worker (and by `schedule`, where it can tell):
 * a scheduler on a version no worker runs, a child flow type no worker registers, and a durable
 * sleep with no worker firing timers. Run in real time over the memory and SQLite stores.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, HashMap, Layer, Logger, Schema } from "effect"
import { Client, ExecutionLog, Flow, Scheduler, Step, Worker } from "../src/index.js"
import * as Sqlite from "../src/sqlite.js"

interface Logged {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger that keeps what is logged (the message, and the annotations), for the test to look at. */
const captureLogs = () => {
  const logs: Array<Logged> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const parts: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
    logs.push({ level: logLevel.label, message: String(parts[0]), annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
  })
  return { logs, layer: Logger.add(logger) }
}

/** Waits (in real time, up to 20 s) until `find` finds something. */
const eventually = <A, E, R>(what: string, find: () => Effect.Effect<A | undefined, E, R>) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (true) {
      const found = yield* find()
      if (found !== undefined) return found
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("25 millis")
    }
  })

/** A warning about stuck work: from `schedule` (it names the flow it scheduled) or from a worker. */
const stuckWarning = (logs: ReadonlyArray<Logged>, from: "schedule" | "worker", reason: string, type: string) =>
  logs.find((log) =>
    log.level === "WARN" && log.annotations["ergon.event"] === "stuck" && log.annotations["ergon.stuck.reason"] === reason &&
    log.annotations["ergon.flow.type"] === type &&
    (from === "schedule" ? log.message.includes("was scheduled") : log.message.includes("ready flow"))
  )

const liveWorker = (name: string) =>
  eventually(`worker '${name}' to be live`, () =>
    Effect.map(Client.workers(), (workers) => workers.find((worker) => worker.name === name && worker.live)))

const statusIs = (id: string, status: string) =>
  eventually(`flow '${id}' to be ${status}`, () => Effect.map(Client.status(id), (current) => (current === status ? current : undefined)))

const stuckFlow = (id: string) =>
  eventually(`flow '${id}' to be reported stuck`, () => Effect.map(Client.stuck(), (flows) => flows.find((flow) => flow.id === id)))

// Short leases: heartbeats every 100 ms, a look for stuck work every 600 ms.
const tune = <W extends { withLease(d: Duration.DurationInput): W; withPollInterval(d: Duration.DurationInput): W }>(worker: W): W =>
  worker.withLease("300 millis").withPollInterval("20 millis")

const suite = (name: string, store: () => Layer.Layer<ExecutionLog.ExecutionLog, unknown>) =>
  describe(`stuck flows: ${name}`, () => {
    it.live("a scheduler on a version no live worker runs: reported, warned at schedule and by the worker, then taken by a worker of that version", () => {
      const { layer, logs } = captureLogs()
      return Effect.gen(function*() {
        const tag = crypto.randomUUID().slice(0, 8)
        const Order = Flow.make(`order-${tag}`, { input: Schema.Number, success: Schema.Number, run: (n) => Effect.succeed(n * 2) })
        const old = yield* Effect.fork(tune(Worker.make("orders-old").withVersion("1.0.0").register(Order)).run())
        yield* liveWorker("orders-old")

        const handle = yield* Scheduler.make().withVersion("1.0.1").schedule(Order, 21)
        // Said once the grace period has passed with nobody taking it.
        const atSchedule = yield* eventually("schedule's warning", () =>
          Effect.succeed(stuckWarning(logs, "schedule", "NoWorkerForVersion", Order.name)))
        assert.strictEqual(atSchedule!.annotations["ergon.flow.id"], handle.id)
        assert.strictEqual(atSchedule!.annotations["ergon.flow.version"], "1.0.1")
        assert.strictEqual(
          atSchedule!.message,
          `ergon: flow '${handle.id}' was scheduled, but no live worker takes version '1.0.1' of '${Order.name}' (the live workers that register it take '1.0.0'): it waits until one does (see 'ergon stuck')`
        )

        const stuck = yield* stuckFlow(handle.id)
        assert.deepStrictEqual(stuck.reason, { _tag: "NoWorkerForVersion", type: Order.name, version: "1.0.1", liveVersions: ["1.0.0"] })
        assert.strictEqual(stuck.status, "pending")
        assert.strictEqual(
          stuck.message,
          `no live worker takes version '1.0.1' of '${Order.name}' (the live workers that register it take '1.0.0')`
        )
        const byWorker = yield* eventually("the worker's warning", () =>
          Effect.succeed(stuckWarning(logs, "worker", "NoWorkerForVersion", Order.name)))
        assert.strictEqual(byWorker.annotations["ergon.stuck.flows"], 1)
        assert.strictEqual(
          byWorker.message,
          `ergon: 1 ready flow cannot be taken: no live worker takes version '1.0.1' of '${Order.name}' (the live workers that register it take '1.0.0') (see 'ergon stuck')`
        )
        // Once, not per flow and not per look: a second flow of the same version adds no warning.
        yield* Scheduler.make().withVersion("1.0.1").schedule(Order, 22)
        yield* Effect.sleep("1500 millis")
        assert.strictEqual(logs.filter((log) => log.annotations["ergon.event"] === "stuck").length, 2)

        // A worker of that version takes them: nothing is stuck any more.
        const next = yield* Effect.fork(tune(Worker.make("orders-new").withVersion("1.0.1").register(Order)).run())
        assert.strictEqual(yield* handle.await, 42)
        assert.deepStrictEqual((yield* Client.stuck()).filter((flow) => flow.type === Order.name), [])
        yield* Fiber.interrupt(next)
        yield* Fiber.interrupt(old)
      }).pipe(Effect.provide(Layer.merge(store(), layer)))
    })

    it.live("a child flow type no live worker registers: the child and its waiting parent are reported, the worker warns", () => {
      const { layer, logs } = captureLogs()
      return Effect.gen(function*() {
        const tag = crypto.randomUUID().slice(0, 8)
        const Reserve = Flow.make(`reserve-${tag}`, { input: Schema.String, success: Schema.String, run: (sku) => Effect.succeed(`reserved ${sku}`) })
        const Order = Flow.make(`order-${tag}`, { input: Schema.String, success: Schema.String, run: (sku) => Flow.invoke(Reserve, sku) })
        const worker = yield* Effect.fork(tune(Worker.make("orders").unversioned().register(Order).withTimers()).run())
        yield* liveWorker("orders")
        const handle = yield* Scheduler.make().unversioned().schedule(Order, "apple")
        yield* statusIs(handle.id, "suspended")

        const childId = `${handle.id}/$invoke/${Reserve.name}`
        const child = yield* stuckFlow(childId)
        assert.deepStrictEqual(child.reason, { _tag: "NoWorkerForType", type: Reserve.name, version: null })
        assert.strictEqual(child.message, `no live worker registers flow type '${Reserve.name}'`)
        const parent = yield* stuckFlow(handle.id)
        assert.deepStrictEqual(parent.reason, { _tag: "StuckChild", childId, childType: Reserve.name, reason: child.reason })
        assert.strictEqual(
          parent.message,
          `it waits for its child '${childId}' (${Reserve.name}), which is stuck: no live worker registers flow type '${Reserve.name}'`
        )
        const warning = yield* eventually("the worker's warning", () =>
          Effect.succeed(stuckWarning(logs, "worker", "NoWorkerForType", Reserve.name)))
        assert.include(warning.message, `no live worker registers flow type '${Reserve.name}'`)
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(Layer.merge(store(), layer)))
    })

    it.live("a sleep longer than suspendAfter with no worker firing timers: reported with its wake time, the worker warns, a worker with timers ends it", () => {
      const { layer, logs } = captureLogs()
      return Effect.gen(function*() {
        const tag = crypto.randomUUID().slice(0, 8)
        const remind = Step.make("remind", { success: Schema.String, run: () => Effect.succeed("reminded") })
        const Reminder = Flow.make(`reminder-${tag}`, {
          input: Schema.Void,
          success: Schema.String,
          run: () => Effect.zipRight(Flow.sleep("300 millis"), remind())
        })
        const plain = yield* Effect.fork(
          tune(Worker.make("reminders").unversioned().register(Reminder).withSuspendAfter("10 millis")).run()
        )
        yield* liveWorker("reminders")
        const handle = yield* Scheduler.make().unversioned().schedule(Reminder, undefined)
        yield* statusIs(handle.id, "suspended")
        const history = yield* Client.history(handle.id)
        const wakeAt = history.suspended!.wakeAt!

        const stuck = yield* stuckFlow(handle.id)
        assert.deepStrictEqual(stuck.reason, { _tag: "NoTimerWorker", type: Reminder.name, version: null, wait: "Timer", wakeAt })
        assert.strictEqual(
          stuck.message,
          `it waits on a timer, and no live worker that takes '${Reminder.name}' (unversioned) runs withTimers()`
        )
        const warning = yield* eventually("the worker's warning", () =>
          Effect.succeed(stuckWarning(logs, "worker", "NoTimerWorker", Reminder.name)))
        assert.strictEqual(warning.annotations["ergon.flow.id"], handle.id)
        assert.include(warning.message, `it waits on a timer, and no live worker that takes '${Reminder.name}' (unversioned) runs withTimers()`)
        // It was due, and nobody fired it.
        assert.strictEqual(yield* Client.status(handle.id), "suspended")

        const timers = yield* Effect.fork(tune(Worker.make("timers").unversioned().register(Reminder).withTimers()).run())
        assert.strictEqual(yield* handle.await, "reminded")
        assert.deepStrictEqual((yield* Client.stuck()).filter((flow) => flow.type === Reminder.name), [])
        yield* Fiber.interrupt(timers)
        yield* Fiber.interrupt(plain)
      }).pipe(Effect.provide(Layer.merge(store(), layer)))
    })

    it.live("an event's timeout that passed with no worker firing timers: reported as such; a worker with timers ends the wait", () => {
      const { layer } = captureLogs()
      return Effect.gen(function*() {
        const tag = crypto.randomUUID().slice(0, 8)
        const Waiter = Flow.make(`awaits-${tag}`, {
          input: Schema.Void,
          success: Schema.String,
          run: () =>
            Flow.awaitEvent(`never-${tag}`, Schema.String, { timeout: "300 millis" }).pipe(
              Effect.catchAll((error) => Effect.succeed(error._tag))
            )
        })
        const plain = yield* Effect.fork(
          tune(Worker.make("waiters").unversioned().register(Waiter).withSuspendAfter("10 millis")).run()
        )
        yield* liveWorker("waiters")
        const handle = yield* Scheduler.make().unversioned().schedule(Waiter, undefined)
        yield* statusIs(handle.id, "suspended")
        const history = yield* Client.history(handle.id)
        const timeoutAt = (history.suspended!.reason as { readonly timeoutAt: number }).timeoutAt

        const stuck = yield* stuckFlow(handle.id)
        assert.deepStrictEqual(stuck.reason, { _tag: "NoTimerWorker", type: Waiter.name, version: null, wait: "EventTimeout", wakeAt: timeoutAt })
        assert.strictEqual(
          stuck.message,
          `it waits on an event's timeout, and no live worker that takes '${Waiter.name}' (unversioned) runs withTimers()`
        )
        const timers = yield* Effect.fork(tune(Worker.make("timers").unversioned().register(Waiter).withTimers()).run())
        assert.strictEqual(yield* handle.await, "EventTimeout")
        yield* Fiber.interrupt(timers)
        yield* Fiber.interrupt(plain)
      }).pipe(Effect.provide(Layer.merge(store(), layer)))
    })
  })

suite("memory", () => ExecutionLog.layerMemory)
suite("SQLite", () => Sqlite.layerInMemory())
