/**
 * `ergon list`: flows, newest first, filtered by status, type, version or parent, a page at a time.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Client from "../Client.js"
import type { ExecutionLog, FlowStatus } from "../ExecutionLog.js"
import * as Output from "./output.js"
import * as Store from "./store.js"

const statuses: ReadonlyArray<FlowStatus> = ["pending", "running", "suspended", "completed", "failed", "cancelled"]

/**
 * The filters `list`, `cancel` and `retry` share: `--status` (repeated, or comma-separated),
 * `--type`, `--flow-version` (`none`: unversioned), `--parent`.
 *
 * @since 0.1.0
 * @category Models
 */
export const filterOptions = {
  status: Options.text("status").pipe(
    Options.withDescription(`Only flows in these statuses (${statuses.join(", ")}); repeat it or separate them with commas.`),
    Options.repeated
  ),
  type: Options.text("type").pipe(Options.withDescription("Only flows of this type."), Options.optional),
  version: Options.text("flow-version").pipe(
    Options.withDescription("Only flows stamped with this deployment version ('none': unversioned flows)."),
    Options.optional
  ),
  parent: Options.text("parent").pipe(Options.withDescription("Only the children of this flow."), Options.optional)
}

/**
 * The filter the options describe, or a usage error naming a status that is not one.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const filterOf = (options: {
  readonly status: ReadonlyArray<string>
  readonly type: Option.Option<string>
  readonly version: Option.Option<string>
  readonly parent: Option.Option<string>
}): Effect.Effect<Omit<Client.PageQuery, "limit" | "before">, Store.CliError> =>
  Effect.gen(function*() {
    const wanted = options.status.flatMap((text) => text.split(",")).map((text) => text.trim()).filter((text) => text !== "")
    const unknown = wanted.filter((text) => !statuses.includes(text as FlowStatus))
    if (unknown.length > 0) {
      return yield* new Store.CliError({
        code: Store.ExitCode.usage,
        message: `'${unknown[0]}' is not a status; use one of ${statuses.join(", ")}`
      })
    }
    return {
      ...(wanted.length > 0 ? { status: wanted as ReadonlyArray<FlowStatus> } : {}),
      ...(Option.isSome(options.type) ? { type: options.type.value } : {}),
      ...(Option.isSome(options.version) ? { version: options.version.value === "none" ? null : options.version.value } : {}),
      ...(Option.isSome(options.parent) ? { parentId: options.parent.value } : {})
    }
  })

/**
 * A cursor as `--before` takes it: `<created at>:<id>`.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const formatCursor = (cursor: Client.Cursor): string => `${cursor.createdAt}:${cursor.id}`

const parseCursor = (text: string): Effect.Effect<Client.Cursor, Store.CliError> => {
  const at = text.indexOf(":")
  const createdAt = Number(text.slice(0, at))
  return at > 0 && Number.isInteger(createdAt)
    ? Effect.succeed({ createdAt, id: text.slice(at + 1) })
    : Effect.fail(new Store.CliError({ code: Store.ExitCode.usage, message: `'${text}' is not a cursor printed by 'ergon list'` }))
}

/**
 * A flow in a list, for `--json`: its record without the payloads.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const summary = (flow: ExecutionLog.FlowRecord) => ({
  id: flow.id,
  type: flow.type,
  version: flow.version,
  status: flow.status,
  attempts: flow.attempts,
  parentId: flow.parentId,
  createdAt: flow.createdAt,
  updatedAt: flow.updatedAt,
  completedAt: flow.completedAt,
  runAfter: flow.runAfter
})

/**
 * The rows of flows in a table.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const flowRows = (flows: ReadonlyArray<ExecutionLog.FlowRecord>, now: number): ReadonlyArray<ReadonlyArray<string>> =>
  flows.map((flow) => [
    flow.id,
    flow.type,
    flow.version ?? Output.style.dim("—"),
    Output.status(flow.status),
    String(flow.attempts),
    Output.ago(flow.createdAt, now),
    Output.ago(flow.updatedAt, now)
  ])

/**
 * The header of `flowRows`.
 *
 * @since 0.1.0
 * @category Models
 */
export const flowHeader: ReadonlyArray<string> = ["ID", "TYPE", "VERSION", "STATUS", "RUNS", "CREATED", "UPDATED"]

/**
 * `ergon list`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Command.make(
  "list",
  {
    ...Store.storeOptions,
    json: Store.json,
    ...filterOptions,
    limit: Options.integer("limit").pipe(Options.withDescription("At most this many flows per page."), Options.withDefault(50)),
    before: Options.text("before").pipe(
      Options.withDescription("The next page: the cursor the previous page printed."),
      Options.optional
    ),
    all: Options.boolean("all").pipe(Options.withDescription("Every page, not just the first."))
  },
  (options) =>
    Effect.gen(function*() {
      if (options.limit < 1) {
        return yield* new Store.CliError({ code: Store.ExitCode.usage, message: "--limit must be at least 1" })
      }
      const filter = yield* filterOf(options)
      let before = Option.isSome(options.before) ? yield* parseCursor(options.before.value) : undefined
      const flows: Array<ExecutionLog.FlowRecord> = []
      let next: Client.Cursor | undefined
      const progress = options.all ? Output.progress("listing") : undefined
      const total = options.all ? yield* Client.count(filter) : undefined
      while (true) {
        const page = yield* Client.page({ ...filter, limit: options.limit, before })
        flows.push(...page.flows)
        next = page.next
        progress?.update(flows.length, total)
        if (!options.all || next === undefined) break
        before = next
      }
      if (progress !== undefined) yield* progress.done(`listed ${flows.length} flow${flows.length === 1 ? "" : "s"}`)
      if (options.json) {
        return yield* Output.printJson({ flows: flows.map(summary), next: next === undefined ? null : formatCursor(next) })
      }
      const now = yield* Clock.currentTimeMillis
      if (flows.length === 0) return yield* Output.print(Output.style.dim("no flows"))
      yield* Output.print(Output.table(flowHeader, flowRows(flows, now)))
      if (next !== undefined) yield* Output.print(Output.style.dim(`more: --before ${formatCursor(next)}`))
    }).pipe(Effect.provide(Store.layer(options)))
).pipe(Command.withDescription("List flows, newest first, by status, type, version or parent."))
