/**
 * `ergon show <id>`: a flow's history as a timeline (times from its creation, durations), why it
 * waits or why nobody can run it, its signals, its children as a tree, and its error in full.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Client from "../Client.js"
import type { StoreError } from "../FlowError.js"
import type { ExecutionLog } from "../ExecutionLog.js"
import * as Output from "./output.js"
import * as Store from "./store.js"

const { ago, brief, duration, offset, style } = Output

/** A child and its own children, for the tree. */
interface ChildNode {
  readonly flow: ExecutionLog.FlowRecord
  readonly children: ReadonlyArray<ChildNode>
}

// How much of a tree `show` reads: deep trees and wide fan-outs are cut (and said so).
const MAX_DEPTH = 6
const MAX_NODES = 200

/** The children of `id`, and theirs, down to `MAX_DEPTH`, at most `MAX_NODES` in all. */
const childTree = (id: string): Effect.Effect<{ readonly nodes: ReadonlyArray<ChildNode>; readonly cut: boolean }, StoreError, ExecutionLog> =>
  Effect.gen(function*() {
    let count = 0
    let cut = false
    const walk = (parentId: string, depth: number): Effect.Effect<ReadonlyArray<ChildNode>, StoreError, ExecutionLog> =>
      Effect.gen(function*() {
        if (depth > MAX_DEPTH || count >= MAX_NODES) {
          cut = true
          return []
        }
        const flows = yield* Client.list({ parentId, limit: MAX_NODES - count + 1 })
        if (flows.length > MAX_NODES - count) cut = true
        const kept = [...flows.slice(0, MAX_NODES - count)].sort((a, b) => a.createdAt - b.createdAt)
        count += kept.length
        const nodes: Array<ChildNode> = []
        for (const flow of kept) nodes.push({ flow, children: yield* walk(flow.id, depth + 1) })
        return nodes
      })
    const nodes = yield* walk(id, 1)
    return { nodes, cut }
  })

const treeLines = (nodes: ReadonlyArray<ChildNode>, start: number, now: number, prefix = "  "): Array<string> =>
  nodes.flatMap((node, i) => {
    const last = i === nodes.length - 1
    const flow = node.flow
    const ended = flow.completedAt === null ? "" : ` ${style.dim(`ended ${offset(flow.completedAt, start)}`)}`
    const line = `${prefix}${last ? "└─ " : "├─ "}${flow.id}  ${style.dim(flow.type)}  ${Output.status(flow.status)}  ${
      style.dim(`started ${offset(flow.createdAt, start)}`)
    }${ended}`
    return [line, ...treeLines(node.children, start, now, `${prefix}${last ? "   " : "│  "}`)]
  })

/** Why a suspended flow waits, from its suspend reason (several waits at once: each of them). */
const waitText = (reason: unknown, start: number, now: number): string => {
  const r = (typeof reason === "object" && reason !== null ? reason : {}) as Record<string, unknown>
  if (r._tag === "Any" && Array.isArray(r.reasons)) {
    return `whichever comes first of ${r.reasons.map((one) => waitText(one, start, now)).join("; ")}`
  }
  const at = (time: unknown) => (typeof time === "number" ? `${offset(time, start)} (${ago(time, now)})` : "?")
  switch (r._tag) {
    case "Timer":
      return `a timer (${String(r.key)}), fires at ${at(r.until)}`
    case "Retry":
      return `a retry of '${String(r.key)}' (attempt ${String(r.attempt)}) at ${at(r.at)}`
    case "Signal":
      return `signal '${String(r.name)}'${typeof r.timeoutAt === "number" ? `, times out at ${at(r.timeoutAt)}` : ""}`
    case "Child":
      return `child flow '${String(r.childId)}'`
    case "Event":
      return `event '${String(r.name)}'${typeof r.timeoutAt === "number" ? `, times out at ${at(r.timeoutAt)}` : ""}`
    default:
      return brief(reason)
  }
}

