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
import type { ClaimOptions, Fence, FlowStatus } from "../../src/ExecutionLog.js"
import { makeRecords, T0 } from "../fixtures/records.js"

const fresh = (prefix: string): string => `${prefix}-${crypto.randomUUID()}`

const records = makeRecords("conformance")

const flowRecord = (overrides: Partial<ExecutionLog.FlowRecord> = {}): ExecutionLog.FlowRecord =>
  records.flowRecord(fresh("flow"), { version: "1.0.0", input: { n: 1 }, inputHash: "hash-input", status: "pending", ...overrides })

const stepRecord = (
  flowId: string,
  key: string,
  overrides: Partial<ExecutionLog.StepRecord> = {}
): ExecutionLog.StepRecord =>
  records.stepRecord(flowId, key, { inputHash: `hash-${key}`, exit: { _tag: "Success", value: key }, completedAt: T0 + 1, ...overrides })

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

const LEASE = 30_000

/** Claim options over one (fresh) type and version "1.0.0", at `T0`, for `worker-1`. */
const claimOptions = (type: string, overrides: Partial<ClaimOptions> = {}): ClaimOptions => ({
  owner: "worker-1",
  now: T0,
  leaseMillis: LEASE,
  limit: 100,
  types: [type],
  versions: ["1.0.0"],
  ...overrides
})

/** A flow as `claimFlows` leaves it. */
const claimedAs = (
  flow: ExecutionLog.FlowRecord,
  owner: string,
  now: number = T0
): ExecutionLog.FlowRecord => ({
  ...flow,
  status: "running",
  leaseOwner: owner,
  leaseEpoch: flow.leaseEpoch + 1,
  leaseExpiresAt: now + LEASE,
  attempts: flow.attempts + 1,
  error: undefined,
  suspendReason: undefined,
  updatedAt: now
})

/** A flow as listings return it: its state, without its payloads. */
const stateOf = (flow: ExecutionLog.FlowRecord): ExecutionLog.FlowRecord => ({
  ...flow,
  input: undefined,
  result: undefined,
  error: undefined
})

/** A flow as claims return it: its state and its input (what a first run needs), no result. */
const claimStateOf = (flow: ExecutionLog.FlowRecord): ExecutionLog.FlowRecord => ({
  ...flow,
  result: undefined,
  error: undefined
})

/** Asserts that each flow is stored exactly as given. */
const assertUnchanged = (flows: ReadonlyArray<ExecutionLog.FlowRecord>) =>
  Effect.forEach(flows, (flow) => Effect.map(getSome(flow.id), (got) => assert.deepStrictEqual(got, flow, flow.id)), {
    discard: true
  })

