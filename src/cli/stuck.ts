/**
 * `ergon stuck`: the flows that no live worker can make progress on, and why.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Client from "../Client.js"
import * as Output from "./output.js"
import * as Store from "./store.js"

const when = (reason: Client.StuckReason, now: number): string => {
  switch (reason._tag) {
    case "NoTimerWorker":
      return `due ${Output.ago(reason.wakeAt, now)}`
    case "StuckChild":
      return when(reason.reason, now)
    default:
      return ""
  }
}

/**
 * `ergon stuck`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Command.make(
  "stuck",
  {
    ...Store.storeOptions,
    json: Store.json,
    limit: Options.integer("limit").pipe(Options.withDescription("At most this many flows."), Options.withDefault(1000)),
    fail: Options.boolean("fail").pipe(Options.withDescription("Exit with status 6 when a flow is stuck (for monitoring)."))
  },
  (options) =>
    Effect.gen(function*() {
      const progress = Output.progress("scanning")
      const flows = yield* Client.stuck({ limit: options.limit, onProgress: (scanned) => progress.update(scanned) })
      if (options.json) yield* Output.printJson(flows)
      else if (flows.length === 0) yield* Output.print(Output.style.green("no stuck flows"))
      else {
        const now = yield* Clock.currentTimeMillis
        yield* Output.print(Output.table(
          ["ID", "TYPE", "VERSION", "STATUS", "CREATED", "WHEN", "WHY"],
          flows.map((flow) => [
            flow.id,
            flow.type,
            flow.version ?? Output.style.dim("—"),
            Output.status(flow.status),
            Output.ago(flow.createdAt, now),
            when(flow.reason, now),
            Output.style.red(flow.message)
          ])
        ))
        const more = flows.length >= options.limit ? ` (the first ${options.limit}; --limit shows more)` : ""
        yield* Output.print(Output.style.dim(`${flows.length} stuck flow${flows.length === 1 ? "" : "s"}${more}`))
      }
      if (options.fail && flows.length > 0) {
        return yield* new Store.CliError({ code: Store.ExitCode.stuck, message: "" })
      }
    }).pipe(Effect.provide(Store.layer(options)))
).pipe(Command.withDescription("List the flows that no live worker can make progress on, with the reason: a version or a type no live worker takes, a timer no live worker fires, a stuck child."))