/** The waits a suspended flow is on that no journal entry stands for yet (a child's, a signal's without a deadline). */
const pendingWaits = (
  history: Client.FlowHistory
): ReadonlyArray<{ readonly kind: string; readonly name: string; readonly detail: string }> => {
  const suspended = history.suspended?.reason as Record<string, unknown> | undefined
  if (suspended === undefined) return []
  const reasons = (suspended._tag === "Any" && Array.isArray(suspended.reasons) ? suspended.reasons : [suspended]) as ReadonlyArray<
    Record<string, unknown>
  >
  return reasons.flatMap((reason) => {
    if (typeof reason.key !== "string" || history.entries.some((entry) => entry.key === reason.key)) return []
    if (reason._tag === "Child") {
      const child = history.children.find((c) => c.id === reason.childId)
      return [{ kind: "child", name: child?.type ?? String(reason.childId), detail: `${String(reason.childId)} is ${child?.status ?? "not started"}` }]
    }
    if (reason._tag === "Signal") return [{ kind: "signal", name: String(reason.name), detail: "no signal yet" }]
    if (reason._tag === "Event") return [{ kind: "event", name: String(reason.name), detail: "not emitted yet" }]
    return []
  })
}

const outcomeText = (history: Client.FlowHistory): string => {
  const outcome = history.outcome
  if (outcome === undefined) return Output.status(history.flow.status)
  switch (outcome._tag) {
    case "Succeeded":
      return `${Output.status("completed")} ${style.dim("→")} ${brief(outcome.value)}`
    case "Failed":
      return `${Output.status("completed")} with a failure: ${style.red(outcome.message.split("\n")[0]!)}`
    case "EngineError":
      return `${Output.status("failed")}: ${style.red(`${outcome.error._tag}`)} (the engine stopped it; 'ergon retry' runs it again)`
    case "Cancelled":
      return Output.status("cancelled")
  }
}

/** What an entry's last column says. */
const entryDetail = (entry: Client.HistoryEntry, start: number, now: number): string => {
  if (entry.status === "retrying") {
    const next = entry.nextAttemptAt
    return style.yellow(`attempt ${entry.attempts} failed; next ${next === null ? "?" : `at ${offset(next, start)} (${ago(next, now)})`}`)
  }
  if (entry.status === "waiting") {
    const at = entry.nextAttemptAt
    const what = entry.kind === "signal" ? "times out" : "fires"
    return style.yellow(at === null ? "waiting" : `${what} at ${offset(at, start)} (${ago(at, now)})`)
  }
  if (entry.outcome === "failure") return style.red((entry.errorMessage ?? "failed").split("\n").join("; "))
  switch (entry.kind) {
    case "timer":
    case "dag":
      return ""
    case "patch":
      return style.dim("patched: the new path from here")
    case "signal":
      return `${style.dim("←")} ${brief(entry.value, 60)}`
    default:
      return `${style.dim("→")} ${brief(entry.value, 60)}`
  }
}

const entryStatus = (entry: Client.HistoryEntry): string =>
  entry.status !== "completed" ? Output.status(entry.status) : entry.outcome === "failure" ? Output.status("failed") : Output.status("completed")

