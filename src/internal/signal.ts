/**
 * Signals: `Flow.awaitSignal`.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { SignalTimeout } from "../FlowError.js"
import { abortWith, FlowInstance, SuspendReason } from "./instance.js"
import * as journal from "./journal.js"
import * as json from "./json.js"


/** `Flow.awaitSignal`: see there. */
export const awaitSignal = <A, I>(
  name: string,
  schema: Schema.Schema<A, I>,
  timeout: Duration.DurationInput | undefined
): Effect.Effect<A, SignalTimeout, FlowInstance> => {
  const codec = journal.exitCodec(schema, SignalTimeout)
  const decodePayload = Schema.decodeUnknownEither(schema)
  const encodeValue = (a: A) => codec.encode(Exit.succeed(a))
  return Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(journal.begin(instance, `$signal/${name}`, "signal"), (begun) =>
      Effect.gen(function*() {
        const key = begun.key
        const recorded = begun.recorded
        if (recorded?.status === "completed") {
          return yield* Effect.flatten(journal.replay(instance, { ...begun, recorded }, codec))
        }
        const now = yield* Clock.currentTimeMillis
        const timeoutAt = yield* journal.waitDeadline(instance, begun, timeout, now)
        const startedAt = recorded?.startedAt ?? now
        const finish = (exit: Exit.Exit<A, SignalTimeout>) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) =>
            Effect.flatMap(journal.encodeExit(instance, key, codec, exit), (encoded) =>
              Effect.as(
                journal.complete(instance, begun, { inputHash: null, exit: encoded, attempts: 1, startedAt, completedAt: at }),
                exit
              )))
        // Parked until the supervisor sees a signal of this name in the store (or the deadline
        // passes); then taken, consumed by this wait's key, and recorded.
        const wait: Effect.Effect<A, SignalTimeout> = journal.park(instance, {
          key,
          reason: SuspendReason.Signal({ key, name, timeoutAt: timeoutAt ?? undefined }),
          until: timeoutAt ?? undefined,
          signal: name,
          childId: undefined
        }, (resolution): Effect.Effect<Option.Option<Exit.Exit<A, SignalTimeout>>> => {
          if (resolution === "time") {
            return Effect.asSome(finish(Exit.fail(new SignalTimeout({ name, timeoutAt: timeoutAt ?? now }))))
          }
          return journal.busy(instance, instance.log.takeSignal(instance.flowId, name, key, instance.fence)).pipe(
            Effect.catchTag("StoreError", (error) => abortWith(instance, json.refusedValue(error) ?? error)),
            Effect.flatMap(Option.match({
              // Taken by another wait of this flow meanwhile: wait again.
              onNone: () => Effect.succeedNone,
              onSome: (signal) =>
                Effect.flatMap(
                  // Recorded as consumed by this wait and reported: never dropped silently.
                  journal.decode(instance, `${key} (signal #${signal.seq})`, String(schema.ast), decodePayload, signal.payload),
                  (payload) =>
                    Effect.flatMap(
                      journal.encode(instance, key, codec.description, encodeValue, payload),
                      (encoded) =>
                        Effect.flatMap(Clock.currentTimeMillis, (at) =>
                          Effect.as(
                            journal.complete(instance, begun, {
                              inputHash: null,
                              exit: encoded,
                              attempts: 1,
                              startedAt,
                              completedAt: at
                            }),
                            Option.some(Exit.succeed(payload))
                          ))
                    )
                )
            }))
          )
        }).pipe(Effect.flatMap(Option.match({ onNone: () => wait, onSome: (exit) => exit })))
        return yield* wait
      })))
}

/** `awaitSignal` with the overloads `Flow.awaitSignal` exports. `any`: one body serves both (with and without a timeout). */
export const awaitSignalTyped: {
  <A, I>(name: string, schema: Schema.Schema<A, I, never>): Effect.Effect<A, never, FlowInstance>
  <A, I>(
    name: string,
    schema: Schema.Schema<A, I, never>,
    options: { readonly timeout: Duration.DurationInput }
  ): Effect.Effect<A, SignalTimeout, FlowInstance>
} = ((name: string, schema: Schema.Schema<any, any, never>, options?: { readonly timeout?: Duration.DurationInput | undefined }) =>
  awaitSignal(name, schema, options?.timeout)) as any
