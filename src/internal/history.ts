import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type {
  EntryKind,
  FlowHistory,
  HistoryChild,
  HistoryEntry,
  HistoryOutcome,
  HistorySignal,
  StuckReason
} from "../Client.js"
import { ExecutionLog } from "../ExecutionLog.js"
import type * as Flow from "../Flow.js"
import { CheckpointDecodeError, FlowConflictError, FlowNotFoundError, type StoreError } from "../FlowError.js"
import { formatParseError } from "./journal.js"
import { isLive } from "./registry.js"
import * as stuck from "./stuck.js"

// ---------------------------------------------------------------------------------------------
// Journal entries: kind, name and scope
// ---------------------------------------------------------------------------------------------

const occurrence = /#\d+$/
const withoutOccurrence = (text: string): string => text.replace(occurrence, "")

/**
 * What a journal entry is: its kind, the name it was called with, and the key scope it is in
 * (`Flow.scope`, a DAG node's). The journal records the kind and the scope; for entries written
 * before it did, they are read from the key's shape (`$signal/<name>`, `$invoke/<child>`, `$sleep`,
 * `$now`, `$random`, `$uuid`, `$node`; any other key is a step's). This is the one place that
 * knows how kinds are told apart.
 */
export const describeEntry = (step: Pick<ExecutionLog.StepRecord, "key" | "kind" | "scope">): {
  readonly kind: EntryKind
  readonly name: string
  readonly scope: string
} => {
  const fromKey = describeKey(step.key)
  return {
    kind: step.kind ?? fromKey.kind,
    name: fromKey.name,
    // A DAG node's entry is shown in the scope around the DAG (its own scope is the node).
    scope: step.scope !== undefined && (step.kind ?? fromKey.kind) !== "dag" ? step.scope : fromKey.scope
  }
}

const describeKey = (key: string): { readonly kind: EntryKind; readonly name: string; readonly scope: string } => {
  const segments = key.split("/")
  const at = segments.findIndex((segment) => segment.startsWith("$"))
  if (at < 0) {
    return { kind: "step", name: withoutOccurrence(segments[segments.length - 1]!), scope: segments.slice(0, -1).join("/") }
  }
  const scope = segments.slice(0, at).join("/")
  const marker = withoutOccurrence(segments[at]!)
  const rest = withoutOccurrence(segments.slice(at + 1).join("/"))
  switch (marker) {
    case "$signal":
      return { kind: "signal", name: rest, scope }
    case "$invoke":
      return { kind: "child", name: rest, scope }
    case "$sleep":
      return { kind: "timer", name: "sleep", scope }
    case "$now":
    case "$random":
    case "$uuid":
      return { kind: "value", name: marker.slice(1), scope }
    case "$node":
      // `<dag>/<node>/$node`: the node is named by its scope.
      return { kind: "dag", name: segments.slice(0, at).join("/"), scope: segments.slice(0, Math.max(0, at - 2)).join("/") }
    default:
      return { kind: "step", name: withoutOccurrence(segments[segments.length - 1]!), scope: segments.slice(0, -1).join("/") }
  }
}

const depth = (scope: string): number => (scope === "" ? 0 : scope.split("/").length)

/**
 * The order of a timeline: by start (or end), then, within one millisecond, in the order the
 * entries were completed (the journal's `seq`), then outer scopes first (a DAG node before the
 * steps inside it), then end, then key.
 */
