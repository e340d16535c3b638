/**
 * `ergon versions`: the unfinished flows by type and stamped version, the live workers that take
 * them, and a warning for each stranded version (no live worker takes it); `ergon versions
 * migrate --type T --from V --to W`: the operator's step that re-stamps stranded flows.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Client from "../Client.js"
import * as Output from "./output.js"
import * as Store from "./store.js"

const fail = Options.boolean("fail").pipe(
  Options.withDescription("Exit with status 6 when a version is stranded (for monitoring).")
)

/** The version as shown: `—` for unversioned flows. */
const shown = (version: string | null): string => version ?? Output.style.dim("—")

/**
 * `ergon versions migrate`.
 *
 * @since 0.3.0
 * @category Constructors
 */
export const migrate = Command.make(
  "migrate",
  {
    ...Store.storeOptions,
    json: Store.json,
    type: Options.text("type").pipe(Options.withDescription("The flow type whose unfinished flows to re-stamp.")),
    from: Options.text("from").pipe(Options.withDescription("The version they are stamped with now.")),
    to: Options.text("to").pipe(Options.withDescription("The version to stamp them with: one a live worker takes."))
  },
  (options) =>
    Effect.gen(function*() {
      const migrated = yield* Client.migrate({ type: options.type, from: options.from, to: options.to })
      if (options.json) return yield* Output.printJson(migrated)
      yield* Output.print(
        `migrated ${migrated.count} unfinished flow${migrated.count === 1 ? "" : "s"} of '${migrated.type}' from ${migrated.from} to ${migrated.to}` +
          Output.style.dim(` (taken by ${migrated.workers.join(", ")})`)
      )
    }).pipe(Effect.provide(Store.layer(options)))
).pipe(
  Command.withDescription(
    "Re-stamp the unfinished flows of a type from one version to another, when the flow's versions list both (or it is not pinned) and a live worker takes the new one; refused, with the reason, otherwise."
  )
)

/**
 * `ergon versions`.
 *
 * @since 0.3.0
 * @category Constructors
 */
export const command = Command.make(
  "versions",
  { ...Store.storeOptions, json: Store.json, fail },
  (options) =>
    Effect.gen(function*() {
      const groups = yield* Client.versions()
      const stranded = groups.filter((group) => group.stranded)
      if (options.json) yield* Output.printJson(groups)
      else if (groups.length === 0) yield* Output.print(Output.style.dim("no unfinished flows"))
      else {
        yield* Output.print(Output.table(
          ["TYPE", "VERSION", "PENDING", "RUNNING", "SUSPENDED", "TAKEN BY"],
          groups.map((group) => [
            group.type,
            shown(group.version),
            String(group.pending),
            String(group.running),
            String(group.suspended),
            group.stranded
              ? Output.style.red("nobody: stranded")
              : group.workers.map((worker) => `${worker.name} (${worker.version ?? "unversioned"})`).join(", ")
          ])
        ))
        for (const group of stranded) {
          const total = group.pending + group.running + group.suspended
          yield* Output.print(Output.style.yellow(
            `warning: ${total} flow${total === 1 ? "" : "s"} of '${group.type}' ${
              group.version === null ? "(unversioned)" : `stamped ${group.version}`
            } ${total === 1 ? "is" : "are"} stranded: no live worker takes ${
              group.version === null ? "unversioned flows of this type" : "that version"
            }. Start a worker that does, or re-stamp them: ergon versions migrate --type ${group.type} --from ${
              group.version ?? "<version>"
            } --to <a version live workers run>`
          ))
        }
      }
      if (options.fail && stranded.length > 0) {
        return yield* new Store.CliError({ code: Store.ExitCode.stuck, message: "" })
      }
    }).pipe(Effect.provide(Store.layer(options)))
).pipe(
  Command.withDescription(
    "Show the unfinished flows by type and stamped version, the live workers that take each, and warn on stranded versions (no live worker takes them)."
  ),
  Command.withSubcommands([migrate])
)
