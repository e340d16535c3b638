/**
 * PostgreSQL across processes: named events and continue-as-new between two stores on one database
 * ("two processes"), each with its own connections and its own LISTEN/NOTIFY subscription.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Client, ExecutionLog, Flow, InvalidEventError, Scheduler, Step, Worker } from "../src/index.js"
import * as wake from "../src/internal/wake.js"
import * as Pg from "../src/pg.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}`

type Store = Context.Context<ExecutionLog.ExecutionLog | SqlClient.SqlClient>

/** Opens one store on the shared server (a "process"), for the rest of the scope. */
const open = (schema: string): Effect.Effect<Store, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.promise(() => Server.start())
    return yield* Layer.build(Pg.layer({ url: server.url(), schema }))
  })

/** Polls `check` (on the real clock) until it holds, for at most `within`. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, within: Duration.DurationInput = "20 seconds") =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(within)
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

/** Runs the worker on `store`, following its notifications, for the scope. */
const runWorker = (store: Store, worker: Effect.Effect<never, unknown, ExecutionLog.ExecutionLog>) =>
  Effect.gen(function*() {
    yield* wake.follow(Context.get(store, ExecutionLog.ExecutionLog))
    yield* Effect.forkScoped(Effect.provide(worker, store))
  })

const Paid = Schema.Struct({ orderId: Schema.String, amount: Schema.Number })

describe("ergon/pg: named events across processes", () => {
  it.live("an event emitted in process B wakes every flow suspended on it by process A's worker", () =>
    Effect.scoped(Effect.gen(function*() {
      const event = freshId("paid")
      const Waiter = Flow.make(freshId("waiter"), {
        input: Schema.Number,
        success: Schema.String,
        error: InvalidEventError,
        run: (n) => Effect.map(Flow.awaitEvent(event, Paid), (paid) => `${n}: ${paid.orderId} ${paid.amount}`)
      })
      const a = yield* open("longlived_events")
      const b = yield* open("longlived_events")
      // An hourly poll: only the emit's wake-up (a notification from B) can resume the flows.
      yield* runWorker(a, Worker.make("a").unversioned().register(Waiter).withPollInterval("1 hour").withSuspendAfter("0 millis").run())
      const handles = yield* Effect.provide(
        Effect.forEach([1, 2, 3], (n) => Scheduler.make().unversioned().schedule(Waiter, n)),
        b
      )
      for (const handle of handles) {
        yield* eventually(`${handle.id} is suspended`, Effect.provide(Effect.map(handle.status, (s) => s === "suspended"), b))
      }
      assert.isTrue(yield* Effect.provide(Client.emitEvent(event, { orderId: "o-1", amount: 5 }, Paid), b))
      for (const [i, handle] of handles.entries()) {
        assert.strictEqual(yield* Effect.provide(handle.await, b), `${i + 1}: o-1 5`)
      }
    })))

  it.live("an emit racing the waiters' suspensions wakes every one of them (atomic suspension)", () =>
    Effect.scoped(Effect.gen(function*() {
      const event = freshId("race")
      const Waiter = Flow.make(freshId("waiter"), {
        input: Schema.Number,
        success: Schema.Number,
        error: InvalidEventError,
        run: (n) => Effect.map(Flow.awaitEvent(event, Schema.Number), (x) => x + n)
      })
      const a = yield* open("longlived_events")
      const b = yield* open("longlived_events")
      yield* runWorker(a, Worker.make("a").unversioned().register(Waiter).withPollInterval("1 hour").withSuspendAfter("0 millis").withConcurrency(8).run())
      const handles = yield* Effect.provide(
        Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (n) => Scheduler.make().unversioned().schedule(Waiter, n)),
        b
      )
      // Emitted as soon as some have started waiting: the others are about to suspend, or running.
      yield* eventually("one waiter is suspended", Effect.provide(Effect.map(handles[0]!.status, (s) => s === "suspended"), b))
      yield* Effect.provide(Client.emitEvent(event, 100), b)
      const results = yield* Effect.provide(
        Effect.forEach(handles, (handle) => handle.await, { concurrency: "unbounded" }),
        b
      ).pipe(Effect.timeout("30 seconds"))
      assert.deepStrictEqual(results, handles.map((_, i) => 100 + i))
    })))
})

describe("ergon/pg: continue-as-new across processes", () => {
  it.live("executions continue on whichever process claims them; the handle of another process sees the last result", () =>
    Effect.scoped(Effect.gen(function*() {
      const ran: Array<string> = []
      const period = Step.make("period", { run: (n: number) => Effect.sync(() => void ran.push(`period ${n}`)) })
      const Poller: Flow.Flow<string, any> = Flow.make(freshId("poller"), {
        input: Schema.Struct({ round: Schema.Number }),
        success: Schema.String,
        run: ({ round }) =>
          Effect.gen(function*() {
            yield* period(round)
            if (round === 4) return `done after ${round} rounds`
            yield* Flow.sleep("100 millis")
            return yield* Flow.continueAsNew(Poller, { round: round + 1 })
          })
      })
      const a = yield* open("longlived_can")
      const b = yield* open("longlived_can")
      for (const [name, store] of [["a", a], ["b", b]] as const) {
        yield* runWorker(
          store,
          Worker.make(name).unversioned().register(Poller).withTimers().withPollInterval("50 millis").withSuspendAfter("0 millis").run()
        )
      }
      const handle = yield* Effect.provide(Scheduler.make().unversioned().schedule(Poller, { round: 1 }), b)
      assert.strictEqual(yield* Effect.provide(handle.await, a).pipe(Effect.timeout("30 seconds")), "done after 4 rounds")
      assert.deepStrictEqual(ran, ["period 1", "period 2", "period 3", "period 4"])
      const executions = yield* Effect.provide(Client.listExecutions(handle.id), a)
      assert.deepStrictEqual(executions.map((e) => [e.execution, e.status, e.input]), [
        [1, "continued", { round: 1 }],
        [2, "continued", { round: 2 }],
        [3, "continued", { round: 3 }],
        [4, "completed", { round: 4 }]
      ])
    })))
})
