/**
 * The store conformance suite: what every `ExecutionLog` backend (memory, SQLite, PostgreSQL)
 * must do, checked through the service. `it.layer` shares one store between the tests, so each
 * test uses fresh ids (and a fresh flow type where it lists flows).
 */
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ExecutionLog } from "../../src/ExecutionLog.js"
import type { Fence, FlowStatus } from "../../src/ExecutionLog.js"

const fresh = (prefix: string): string => `${prefix}-${crypto.randomUUID()}`

const T0 = 1_700_000_000_000

const flowRecord = (overrides: Partial<ExecutionLog.FlowRecord> = {}): ExecutionLog.FlowRecord => ({
  id: fresh("flow"),
  type: "conformance",
  version: "1.0.0",
  input: { n: 1 },
  inputHash: "hash-input",
  status: "pending",
  result: undefined,
  error: undefined,
  parentId: null,
  parentKey: null,
  priority: 0,
  runAfter: null,
  suspendReason: undefined,
  leaseOwner: null,
  leaseEpoch: 0,
  leaseExpiresAt: null,
  attempts: 0,
  createdAt: T0,
  updatedAt: T0,
  completedAt: null,
  ...overrides
})

const stepRecord = (
  flowId: string,
  key: string,
  overrides: Partial<ExecutionLog.StepRecord> = {}
): ExecutionLog.StepRecord => ({
  flowId,
  key,
  inputHash: `hash-${key}`,
  status: "completed",
  exit: { _tag: "Success", value: key },
  attempts: 1,
  nextAttemptAt: null,
  startedAt: T0,
  completedAt: T0 + 1,
  ...overrides
})

const byKey = (steps: ReadonlyArray<ExecutionLog.StepRecord>): ReadonlyArray<ExecutionLog.StepRecord> =>
  [...steps].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))

const ids = (flows: ReadonlyArray<ExecutionLog.FlowRecord>): ReadonlyArray<string> => flows.map((flow) => flow.id)

/** Inserts a flow, asserting that it was inserted. */
const insert = (flow: ExecutionLog.FlowRecord) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    assert.isTrue(yield* log.insertFlow(flow), `insertFlow(${flow.id})`)
    return flow
  })

/** Reads a flow that must exist. */
const getSome = (id: string) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    return yield* yield* log.getFlow(id)
  })

/** Loads a flow that must exist. */
const loadSome = (id: string) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    return yield* yield* log.loadFlow(id)
  })

/**
 * Runs the conformance suite against a store.
 */
