/**
 * PostgreSQL across processes: LISTEN/NOTIFY wake-ups between two stores on one database ("two
 * processes"), scheduling inside the user's transaction, and a worker that keeps going when the
 * server restarts under it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Client, ExecutionLog, Flow, Scheduler, Step, Worker } from "../src/index.js"
import * as wake from "../src/internal/wake.js"
import { StoreError } from "../src/FlowError.js"
import * as Pg from "../src/pg.js"
import * as Server from "./pg/server.js"

afterAll(() => Server.stop())

let counter = 0
const freshId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}`

type Store = Context.Context<ExecutionLog.ExecutionLog | SqlClient.SqlClient>

/** Opens one store on the shared server (a "process"), for the rest of the scope. */
const open = (schema: string, url?: string): Effect.Effect<Store, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const target = url ?? (yield* Effect.promise(() => Server.start())).url()
    return yield* Layer.build(Pg.layer({ url: target, schema }))
  })

/** Polls `check` (on the real clock) until it holds, for at most `within`. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, within: Duration.DurationInput = "5 seconds") =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(within)
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

const statusIn = (store: Store, id: string) => Effect.provide(Client.status(id), store)

/** Runs the worker on `store` (following its notifications when `follow`) for the scope. */
const runWorker = (store: Store, worker: Effect.Effect<never, unknown, ExecutionLog.ExecutionLog>, follow: boolean) =>
  Effect.gen(function*() {
    if (follow) yield* wake.follow(Context.get(store, ExecutionLog.ExecutionLog))
    yield* Effect.forkScoped(Effect.provide(worker, store))
  })

const double = Step.make("double", { success: Schema.Number, run: (n: number) => Effect.succeed(n * 2) })

describe("ergon/pg: wake-ups across processes (LISTEN/NOTIFY)", () => {
  it.live("a flow scheduled in process B wakes the idle worker of process A, not its hourly poll", () =>
    Effect.scoped(Effect.gen(function*() {
      const Doubler = Flow.make(freshId("doubler"), { input: Schema.Number, success: Schema.Number, run: double })
      const a = yield* open("wakeups")
      const b = yield* open("wakeups")
      const log = Context.get(a, ExecutionLog.ExecutionLog)
      assert.isDefined(log.changes, "the PostgreSQL store has notifications")
      const worker = Worker.make("a").unversioned().register(Doubler).withPollInterval("1 hour").run()
      // The worker follows the store's notifications itself: with an hourly poll, only a
      // notification from B can make it look again.
      yield* runWorker(a, worker, false)
      yield* Effect.sleep("300 millis")
      const early = yield* Effect.provide(Scheduler.make().unversioned().schedule(Doubler, 1), b)
      yield* eventually("the flow from B completes", Effect.map(statusIn(b, early.id), (s) => s === "completed"))
      for (let i = 0; i < 3; i++) {
        yield* Effect.sleep("200 millis")
        const handle = yield* Effect.provide(Scheduler.make().unversioned().schedule(Doubler, 10 + i), b)
        yield* eventually(`flow ${i} completes`, Effect.map(statusIn(b, handle.id), (s) => s === "completed"))
        assert.strictEqual(yield* Effect.provide(handle.await, b), 2 * (10 + i))
      }
    })))

  it.live("a signal sent in process B resumes a flow suspended by process A's worker", () =>
    Effect.scoped(Effect.gen(function*() {
      const Approval = Schema.Struct({ by: Schema.String })
      const Approver = Flow.make(freshId("approver"), {
        input: Schema.Void,
        success: Schema.String,
        run: () => Effect.map(Flow.awaitSignal("approval", Approval), (a) => `approved by ${a.by}`)
      })
      const a = yield* open("wakeups")
      const b = yield* open("wakeups")
      const worker = Worker.make("a").unversioned().register(Approver).withPollInterval("1 hour")
        .withSuspendAfter("0 millis").run()
      yield* runWorker(a, worker, true)
      const handle = yield* Effect.provide(Scheduler.make().unversioned().schedule(Approver, undefined), b)
      yield* eventually("the flow is suspended", Effect.map(statusIn(b, handle.id), (s) => s === "suspended"))
      yield* Effect.provide(Client.signal(handle.id, "approval", Approval, { by: "bob" }), b)
      yield* eventually("the flow completes", Effect.map(statusIn(b, handle.id), (s) => s === "completed"))
      assert.strictEqual(yield* Effect.provide(handle.await, b), "approved by bob")
    })))

  it.live("each store follows only its own schema's notifications", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* open("wakeups")
      const other = yield* open("wakeups_other")
      const log = Context.get(a, ExecutionLog.ExecutionLog)
      yield* wake.follow(log)
      // Wait for the subscription's own first wake-up, then see what the other schema causes.
      yield* eventually("the subscription is live", Effect.map(wake.version(log), (v) => v > 0))
      const before = yield* wake.version(log)
      const Doubler = Flow.make(freshId("doubler"), { input: Schema.Number, success: Schema.Number, run: double })
      yield* Effect.provide(Scheduler.make().unversioned().schedule(Doubler, 1), other)
      yield* Effect.sleep("500 millis")
      assert.strictEqual(yield* wake.version(log), before)
      yield* Effect.provide(Scheduler.make().unversioned().schedule(Doubler, 1), a)
      yield* eventually("its own schema's change is heard", Effect.map(wake.version(log), (v) => v > before))
    })))
})