const compareEntries = (a: HistoryEntry, b: HistoryEntry): number => {
  const startA = a.startedAt ?? a.completedAt ?? Number.POSITIVE_INFINITY
  const startB = b.startedAt ?? b.completedAt ?? Number.POSITIVE_INFINITY
  if (startA !== startB) return startA < startB ? -1 : 1
  if (a.seq !== undefined && b.seq !== undefined && a.seq !== b.seq) return a.seq - b.seq
  const depthA = depth(a.scope)
  const depthB = depth(b.scope)
  if (depthA !== depthB) return depthA - depthB
  const endA = a.completedAt ?? Number.POSITIVE_INFINITY
  const endB = b.completedAt ?? Number.POSITIVE_INFINITY
  if (endA !== endB) return endA < endB ? -1 : 1
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// Encoded exits and causes (as `Schema.Exit` writes them)
// ---------------------------------------------------------------------------------------------

interface Encoded {
  readonly _tag?: unknown
  readonly [key: string]: unknown
}

const isObject = (value: unknown): value is Encoded => typeof value === "object" && value !== null

/** The failures of an encoded cause, in order: typed errors (`Fail`), defects (`Die`), interruptions. */
const failuresOf = (cause: unknown): Array<{ readonly kind: "fail" | "die" | "interrupt"; readonly value: unknown }> => {
  if (!isObject(cause)) return []
  switch (cause._tag) {
    case "Fail":
      return [{ kind: "fail", value: cause.error }]
    case "Die":
      return [{ kind: "die", value: cause.defect }]
    case "Interrupt":
      return [{ kind: "interrupt", value: cause.fiberId }]
    case "Sequential":
    case "Parallel":
      return [...failuresOf(cause.left), ...failuresOf(cause.right)]
    default:
      return []
  }
}

const json = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** A typed error or a defect, as encoded, in one line: `Tag: message` or `Tag {fields}`. */
const describeValue = (value: unknown): string => {
  if (!isObject(value)) return typeof value === "string" ? value : json(value)
  const { _tag, message, name, ...fields } = value
  const tag = typeof _tag === "string" ? _tag : typeof name === "string" ? name : undefined
  const text = typeof message === "string" && message !== "" ? message : undefined
  const rest = Object.keys(fields).length > 0 ? json(fields) : undefined
  if (tag === undefined) return text ?? json(value)
  return [tag, text !== undefined ? `: ${text}` : "", rest !== undefined && text === undefined ? ` ${rest}` : ""].join("")
}

/** An encoded cause as text, one failure a line. */
export const describeCause = (cause: unknown): string =>
  failuresOf(cause).map(({ kind, value }) =>
    kind === "fail" ? describeValue(value) : kind === "die" ? `defect: ${describeValue(value)}` : "interrupted"
  ).join("\n")

/** The first typed error of an encoded exit, or its first defect; `undefined` for a success. */
const firstFailure = (exit: unknown): unknown => {
  if (!isObject(exit) || exit._tag !== "Failure") return undefined
  const failures = failuresOf(exit.cause)
  return (failures.find((failure) => failure.kind === "fail") ?? failures.find((failure) => failure.kind === "die"))?.value
}

/** The first failure of `kind` in an encoded exit's cause. */
const firstOf = (exit: Encoded, kind: "fail" | "die"): unknown =>
  failuresOf(exit.cause).find((failure) => failure.kind === kind)?.value

// ---------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------

/** Decodes a typed error with the flow's error schema, when one is given and it decodes. */
type ErrorDecoder = (encoded: unknown) => unknown

const entryOf = (step: ExecutionLog.StepRecord, decodeError: ErrorDecoder): HistoryEntry => {
  const { kind, name, scope } = describeEntry(step)
  const base = {
    key: step.key,
    kind,
    name,
    scope,
    status: step.status,
    attempts: step.attempts,
    startedAt: step.startedAt,
    completedAt: step.completedAt,
    nextAttemptAt: step.nextAttemptAt,
    seq: step.seq,
    recorded: step.exit
  }
  if (step.status !== "completed") {
    return { ...base, outcome: undefined, value: undefined, error: undefined, errorMessage: undefined }
  }
  const exit = step.exit
  // A DAG node's entry records its timing and outcome, not an exit.
  if (kind === "dag" && isObject(exit) && (exit.outcome === "success" || exit.outcome === "failure")) {
    return { ...base, outcome: exit.outcome, value: undefined, error: undefined, errorMessage: undefined }
  }
  // A timer's entry records when it fired.
  if (kind === "timer") return { ...base, outcome: "success", value: exit, error: undefined, errorMessage: undefined }
  if (isObject(exit) && exit._tag === "Failure") {
    const failure = firstFailure(exit)
    return { ...base, outcome: "failure", value: undefined, error: decodeError(failure), errorMessage: describeCause(exit.cause) }
  }
  return {
    ...base,
    outcome: "success",
    value: isObject(exit) && exit._tag === "Success" ? exit.value : exit,
    error: undefined,
    errorMessage: undefined
  }
}

// ---------------------------------------------------------------------------------------------
// The flow's history
// ---------------------------------------------------------------------------------------------

const CHILDREN_PAGE = 1_000

const childrenOf = (log: ExecutionLog.Service, id: string): Effect.Effect<ReadonlyArray<HistoryChild>, StoreError> =>
  Effect.gen(function*() {
    const children: Array<HistoryChild> = []
    let afterId: string | undefined = undefined
    while (true) {
      const page: ReadonlyArray<ExecutionLog.FlowRecord> = yield* log.listFlows({ parentId: id, limit: CHILDREN_PAGE, afterId })
      for (const child of page) {
        children.push({
          id: child.id,
          type: child.type,
          key: child.parentKey,
          version: child.version,
          status: child.status,
          createdAt: child.createdAt,
          completedAt: child.completedAt
        })
      }
      if (page.length < CHILDREN_PAGE) break
      afterId = page[page.length - 1]!.id
    }
    return children.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  })

const outcomeOf = (flow: ExecutionLog.FlowRecord): HistoryOutcome<unknown, unknown> | undefined => {
  switch (flow.status) {
    case "completed": {
      const exit = flow.result
      if (isObject(exit) && exit._tag === "Failure") {
        return { _tag: "Failed", error: firstOf(exit, "fail"), defect: firstOf(exit, "die"), message: describeCause(exit.cause) }
      }
      return { _tag: "Succeeded", value: isObject(exit) ? exit.value : undefined }
    }
    case "failed": {
      const error = isObject(flow.error) ? flow.error : {}
      return {
        _tag: "EngineError",
        error: { _tag: String(error._tag ?? "Unknown"), message: String(error.message ?? "") }
      }
    }
    case "cancelled":
      return { _tag: "Cancelled" }
    default:
      return undefined
  }
}

const build = (
  loaded: ExecutionLog.FlowRecordWithSteps,
  signals: ReadonlyArray<ExecutionLog.SignalRecord>,
  children: ReadonlyArray<HistoryChild>,
  stuckReason: StuckReason | undefined,
  decodeError: ErrorDecoder
): FlowHistory => {
  const { flow, steps } = loaded
  return {
    flow: {
      id: flow.id,
      type: flow.type,
      version: flow.version,
      status: flow.status,
      input: flow.input,
      parentId: flow.parentId,
      parentKey: flow.parentKey,
      priority: flow.priority,
      attempts: flow.attempts,
      createdAt: flow.createdAt,
      updatedAt: flow.updatedAt,
      completedAt: flow.completedAt,
      runAfter: flow.runAfter,
      traceContext: flow.traceContext ?? null
    },
    outcome: outcomeOf(flow),
    suspended: flow.status === "suspended" ? { reason: flow.suspendReason, wakeAt: flow.runAfter } : undefined,
    lease: flow.leaseOwner === null
      ? undefined
      : { owner: flow.leaseOwner, epoch: flow.leaseEpoch, expiresAt: flow.leaseExpiresAt },
    stuck: stuckReason === undefined ? undefined : { reason: stuckReason, message: stuck.describe(stuckReason) },
    entries: steps.map((step) => entryOf(step, decodeError)).sort(compareEntries),
    signals: signals
      .map((signal): HistorySignal => ({
        name: signal.name,
        seq: signal.seq,
        payload: signal.payload,
        sentAt: signal.createdAt,
        consumedBy: signal.consumedBy,
        status: signal.consumedBy === null ? "pending" : "received"
      }))
      .sort((a, b) => a.sentAt - b.sentAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : a.seq - b.seq)),
    children
  }
}

