/**
 * The store conformance suite for what operators read: the live-worker registry, flows listed
 * newest first and counted, the counts behind `Client.stuck`, and the trace context stored with a
 * flow. Run over memory, SQLite and PostgreSQL; each test uses a fresh flow type and fresh ids.
 */
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { ExecutionLog, type WorkerRow } from "../../src/ExecutionLog.js"
import { makeRecords, T0 } from "../fixtures/records.js"

const fresh = (prefix: string): string => `${prefix}-${crypto.randomUUID().slice(0, 8)}`

const workerRow = (overrides: Partial<WorkerRow> = {}): WorkerRow => ({
  id: fresh("orders/w"),
  name: "orders",
  version: "1.0.0",
  types: ["order", "shipment"],
  timers: true,
  signals: false,
  host: "host-a",
  pid: 4242,
  concurrency: 16,
  inFlight: 0,
  startedAt: T0,
  heartbeatAt: T0,
  expiresAt: T0 + 30_000,
  ...overrides
})

/** The registrations among `ids`, in the store's order. */
const listed = (ids: ReadonlyArray<string>) =>
  Effect.map(
    Effect.flatMap(ExecutionLog, (log) => log.listWorkers()),
    (rows) => rows.filter((row) => ids.includes(row.id))
  )

export const suite = (name: string, layer: Layer.Layer<ExecutionLog, unknown>): void =>
  it.layer(layer)(`registry conformance: ${name}`, (it) => {
    it.effect("registerWorker writes a registration; listWorkers returns it field for field", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const row = workerRow({ version: null, types: [], timers: false, signals: true, name: fresh("n") })
        yield* log.registerWorker(row)
        assert.deepStrictEqual(yield* listed([row.id]), [row])
        // Registering the same id again replaces it.
        const again = { ...row, concurrency: 4, types: ["x"], startedAt: T0 + 9 }
        yield* log.registerWorker(again)
        assert.deepStrictEqual(yield* listed([row.id]), [again])
      }))

    it.effect("heartbeatWorker refreshes a registration, and is false for one that is not there", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const row = workerRow()
        yield* log.registerWorker(row)
        assert.isTrue(yield* log.heartbeatWorker(row.id, T0 + 10_000, T0 + 40_000, 3))
        assert.deepStrictEqual(yield* listed([row.id]), [{ ...row, heartbeatAt: T0 + 10_000, expiresAt: T0 + 40_000, inFlight: 3 }])
        assert.isFalse(yield* log.heartbeatWorker(fresh("missing"), T0, T0, 0))
      }))

    it.effect("removeWorker deletes one registration; pruneWorkers deletes those expired before a time", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const name = fresh("n")
        const a = workerRow({ name, startedAt: T0 + 2, expiresAt: T0 - 1 })
        const b = workerRow({ name, startedAt: T0 + 1, expiresAt: T0 + 1 })
        const c = workerRow({ name, startedAt: T0 + 3, expiresAt: T0 + 50_000 })
        for (const row of [a, b, c]) yield* log.registerWorker(row)
        // by name, then start time
        assert.deepStrictEqual((yield* listed([a.id, b.id, c.id])).map((row) => row.id), [b.id, a.id, c.id])
        assert.isTrue(yield* log.removeWorker(c.id))
        assert.isFalse(yield* log.removeWorker(c.id))
        const pruned = yield* log.pruneWorkers(T0)
        assert.isAtLeast(pruned, 1)
        assert.deepStrictEqual((yield* listed([a.id, b.id, c.id])).map((row) => row.id), [b.id])
      }))

    it.effect("pageFlows lists newest first, filters, and pages with a cursor", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("page")
        const records = makeRecords(type)
        // Two flows share a creation time: the id breaks the tie (descending).
        const rows = [
          records.flowRecord(`${type}-a`, { createdAt: T0 + 1, status: "pending", version: "1.0.0" }),
          records.flowRecord(`${type}-b`, { createdAt: T0 + 3, status: "failed" }),
          records.flowRecord(`${type}-c`, { createdAt: T0 + 3, status: "completed", parentId: "p-1", parentKey: "k" }),
          records.flowRecord(`${type}-d`, { createdAt: T0 + 2, status: "failed", version: "1.0.0" }),
          records.flowRecord(`${type}-e`, { createdAt: T0 + 5, status: "suspended" })
        ]
        for (const row of rows) assert.isTrue(yield* log.insertFlow(row))
        const ids = (flows: ReadonlyArray<ExecutionLog.FlowRecord>) => flows.map((flow) => flow.id.slice(type.length + 1))
        assert.deepStrictEqual(ids(yield* log.pageFlows({ type })), ["e", "c", "b", "d", "a"])
        // With its payloads when asked; a listing's state only otherwise.
        assert.deepStrictEqual(yield* log.pageFlows({ type, limit: 1, payloads: true }), [rows[4]!])
        assert.deepStrictEqual(yield* log.pageFlows({ type, limit: 1 }), [{ ...rows[4]!, input: undefined, result: undefined, error: undefined }])
        const first = yield* log.pageFlows({ type, limit: 2 })
        assert.deepStrictEqual(ids(first), ["e", "c"])
        const last = first.at(-1)!
        const second = yield* log.pageFlows({ type, limit: 2, before: { createdAt: last.createdAt, id: last.id } })
        assert.deepStrictEqual(ids(second), ["b", "d"])
        assert.deepStrictEqual(ids(yield* log.pageFlows({ type, status: "failed" })), ["b", "d"])
        assert.deepStrictEqual(ids(yield* log.pageFlows({ type, status: ["pending", "completed"] })), ["c", "a"])
        assert.deepStrictEqual(ids(yield* log.pageFlows({ type, version: "1.0.0" })), ["d", "a"])
        assert.deepStrictEqual(ids(yield* log.pageFlows({ type, version: null })), ["e", "c", "b"])
        assert.deepStrictEqual(ids(yield* log.pageFlows({ type, parentId: "p-1" })), ["c"])
        assert.deepStrictEqual(yield* log.pageFlows({ type, limit: 0 }), [])
      }))

    it.effect("countFlows counts what matches the filter, whatever its limit", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("count")
        const records = makeRecords(type)
        for (let i = 0; i < 7; i++) {
          yield* log.insertFlow(records.flowRecord(`${type}-${i}`, { status: i < 4 ? "failed" : "pending" }))
        }
        assert.strictEqual(yield* log.countFlows({ type }), 7)
        assert.strictEqual(yield* log.countFlows({ type, status: "failed", limit: 2 }), 4)
        assert.strictEqual(yield* log.countFlows({ type, status: ["failed", "pending"], afterId: `${type}-9` }), 7)
        assert.strictEqual(yield* log.countFlows({ type, version: "9.9.9" }), 0)
      }))

    it.effect("flowGroups counts the flows that have not ended by type, version and status, and the ready ones", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("groups")
        const records = makeRecords(type)
        const now = T0 + 100_000
        const flows = [
          // pending: one due, one later
          records.flowRecord(`${type}-p1`, { status: "pending", runAfter: now - 500 }),
          records.flowRecord(`${type}-p2`, { status: "pending", runAfter: now + 500 }),
          // suspended: a due timer, a signal wait with no time
          records.flowRecord(`${type}-s1`, { status: "suspended", runAfter: now - 2_000 }),
          records.flowRecord(`${type}-s2`, { status: "suspended", runAfter: null }),
          // running: an expired lease, a live one
          records.flowRecord(`${type}-r1`, { status: "running", leaseOwner: "w", leaseExpiresAt: now - 50, runAfter: now - 90_000 }),
          records.flowRecord(`${type}-r2`, { status: "running", leaseOwner: "w", leaseExpiresAt: now + 50 }),
          // another version; ended flows are not counted
          records.flowRecord(`${type}-v`, { status: "pending", version: "2.0.0", runAfter: now }),
          records.flowRecord(`${type}-c`, { status: "completed" }),
          records.flowRecord(`${type}-f`, { status: "failed", runAfter: now - 1 })
        ]
        for (const flow of flows) yield* log.insertFlow(flow)
        const groups = (yield* log.flowGroups(now))
          .filter((group) => group.type === type)
          .map((group) => ({ ...group }))
          .sort((a, b) => `${a.version}/${a.status}`.localeCompare(`${b.version}/${b.status}`))
        assert.deepStrictEqual(groups, [
          { type, version: "2.0.0", status: "pending", count: 1, ready: 1, readySince: now },
          { type, version: null, status: "pending", count: 2, ready: 1, readySince: now - 500 },
          { type, version: null, status: "running", count: 2, ready: 1, readySince: now - 50 },
          { type, version: null, status: "suspended", count: 2, ready: 1, readySince: now - 2_000 }
        ])
      }))

    it.effect("insertFlow stores the current span as a traceparent, or the one given; the row reads it back", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const records = makeRecords(fresh("trace"))
        const { traceContext: _, ...withoutContext } = records.flowRecord(fresh("flow"))
        // Outside any span: nothing to link to.
        yield* log.insertFlow(withoutContext)
        const outside = yield* log.getFlow(withoutContext.id)
        assert.strictEqual(outside._tag === "Some" ? outside.value.traceContext : undefined, null)
        // Inside a span: that span.
        const inSpan = records.flowRecord(fresh("flow"))
        const { traceContext: __, ...inSpanWithout } = inSpan
        const span = yield* Effect.withSpan(
          Effect.zipRight(log.insertFlow(inSpanWithout), Effect.currentSpan),
          "caller"
        )
        const stored = yield* log.getFlow(inSpan.id)
        assert.strictEqual(
          stored._tag === "Some" ? stored.value.traceContext : undefined,
          `00-${span.traceId}-${span.spanId}-01`
        )
        // Given explicitly: kept as given, even in a span.
        const given = records.flowRecord(fresh("flow"), { traceContext: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
        yield* Effect.withSpan(log.insertFlow(given), "other")
        const loaded = yield* log.loadFlow(given.id)
        assert.strictEqual(loaded._tag === "Some" ? loaded.value.flow.traceContext : undefined, given.traceContext)
      }))
  })
