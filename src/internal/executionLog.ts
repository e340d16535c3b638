import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type {
  ClaimOptions,
  Encoded,
  EventRow,
  ExecutionLog,
  ExecutionRow,
  Fence,
  FlowFilter,
  FlowGroup,
  FlowPageQuery,
  FlowPatch,
  FlowRow,
  FlowStatus,
  FlowWithSteps,
  Replays,
  SignalRow,
  StepRow,
  WorkerRow
} from "../ExecutionLog.js"
import { CheckpointDecodeError, FlowEndedError, FlowNotFoundError, type InvalidIdError, StoreError } from "../FlowError.js"
import * as json from "./json.js"
import { currentTraceParent } from "./telemetry.js"

// ---------------------------------------------------------------------------------------------
// JSON payloads
// ---------------------------------------------------------------------------------------------

/**
 * Parses a stored payload. Text that is not JSON (a row edited by hand) is a `StoreError` whose
 * cause is a `CheckpointDecodeError` naming the flow and the payload: it will never parse, so the
 * engine fails the flow rather than try again (see `json.refusedValue`).
 */
const parse = (
  operation: string,
  text: string | null,
  where: { readonly flowType: string; readonly flowId: string; readonly key: string }
): Effect.Effect<unknown, StoreError> => {
  const parsed = parseSync(operation, text, where)
  return parsed instanceof NotJson ? Effect.fail(parsed.error) : Effect.succeed(parsed)
}

/** A payload that did not parse (a class of its own: a parsed payload is any JSON value). */
class NotJson {
  constructor(readonly error: StoreError) {}
}

/** `parse`, without an Effect: the value, or `NotJson`. */
const parseSync = (
  operation: string,
  text: string | null,
  where: { readonly flowType: string; readonly flowId: string; readonly key: string }
): unknown => {
  if (text === null) return undefined
  try {
    return JSON.parse(text)
  } catch (cause) {
    const detail = `a stored payload is not valid JSON: ${String(cause)}`
    return new NotJson(
      new StoreError({ operation, detail, cause: new CheckpointDecodeError({ ...where, schema: "JSON", detail }) })
    )
  }
}

/**
 * Serialises a payload exactly or refuses it (a `StoreError` whose cause is the typed
 * `UnstorableValueError`: see `json.refusedValue`). `undefined` and `null` are an absent payload.
 */
const stringify = (
  operation: string,
  what: string,
  value: unknown,
  limits: json.Limits
): Effect.Effect<string | null, StoreError> => {
  if (value === undefined || value === null) return Effect.succeed(null)
  const encoded = json.encode(value, what, limits)
  return typeof encoded === "string" ? Effect.succeed(encoded) : Effect.fail(json.refusal(operation, encoded))
}

/** Refuses, before anything is written, an id or key that no store keeps exactly. */
const checkIds = (
  operation: string,
  ids: ReadonlyArray<readonly [kind: InvalidIdError["kind"], value: string | null]>
): Effect.Effect<void, StoreError> => {
  for (const [kind, value] of ids) {
    if (value === null) continue
    const invalid = json.checkId(kind, value)
    if (invalid !== undefined) return Effect.fail(json.refusal(operation, invalid))
  }
  return Effect.void
}

/** Whether a store could hold this id at all: reads of one it could not are answered "none". */
const storableId = (id: string): boolean => json.checkId("flow id", id) === undefined

const flowFromRow = (row: FlowRow): Effect.Effect<ExecutionLog.FlowRecord, StoreError> => {
  const where = (key: string) => ({ flowType: row.type, flowId: row.id, key })
  return Effect.all({
    input: parse("loadFlow", row.input, where("$input")),
    result: parse("loadFlow", row.result, where("$result")),
    error: parse("loadFlow", row.error, where("$error")),
    suspendReason: parse("loadFlow", row.suspendReason, where("$suspendReason"))
  }).pipe(Effect.map((payloads) => ({ ...row, ...payloads })))
}

const parsedOrUndefined = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A flow's record without its payloads (a listing's, a claim's). */
const stateOfRecord = (record: ExecutionLog.FlowRecord): ExecutionLog.FlowRecord => ({
  ...record,
  input: undefined,
  result: undefined,
  error: undefined
})

const stateOf = (row: FlowRow): ExecutionLog.FlowRecord => {
  let suspendReason: unknown = undefined
  try {
    suspendReason = row.suspendReason === null ? undefined : JSON.parse(row.suspendReason)
  } catch {
    // a reason edited by hand: the listing shows the flow all the same
  }
  return { ...row, input: undefined, result: undefined, error: undefined, suspendReason }
}