const load = (id: string) =>
  Effect.gen(function*() {
    const log = yield* ExecutionLog
    const loaded = yield* log.loadFlow(id)
    if (Option.isNone(loaded)) return yield* new FlowNotFoundError({ flowId: id })
    const signals = yield* log.listSignals(id)
    const children = yield* childrenOf(log, id)
    const now = yield* Clock.currentTimeMillis
    const live = (yield* log.listWorkers()).filter((worker) => isLive(worker, now))
    const stuckReason = yield* stuck.reasonFor(log, loaded.value.flow, live, now)
    return { loaded: loaded.value, signals, children, stuckReason }
  })

/** `Client.history(id)`: payloads as stored (encoded JSON). */
export const history = (id: string): Effect.Effect<FlowHistory, FlowNotFoundError | StoreError, ExecutionLog> =>
  Effect.map(load(id), ({ children, loaded, signals, stuckReason }) => build(loaded, signals, children, stuckReason, (error) => error)).pipe(
    Effect.withSpan("ergon.history", { attributes: { "ergon.flow.id": id }, captureStackTrace: false })
  )

/**
 * `Client.history(flow, id)`: the flow's result decoded with its schemas (a result that no longer
 * decodes is a `CheckpointDecodeError`), and the errors of journal entries decoded with the flow's
 * error schema where they are among its errors (left encoded otherwise).
 */