describe("ergon/pg: scheduling inside the user's transaction", () => {
  it.live("commits with the user's writes, and rolls back with them", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* open("transactions")
      const sql = Context.get(store, SqlClient.SqlClient)
      yield* sql`CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY)`
      const Doubler = Flow.make(freshId("doubler"), { input: Schema.Number, success: Schema.Number, run: double })
      const scheduler = Scheduler.make().unversioned()
      const placeOrder = (orderId: string, fail: boolean) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO orders (id) VALUES (${orderId})`
          yield* scheduler.schedule(Doubler, 1, { id: `flow-${orderId}` })
          if (fail) return yield* Effect.fail("the order was rejected" as const)
        }))
      const exists = (orderId: string) =>
        Effect.gen(function*() {
          const orders = yield* sql`SELECT id FROM orders WHERE id = ${orderId}`
          const flow = yield* Client.get(`flow-${orderId}`)
          return [orders.length === 1, flow._tag === "Some"] as const
        })

      const committed = freshId("order")
      yield* Effect.provide(placeOrder(committed, false), store)
      assert.deepStrictEqual(yield* Effect.provide(exists(committed), store), [true, true])

      const rolledBack = freshId("order")
      const exit = yield* Effect.exit(Effect.provide(placeOrder(rolledBack, true), store))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(yield* Effect.provide(exists(rolledBack), store), [false, false])
    })))
})

describe("ergon/pg: the server restarts under a running worker", () => {
  it.live("every flow finishes, each step checkpointed once", () =>
    Effect.gen(function*() {
      const own = yield* Effect.promise(() => Server.startRestartable())
      yield* Effect.addFinalizer(() => Effect.promise(() => own.destroy()))
      const url = own.server.url()
      const schema = "restart"
      const store = yield* open(schema, url)
      const sql = Context.get(store, SqlClient.SqlClient)
      // Audit every write that completes a checkpoint (a second one for the same step would be a
      // step checkpointed twice).
      yield* sql.unsafe(`
        CREATE TABLE ckpt_audit (flow_id TEXT, key TEXT, op TEXT);
        CREATE FUNCTION ckpt_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'completed' OR OLD.exit IS DISTINCT FROM NEW.exit) THEN
            INSERT INTO ckpt_audit VALUES (NEW.flow_id, NEW."key", TG_OP);
          END IF;
          RETURN NULL;
        END $$;
        CREATE TRIGGER ckpt_audit AFTER INSERT OR UPDATE ON ergon_steps FOR EACH ROW EXECUTE FUNCTION ckpt_audit();
      `)
      const steps = 4
      const stepOf = (i: number) =>
        Step.make(`step-${i}`, {
          success: Schema.Number,
          run: (n: number) => Effect.as(Effect.sleep("30 millis"), n + i)
        })
      const Slow = Flow.make(freshId("slow"), {
        input: Schema.Number,
        success: Schema.Number,
        run: (n) =>
          Effect.gen(function*() {
            let total = n
            for (let i = 1; i <= steps; i++) {
              total = yield* stepOf(i)(total)
              yield* Flow.sleep("150 millis")
            }
            return total
          })
      })
      const worker = Worker.make("restart").unversioned().register(Slow).withTimers()
        .withPollInterval("100 millis").withLease("3 seconds").withSuspendAfter("0 millis").run()
      yield* runWorker(store, worker, true)
      const handles = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        (i) => Effect.provide(Scheduler.make().unversioned().schedule(Slow, i * 100), store)
      )
      // Stop the server while flows are mid-run (some steps done, none finished).
      yield* eventually(
        "some steps are checkpointed",
        Effect.map(sql<{ n: string }>`SELECT COUNT(*) AS n FROM ckpt_audit`, (rows) => Number(rows[0]!.n) >= 4)
      )
      yield* Effect.promise(() => own.halt())
      yield* Effect.sleep("1 second")
      yield* Effect.promise(() => own.resume())
      yield* eventually(
        "every flow completes",
        Effect.map(
          Effect.forEach(handles, (handle) => Effect.orElseSucceed(statusIn(store, handle.id), () => "unknown")),
          (statuses) => statuses.every((s) => s === "completed")
        ),
        "60 seconds"
      )
      for (const [i, handle] of handles.entries()) {
        assert.strictEqual(yield* Effect.provide(handle.await, store), i * 100 + (steps * (steps + 1)) / 2)
      }
      const audit = yield* sql<{ flow_id: string; key: string; n: string }>`
        SELECT flow_id, "key", COUNT(*) AS n FROM ckpt_audit GROUP BY flow_id, "key"`
      const perStep = audit.filter((row) => row.key.includes("step-"))
      assert.strictEqual(perStep.length, handles.length * steps, JSON.stringify(audit))
      for (const row of perStep) assert.strictEqual(Number(row.n), 1, `${row.flow_id} ${row.key} checkpointed ${row.n} times`)
      // The notifications came back too: the lost subscription is noticed (a ping unanswered) and
      // replaced, so a change made elsewhere wakes this process again.
      const log = Context.get(store, ExecutionLog.ExecutionLog)
      const other = yield* open(schema, url)
      // A flow type no worker runs, so that only a notification moves the version.
      const Unrun = Flow.make(freshId("unrun"), { input: Schema.Number, success: Schema.Number, run: double })
      yield* eventually(
        "a change made by another process is heard again",
        Effect.gen(function*() {
          const before = yield* wake.version(log)
          yield* Effect.provide(Scheduler.make().unversioned().schedule(Unrun, 1), other)
          yield* Effect.sleep("300 millis")
          return (yield* wake.version(log)) > before
        }),
        "30 seconds"
      )
    }).pipe(Effect.scoped), { timeout: 120_000 })
})

describe("ergon/pg: bad input", () => {
  it.live("a schema owned by another role: a StoreError naming the refusal, on open", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* Effect.promise(() => Server.start())
      const admin = yield* open("roles_admin")
      const sql = Context.get(admin, SqlClient.SqlClient)
      const suffix = Date.now().toString(36)
      const owner = `ergon_owner_${suffix}`
      const intruder = `ergon_intruder_${suffix}`
      yield* sql.unsafe(`CREATE ROLE ${owner} LOGIN PASSWORD 'owner-pw'`)
      yield* sql.unsafe(`CREATE ROLE ${intruder} LOGIN PASSWORD 'intruder-pw'`)
      yield* sql.unsafe(`CREATE SCHEMA owned_${suffix} AUTHORIZATION ${owner}`)
      const exit = yield* Effect.exit(Layer.build(Pg.layer({
        host: server.host,
        port: server.port,
        database: "postgres",
        username: intruder,
        password: "intruder-pw",
        schema: `owned_${suffix}`
      })))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      assert.instanceOf(error, StoreError, String(exit.cause))
      const storeError = error as StoreError
      assert.include(["open", "migrate"], storeError.operation)
      assert.include(storeError.message, "permission denied")
      assert.notInclude(storeError.message, "intruder-pw")
    })))

  // KNOWN ENGINE BUG (reported to the lead): `ExecutionLog.Service.claimFlows` parses the whole
  // claimed batch at once, so one row whose payload is not JSON fails the claim with a StoreError
  // after the rows were marked running: the good flows of the batch wait for their leases to
  // expire, and are claimed again with the bad row, forever. `.fails` keeps this test red-on-fix:
  // once claims skip (and fail) the bad row alone, drop `.fails`.
  it.live("rows edited by hand into nonsense are skipped and reported; other flows finish", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* open("bad_rows")
      const sql = Context.get(store, SqlClient.SqlClient)
      const Doubler = Flow.make(freshId("doubler"), { input: Schema.Number, success: Schema.Number, run: double })
      const scheduler = Scheduler.make().unversioned()
      const notJson = yield* Effect.provide(scheduler.schedule(Doubler, 1, { id: freshId("not-json") }), store)
      const unknownStatus = yield* Effect.provide(scheduler.schedule(Doubler, 2, { id: freshId("bogus") }), store)
      yield* sql`UPDATE ergon_flows SET input = ${"{not json"} WHERE id = ${notJson.id}`
      yield* sql`UPDATE ergon_flows SET status = ${"bogus"} WHERE id = ${unknownStatus.id}`
      const good = yield* Effect.forEach([3, 4, 5, 6], (n) => Effect.provide(scheduler.schedule(Doubler, n), store))
      // The default lease (30 seconds): the good flows must not wait for a poisoned claim to expire.
      const worker = Worker.make("bad-rows").unversioned().register(Doubler).withPollInterval("100 millis").run()
      yield* runWorker(store, worker, true)
      yield* eventually(
        "the good flows complete",
        Effect.map(
          Effect.forEach(good, (handle) => statusIn(store, handle.id)),
          (statuses) => statuses.every((s) => s === "completed")
        ),
        "10 seconds"
      )
      for (const [i, handle] of good.entries()) assert.strictEqual(yield* Effect.provide(handle.await, store), 2 * (i + 3))
      const bogus = yield* sql<{ status: string }>`SELECT status FROM ergon_flows WHERE id = ${unknownStatus.id}`
      assert.strictEqual(bogus[0]!.status, "bogus")
      // the unreadable row is reported and marked failed under the claim's lease, not run
      const poisoned = yield* sql<{ status: string }>`SELECT status FROM ergon_flows WHERE id = ${notJson.id}`
      assert.strictEqual(poisoned[0]!.status, "failed")
    })))
})