/** The timeline, human-readable. */
const render = (
  history: Client.FlowHistory,
  tree: { readonly nodes: ReadonlyArray<ChildNode>; readonly cut: boolean },
  now: number
): string => {
  const { flow } = history
  const start = flow.createdAt
  const out: Array<string> = []
  const ran = flow.ranVersion !== null && flow.ranVersion !== flow.version ? `, last ran under ${flow.ranVersion}` : ""
  out.push(`${style.bold(flow.id)}  ${style.dim(`${flow.type}, ${flow.version === null ? "unversioned" : `version ${flow.version}`}${ran}`)}`)
  const info: Array<readonly [string, string]> = [
    ["status", outcomeText(history)],
    ["created", `${Output.timestamp(start)} (${ago(start, now)})`]
  ]
  if (flow.completedAt !== null) info.push(["ended", `${offset(flow.completedAt, start)} (took ${duration(flow.completedAt - start)})`])
  else info.push(["updated", `${offset(flow.updatedAt, start)} (${ago(flow.updatedAt, now)})`])
  info.push(["runs", `${flow.attempts} execution${flow.attempts === 1 ? "" : "s"}`])
  if (history.suspended !== undefined) info.push(["waits for", style.yellow(waitText(history.suspended.reason, start, now))])
  if (flow.status === "pending" && flow.runAfter !== null) {
    info.push(["due", `${offset(flow.runAfter, start)} (${ago(flow.runAfter, now)})`])
  }
  if (history.lease !== undefined) {
    const expires = history.lease.expiresAt
    // A lease is held while the flow runs; otherwise it only says which worker ran it last.
    info.push(
      flow.status === "running"
        ? ["lease", `${history.lease.owner} (epoch ${history.lease.epoch}${expires === null ? "" : `, expires ${ago(expires, now)}`})`]
        : ["last run by", `${history.lease.owner} ${style.dim(`(epoch ${history.lease.epoch})`)}`]
    )
  }
  if (history.stuck !== undefined) info.push(["stuck", style.red(history.stuck.message)])
  if (flow.parentId !== null) info.push(["parent", `${flow.parentId} ${style.dim(`(${flow.parentKey ?? ""})`)}`])
  info.push(["input", brief(flow.input, 100)])
  if (flow.traceContext !== null) info.push(["trace", style.dim(flow.traceContext)])
  out.push(Output.fields(info))

  out.push("", style.bold("TIMELINE") + style.dim("  (times from its creation)"))
  const rows = history.entries.map((entry) => [
    entry.startedAt === null ? "" : offset(entry.startedAt, start),
    entry.kind,
    entry.scope === "" || entry.kind === "dag" ? entry.name : `${style.dim(`${entry.scope}/`)}${entry.name}`,
    entryStatus(entry),
    entry.startedAt !== null && entry.completedAt !== null ? duration(entry.completedAt - entry.startedAt) : "",
    entry.kind === "step" ? String(entry.attempts) : "",
    entryDetail(entry, start, now)
  ])
  // The wait it is suspended on, when the journal holds nothing for it yet (a child, a signal
  // without a deadline): the last line of the timeline.
  for (const wait of pendingWaits(history)) {
    rows.push([offset(flow.updatedAt, start), wait.kind, wait.name, Output.status("waiting"), "", "", style.yellow(wait.detail)])
  }
  if (rows.length === 0) out.push(style.dim("  nothing recorded yet"))
  else out.push(Output.table(["AT", "KIND", "ENTRY", "STATUS", "TOOK", "TRIES", "DETAIL"], rows, "  "))

  if (history.signals.length > 0) {
    out.push("", style.bold("SIGNALS"))
    out.push(Output.table(
      ["SENT", "NAME", "#", "STATUS", "TAKEN BY", "PAYLOAD"],
      history.signals.map((signal) => [
        offset(signal.sentAt, start),
        signal.name,
        String(signal.seq),
        Output.status(signal.status),
        signal.consumedBy ?? "",
        brief(signal.payload, 60)
      ]),
      "  "
    ))
  }

  if (tree.nodes.length > 0) {
    out.push("", style.bold("CHILDREN"), ...treeLines(tree.nodes, start, now))
    if (tree.cut) out.push(style.dim(`  … more (only ${MAX_NODES} flows, ${MAX_DEPTH} levels are shown; 'ergon list --parent <id>')`))
  }

  const outcome = history.outcome
  if (outcome?._tag === "Failed" || outcome?._tag === "EngineError") {
    out.push("", style.bold("ERROR"))
    const text = outcome._tag === "Failed" ? outcome.message : `${outcome.error._tag}: ${outcome.error.message}`
    out.push(...text.split("\n").map((line) => `  ${style.red(line)}`))
  }
  return out.join("\n")
}

/** A child tree as JSON. */
const treeJson = (nodes: ReadonlyArray<ChildNode>): unknown =>
  nodes.map((node) => ({
    id: node.flow.id,
    type: node.flow.type,
    status: node.flow.status,
    createdAt: node.flow.createdAt,
    completedAt: node.flow.completedAt,
    children: treeJson(node.children)
  }))

/**
 * `ergon show <id>`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Command.make(
  "show",
  { ...Store.storeOptions, json: Store.json, id: Args.text({ name: "id" }).pipe(Args.withDescription("The flow's id.")) },
  (options) =>
    Effect.gen(function*() {
      const history = yield* Client.history(options.id)
      const tree = yield* childTree(options.id)
      if (options.json) return yield* Output.printJson({ ...history, tree: treeJson(tree.nodes) })
      const now = yield* Clock.currentTimeMillis
      yield* Output.print(render(history, tree, now))
    }).pipe(Effect.provide(Store.layer(options)))
).pipe(Command.withDescription("Show a flow's history: a timeline of its steps, timers, signals and children, and its error."))