/** Parses a loaded journal's payloads in one loop: the entries, or the error of the first that is not JSON. */
const parseSteps = (flowType: string, rows: ReadonlyArray<StepRow>): Array<ExecutionLog.StepRecord> | StoreError => {
  const steps: Array<ExecutionLog.StepRecord> = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    const where = { flowType, flowId: row.flowId, key: row.key }
    const exit = parseSync("loadFlow", row.exit, where)
    if (exit instanceof NotJson) return exit.error
    if (row.input === undefined) {
      steps[i] = { ...row, exit }
      continue
    }
    const input = parseSync("loadFlow", row.input, where)
    if (input instanceof NotJson) return input.error
    steps[i] = { ...row, exit, input }
  }
  return steps
}

/** @internal */
export const makeUnsafe = (backend: Encoded, options?: json.LimitsOptions | undefined): ExecutionLog.Service => {
  const limits = json.makeLimits(options)
  const payload = (operation: string, what: string, value: unknown) => stringify(operation, what, value, limits)
  const payloadSync = (operation: string, what: string, value: unknown): string | null | StoreError => {
    if (value === undefined || value === null) return null
    const encoded = json.encode(value, what, limits)
    return typeof encoded === "string" ? encoded : json.refusal(operation, encoded)
  }
  return {
  backend,
  hub: { version: 0, listeners: new Set(), followers: undefined, awaited: new Map(), ended: new Map(), local: new Map() },
  limits,
  insertFlow: (flow) =>
    Effect.zipRight(
      checkIds("insertFlow", [["flow id", flow.id], ["flow name", flow.type], ["flow id", flow.parentId], ["journal key", flow.parentKey]]),
      Effect.flatMap(
        Effect.all({
          input: payload("insertFlow", `the input of flow '${flow.id}'`, flow.input),
          result: payload("insertFlow", `the result of flow '${flow.id}'`, flow.result),
          error: payload("insertFlow", `the error of flow '${flow.id}'`, flow.error),
          suspendReason: payload("insertFlow", `the suspension of flow '${flow.id}'`, flow.suspendReason),
          // The span current when the flow is written: its executions link to it.
          traceContext: flow.traceContext === undefined ? currentTraceParent : Effect.succeed(flow.traceContext)
        }),
        (payloads) => backend.insertFlow({ ...flow, ...payloads, input: payloads.input ?? "null" })
      )
    ),
  getFlow: (id) =>
    storableId(id)
      ? Effect.flatMap(
        backend.getFlow(id),
        Option.match({ onNone: () => Effect.succeedNone, onSome: (row) => Effect.asSome(flowFromRow(row)) })
      )
      : Effect.succeedNone,
  loadFlow: (id) =>
    storableId(id)
      ? Effect.flatMap(
        backend.loadFlow(id),
        Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (loaded) =>
            Effect.flatMap(flowFromRow(loaded.flow), (flow) => {
              // The journal parsed in one loop, not an Effect per entry (a resume loads thousands).
              const steps = parseSteps(loaded.flow.type, loaded.steps)
              return steps instanceof StoreError ? Effect.fail(steps) : Effect.succeedSome({ flow, steps })
            })
        })
      )
      : Effect.succeedNone,
  // The checkpoint and the end of every flow: checked and serialised without an Effect of their own.
  putStep: (step, fence) => {
    const invalid = json.checkId("journal key", step.key)
    if (invalid !== undefined) return Effect.fail(json.refusal("putStep", invalid))
    const { input, ...entry } = step
    const what = `the journal entry '${step.key}' of flow '${step.flowId}'`
    const exit = payloadSync("putStep", what, entry.exit)
    if (exit instanceof StoreError) return Effect.fail(exit)
    if (input === undefined) return backend.putStep({ ...entry, exit }, fence)
    const text = payloadSync("putStep", `the input of ${what}`, input)
    if (text instanceof StoreError) return Effect.fail(text)
    return backend.putStep(text === null ? { ...entry, exit } : { ...entry, exit, input: text }, fence)
  },
  updateFlow: (id, patch, fence) => {
    const out: { -readonly [K in keyof FlowPatch]: FlowPatch[K] } = { ...patch } as FlowPatch
    if (patch.result !== undefined) {
      const result = payloadSync("updateFlow", `the result of flow '${id}'`, patch.result)
      if (result instanceof StoreError) return Effect.fail(result)
      out.result = result
    }
    if (patch.error !== undefined) {
      const error = payloadSync("updateFlow", `the error of flow '${id}'`, patch.error)
      if (error instanceof StoreError) return Effect.fail(error)
      out.error = error
    }
    if (patch.suspendReason !== undefined) {
      const reason = payloadSync("updateFlow", `the suspension of flow '${id}'`, patch.suspendReason)
      if (reason instanceof StoreError) return Effect.fail(reason)
      out.suspendReason = reason
    }
    return backend.updateFlow(id, out, fence)
  },
  suspendFlow: (id, suspension, fence) =>
    Effect.flatMap(
      payload("suspendFlow", `the suspension of flow '${id}'`, suspension.suspendReason),
      (reason) => backend.suspendFlow(id, { ...suspension, suspendReason: reason ?? "null" }, fence)
    ),
  listFlows: (filter) =>
    Effect.flatMap(
      backend.listFlows(filter),
      (rows) => Effect.forEach(rows, (row) => filter.payloads === true ? flowFromRow(row) : Effect.succeed(stateOf(row)))
    ),
  // A claimed row that cannot be read (edited by hand, say) must not hold up the rest of the
  // batch: it is reported, marked failed under the claim's lease, and skipped.
  claimFlows: (options) =>
    Effect.flatMap(backend.claimFlows(options), (rows) =>
      Effect.map(
        Effect.forEach(rows, (row) =>
          flowFromRow({ ...row, input: "null", result: null, error: null }).pipe(
            // The claim carries the input (what a first run needs: it has no journal to load).
            // An input that is not JSON is left for the run's own load to report.
            Effect.map((record) => ({ ...stateOfRecord(record), input: parsedOrUndefined(row.input) })),
            Effect.map(Option.some),
            Effect.catchAll((error) =>
              Effect.logWarning("ergon.store", { event: "unreadable-flow", flowId: row.id, error: error.message }).pipe(
                Effect.zipRight(
                  backend.updateFlow(
                    row.id,
                    {
                      status: "failed",
                      error: JSON.stringify({ _tag: "StoreError", message: error.message }),
                      updatedAt: options.now
                    },
                    { owner: options.owner, epoch: row.leaseEpoch }
                  ).pipe(Effect.ignore)
                ),
                Effect.as(Option.none())
              )
            )
          )),
        (records) => records.flatMap((record) => (Option.isSome(record) ? [record.value] : []))
      )),
  renewLeases: backend.renewLeases,
  releaseFlow: backend.releaseFlow,
  wakeFlow: backend.wakeFlow,
  nextWakeAt: backend.nextWakeAt,
  insertSignal: (flowId, name, value, now) =>
    Effect.zipRight(
      checkIds("insertSignal", [["signal name", name]]),
      Effect.flatMap(
        payload("insertSignal", `the payload of signal '${name}'`, value),
        (text) => storableId(flowId) ? backend.insertSignal(flowId, name, text ?? "null", now) : Effect.fail(new FlowNotFoundError({ flowId }))
      )
    ),
  takeSignal: (flowId, name, consumerKey, fence) =>
    Effect.flatMap(
      backend.takeSignal(flowId, name, consumerKey, fence),
      Option.match({ onNone: () => Effect.succeedNone, onSome: (row) => Effect.asSome(signalFromRow(row)) })
    ),
  hasSignal: backend.hasSignal,
  listSignals: (flowId) => Effect.flatMap(backend.listSignals(flowId), (rows) => Effect.forEach(rows, signalFromRow)),
  cancelFlow: backend.cancelFlow,
  retryFlow: backend.retryFlow,
  emitEvent: (name, value, now) =>
    Effect.flatMap(payload("emitEvent", `the payload of event '${name}'`, value), (text) => backend.emitEvent(name, text ?? "null", now)),
  getEvent: (name) =>
    Effect.flatMap(
      backend.getEvent(name),
      Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (row) => Effect.asSome(Effect.map(parse("getEvent", row.payload, { flowType: "", flowId: "", key: `event '${name}'` }), (payload) => ({ ...row, payload })))
      })
    ),
  continueAsNew: (id, next, fence) =>
    Effect.flatMap(
      Effect.all({
        input: payload("continueAsNew", "the next execution's input", next.input),
        result: payload("continueAsNew", "the execution's end", next.result)
      }),
      (payloads) =>
        backend.continueAsNew(id, { ...next, input: payloads.input ?? "null", result: payloads.result ?? "null" }, fence)
    ),
  listExecutions: (id) =>
    Effect.flatMap(backend.listExecutions(id), (rows) =>
      Effect.forEach(rows, (row) =>
        Effect.map(
          Effect.all({
            input: parse("listExecutions", row.input, { flowType: "", flowId: id, key: `execution ${row.execution} $input` }),
            result: parse("listExecutions", row.result, { flowType: "", flowId: id, key: `execution ${row.execution} $result` })
          }),
          (payloads) => ({ ...row, ...payloads })
        ))),
  purgeFlows: backend.purgeFlows,
  retryFlowLater: (id, retry, fence) =>
    Effect.flatMap(
      payload("retryFlowLater", "the suspend reason", retry.suspendReason),
      (reason) => backend.retryFlowLater(id, { ...retry, suspendReason: reason ?? "null" }, fence)
    ),
  purgeEvents: backend.purgeEvents,
  changes: backend.changes,
  ...(backend.storeTime === undefined ? {} : { storeTime: backend.storeTime }),
  registerWorker: backend.registerWorker,
  heartbeatWorker: backend.heartbeatWorker,
  removeWorker: backend.removeWorker,
  listWorkers: backend.listWorkers,
  pruneWorkers: backend.pruneWorkers,
  pageFlows: (query) =>
    Effect.flatMap(
      backend.pageFlows(query),
      (rows) => (query.payloads === true ? Effect.forEach(rows, flowFromRow) : Effect.succeed(rows.map(stateOf)))
    ),
  countFlows: backend.countFlows,
  flowGroups: backend.flowGroups,
  restampFlows: backend.restampFlows
  }
}