export const historyOf = <F extends Flow.Any>(
  flow: F,
  id: string
): Effect.Effect<
  FlowHistory<Flow.Flow.Success<F>, Flow.Flow.Error<F>>,
  FlowNotFoundError | FlowConflictError | CheckpointDecodeError | StoreError,
  ExecutionLog
> =>
  Effect.gen(function*() {
    const { children, loaded, signals, stuckReason } = yield* load(id)
    if (loaded.flow.type !== flow.name) {
      return yield* new FlowConflictError({ flowId: id, reason: "type", existing: loaded.flow.type, requested: flow.name })
    }
    const decodeError = Schema.decodeUnknownOption(flow.error as Schema.Schema<unknown, unknown>)
    const history = build(loaded, signals, children, stuckReason, (error) => Option.getOrElse(decodeError(error), () => error))
    if (loaded.flow.status !== "completed") return history as FlowHistory<any, any>
    const decoded = flow.exitCodec.decode(loaded.flow.result)
    if (Either.isLeft(decoded)) {
      return yield* new CheckpointDecodeError({
        flowType: flow.name,
        flowId: id,
        key: "$result",
        schema: flow.exitCodec.description,
        detail: formatParseError(decoded.left)
      })
    }
    const exit: Exit.Exit<unknown, unknown> = decoded.right
    const outcome: HistoryOutcome<unknown, unknown> = Exit.isSuccess(exit)
      ? { _tag: "Succeeded", value: exit.value }
      : {
        _tag: "Failed",
        error: Option.getOrUndefined(Cause.failureOption(exit.cause)),
        defect: Option.getOrUndefined(Cause.dieOption(exit.cause)),
        message: history.outcome?._tag === "Failed" ? history.outcome.message : Cause.pretty(exit.cause)
      }
    return { ...history, outcome } as FlowHistory<any, any>
  }).pipe(Effect.withSpan("ergon.history", { attributes: { "ergon.flow.id": id, "ergon.flow.type": flow.name }, captureStackTrace: false }))

/** `history` with the overloads `Client.history` exports. `any`: one body serves both (by id, and given the flow). */
export const historyTyped: {
  (id: string): Effect.Effect<FlowHistory, FlowNotFoundError | StoreError, ExecutionLog>
  <F extends Flow.Any>(
    flow: F,
    id: string
  ): Effect.Effect<
    FlowHistory<Flow.Flow.Success<F>, Flow.Flow.Error<F>>,
    FlowNotFoundError | FlowConflictError | CheckpointDecodeError | StoreError,
    ExecutionLog
  >
} = ((flowOrId: string | Flow.Any, id?: string) =>
  typeof flowOrId === "string" ? history(flowOrId) : historyOf(flowOrId, id!)) as any
