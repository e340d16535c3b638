/**
 * Checks made at the entries (`schedule`, `Executor.execute`, `Client.signal`, …) before anything
 * is written: ids and names, `runAt`, `priority`, and payloads, each refused with a typed error
 * saying what is wrong. Values themselves are judged by `./json.js`, the one module that knows what
 * can be stored.
 */
import * as Effect from "effect/Effect"
import type { ExecutionLog } from "../ExecutionLog.js"
import { InvalidIdError, InvalidOptionError, StoreError, UnstorableValueError } from "../FlowError.js"
import * as json from "./json.js"

/** An id, name or key, or the `InvalidIdError` saying why no store can keep it. */
export const id = (kind: InvalidIdError["kind"], value: unknown): Effect.Effect<string, InvalidIdError> => {
  const invalid = json.checkId(kind, value)
  return invalid === undefined ? Effect.succeed(value as string) : Effect.fail(invalid)
}

/** The smallest and largest priority: the store keeps it in a 32-bit integer column. */
export const MIN_PRIORITY = -(2 ** 31)
export const MAX_PRIORITY = 2 ** 31 - 1

/** A priority: an integer between -2^31 and 2^31 - 1 (0 when absent). */
export const priority = (value: unknown): Effect.Effect<number, InvalidOptionError> => {
  if (value === undefined) return Effect.succeed(0)
  if (typeof value !== "number" || !Number.isInteger(value) || value < MIN_PRIORITY || value > MAX_PRIORITY) {
    return Effect.fail(
      new InvalidOptionError({
        option: "priority",
        value: json.preview(value),
        detail: `it must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`
      })
    )
  }
  return Effect.succeed(value)
}

/** The latest time a `Date` can hold, in epoch milliseconds. */
const MAX_TIME = 8.64e15

/** A `runAt`: a valid `Date` or finite epoch milliseconds (rounded down to a millisecond). */
export const runAt = (value: unknown, now: number): Effect.Effect<number, InvalidOptionError> => {
  if (value === undefined) return Effect.succeed(now)
  const millis = value instanceof Date ? value.getTime() : typeof value === "number" ? value : Number.NaN
  if (!Number.isFinite(millis) || Math.abs(millis) > MAX_TIME) {
    return Effect.fail(
      new InvalidOptionError({
        option: "runAt",
        value: value instanceof Date ? "Invalid Date" : json.preview(value),
        detail: "it must be a valid Date or finite epoch milliseconds"
      })
    )
  }
  return Effect.succeed(Math.floor(millis))
}

/**
 * Checks an encoded payload before it is hashed or written: anything JSON would change, and
 * nesting over the store's depth limit (the size is checked when it is serialised, by the store).
 */
export const payload = (
  log: ExecutionLog.Service,
  what: string,
  value: unknown
): Effect.Effect<void, UnstorableValueError> => {
  // `undefined` is the encoded form of `Schema.Void`: stored as an absent payload.
  if (value === undefined) return Effect.void
  const problem = json.findProblem(value, log.limits.maxDepth)
  return problem === undefined ? Effect.void : Effect.fail(new UnstorableValueError({ what, ...problem }))
}

/** A `StoreError` that refused a value or an id becomes that typed error; others stay. */
export const unwrapRefusal = <A, E, R>(
  effect: Effect.Effect<A, E | StoreError, R>
): Effect.Effect<A, E | StoreError | UnstorableValueError | InvalidIdError, R> =>
  Effect.catchIf(
    effect,
    (error): error is StoreError => error instanceof StoreError && refused(error) !== undefined,
    (error) => Effect.fail(refused(error)!)
  )

const refused = (error: StoreError): UnstorableValueError | InvalidIdError | undefined => {
  const cause = json.refusedValue(error)
  return cause instanceof UnstorableValueError || cause instanceof InvalidIdError ? cause : undefined
}