const signalFromRow = (row: SignalRow): Effect.Effect<ExecutionLog.SignalRecord, StoreError> =>
  Effect.map(
    parse("takeSignal", row.payload, { flowType: "", flowId: row.flowId, key: `signal '${row.name}' #${row.seq}` }),
    (payload) => ({ ...row, payload })
  )

// ---------------------------------------------------------------------------------------------
// The memory backend
// ---------------------------------------------------------------------------------------------

/** A flow that has ended: it takes no more signals, and cannot be cancelled. */
export const isEnded = (status: FlowStatus): boolean => status === "completed" || status === "cancelled"

/** The error of a signal sent to a flow that has ended. */
export const signalRefused = (flowId: string, status: string, name: string): FlowEndedError =>
  new FlowEndedError({ flowId, status, request: `take signal '${name}'` })

/** A flow's row as listings return it: its state without its payloads. */
export const withoutPayloads = (row: FlowRow): FlowRow => ({ ...row, input: "null", result: null, error: null })

/** A flow's row as a claim returns it: its state and its input (what a first run needs), no result. */
export const claimedRow = (row: FlowRow): FlowRow => ({ ...row, result: null, error: null })

/** Applies a patch to a row: the one place that knows what each patch field means. */
export const applyPatch = (row: FlowRow, patch: FlowPatch): FlowRow => ({
  ...row,
  status: patch.status ?? row.status,
  result: patch.result !== undefined ? patch.result : row.result,
  error: patch.error !== undefined ? patch.error : row.error,
  runAfter: patch.runAfter !== undefined ? patch.runAfter : row.runAfter,
  suspendReason: patch.suspendReason !== undefined ? patch.suspendReason : row.suspendReason,
  completedAt: patch.completedAt !== undefined ? patch.completedAt : row.completedAt,
  attempts: patch.incrementAttempts ? row.attempts + 1 : row.attempts,
  updatedAt: patch.updatedAt
})

