/**
 * `ergon signal <id> <name> <json>`: sends a signal to a flow.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Client from "../Client.js"
import * as Output from "./output.js"
import * as Store from "./store.js"

/**
 * `ergon signal <id> <name> <json>`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Command.make(
  "signal",
  {
    ...Store.storeOptions,
    json: Store.json,
    id: Args.text({ name: "id" }).pipe(Args.withDescription("The flow's id.")),
    name: Args.text({ name: "name" }).pipe(Args.withDescription("The signal's name.")),
    payload: Args.text({ name: "json" }).pipe(Args.withDescription("The payload, as JSON (the flow decodes it with its schema)."))
  },
  (args) =>
    Effect.gen(function*() {
      const payload = yield* Effect.try({
        try: () => JSON.parse(args.payload) as unknown,
        catch: (cause) =>
          new Store.CliError({ code: Store.ExitCode.usage, message: `the payload is not JSON: ${String(cause)}` })
      })
      yield* Client.signal(args.id, args.name, payload)
      if (args.json) yield* Output.printJson({ id: args.id, name: args.name, sent: true })
      else yield* Output.print(`sent signal '${args.name}' to ${args.id}`)
    }).pipe(Effect.provide(Store.layer(args)))
).pipe(Command.withDescription("Send a signal to a flow: written durably, and the flow is woken if it waits for it."))
