/**
 * Named events: `Flow.awaitEvent`, `Flow.emitEvent` (and `Client.emitEvent`).
 *
 * An event is stored under its name, once: the first emit wins, and every waiter, before or after
 * the emit, sees that payload. A waiter registered before the emit is woken by it (the store keeps
 * who waits for which name); a waiter that comes after finds the event in the store at once.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { EventTimeout, InvalidEventError } from "../FlowError.js"
import { abortWith, FlowInstance, SuspendReason } from "./instance.js"
import * as journal from "./journal.js"
import * as wake from "./wake.js"

const WaitErrors = Schema.Union(EventTimeout, InvalidEventError)

/** `Flow.awaitEvent`: see there. */
export const awaitEvent = <A, I>(
  name: string,
  schema: Schema.Schema<A, I>,
  timeout: Duration.DurationInput | undefined
): Effect.Effect<A, EventTimeout | InvalidEventError, FlowInstance> => {
  const codec = journal.exitCodec(schema, WaitErrors)
  const decodePayload = Schema.decodeUnknownEither(schema)
  return Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(journal.begin(instance, `$event/${name}`, "event"), (begun) =>
      Effect.gen(function*() {
        const key = begun.key
        const recorded = begun.recorded
        if (recorded?.status === "completed") {
          return yield* Effect.flatten(journal.replay(instance, { ...begun, recorded }, codec))
        }
        const now = yield* Clock.currentTimeMillis
        const timeoutAt = yield* journal.waitDeadline(instance, begun, timeout, now)
        const startedAt = recorded?.startedAt ?? now
        const finish = (exit: Exit.Exit<A, EventTimeout | InvalidEventError>) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) =>
            Effect.flatMap(journal.encodeExit(instance, key, codec, exit), (encoded) =>
              Effect.flatMap(
                journal.complete(instance, begun, { inputHash: null, exit: encoded, attempts: 1, startedAt, completedAt: at }),
                // Another executor of this flow recorded it first: its exit is the wait's.
                (stored) => stored.exit === encoded ? Effect.succeed(exit) : journal.decodeExit(instance, key, codec, stored.exit)
              )))
        // The payload decoded with this waiter's schema; one that does not decode is this
        // waiter's typed failure (recorded like a payload), not the run's.
        const received = (payload: unknown): Exit.Exit<A, InvalidEventError> => {
          const decoded = decodePayload(payload)
          return Either.isRight(decoded)
            ? Exit.succeed(decoded.right)
            : Exit.fail(new InvalidEventError({ name, detail: journal.formatParseError(decoded.left) }))
        }
        const lookUp = journal.busy(instance, instance.log.getEvent(name)).pipe(
          Effect.catchTag("StoreError", (error) => abortWith(instance, error))
        )
        const wait: Effect.Effect<A, EventTimeout | InvalidEventError> = journal.park(instance, {
          key,
          reason: SuspendReason.Event({ key, name, timeoutAt: timeoutAt ?? undefined }),
          until: timeoutAt ?? undefined,
          signal: undefined,
          childId: undefined,
          event: name
        }, (resolution) => {
          if (resolution === "time") {
            return Effect.asSome(finish(Exit.fail(new EventTimeout({ name, timeoutAt: timeoutAt ?? now }))))
          }
          return Effect.flatMap(lookUp, Option.match({
            onNone: () => Effect.succeedNone,
            onSome: (event) => Effect.asSome(finish(received(event.payload)))
          }))
        }).pipe(Effect.flatMap(Option.match({ onNone: () => wait, onSome: (exit) => exit })))
        return yield* wait
      })))
}

/** `awaitEvent` with the overloads `Flow.awaitEvent` exports. `any`: one body serves both. */
export const awaitEventTyped: {
  <A, I>(name: string, schema: Schema.Schema<A, I, never>): Effect.Effect<A, InvalidEventError, FlowInstance>
  <A, I>(
    name: string,
    schema: Schema.Schema<A, I, never>,
    options: { readonly timeout: Duration.DurationInput }
  ): Effect.Effect<A, EventTimeout | InvalidEventError, FlowInstance>
} = ((name: string, schema: Schema.Schema<any, any, never>, options?: { readonly timeout?: Duration.DurationInput | undefined }) =>
  awaitEvent(name, schema, options?.timeout)) as any

const emitCodec = journal.exitCodec(Schema.Boolean, Schema.Never)

/**
 * `Flow.emitEvent`: emits once, recorded as an operation of the flow, so a replay does not emit
 * again; returns whether this emit stored the event (the first emit of a name wins).
 */
export const emitInFlow = (name: string, encoded: unknown): Effect.Effect<boolean, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(journal.begin(instance, `$emit/${name}`, "emit"), (begun) =>
      Effect.gen(function*() {
        const recorded = begun.recorded
        if (recorded?.status === "completed") {
          return yield* Effect.flatten(journal.replay(instance, { ...begun, recorded }, emitCodec))
        }
        const now = yield* Clock.currentTimeMillis
        // A crash between the emit and its record emits again on resume: the first emit wins,
        // so waiters see one payload either way.
        const stored = yield* journal.busy(instance, instance.log.emitEvent(name, encoded, now)).pipe(
          Effect.catchTag("StoreError", (error) => abortWith(instance, error))
        )
        yield* wake.notify(instance.log)
        const exit = Exit.succeed(stored)
        const encodedExit = yield* journal.encodeExit(instance, begun.key, emitCodec, exit)
        yield* journal.complete(instance, begun, {
          inputHash: null,
          exit: encodedExit,
          attempts: 1,
          startedAt: now,
          completedAt: now
        })
        return stored
      })))