const fenceHolds = (row: FlowRow, fence: Fence | undefined): boolean =>
  fence === undefined || (row.leaseOwner === fence.owner && row.leaseEpoch === fence.epoch)

const matchesFilter = (row: FlowRow, filter: FlowFilter): boolean => {
  if (filter.status !== undefined) {
    const statuses: ReadonlyArray<string> = typeof filter.status === "string" ? [filter.status] : filter.status
    if (!statuses.includes(row.status)) return false
  }
  if (filter.type !== undefined && row.type !== filter.type) return false
  if (filter.version !== undefined && row.version !== filter.version) return false
  if (filter.parentId !== undefined && row.parentId !== filter.parentId) return false
  if (filter.afterId !== undefined && !(row.id > filter.afterId)) return false
  return true
}

/**
 * The journal key of the marker that a flow registered compensations (`Flow.withCompensation`): a
 * cancellation of such a flow asks it to run them (`cancelFlow`) rather than ending it at once.
 */
export const COMPENSABLE_KEY = "$compensable"

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Whether a claimer takes a flow: its type and version among those given (`null`: unversioned);
 * for a pinned type listed in `replays`, its version also among the other versions listed, and
 * the version it last ran under (if any) among `ranUnder`.
 */
const matchesTypes = (
  row: FlowRow,
  types: ReadonlyArray<string>,
  versions: ReadonlyArray<string | null>,
  replays: ReadonlyArray<Replays> | undefined
): boolean => {
  if (!types.includes(row.type)) return false
  const replay = replays?.find((replay) => replay.type === row.type)
  if (replay === undefined) return versions.includes(row.version)
  const stamped = versions.includes(row.version) || (row.version !== null && replay.versions.includes(row.version))
  const ran = row.ranVersion ?? null
  return stamped && (ran === null || replay.ranUnder.includes(ran))
}

/** When a flow is (or was) due: its `run_after`, or its lease's expiry. */
const dueAt = (row: FlowRow): number | null => row.runAfter ?? row.leaseExpiresAt