export const suite = (name: string, layer: Layer.Layer<ExecutionLog, unknown>): void =>
  it.layer(layer)(name, (it) => {
    it.effect("insertFlow inserts once; a second insert returns false and changes nothing", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const flow = yield* insert(flowRecord())
        const again = yield* log.insertFlow(
          flowRecord({ id: flow.id, type: "other", input: { n: 2 }, inputHash: "other", status: "running" })
        )
        assert.isFalse(again)
        assert.deepStrictEqual(yield* getSome(flow.id), flow)
      }))

    it.effect("getFlow returns none for an unknown id and the whole row for a known one", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        assert.isTrue(Option.isNone(yield* log.getFlow(fresh("missing"))))
        const flow = yield* insert(
          flowRecord({
            version: null,
            status: "suspended",
            result: { ok: true },
            error: { reason: "x" },
            parentId: fresh("parent"),
            parentKey: "child-1",
            priority: -3,
            runAfter: T0 + 60_000,
            suspendReason: { _tag: "Timer", until: T0 + 60_000 },
            leaseOwner: "worker-1",
            leaseEpoch: 7,
            leaseExpiresAt: T0 + 30_000,
            attempts: 4,
            updatedAt: T0 + 5,
            completedAt: T0 + 6
          })
        )
        assert.deepStrictEqual(yield* getSome(flow.id), flow)
      }))

    it.effect("loadFlow returns none, a flow with no steps, and a flow with its whole journal", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        assert.isTrue(Option.isNone(yield* log.loadFlow(fresh("missing"))))

        const empty = yield* insert(flowRecord())
        assert.deepStrictEqual(yield* loadSome(empty.id), { flow: empty, steps: [] })

        const flow = yield* insert(flowRecord())
        const steps = [
          stepRecord(flow.id, "b"),
          stepRecord(flow.id, "a", {
            status: "retrying",
            exit: { _tag: "Failure", error: "boom" },
            attempts: 2,
            nextAttemptAt: T0 + 1_000,
            completedAt: null
          }),
          stepRecord(flow.id, "$timer/sleep", {
            inputHash: null,
            status: "waiting",
            exit: { until: T0 + 86_400_000 },
            attempts: 0,
            startedAt: null,
            completedAt: null
          }),
          stepRecord(flow.id, "c", { exit: undefined })
        ]
        for (const step of steps) assert.isTrue(yield* log.putStep(step), step.key)
        // A step of another flow must not appear.
        const other = yield* insert(flowRecord())
        assert.isTrue(yield* log.putStep(stepRecord(other.id, "a")))

        const loaded = yield* loadSome(flow.id)
        assert.deepStrictEqual(loaded.flow, flow)
        assert.deepStrictEqual(byKey(loaded.steps), byKey(steps))
      }))

    it.effect("putStep on a flow that does not exist writes nothing", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const id = fresh("missing")
        assert.isFalse(yield* log.putStep(stepRecord(id, "a")))
        assert.isTrue(Option.isNone(yield* log.loadFlow(id)))
      }))

    it.effect("putStep overwrites an entry that is not completed, and never a completed one", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const flow = yield* insert(flowRecord())
        const retrying = stepRecord(flow.id, "s", {
          status: "retrying",
          exit: { _tag: "Failure", error: 1 },
          attempts: 1,
          nextAttemptAt: T0 + 10,
          completedAt: null
        })
        assert.isTrue(yield* log.putStep(retrying))
        const waiting = stepRecord(flow.id, "s", { status: "waiting", exit: { until: 5 }, attempts: 2 })
        assert.isTrue(yield* log.putStep(waiting))
        assert.deepStrictEqual((yield* loadSome(flow.id)).steps, [waiting])

        const completed = stepRecord(flow.id, "s", { exit: { _tag: "Success", value: "first" }, attempts: 3 })
        assert.isTrue(yield* log.putStep(completed))
        const later = stepRecord(flow.id, "s", { exit: { _tag: "Success", value: "second" }, attempts: 4 })
        assert.isFalse(yield* log.putStep(later))
        assert.isFalse(yield* log.putStep({ ...retrying, attempts: 9 }))
        assert.deepStrictEqual((yield* loadSome(flow.id)).steps, [completed])
      }))

    it.effect("a fenced putStep writes only under the flow's current lease owner and epoch", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const flow = yield* insert(flowRecord({ status: "running", leaseOwner: "worker-1", leaseEpoch: 3 }))
        const refused: ReadonlyArray<Fence> = [
          { owner: "worker-1", epoch: 2 },
          { owner: "worker-1", epoch: 4 },
          { owner: "worker-2", epoch: 3 }
        ]
        for (const fence of refused) {
          assert.isFalse(yield* log.putStep(stepRecord(flow.id, "a"), fence), JSON.stringify(fence))
        }
        assert.deepStrictEqual((yield* loadSome(flow.id)).steps, [])
        const step = stepRecord(flow.id, "a")
        assert.isTrue(yield* log.putStep(step, { owner: "worker-1", epoch: 3 }))
        assert.deepStrictEqual((yield* loadSome(flow.id)).steps, [step])

        // A flow that nobody holds refuses every fenced write, and accepts unfenced ones.
        const free = yield* insert(flowRecord())
        assert.isFalse(yield* log.putStep(stepRecord(free.id, "a"), { owner: "worker-1", epoch: 0 }))
        assert.isTrue(yield* log.putStep(stepRecord(free.id, "a")))
      }))

    it.effect("a fenced updateFlow writes only under the flow's current lease owner and epoch", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const flow = yield* insert(flowRecord({ status: "running", leaseOwner: "worker-1", leaseEpoch: 3 }))
        const patch = { status: "completed", result: { value: 1 }, completedAt: T0 + 9, updatedAt: T0 + 9 } as const
        assert.isFalse(yield* log.updateFlow(flow.id, patch, { owner: "worker-1", epoch: 2 }))
        assert.isFalse(yield* log.updateFlow(flow.id, patch, { owner: "worker-2", epoch: 3 }))
        assert.deepStrictEqual(yield* getSome(flow.id), flow)
        assert.isTrue(yield* log.updateFlow(flow.id, patch, { owner: "worker-1", epoch: 3 }))
        assert.deepStrictEqual(yield* getSome(flow.id), {
          ...flow,
          status: "completed",
          result: { value: 1 },
          completedAt: T0 + 9,
          updatedAt: T0 + 9
        })
        const free = yield* insert(flowRecord())
        assert.isFalse(yield* log.updateFlow(free.id, { updatedAt: T0 + 1 }, { owner: "worker-1", epoch: 0 }))
      }))

    it.effect("updateFlow of a flow that does not exist returns false", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const id = fresh("missing")
        assert.isFalse(yield* log.updateFlow(id, { status: "running", updatedAt: T0 }))
        assert.isTrue(Option.isNone(yield* log.getFlow(id)))
      }))

    it.effect("updateFlow sets each given field, clears on null, leaves absent fields", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const flow = yield* insert(flowRecord())
        let expected: ExecutionLog.FlowRecord = flow
        const step = (patch: ExecutionLog.FlowRecordPatch, next: Partial<ExecutionLog.FlowRecord>) =>
          Effect.gen(function*() {
            assert.isTrue(yield* log.updateFlow(flow.id, patch), JSON.stringify(patch))
            expected = { ...expected, ...next }
            assert.deepStrictEqual(yield* getSome(flow.id), expected, JSON.stringify(patch))
          })

        // Only `updatedAt`: nothing else moves.
        yield* step({ updatedAt: T0 + 1 }, { updatedAt: T0 + 1 })
        yield* step({ status: "running", incrementAttempts: true, updatedAt: T0 + 2 }, {
          status: "running",
          attempts: 1,
          updatedAt: T0 + 2
        })
        yield* step({ incrementAttempts: true, updatedAt: T0 + 3 }, { attempts: 2, updatedAt: T0 + 3 })
        yield* step({ incrementAttempts: false, updatedAt: T0 + 4 }, { updatedAt: T0 + 4 })
        yield* step({ status: "suspended", runAfter: T0 + 100, suspendReason: { _tag: "Sleep" }, updatedAt: T0 + 5 }, {
          status: "suspended",
          runAfter: T0 + 100,
          suspendReason: { _tag: "Sleep" },
          updatedAt: T0 + 5
        })
        // `undefined` leaves a field as it is.
        yield* step({
          status: undefined,
          runAfter: undefined,
          suspendReason: undefined,
          result: undefined,
          error: undefined,
          completedAt: undefined,
          incrementAttempts: undefined,
          updatedAt: T0 + 6
        }, { updatedAt: T0 + 6 })
        // `null` clears it.
        yield* step({ status: "pending", runAfter: null, suspendReason: null, updatedAt: T0 + 7 }, {
          status: "pending",
          runAfter: null,
          suspendReason: undefined,
          updatedAt: T0 + 7
        })
        yield* step({ status: "failed", error: { message: "bad" }, updatedAt: T0 + 8 }, {
          status: "failed",
          error: { message: "bad" },
          updatedAt: T0 + 8
        })
        yield* step({ status: "completed", error: null, result: [1, 2], completedAt: T0 + 9, updatedAt: T0 + 9 }, {
          status: "completed",
          error: undefined,
          result: [1, 2],
          completedAt: T0 + 9,
          updatedAt: T0 + 9
        })
        yield* step({ result: null, completedAt: null, updatedAt: T0 + 10 }, {
          result: undefined,
          completedAt: null,
          updatedAt: T0 + 10
        })
        yield* step({ status: "cancelled", updatedAt: T0 + 11 }, { status: "cancelled", updatedAt: T0 + 11 })
      }))

    it.effect("listFlows filters by status (one or many), type, version (null: unversioned), orders by id", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const prefix = fresh("list")
        const rows: ReadonlyArray<readonly [string, FlowStatus, string | null]> = [
          ["3", "suspended", "2.0.0"],
          ["1", "pending", "1.0.0"],
          ["5", "pending", "1.0.0"],
          ["2", "running", null],
          ["4", "completed", null]
        ]
        for (const [suffix, status, version] of rows) {
          yield* insert(flowRecord({ id: `${prefix}-${suffix}`, type, status, version }))
        }
        const at = (...suffixes: ReadonlyArray<string>) => suffixes.map((suffix) => `${prefix}-${suffix}`)

        assert.deepStrictEqual(ids(yield* log.listFlows({ type })), at("1", "2", "3", "4", "5"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, status: "pending" })), at("1", "5"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, status: ["running", "completed"] })), at("2", "4"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, status: ["cancelled"] })), [])
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, status: [] })), [])
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, version: null })), at("2", "4"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, version: "1.0.0" })), at("1", "5"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, version: undefined })), at("1", "2", "3", "4", "5"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, version: "9.9.9" })), [])
        assert.deepStrictEqual(
          ids(yield* log.listFlows({ type, status: ["pending", "suspended"], version: "1.0.0" })),
          at("1", "5")
        )
        assert.deepStrictEqual(ids(yield* log.listFlows({ type: fresh("type") })), [])

        // Every listed row is whole.
        const [first] = yield* log.listFlows({ type, limit: 1 })
        assert.deepStrictEqual(first, yield* getSome(`${prefix}-1`))
      }))

    it.effect("listFlows pages with afterId and limit", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const prefix = fresh("page")
        for (const suffix of ["c", "a", "e", "b", "d"]) {
          yield* insert(flowRecord({ id: `${prefix}-${suffix}`, type }))
        }
        const at = (...suffixes: ReadonlyArray<string>) => suffixes.map((suffix) => `${prefix}-${suffix}`)
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, limit: 2 })), at("a", "b"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, limit: 2, afterId: `${prefix}-b` })), at("c", "d"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, limit: 2, afterId: `${prefix}-d` })), at("e"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, afterId: `${prefix}-e` })), [])
        // `afterId` need not be an existing id: strictly greater.
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, afterId: `${prefix}-bb` })), at("c", "d", "e"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, limit: 0 })), [])
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, limit: 2.5 })), at("a", "b"))
        assert.deepStrictEqual(ids(yield* log.listFlows({ type, limit: Infinity })), at("a", "b", "c", "d", "e"))
      }))

    it.effect("listFlows returns at most 100 flows by default", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const prefix = fresh("many")
        for (let i = 0; i < 105; i++) {
          yield* insert(flowRecord({ id: `${prefix}-${String(i).padStart(3, "0")}`, type }))
        }
        const listed = yield* log.listFlows({ type })
        assert.strictEqual(listed.length, 100)
        assert.strictEqual(listed[0]!.id, `${prefix}-000`)
        assert.strictEqual(listed[99]!.id, `${prefix}-099`)
        assert.strictEqual((yield* log.listFlows({ type, limit: 1_000 })).length, 105)
      }))

    it.effect("listFlows filters by parentId", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const parent = yield* insert(flowRecord())
        const children = [
          yield* insert(flowRecord({ id: `${parent.id}/b`, parentId: parent.id, parentKey: "b" })),
          yield* insert(flowRecord({ id: `${parent.id}/a`, parentId: parent.id, parentKey: "a" }))
        ]
        yield* insert(flowRecord({ parentId: fresh("other-parent"), parentKey: "a" }))
        const listed = yield* log.listFlows({ parentId: parent.id })
        assert.deepStrictEqual(listed, [children[1]!, children[0]!])
        assert.deepStrictEqual(ids(yield* log.listFlows({ parentId: parent.id, status: "running" })), [])
      }))

    it.effect("payloads round-trip: nested JSON, unicode, numbers up to 2^53", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const payload = {
          nested: { a: [1, [2, [3, { deep: null }]]], empty: {}, list: [] },
          unicode: "héllo — 日本語 🎉 \u0000 \u2028 \"quoted\" 'single' \\ back",
          big: Number.MAX_SAFE_INTEGER,
          negative: -Number.MAX_SAFE_INTEGER,
          float: 0.1 + 0.2,
          tiny: 5e-324,
          flags: [true, false, null],
          emptyString: ""
        }
        const flow = yield* insert(
          flowRecord({
            id: fresh("payload-🎉-ü"),
            type: "type-日本",
            input: payload,
            inputHash: "hash-ß",
            result: [payload],
            error: "just a string",
            suspendReason: 0,
            priority: 2_147_483_647,
            runAfter: Number.MAX_SAFE_INTEGER,
            leaseExpiresAt: Number.MAX_SAFE_INTEGER - 1,
            leaseEpoch: Number.MAX_SAFE_INTEGER,
            createdAt: Number.MAX_SAFE_INTEGER,
            updatedAt: Number.MAX_SAFE_INTEGER,
            completedAt: Number.MAX_SAFE_INTEGER
          })
        )
        const step = stepRecord(flow.id, "step-ключ", {
          inputHash: "hash-∑",
          exit: { _tag: "Success", value: payload },
          attempts: 2_147_483_647,
          nextAttemptAt: Number.MAX_SAFE_INTEGER,
          startedAt: Number.MAX_SAFE_INTEGER,
          completedAt: Number.MAX_SAFE_INTEGER
        })
        assert.isTrue(yield* log.putStep(step))
        const got = yield* getSome(flow.id)
        assert.deepStrictEqual(got, flow)
        assert.strictEqual(typeof got.createdAt, "number")
        assert.strictEqual(typeof got.leaseEpoch, "number")
        assert.deepStrictEqual(yield* loadSome(flow.id), { flow, steps: [step] })
        assert.deepStrictEqual(yield* log.listFlows({ type: "type-日本", afterId: flow.id.slice(0, -1) }), [flow])
      }))

    it.effect("the backend stores payload text exactly as given", () =>
      Effect.gen(function*() {
        const { backend } = yield* ExecutionLog
        const id = fresh("raw")
        // Key order and spacing are kept: the store is not a JSON normaliser.
        const input = `{"b": 1, "a": [2, 1]}`
        const row = {
          id,
          type: "raw",
          version: null,
          input,
          inputHash: "h",
          status: "pending",
          result: null,
          error: null,
          parentId: null,
          parentKey: null,
          priority: 0,
          runAfter: null,
          suspendReason: null,
          leaseOwner: null,
          leaseEpoch: 0,
          leaseExpiresAt: null,
          attempts: 0,
          createdAt: T0,
          updatedAt: T0,
          completedAt: null
        } as const
        assert.isTrue(yield* backend.insertFlow(row))
        assert.deepStrictEqual(yield* yield* backend.getFlow(id), row)
        const step = {
          flowId: id,
          key: "k",
          inputHash: null,
          status: "completed",
          exit: `{"z":0,"a":1}`,
          attempts: 1,
          nextAttemptAt: null,
          startedAt: null,
          completedAt: null
        } as const
        assert.isTrue(yield* backend.putStep(step))
        assert.deepStrictEqual(yield* yield* backend.loadFlow(id), { flow: row, steps: [step] })
      }))
  })
