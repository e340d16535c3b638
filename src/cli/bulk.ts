/**
 * What `ergon cancel` and `ergon retry` share: one flow or several by id, or every flow matching
 * filters (with `--yes`), one result per flow, a progress line, and an exit code for the whole.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Client from "../Client.js"
import type { ExecutionLog, FlowStatus } from "../ExecutionLog.js"
import type { FlowEndedError, FlowNotFoundError, StoreError } from "../FlowError.js"
import { filterOf, filterOptions } from "./list.js"
import * as Output from "./output.js"
import * as Store from "./store.js"

/**
 * The result of an action on one flow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Result {
  readonly id: string
  readonly result: "done" | "not-found" | "refused"
  readonly message?: string | undefined
}

const codeOf = (result: Result): number =>
  result.result === "done" ? Store.ExitCode.ok : result.result === "not-found" ? Store.ExitCode.notFound : Store.ExitCode.refused

/**
 * A command acting on flows: `<name> <id>…`, or `<name> --status … --type … --yes`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: {
  readonly name: "cancel" | "retry"
  readonly description: string
  /** The past tense, for results (`cancelled`). */
  readonly done: string
  /** The statuses a filter selects when it names none. */
  readonly statuses: ReadonlyArray<FlowStatus>
  readonly act: (id: string) => Effect.Effect<void, FlowNotFoundError | FlowEndedError | StoreError, ExecutionLog>
}) =>
  Command.make(
    options.name,
    {
      ...Store.storeOptions,
      json: Store.json,
      ids: Args.text({ name: "id" }).pipe(Args.withDescription("The flows' ids."), Args.repeated),
      ...filterOptions,
      yes: Options.boolean("yes").pipe(Options.withDescription("Act on every flow the filters match (required with filters)."))
    },
    (args) =>
      Effect.gen(function*() {
        const filtered = args.status.length > 0 || Option.isSome(args.type) || Option.isSome(args.version) || Option.isSome(args.parent)
        if (args.ids.length > 0 && filtered) {
          return yield* new Store.CliError({ code: Store.ExitCode.usage, message: `give ids or filters to ${options.name}, not both` })
        }
        if (args.ids.length === 0 && !filtered) {
          return yield* new Store.CliError({
            code: Store.ExitCode.usage,
            message: `give the ids of the flows to ${options.name}, or filters (--status, --type, --flow-version, --parent) and --yes`
          })
        }
        let ids: ReadonlyArray<string> = args.ids
        if (filtered) {
          const filter = yield* filterOf(args)
          const query = { ...filter, status: filter.status ?? options.statuses }
          const total = yield* Client.count(query)
          if (!args.yes) {
            return yield* new Store.CliError({
              code: Store.ExitCode.refused,
              message: `${total} flow${total === 1 ? "" : "s"} match; pass --yes to ${options.name} ${total === 1 ? "it" : "them"}`
            })
          }
          // Every id first, then the action: acting while paging would move the pages.
          const found: Array<string> = []
          let before: Client.Cursor | undefined = undefined
          while (true) {
            const page: Client.Page = yield* Client.page({ ...query, limit: 500, before })
            found.push(...page.flows.map((flow) => flow.id))
            if (page.next === undefined) break
            before = page.next
          }
          ids = found
        }
        const progress = Output.progress(options.name === "cancel" ? "cancelling" : "retrying")
        const results: Array<Result> = []
        for (const id of ids) {
          const result = yield* options.act(id).pipe(
            Effect.as<Result>({ id, result: "done" }),
            Effect.catchTags({
              FlowNotFoundError: (error) => Effect.succeed<Result>({ id, result: "not-found", message: error.message }),
              FlowEndedError: (error) => Effect.succeed<Result>({ id, result: "refused", message: error.message })
            })
          )
          results.push(result)
          progress.update(results.length, ids.length)
        }
        const doneCount = results.filter((result) => result.result === "done").length
        if (ids.length > 1) yield* progress.done(`${options.done} ${doneCount} of ${ids.length} flows`)
        if (args.json) {
          yield* Output.printJson(results.map((result) => ({ ...result, result: result.result === "done" ? options.done : result.result })))
        } else if (results.length > 0) {
          yield* Output.print(Output.table(
            ["ID", "RESULT", "DETAIL"],
            results.map((result) => [
              result.id,
              result.result === "done" ? Output.style.green(options.done) : Output.style.red(result.result),
              result.message ?? ""
            ])
          ))
        } else {
          yield* Output.print(Output.style.dim("no flows match"))
        }
        const code = Math.max(Store.ExitCode.ok, ...results.map(codeOf))
        if (code !== Store.ExitCode.ok) {
          return yield* new Store.CliError({ code, message: "" })
        }
      }).pipe(Effect.provide(Store.layer(args)))
  ).pipe(Command.withDescription(options.description))