/**
 * The order of `claimFlows`: priority descending, then `COALESCE(run_after, lease_expires_at)`
 * ascending, then id. The SQL store sorts its returned rows with this same function. (The time
 * is never NULL for a ready or a claimed flow; NULL would sort last.)
 *
 * @internal
 */
export const compareClaimOrder = (a: FlowRow, b: FlowRow): number => {
  if (a.priority !== b.priority) return b.priority - a.priority
  const da = dueAt(a) ?? Number.POSITIVE_INFINITY
  const db = dueAt(b) ?? Number.POSITIVE_INFINITY
  if (da !== db) return da < db ? -1 : 1
  return compareText(a.id, b.id)
}

/**
 * Ready to claim at `now`: due and free, or running under a lease that has expired. Suspended
 * flows whose timer is due count only for claimers that fire timers.
 */
const isReady = (row: FlowRow, now: number, timers: boolean): boolean =>
  ((row.status === "pending" || (timers && row.status === "suspended")) && row.runAfter !== null && row.runAfter <= now) ||
  (row.status === "running" && row.leaseExpiresAt !== null && row.leaseExpiresAt < now)

/**
 * The first `limit` rows in claim order among those `accepted`, without sorting all of them: a
 * claim takes a few flows out of thousands ready, once per few flows that end.
 */
const firstInOrder = (rows: Iterable<FlowRow>, accepted: (row: FlowRow) => boolean, limit: number): Array<FlowRow> => {
  const best: Array<FlowRow> = []
  if (limit <= 0) return best
  for (const row of rows) {
    if (!accepted(row)) continue
    if (best.length === limit && compareClaimOrder(row, best[best.length - 1]!) >= 0) continue
    // binary search for its place among the best so far
    let low = 0
    let high = best.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (compareClaimOrder(best[middle]!, row) <= 0) low = middle + 1
      else high = middle
    }
    best.splice(low, 0, row)
    if (best.length > limit) best.pop()
  }
  return best
}

/** The `limit` of a claim or a listing, read as `Array.slice` reads it. */
const sliceEnd = (limit: number): number =>
  Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : limit > 0 ? Number.MAX_SAFE_INTEGER : 0

