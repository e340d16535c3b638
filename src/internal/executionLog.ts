import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type {
  Encoded,
  ExecutionLog,
  Fence,
  FlowFilter,
  FlowPatch,
  FlowRow,
  FlowWithSteps,
  StepRow
} from "../ExecutionLog.js"
import { StoreError } from "../FlowError.js"

// ---------------------------------------------------------------------------------------------
// JSON payloads
// ---------------------------------------------------------------------------------------------

const parse = (operation: string, text: string | null): Effect.Effect<unknown, StoreError> => {
  if (text === null) return Effect.succeed(undefined)
  try {
    return Effect.succeed(JSON.parse(text))
  } catch (cause) {
    return Effect.fail(new StoreError({ operation, detail: `a stored payload is not valid JSON: ${String(cause)}`, cause }))
  }
}

const stringify = (operation: string, value: unknown): Effect.Effect<string | null, StoreError> => {
  if (value === undefined || value === null) return Effect.succeed(null)
  try {
    return Effect.succeed(JSON.stringify(value))
  } catch (cause) {
    return Effect.fail(new StoreError({ operation, detail: `a payload cannot be serialised as JSON: ${String(cause)}`, cause }))
  }
}

const flowFromRow = (row: FlowRow): Effect.Effect<ExecutionLog.FlowRecord, StoreError> =>
  Effect.all({
    input: parse("loadFlow", row.input),
    result: parse("loadFlow", row.result),
    error: parse("loadFlow", row.error),
    suspendReason: parse("loadFlow", row.suspendReason)
  }).pipe(Effect.map((payloads) => ({ ...row, ...payloads })))

const stepFromRow = (row: StepRow): Effect.Effect<ExecutionLog.StepRecord, StoreError> =>
  Effect.map(parse("loadFlow", row.exit), (exit) => ({ ...row, exit }))

/** @internal */
export const makeUnsafe = (backend: Encoded): ExecutionLog.Service => ({
  backend,
  insertFlow: (flow) =>
    Effect.flatMap(
      Effect.all({
        input: stringify("insertFlow", flow.input),
        result: stringify("insertFlow", flow.result),
        error: stringify("insertFlow", flow.error),
        suspendReason: stringify("insertFlow", flow.suspendReason)
      }),
      (payloads) => backend.insertFlow({ ...flow, ...payloads, input: payloads.input ?? "null" })
    ),
  getFlow: (id) =>
    Effect.flatMap(
      backend.getFlow(id),
      Option.match({ onNone: () => Effect.succeedNone, onSome: (row) => Effect.asSome(flowFromRow(row)) })
    ),
  loadFlow: (id) =>
    Effect.flatMap(
      backend.loadFlow(id),
      Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (loaded) =>
          Effect.asSome(Effect.all({ flow: flowFromRow(loaded.flow), steps: Effect.forEach(loaded.steps, stepFromRow) }))
      })
    ),
  putStep: (step, fence) =>
    Effect.flatMap(stringify("putStep", step.exit), (exit) => backend.putStep({ ...step, exit }, fence)),
  updateFlow: (id, patch, fence) => {
    const out: { -readonly [K in keyof FlowPatch]: FlowPatch[K] } = { ...patch } as FlowPatch
    return Effect.gen(function*() {
      if (patch.result !== undefined) out.result = yield* stringify("updateFlow", patch.result)
      if (patch.error !== undefined) out.error = yield* stringify("updateFlow", patch.error)
      if (patch.suspendReason !== undefined) out.suspendReason = yield* stringify("updateFlow", patch.suspendReason)
      return yield* backend.updateFlow(id, out, fence)
    })
  },
  listFlows: (filter) => Effect.flatMap(backend.listFlows(filter), (rows) => Effect.forEach(rows, flowFromRow))
})

// ---------------------------------------------------------------------------------------------
// The memory backend
// ---------------------------------------------------------------------------------------------

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

/** @internal */
export const makeMemoryBackend = (): Encoded => {
  const flows = new Map<string, FlowRow>()
  const steps = new Map<string, Map<string, StepRow>>()
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
        if (flow === undefined || !fenceHolds(flow, fence)) return false
        flows.set(id, applyPatch(flow, patch))
        return true
      }),
    listFlows: (filter) =>
      Effect.sync(() =>
        Array.from(flows.values())
          .filter((row) => matchesFilter(row, filter))
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .slice(0, filter.limit ?? 100)
      )
  }
}