const sortedIds = (values: ReadonlyArray<string>): ReadonlyArray<string> => [...values].sort()

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
        assert.deepStrictEqual(first, stateOf(yield* getSome(`${prefix}-1`)))
        // Without its payloads unless asked for them.
        const [whole] = yield* log.listFlows({ type, limit: 1, payloads: true })
        assert.deepStrictEqual(whole, yield* getSome(`${prefix}-1`))
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
        assert.deepStrictEqual(listed, [children[1]!, children[0]!].map(stateOf))
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
        assert.deepStrictEqual(yield* log.listFlows({ type: "type-日本", afterId: flow.id.slice(0, -1), payloads: true }), [flow])
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
          completedAt: null,
          traceContext: null,
          ranVersion: null
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

    // -----------------------------------------------------------------------------------------
    // Claims and leases
    // -----------------------------------------------------------------------------------------

    it.effect("claimFlows claims due pending and suspended flows of its types and versions, as running under a new lease", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const pending = yield* insert(flowRecord({ type, runAfter: T0 - 10, attempts: 2 }))
        const suspended = yield* insert(
          flowRecord({ type, status: "suspended", runAfter: T0 - 20, suspendReason: { _tag: "Sleep" }, leaseEpoch: 6 })
        )
        // `run_after <= now`: due exactly now is due.
        const dueNow = yield* insert(flowRecord({ type, runAfter: T0 }))
        const untouched = [
          yield* insert(flowRecord({ type, runAfter: T0 + 1 })),
          yield* insert(flowRecord({ type, status: "suspended", runAfter: T0 + 1 })),
          // Suspended with no time: waits for a signal or a child, never due by itself.
          yield* insert(flowRecord({ type, status: "suspended", runAfter: null })),
          yield* insert(flowRecord({ type, runAfter: null })),
          yield* insert(flowRecord({ type, status: "completed", runAfter: T0 - 10, completedAt: T0 })),
          yield* insert(flowRecord({ type, status: "failed", runAfter: T0 - 10 })),
          yield* insert(flowRecord({ type, status: "cancelled", runAfter: T0 - 10 })),
          yield* insert(flowRecord({ type: fresh("type"), runAfter: T0 - 10 })),
          yield* insert(flowRecord({ type, version: "2.0.0", runAfter: T0 - 10 })),
          yield* insert(flowRecord({ type, version: null, runAfter: T0 - 10 }))
        ]

        const claimed = yield* log.claimFlows(claimOptions(type))
        // Returned without their payloads (the executor loads the flow it runs).
        assert.deepStrictEqual(claimed, [
          claimedAs(suspended, "worker-1"),
          claimedAs(pending, "worker-1"),
          claimedAs(dueNow, "worker-1")
        ].map(claimStateOf))
        for (const flow of [suspended, pending, dueNow]) {
          assert.deepStrictEqual(yield* getSome(flow.id), claimedAs(flow, "worker-1"))
        }
        yield* assertUnchanged(untouched)
        // Claimed flows are running under a live lease: nothing is left to claim.
        assert.deepStrictEqual(yield* log.claimFlows(claimOptions(type, { owner: "worker-2" })), [])
      }))

    it.effect("claimFlows matches versions: strings, null for unversioned flows; no types or versions claim nothing", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const v1 = yield* insert(flowRecord({ type, version: "1.0.0", runAfter: T0 - 3 }))
        const v2 = yield* insert(flowRecord({ type, version: "2.0.0", runAfter: T0 - 2 }))
        const unversioned = yield* insert(flowRecord({ type, version: null, runAfter: T0 - 1 }))
        const all = [v1, v2, unversioned]

        assert.deepStrictEqual(yield* log.claimFlows(claimOptions(type, { versions: [] })), [])
        assert.deepStrictEqual(yield* log.claimFlows(claimOptions(type, { types: [] })), [])
        assert.deepStrictEqual(yield* log.claimFlows(claimOptions(type, { versions: ["9.9.9"] })), [])
        assert.deepStrictEqual(yield* log.claimFlows(claimOptions(type, { limit: 0 })), [])
        yield* assertUnchanged(all)

        assert.deepStrictEqual(ids(yield* log.claimFlows(claimOptions(type, { versions: [null] }))), [unversioned.id])
        assert.deepStrictEqual(ids(yield* log.claimFlows(claimOptions(type, { versions: ["2.0.0"] }))), [v2.id])
        assert.deepStrictEqual(ids(yield* log.claimFlows(claimOptions(type, { versions: ["1.0.0", null] }))), [v1.id])

        // A string version never matches an unversioned flow, nor null a versioned one.
        const type2 = fresh("type")
        const a = yield* insert(flowRecord({ type: type2, version: "1.0.0", runAfter: T0 - 2 }))
        const b = yield* insert(flowRecord({ type: type2, version: null, runAfter: T0 - 1 }))
        assert.deepStrictEqual(
          ids(yield* log.claimFlows(claimOptions(type2, { types: [fresh("type"), type2], versions: [null, "1.0.0"] }))),
          [a.id, b.id]
        )
      }))

    it.effect("claimFlows takes over a running flow whose lease expired, with the next epoch; never a live lease or a lease-less run", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const dead: Fence = { owner: "dead-worker", epoch: 4 }
        const expired = yield* insert(
          flowRecord({ type, status: "running", leaseOwner: dead.owner, leaseEpoch: dead.epoch, leaseExpiresAt: T0 - 1 })
        )
        const untouched = [
          // `lease_expires_at < now`: a lease that ends exactly now still holds.
          yield* insert(flowRecord({ type, status: "running", leaseOwner: "w", leaseEpoch: 1, leaseExpiresAt: T0 })),
          yield* insert(flowRecord({ type, status: "running", leaseOwner: "w", leaseEpoch: 1, leaseExpiresAt: T0 + 1 })),
          // Run by a plain executor: no lease, never taken over, however old.
          yield* insert(flowRecord({ type, status: "running", runAfter: T0 - 1_000, leaseExpiresAt: null }))
        ]

        const claimed = yield* log.claimFlows(claimOptions(type, { owner: "worker-2" }))
        assert.deepStrictEqual(claimed, [claimStateOf(claimedAs(expired, "worker-2"))])
        assert.strictEqual(claimed[0]!.leaseEpoch, 5)
        yield* assertUnchanged(untouched)

        // The dead worker's fence no longer writes; the new one does.
        assert.isFalse(yield* log.putStep(stepRecord(expired.id, "a"), dead))
        assert.isFalse(yield* log.updateFlow(expired.id, { updatedAt: T0 + 1 }, dead))
        assert.isTrue(yield* log.putStep(stepRecord(expired.id, "a"), { owner: "worker-2", epoch: 5 }))

        // Later, the live leases have expired too.
        const later = yield* log.claimFlows(claimOptions(type, { owner: "worker-3", now: T0 + 2 }))
        assert.deepStrictEqual(ids(later), [untouched[0]!.id, untouched[1]!.id].sort())
        assert.deepStrictEqual(later.map((flow) => flow.leaseEpoch), [2, 2])
      }))

    it.effect("claimFlows takes the best first: priority descending, then due time, then id; at most limit", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const prefix = fresh("order")
        const flow = (suffix: string, overrides: Partial<ExecutionLog.FlowRecord>) =>
          insert(flowRecord({ id: `${prefix}-${suffix}`, type, ...overrides }))
        const low = yield* flow("a-low", { priority: -1, runAfter: T0 - 10_000 })
        const late = yield* flow("b-late", { priority: 0, runAfter: T0 - 10 })
        const tieB = yield* flow("d-tie", { priority: 0, runAfter: T0 - 100 })
        const tieA = yield* flow("c-tie", { priority: 0, runAfter: T0 - 100 })
        // Due since its lease expired (T0 - 75): between the ties and `late`.
        const expired = yield* flow("e-expired", {
          priority: 0,
          status: "running",
          runAfter: null,
          leaseOwner: "dead",
          leaseEpoch: 1,
          leaseExpiresAt: T0 - 75
        })
        const highLate = yield* flow("f-high-late", { priority: 5, runAfter: T0 - 1 })
        const highEarly = yield* flow("g-high-early", { priority: 5, runAfter: T0 - 50, status: "suspended" })

        assert.deepStrictEqual(ids(yield* log.claimFlows(claimOptions(type, { limit: 3 }))), [
          highEarly.id,
          highLate.id,
          tieA.id
        ])
        // Picked by the time it was due; returned sorted as claimed, when its time is its new lease's.
        const next = yield* log.claimFlows(claimOptions(type, { limit: 2 }))
        assert.deepStrictEqual(ids(next), [tieB.id, expired.id])
        assert.deepStrictEqual(next[1], claimStateOf(claimedAs(expired, "worker-1")))
        assert.deepStrictEqual(ids(yield* log.claimFlows(claimOptions(type, { limit: 2.5 }))), [late.id, low.id])
        assert.deepStrictEqual(yield* log.claimFlows(claimOptions(type)), [])
      }))

    it.effect("two concurrent claimers never get the same flow", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const flows = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) => insert(flowRecord({ type, priority: i % 3, runAfter: T0 - i }))
        )
        const claimer = (owner: string) =>
          Effect.gen(function*() {
            const got: Array<ExecutionLog.FlowRecord> = []
            while (true) {
              const claimed = yield* log.claimFlows(claimOptions(type, { owner, limit: 3 }))
              if (claimed.length === 0) return got
              got.push(...claimed)
              yield* Effect.yieldNow()
            }
          })
        const owners = ["worker-a", "worker-b", "worker-c"]
        const results = yield* Effect.all(owners.map(claimer), { concurrency: "unbounded" })
        const claimed = results.flat()
        assert.deepStrictEqual(sortedIds(ids(claimed)), sortedIds(ids(flows)))
        for (const [i, got] of results.entries()) {
          for (const flow of got) {
            assert.deepStrictEqual(claimStateOf(yield* getSome(flow.id)), flow)
            assert.strictEqual(flow.leaseOwner, owners[i])
            assert.strictEqual(flow.leaseEpoch, 1)
          }
        }
      }))

    it.effect("renewLeases extends only the running flows the owner still holds, and returns their ids", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const held = (overrides: Partial<ExecutionLog.FlowRecord> = {}) =>
          insert(flowRecord({ type, status: "running", leaseOwner: "worker-1", leaseEpoch: 2, leaseExpiresAt: T0, ...overrides }))
        const a = yield* held()
        // Even after it expired, if nobody took it over.
        const b = yield* held({ leaseExpiresAt: T0 - 5_000 })
        const untouched = [
          yield* held({ leaseOwner: "worker-2" }),
          yield* held({ status: "suspended" }),
          yield* held({ status: "completed" }),
          yield* insert(flowRecord({ type, status: "running" }))
        ]
        const renewed = yield* log.renewLeases(
          "worker-1",
          [untouched[0]!.id, b.id, fresh("missing"), a.id, untouched[1]!.id, untouched[2]!.id, untouched[3]!.id],
          T0 + 10,
          5_000
        )
        assert.deepStrictEqual(sortedIds(renewed), sortedIds([a.id, b.id]))
        assert.deepStrictEqual(yield* getSome(a.id), { ...a, leaseExpiresAt: T0 + 5_010 })
        assert.deepStrictEqual(yield* getSome(b.id), { ...b, leaseExpiresAt: T0 + 5_010 })
        yield* assertUnchanged(untouched)
        assert.deepStrictEqual(yield* log.renewLeases("worker-1", [], T0, 5_000), [])

        // A flow taken over after expiry is no longer the old owner's to renew.
        const c = yield* held({ leaseExpiresAt: T0 - 1 })
        yield* log.claimFlows(claimOptions(type, { owner: "worker-2" }))
        assert.deepStrictEqual(yield* log.renewLeases("worker-1", [c.id], T0, 5_000), [])
        assert.deepStrictEqual(yield* log.renewLeases("worker-2", [c.id], T0, 5_000), [c.id])
      }))

    it.effect("releaseFlow gives a running flow back under its fence only: pending now, lease cleared, same epoch", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const flow = yield* insert(
          flowRecord({ type, status: "running", leaseOwner: "worker-1", leaseEpoch: 3, leaseExpiresAt: T0 + LEASE })
        )
        assert.isFalse(yield* log.releaseFlow(flow.id, { owner: "worker-1", epoch: 2 }, T0 + 1))
        assert.isFalse(yield* log.releaseFlow(flow.id, { owner: "worker-2", epoch: 3 }, T0 + 1))
        assert.isFalse(yield* log.releaseFlow(fresh("missing"), { owner: "worker-1", epoch: 3 }, T0 + 1))
        yield* assertUnchanged([flow])

        assert.isTrue(yield* log.releaseFlow(flow.id, { owner: "worker-1", epoch: 3 }, T0 + 1))
        const released: ExecutionLog.FlowRecord = {
          ...flow,
          status: "pending",
          runAfter: T0 + 1,
          leaseOwner: null,
          leaseExpiresAt: null,
          updatedAt: T0 + 1
        }
        assert.deepStrictEqual(yield* getSome(flow.id), released)
        assert.isFalse(yield* log.releaseFlow(flow.id, { owner: "worker-1", epoch: 3 }, T0 + 2))

        // Only a running flow: not one that holds the same lease fields in another status.
        const suspended = yield* insert(
          flowRecord({ type, status: "suspended", leaseOwner: "worker-1", leaseEpoch: 3, runAfter: null })
        )
        assert.isFalse(yield* log.releaseFlow(suspended.id, { owner: "worker-1", epoch: 3 }, T0 + 1))
        yield* assertUnchanged([suspended])

        // Released, it is ready again, at the next epoch.
        const reclaimed = yield* log.claimFlows(claimOptions(type, { now: T0 + 1 }))
        assert.deepStrictEqual(reclaimed, [claimStateOf(claimedAs(released, "worker-1", T0 + 1))])
        assert.strictEqual(reclaimed[0]!.leaseEpoch, 4)
      }))

    it.effect("wakeFlow makes a suspended flow pending now, and changes no other", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const waiting = yield* insert(
          flowRecord({ type, status: "suspended", runAfter: null, suspendReason: { _tag: "Signal", name: "go" } })
        )
        const sleeping = yield* insert(flowRecord({ type, status: "suspended", runAfter: T0 + 86_400_000 }))
        const others = yield* Effect.forEach(
          ["pending", "running", "completed", "failed", "cancelled"] as const,
          (status) => insert(flowRecord({ type, status, runAfter: T0 + 5 }))
        )
        for (const flow of others) assert.isFalse(yield* log.wakeFlow(flow.id, T0 + 1), flow.status)
        assert.isFalse(yield* log.wakeFlow(fresh("missing"), T0 + 1))
        yield* assertUnchanged(others)

        for (const flow of [waiting, sleeping]) {
          assert.isTrue(yield* log.wakeFlow(flow.id, T0 + 1))
          assert.deepStrictEqual(yield* getSome(flow.id), { ...flow, status: "pending", runAfter: T0 + 1, updatedAt: T0 + 1 })
          assert.isFalse(yield* log.wakeFlow(flow.id, T0 + 2))
        }
        assert.deepStrictEqual(
          sortedIds(ids(yield* log.claimFlows(claimOptions(type, { now: T0 + 1 })))),
          sortedIds([waiting.id, sleeping.id])
        )
      }))

    it.effect("updateFlow with wakeParent wakes the suspended parent in the same write, and only when it applies", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const parent = yield* insert(
          flowRecord({ type, status: "suspended", runAfter: T0 + 60_000, suspendReason: { _tag: "Child" } })
        )
        const child = yield* insert(
          flowRecord({ type, status: "running", parentId: parent.id, parentKey: "$invoke/c", leaseOwner: "w", leaseEpoch: 3 })
        )
        // a stale lease: the child's update is refused, and the parent stays asleep
        assert.isFalse(
          yield* log.updateFlow(child.id, { status: "completed", completedAt: T0 + 1, updatedAt: T0 + 1, wakeParent: parent.id }, {
            owner: "w",
            epoch: 2
          })
        )
        yield* assertUnchanged([parent, child])
        // the right lease: both written
        assert.isTrue(
          yield* log.updateFlow(child.id, { status: "completed", completedAt: T0 + 2, updatedAt: T0 + 2, wakeParent: parent.id }, {
            owner: "w",
            epoch: 3
          })
        )
        assert.strictEqual((yield* getSome(child.id)).status, "completed")
        assert.deepStrictEqual(yield* getSome(parent.id), { ...parent, status: "pending", runAfter: T0 + 2, updatedAt: T0 + 2 })
        // a parent that is not suspended (running, say) is left as it is
        const busy = yield* insert(flowRecord({ type, status: "running", leaseOwner: "p", leaseEpoch: 1 }))
        const other = yield* insert(flowRecord({ type, status: "running", parentId: busy.id }))
        assert.isTrue(yield* log.updateFlow(other.id, { status: "completed", updatedAt: T0 + 3, wakeParent: busy.id }))
        yield* assertUnchanged([busy])
      }))

    it.effect("nextWakeAt is the earliest due time or lease expiry among the flows of these types and versions", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const wake = (versions: ReadonlyArray<string | null>, types: ReadonlyArray<string> = [type]) =>
          log.nextWakeAt(types, versions)
        assert.deepStrictEqual(yield* wake(["1.0.0", null]), Option.none())

        // Never due by themselves.
        yield* insert(flowRecord({ type, status: "suspended", runAfter: null }))
        yield* insert(flowRecord({ type, status: "running", runAfter: T0 - 9, leaseExpiresAt: null }))
        yield* insert(flowRecord({ type, status: "completed", runAfter: T0 - 8 }))
        yield* insert(flowRecord({ type, status: "failed", runAfter: T0 - 7 }))
        yield* insert(flowRecord({ type, status: "cancelled", runAfter: T0 - 6 }))
        yield* insert(flowRecord({ type: fresh("type"), runAfter: T0 - 5 }))
        assert.deepStrictEqual(yield* wake(["1.0.0", null]), Option.none())

        yield* insert(flowRecord({ type, runAfter: T0 + 500 }))
        assert.deepStrictEqual(yield* wake(["1.0.0"]), Option.some(T0 + 500))
        yield* insert(flowRecord({ type, status: "suspended", runAfter: T0 + 300 }))
        assert.deepStrictEqual(yield* wake(["1.0.0"]), Option.some(T0 + 300))
        // A running flow's lease expiry counts, not its stale run_after.
        yield* insert(
          flowRecord({ type, status: "running", runAfter: T0 - 1_000, leaseOwner: "w", leaseEpoch: 1, leaseExpiresAt: T0 + 200 })
        )
        assert.deepStrictEqual(yield* wake(["1.0.0"]), Option.some(T0 + 200))
        yield* insert(flowRecord({ type, version: "2.0.0", runAfter: T0 + 100 }))
        yield* insert(flowRecord({ type, version: null, runAfter: T0 + 150 }))
        assert.deepStrictEqual(yield* wake(["1.0.0"]), Option.some(T0 + 200))
        assert.deepStrictEqual(yield* wake([null]), Option.some(T0 + 150))
        assert.deepStrictEqual(yield* wake(["1.0.0", null]), Option.some(T0 + 150))
        assert.deepStrictEqual(yield* wake(["2.0.0", null]), Option.some(T0 + 100))
        assert.deepStrictEqual(yield* wake([]), Option.none())
        assert.deepStrictEqual(yield* wake(["1.0.0"], []), Option.none())
        assert.deepStrictEqual(yield* wake(["1.0.0"], [fresh("type")]), Option.none())
        // A due time in the past is still the earliest.
        yield* insert(flowRecord({ type, runAfter: T0 - 1 }))
        assert.deepStrictEqual(yield* wake(["1.0.0"]), Option.some(T0 - 1))
      }))

    // -----------------------------------------------------------------------------------------
    // Signals
    // -----------------------------------------------------------------------------------------

    it.effect("insertSignal numbers signals 1, 2, … per flow and name; listSignals orders by name, then seq", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const { id: flowId } = yield* insert(flowRecord())
        const { id: other } = yield* insert(flowRecord())
        assert.deepStrictEqual(yield* log.listSignals(flowId), [])
        assert.strictEqual(yield* log.insertSignal(flowId, "b-name", { n: 1 }, T0 + 1), 1)
        assert.strictEqual(yield* log.insertSignal(flowId, "a-name", "first", T0 + 2), 1)
        assert.strictEqual(yield* log.insertSignal(other, "b-name", null, T0 + 3), 1)
        assert.strictEqual(yield* log.insertSignal(flowId, "b-name", [2], T0 + 4), 2)
        assert.strictEqual(yield* log.insertSignal(flowId, "b-name", { n: 3 }, T0 + 5), 3)
        const signal = (name: string, seq: number, payload: unknown, createdAt: number): ExecutionLog.SignalRecord => ({
          flowId,
          name,
          seq,
          payload,
          consumedBy: null,
          createdAt
        })
        assert.deepStrictEqual(yield* log.listSignals(flowId), [
          signal("a-name", 1, "first", T0 + 2),
          signal("b-name", 1, { n: 1 }, T0 + 1),
          signal("b-name", 2, [2], T0 + 4),
          signal("b-name", 3, { n: 3 }, T0 + 5)
        ])
        assert.deepStrictEqual(yield* log.listSignals(other), [{ ...signal("b-name", 1, null, T0 + 3), flowId: other }])

        // The backend keeps the payload text as given.
        const { backend } = yield* ExecutionLog
        const { id: raw } = yield* insert(flowRecord())
        assert.strictEqual(yield* backend.insertSignal(raw, "x", `{"b": 1, "a": [2]}`, T0), 1)
        assert.deepStrictEqual(yield* backend.listSignals(raw), [
          { flowId: raw, name: "x", seq: 1, payload: `{"b": 1, "a": [2]}`, consumedBy: null, createdAt: T0 }
        ])
      }))

    it.effect("takeSignal takes the oldest unconsumed signal once, and replays it for the same consumer key", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const { id: flowId } = yield* insert(flowRecord())
        assert.deepStrictEqual(yield* log.takeSignal(flowId, "go", "$signal/1"), Option.none())
        assert.isFalse(yield* log.hasSignal(flowId, "go"))
        yield* log.insertSignal(flowId, "go", "one", T0 + 1)
        yield* log.insertSignal(flowId, "other", "not this", T0 + 2)
        yield* log.insertSignal(flowId, "go", "two", T0 + 3)
        assert.isTrue(yield* log.hasSignal(flowId, "go"))

        const first = yield* log.takeSignal(flowId, "go", "$signal/1")
        const expectedFirst = { flowId, name: "go", seq: 1, payload: "one", consumedBy: "$signal/1", createdAt: T0 + 1 }
        assert.deepStrictEqual(first, Option.some(expectedFirst))
        // Replay: the same key gets the same signal, however often, and consumes no other.
        assert.deepStrictEqual(yield* log.takeSignal(flowId, "go", "$signal/1"), Option.some(expectedFirst))
        assert.isTrue(yield* log.hasSignal(flowId, "go"))

        // Another key gets the next one.
        const expectedSecond = { flowId, name: "go", seq: 2, payload: "two", consumedBy: "$signal/2", createdAt: T0 + 3 }
        assert.deepStrictEqual(yield* log.takeSignal(flowId, "go", "$signal/2"), Option.some(expectedSecond))
        assert.isFalse(yield* log.hasSignal(flowId, "go"))
        assert.deepStrictEqual(yield* log.takeSignal(flowId, "go", "$signal/3"), Option.none())
        assert.deepStrictEqual(yield* log.takeSignal(flowId, "go", "$signal/1"), Option.some(expectedFirst))
        assert.deepStrictEqual(yield* log.takeSignal(flowId, "go", "$signal/2"), Option.some(expectedSecond))

        // The other name was not touched; a signal sent later goes to the waiting key.
        assert.isTrue(yield* log.hasSignal(flowId, "other"))
        assert.strictEqual(yield* log.insertSignal(flowId, "go", "three", T0 + 4), 3)
        assert.deepStrictEqual(
          Option.map(yield* log.takeSignal(flowId, "go", "$signal/3"), (signal) => [signal.seq, signal.payload]),
          Option.some([3, "three"])
        )
        assert.deepStrictEqual(
          (yield* log.listSignals(flowId)).map((signal) => [signal.name, signal.seq, signal.consumedBy]),
          [["go", 1, "$signal/1"], ["go", 2, "$signal/2"], ["go", 3, "$signal/3"], ["other", 1, null]]
        )
      }))

    it.effect("a fenced takeSignal consumes only under the flow's current lease", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const flow = yield* insert(flowRecord({ status: "running", leaseOwner: "worker-1", leaseEpoch: 2 }))
        yield* log.insertSignal(flow.id, "go", "payload", T0)
        assert.deepStrictEqual(yield* log.takeSignal(flow.id, "go", "k", { owner: "worker-1", epoch: 1 }), Option.none())
        assert.deepStrictEqual(yield* log.takeSignal(flow.id, "go", "k", { owner: "worker-2", epoch: 2 }), Option.none())
        assert.isTrue(yield* log.hasSignal(flow.id, "go"))
        const taken = yield* log.takeSignal(flow.id, "go", "k", { owner: "worker-1", epoch: 2 })
        assert.deepStrictEqual(Option.map(taken, (signal) => signal.consumedBy), Option.some("k"))
        assert.isFalse(yield* log.hasSignal(flow.id, "go"))
        // The fence guards the write: reading back what this key already consumed writes nothing.
        assert.deepStrictEqual(yield* log.takeSignal(flow.id, "go", "k", { owner: "worker-2", epoch: 9 }), taken)
        // A stale fence takes nothing new.
        yield* log.insertSignal(flow.id, "go", "second", T0)
        assert.deepStrictEqual(yield* log.takeSignal(flow.id, "go", "k2", { owner: "worker-1", epoch: 1 }), Option.none())
        assert.isTrue(yield* log.hasSignal(flow.id, "go"))

        // A flow that does not exist has no lease to hold, and takes no signal.
        const missing = fresh("missing")
        assert.strictEqual((yield* Effect.flip(log.insertSignal(missing, "go", "payload", T0)))._tag, "FlowNotFoundError")
        assert.deepStrictEqual(yield* log.takeSignal(missing, "go", "k", { owner: "worker-1", epoch: 0 }), Option.none())
        assert.isFalse(yield* log.hasSignal(missing, "go"))
      }))

    it.effect("concurrent takers with different keys each get a different signal", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const { id: flowId } = yield* insert(flowRecord())
        for (let i = 0; i < 3; i++) yield* log.insertSignal(flowId, "go", i, T0)
        const taken = yield* Effect.all(
          Array.from({ length: 6 }, (_, i) => log.takeSignal(flowId, "go", `key-${i}`)),
          { concurrency: "unbounded" }
        )
        const got = taken.flatMap(Option.toArray)
        assert.deepStrictEqual(got.map((signal) => signal.seq).sort(), [1, 2, 3])
        assert.strictEqual(new Set(got.map((signal) => signal.consumedBy)).size, 3)
        assert.isFalse(yield* log.hasSignal(flowId, "go"))
      }))

    // -----------------------------------------------------------------------------------------
    // Cancel and retry
    // -----------------------------------------------------------------------------------------

    it.effect("cancelFlow cancels a flow that has not ended, clearing its lease; never a completed or cancelled one", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const cancellable = yield* Effect.forEach(
          ["pending", "running", "suspended", "failed"] as const,
          (status) =>
            insert(flowRecord({ status, runAfter: T0 - 1, leaseOwner: "worker-1", leaseEpoch: 3, leaseExpiresAt: T0 + 9 }))
        )
        for (const flow of cancellable) {
          assert.isTrue(yield* log.cancelFlow(flow.id, T0 + 1), flow.status)
          assert.deepStrictEqual(yield* getSome(flow.id), {
            ...flow,
            status: "cancelled",
            completedAt: T0 + 1,
            updatedAt: T0 + 1,
            leaseOwner: null,
            leaseExpiresAt: null
          })
          assert.isFalse(yield* log.cancelFlow(flow.id, T0 + 2))
        }
        const ended = [
          yield* insert(flowRecord({ status: "completed", result: { ok: 1 }, completedAt: T0 })),
          yield* insert(flowRecord({ status: "cancelled", completedAt: T0 }))
        ]
        for (const flow of ended) assert.isFalse(yield* log.cancelFlow(flow.id, T0 + 1), flow.status)
        yield* assertUnchanged(ended)
        assert.isFalse(yield* log.cancelFlow(fresh("missing"), T0))
        // A cancelled flow's lease is gone: its old holder can no longer write.
        assert.isFalse(yield* log.putStep(stepRecord(cancellable[1]!.id, "a"), { owner: "worker-1", epoch: 3 }))
      }))

    it.effect("retryFlow makes an ended flow pending again, clears its outcome and drops the given journal entries", () =>
      Effect.gen(function*() {
        const log = yield* ExecutionLog
        const type = fresh("type")
        const ended = [
          yield* insert(flowRecord({ type, status: "completed", result: { ok: 1 }, completedAt: T0, attempts: 2 })),
          yield* insert(
            flowRecord({
              type,
              status: "failed",
              error: { _tag: "NonDeterminism" },
              suspendReason: { stale: true },
              leaseOwner: "worker-1",
              leaseEpoch: 4
            })
          ),
          yield* insert(flowRecord({ type, status: "cancelled", completedAt: T0 }))
        ]
        for (const flow of ended) {
          for (const key of ["a", "b", "c"]) assert.isTrue(yield* log.putStep(stepRecord(flow.id, key)))
          assert.isTrue(yield* log.retryFlow(flow.id, T0 + 1, ["b", "c", "not-a-step"]), flow.status)
          const loaded = yield* loadSome(flow.id)
          assert.deepStrictEqual(loaded.flow, {
            ...flow,
            status: "pending",
            runAfter: T0 + 1,
            result: undefined,
            error: undefined,
            suspendReason: undefined,
            completedAt: null,
            updatedAt: T0 + 1
          })
          assert.deepStrictEqual(loaded.steps, [stepRecord(flow.id, "a")])
          assert.isFalse(yield* log.retryFlow(flow.id, T0 + 2, ["a"]))
          assert.deepStrictEqual((yield* loadSome(flow.id)).steps, [stepRecord(flow.id, "a")])
        }
        assert.deepStrictEqual(sortedIds(ids(yield* log.claimFlows(claimOptions(type, { now: T0 + 1 })))), sortedIds(ids(ended)))

        // A flow that has not ended is not retried, and keeps its journal.
        for (const status of ["pending", "running", "suspended"] as const) {
          const flow = yield* insert(flowRecord({ status, runAfter: T0 - 1 }))
          assert.isTrue(yield* log.putStep(stepRecord(flow.id, "a")))
          assert.isFalse(yield* log.retryFlow(flow.id, T0 + 1, ["a"]), status)
          assert.deepStrictEqual(yield* loadSome(flow.id), { flow, steps: [stepRecord(flow.id, "a")] })
        }
        assert.isFalse(yield* log.retryFlow(fresh("missing"), T0, ["a"]))
        // No keys: the journal stays whole.
        const kept = yield* insert(flowRecord({ status: "failed" }))
        assert.isTrue(yield* log.putStep(stepRecord(kept.id, "a")))
        assert.isTrue(yield* log.retryFlow(kept.id, T0 + 1, []))
        assert.deepStrictEqual((yield* loadSome(kept.id)).steps, [stepRecord(kept.id, "a")])
      }))
  })