/** @internal */
export const makeMemoryBackend = (): Encoded => {
  const flows = new Map<string, FlowRow>()
  const steps = new Map<string, Map<string, StepRow>>()
  // Per flow, per name, in `seq` order.
  const signals = new Map<string, Map<string, Array<SignalRow>>>()
  const workers = new Map<string, WorkerRow>()
  const signalsOf = (flowId: string, name: string): Array<SignalRow> => {
    let byName = signals.get(flowId)
    if (byName === undefined) {
      byName = new Map()
      signals.set(flowId, byName)
    }
    let list = byName.get(name)
    if (list === undefined) {
      list = []
      byName.set(name, list)
    }
    return list
  }
  // Named events by name (the first emit wins), and the flows registered as waiting for each.
  const events = new Map<string, EventRow>()
  const eventWaiters = new Map<string, Set<string>>()
  // Archived executions (`continueAsNew`), per flow, in order, with their journals.
  const executions = new Map<string, Array<ExecutionRow & { readonly steps: ReadonlyArray<StepRow> }>>()
  return {
    insertFlow: (row) =>
      Effect.sync(() => {
        if (flows.has(row.id)) return false
        flows.set(row.id, row)
        steps.set(row.id, new Map())
        return true
      }),
    getFlow: (id) => Effect.sync(() => Option.fromNullable(flows.get(id))),
    loadFlow: (id) =>
      Effect.sync((): Option.Option<FlowWithSteps> => {
        const flow = flows.get(id)
        if (flow === undefined) return Option.none()
        return Option.some({ flow, steps: Array.from(steps.get(id)?.values() ?? []) })
      }),
    putStep: (row, fence) =>
      Effect.sync(() => {
        const flow = flows.get(row.flowId)
        if (flow === undefined || !fenceHolds(flow, fence)) return false
        const journal = steps.get(row.flowId)!
        if (journal.get(row.key)?.status === "completed") return false
        journal.set(row.key, row)
        return true
      }),
    updateFlow: (id, patch, fence) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (flow === undefined || flow.status === "cancelled" || !fenceHolds(flow, fence)) return false
        flows.set(id, applyPatch(flow, patch))
        const parent = patch.wakeParent === undefined ? undefined : flows.get(patch.wakeParent)
        if (parent !== undefined && parent.status === "suspended") {
          flows.set(parent.id, { ...parent, status: "pending", runAfter: patch.updatedAt, updatedAt: patch.updatedAt })
        }
        return true
      }),
    suspendFlow: (id, suspension, fence) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (flow === undefined || flow.status !== "running" || !fenceHolds(flow, fence)) return "refused" as const
        for (const name of suspension.events ?? []) {
          let waiters = eventWaiters.get(name)
          if (waiters === undefined) {
            waiters = new Set()
            eventWaiters.set(name, waiters)
          }
          waiters.add(id)
        }
        if ((suspension.events ?? []).some((name) => events.has(name))) return "satisfied" as const
        const signalled = suspension.signals.some((name) =>
          (signals.get(id)?.get(name) ?? []).some((signal) => signal.consumedBy === null)
        )
        const childEnded = suspension.children.some((childId) => {
          const child = flows.get(childId)
          return child !== undefined && (child.status === "completed" || child.status === "cancelled")
        })
        if (signalled || childEnded) return "satisfied" as const
        flows.set(id, {
          ...flow,
          status: "suspended",
          runAfter: suspension.runAfter,
          suspendReason: suspension.suspendReason,
          updatedAt: suspension.now
        })
        return "suspended" as const
      }),
    listFlows: (filter) =>
      Effect.sync(() =>
        Array.from(flows.values())
          .filter((row) => matchesFilter(row, filter))
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .slice(0, sliceEnd(filter.limit ?? 100))
          .map((row) => (filter.payloads === true ? row : withoutPayloads(row)))
      ),
    claimFlows: (options: ClaimOptions) =>
      Effect.sync(() => {
        const { leaseMillis, now, owner, types, versions } = options
        const picked = firstInOrder(
          flows.values(),
          (row) => isReady(row, now, options.timers ?? true) && matchesTypes(row, types, versions, options.replays),
          sliceEnd(options.limit)
        )
        const claimed = picked.map((row): FlowRow => ({
          ...row,
          status: "running",
          leaseOwner: owner,
          leaseEpoch: row.leaseEpoch + 1,
          leaseExpiresAt: now + leaseMillis,
          attempts: row.attempts + 1,
          error: null,
          suspendReason: null,
          ranVersion: options.runVersion ?? null,
          updatedAt: now
        }))
        for (const row of claimed) flows.set(row.id, row)
        // Sorted as they are after the claim, as the SQL store can only sort them.
        return claimed.sort(compareClaimOrder).map(claimedRow)
      }),
    renewLeases: (owner, ids, now, leaseMillis) =>
      Effect.sync(() => {
        const renewed: Array<string> = []
        for (const id of new Set(ids)) {
          const flow = flows.get(id)
          if (flow === undefined || flow.status !== "running" || flow.leaseOwner !== owner) continue
          flows.set(id, { ...flow, leaseExpiresAt: now + leaseMillis })
          renewed.push(id)
        }
        return renewed.sort(compareText)
      }),
    releaseFlow: (id, fence, now) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (flow === undefined || flow.status !== "running" || !fenceHolds(flow, fence)) return false
        flows.set(id, {
          ...flow,
          status: "pending",
          runAfter: now,
          leaseOwner: null,
          leaseExpiresAt: null,
          updatedAt: now
        })
        return true
      }),
    wakeFlow: (id, now) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (flow === undefined || flow.status !== "suspended") return false
        flows.set(id, { ...flow, status: "pending", runAfter: now, updatedAt: now })
        return true
      }),
    nextWakeAt: (types, versions, replays) =>
      Effect.sync(() => {
        let earliest: number | null = null
        for (const row of flows.values()) {
          if (!matchesTypes(row, types, versions, replays)) continue
          const at = row.status === "pending" || row.status === "suspended"
            ? row.runAfter
            : row.status === "running"
            ? row.leaseExpiresAt
            : null
          if (at !== null && (earliest === null || at < earliest)) earliest = at
        }
        return Option.fromNullable(earliest)
      }),
    insertSignal: (flowId, name, payload, now) =>
      Effect.suspend((): Effect.Effect<number, FlowNotFoundError | FlowEndedError> => {
        const flow = flows.get(flowId)
        if (flow === undefined) return Effect.fail(new FlowNotFoundError({ flowId }))
        if (isEnded(flow.status)) return Effect.fail(signalRefused(flowId, flow.status, name))
        if (flow.status === "suspended") flows.set(flowId, { ...flow, status: "pending", runAfter: now, updatedAt: now })
        const list = signalsOf(flowId, name)
        const seq = (list.at(-1)?.seq ?? 0) + 1
        list.push({ flowId, name, seq, payload, consumedBy: null, createdAt: now })
        return Effect.succeed(seq)
      }),
    takeSignal: (flowId, name, consumerKey, fence) =>
      Effect.sync((): Option.Option<SignalRow> => {
        const list = signals.get(flowId)?.get(name) ?? []
        const replayed = list.find((signal) => signal.consumedBy === consumerKey)
        if (replayed !== undefined) return Option.some(replayed)
        if (fence !== undefined) {
          const flow = flows.get(flowId)
          if (flow === undefined || !fenceHolds(flow, fence)) return Option.none()
        }
        const index = list.findIndex((signal) => signal.consumedBy === null)
        if (index < 0) return Option.none()
        const taken: SignalRow = { ...list[index]!, consumedBy: consumerKey }
        list[index] = taken
        return Option.some(taken)
      }),
    hasSignal: (flowId, name) =>
      Effect.sync(() => (signals.get(flowId)?.get(name) ?? []).some((signal) => signal.consumedBy === null)),
    listSignals: (flowId) =>
      Effect.sync(() =>
        Array.from(signals.get(flowId)?.entries() ?? [])
          .sort(([a], [b]) => compareText(a, b))
          .flatMap(([, list]) => list)
      ),
    cancelFlow: (id, now, reason) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (
          flow === undefined || flow.status === "completed" || flow.status === "cancelled" ||
          (flow.cancelRequestedAt !== undefined && flow.cancelRequestedAt !== null)
        ) return false
        // A flow that registered compensations is asked to cancel: a run replays it and runs them.
        const compensable = steps.get(id)?.has(COMPENSABLE_KEY) === true
        flows.set(id, {
          ...flow,
          ...(reason === undefined ? {} : { cancelReason: reason }),
          ...(compensable
            ? { status: "pending", cancelRequestedAt: now, runAfter: now }
            : { status: "cancelled", completedAt: now }),
          updatedAt: now,
          leaseOwner: null,
          leaseExpiresAt: null
        })
        return true
      }),
    retryFlow: (id, now, dropKeys) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (
          flow === undefined || (flow.status !== "completed" && flow.status !== "failed" && flow.status !== "cancelled")
        ) return false
        flows.set(id, {
          ...flow,
          status: "pending",
          runAfter: now,
          result: null,
          error: null,
          suspendReason: null,
          completedAt: null,
          updatedAt: now
        })
        const journal = steps.get(id)
        for (const key of dropKeys) journal?.delete(key)
        return true
      }),
    emitEvent: (name, payload, now) =>
      Effect.sync(() => {
        const first = !events.has(name)
        if (first) events.set(name, { name, payload, createdAt: now })
        for (const flowId of eventWaiters.get(name) ?? []) {
          const flow = flows.get(flowId)
          if (flow !== undefined && flow.status === "suspended") {
            flows.set(flowId, { ...flow, status: "pending", runAfter: now, updatedAt: now })
          }
        }
        eventWaiters.delete(name)
        return first
      }),
    getEvent: (name) => Effect.sync(() => Option.fromNullable(events.get(name))),
    continueAsNew: (id, next, fence) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (flow === undefined || flow.status !== "running" || !fenceHolds(flow, fence)) return false
        const archived = executions.get(id) ?? []
        const execution = flow.execution ?? 1
        const journal = Array.from(steps.get(id)?.values() ?? [])
        archived.push({
          flowId: id,
          execution,
          input: flow.input,
          result: next.result,
          status: "continued",
          startedAt: archived.at(-1)?.endedAt ?? flow.createdAt,
          endedAt: next.now,
          entries: journal.length,
          steps: journal
        })
        executions.set(id, archived)
        steps.set(id, new Map())
        flows.set(id, {
          ...flow,
          input: next.input,
          inputHash: next.inputHash,
          execution: execution + 1,
          result: null,
          error: null,
          suspendReason: null,
          runAfter: null,
          updatedAt: next.now
        })
        return true
      }),
    listExecutions: (id) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (flow === undefined) return []
        const archived = executions.get(id) ?? []
        const current: ExecutionRow = {
          flowId: id,
          execution: flow.execution ?? 1,
          input: flow.input,
          result: flow.result,
          status: flow.status,
          startedAt: archived.at(-1)?.endedAt ?? flow.createdAt,
          endedAt: flow.completedAt,
          entries: steps.get(id)?.size ?? 0
        }
        return [...archived.map(({ steps: _, ...row }) => row), current]
      }),
    purgeFlows: (filter) =>
      Effect.sync(() => {
        const endedAt = (row: FlowRow): number | null => row.status === "failed" ? row.updatedAt : row.completedAt
        const isEnded = (row: FlowRow): boolean =>
          row.status === "completed" || row.status === "cancelled" || row.status === "failed"
        const descendants = (root: string): Array<FlowRow> =>
          Array.from(flows.values()).filter((row) => row.id.startsWith(`${root}/`))
        const roots = Array.from(flows.values())
          .filter((row) =>
            row.parentId === null && (filter.statuses as ReadonlyArray<string>).includes(row.status) &&
            (filter.type === undefined || row.type === filter.type) &&
            endedAt(row) !== null && endedAt(row)! < filter.finishedBefore &&
            descendants(row.id).every(isEnded)
          )
          .sort((a, b) => endedAt(a)! - endedAt(b)! || compareText(a.id, b.id))
          .slice(0, sliceEnd(filter.limit))
        for (const root of roots) {
          for (const row of [root, ...descendants(root.id)]) {
            flows.delete(row.id)
            steps.delete(row.id)
            signals.delete(row.id)
            executions.delete(row.id)
            for (const waiters of eventWaiters.values()) waiters.delete(row.id)
          }
        }
        return roots.map((row) => row.id)
      }),
    retryFlowLater: (id, retry, fence) =>
      Effect.sync(() => {
        const flow = flows.get(id)
        if (flow === undefined || flow.status !== "running" || !fenceHolds(flow, fence)) return false
        flows.set(id, {
          ...flow,
          status: "suspended",
          runAfter: retry.runAfter,
          suspendReason: retry.suspendReason,
          updatedAt: retry.now
        })
        const journal = steps.get(id)
        for (const key of retry.dropKeys) journal?.delete(key)
        return true
      }),
    purgeEvents: (before, limit) =>
      Effect.sync(() => {
        const old = Array.from(events.values()).filter((event) => event.createdAt < before).slice(0, sliceEnd(limit))
        for (const event of old) events.delete(event.name)
        return old.length
      }),
    registerWorker: (row) =>
      Effect.sync(() => {
        workers.set(row.id, row)
      }),
    heartbeatWorker: (id, now, expiresAt, inFlight) =>
      Effect.sync(() => {
        const row = workers.get(id)
        if (row === undefined) return false
        workers.set(id, { ...row, heartbeatAt: now, expiresAt, inFlight })
        return true
      }),
    removeWorker: (id) => Effect.sync(() => workers.delete(id)),
    listWorkers: () => Effect.sync(() => Array.from(workers.values()).sort(compareWorkers)),
    pruneWorkers: (expiredBefore) =>
      Effect.sync(() => {
        let pruned = 0
        for (const [id, row] of workers) {
          if (row.expiresAt < expiredBefore) {
            workers.delete(id)
            pruned++
          }
        }
        return pruned
      }),
    pageFlows: (query) =>
      Effect.sync(() =>
        Array.from(flows.values())
          .filter((row) => matchesFilter(row, query) && isBefore(row, query.before))
          .sort(compareNewest)
          .slice(0, sliceEnd(query.limit ?? 100))
      ),
    countFlows: (filter) =>
      Effect.sync(() => {
        let count = 0
        for (const row of flows.values()) if (matchesFilter(row, { ...filter, afterId: undefined })) count++
        return count
      }),
    flowGroups: (now) =>
      Effect.sync(() => {
        const groups = new Map<string, { -readonly [K in keyof FlowGroup]: FlowGroup[K] }>()
        for (const row of flows.values()) {
          if (row.status !== "pending" && row.status !== "running" && row.status !== "suspended") continue
          const key = JSON.stringify([row.type, row.version, row.status])
          let group = groups.get(key)
          if (group === undefined) {
            group = { type: row.type, version: row.version, status: row.status, count: 0, ready: 0, readySince: null }
            groups.set(key, group)
          }
          group.count++
          const since = readySince(row, now)
          if (since !== null) {
            group.ready++
            if (group.readySince === null || since < group.readySince) group.readySince = since
          }
        }
        return Array.from(groups.values())
      }),
    restampFlows: (type, from, to, now) =>
      Effect.sync(() => {
        let count = 0
        for (const row of flows.values()) {
          if (row.type !== type || row.version !== from) continue
          if (row.status !== "pending" && row.status !== "running" && row.status !== "suspended") continue
          flows.set(row.id, { ...row, version: to, updatedAt: now })
          count++
        }
        return count
      })
  }
}

/** Registrations by name, then start time, then id. */
export const compareWorkers = (a: WorkerRow, b: WorkerRow): number =>
  compareText(a.name, b.name) || a.startedAt - b.startedAt || compareText(a.id, b.id)

/** The order of `pageFlows`: newest first, then id descending. */
const compareNewest = (a: FlowRow, b: FlowRow): number => b.createdAt - a.createdAt || compareText(b.id, a.id)

const isBefore = (row: FlowRow, cursor: FlowPageQuery["before"]): boolean =>
  cursor === undefined || row.createdAt < cursor.createdAt || (row.createdAt === cursor.createdAt && row.id < cursor.id)

/** When a flow that has not ended became ready to claim at `now`, or `null` when it is not ready. */
const readySince = (row: FlowRow, now: number): number | null => {
  if (row.status === "running") return row.leaseExpiresAt !== null && row.leaseExpiresAt < now ? row.leaseExpiresAt : null
  return row.runAfter !== null && row.runAfter <= now ? row.runAfter : null
}
