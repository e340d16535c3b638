/**
 * `ergon workers`: the workers registered in the store, live and dead.
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

/**
 * `ergon workers`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Command.make(
  "workers",
  {
    ...Store.storeOptions,
    json: Store.json,
    live: Options.boolean("live").pipe(Options.withDescription("Only live workers."))
  },
  (options) =>
    Effect.gen(function*() {
      const workers = yield* Client.workers({ live: options.live })
      if (options.json) return yield* Output.printJson(workers)
      if (workers.length === 0) return yield* Output.print(Output.style.dim("no workers registered"))
      const now = yield* Clock.currentTimeMillis
      const flag = (on: boolean) => (on ? "on" : Output.style.dim("off"))
      yield* Output.print(Output.table(
        ["NAME", "ID", "VERSION", "STATE", "RUNNING", "TIMERS", "SIGNALS", "HOST", "PID", "STARTED", "HEARTBEAT", "FLOWS"],
        workers.map((worker) => [
          worker.name,
          worker.id,
          worker.version ?? Output.style.dim("unversioned"),
          Output.status(worker.live ? "live" : "dead"),
          `${worker.inFlight}/${worker.concurrency}`,
          flag(worker.timers),
          flag(worker.signals),
          worker.host,
          String(worker.pid),
          Output.ago(worker.startedAt, now),
          Output.ago(worker.heartbeatAt, now),
          worker.types.join(", ")
        ])
      ))
      const live = workers.filter((worker) => worker.live).length
      yield* Output.print(Output.style.dim(`${live} live, ${workers.length - live} dead`))
    }).pipe(Effect.provide(Store.layer(options)))
).pipe(Command.withDescription("List the workers registered in the store: version, flow types, timers and signals, host, heartbeat, live or dead."))
