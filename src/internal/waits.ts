import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Flow from "../Flow.js"
import { CheckpointDecodeError, CheckpointEncodeError, FlowCancelledError, SignalTimeout, StoreError } from "../FlowError.js"
import { hashValue } from "./hash.js"
import * as json from "./json.js"
import { abortWith, FlowInstance, nextKey, suspend, SuspendReason } from "./instance.js"
import { exitCodec, formatParseError, writeEntry } from "./journal.js"
import { newFlow } from "./records.js"
import * as wake from "./wake.js"

const SignalWait = Schema.Struct({ timeoutAt: Schema.NullOr(Schema.Number) })

/** `Flow.awaitSignal`: see there. */
export const awaitSignal = <A, I>(
  name: string,
  schema: Schema.Schema<A, I>,
  timeout: Duration.DurationInput | undefined
): Effect.Effect<A, SignalTimeout, FlowInstance> => {
  const codec = exitCodec(schema, SignalTimeout)
  const decodePayload = Schema.decodeUnknownEither(schema)
  return Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(nextKey(instance, `$signal/${name}`), (key) =>
      Effect.gen(function*() {
        const recorded = instance.journal.get(key)
        if (recorded?.status === "completed") {
          const decoded = codec.decode(recorded.exit)
          if (Either.isLeft(decoded)) {
            return yield* abortWith(instance, decodeError(instance, key, String(schema.ast), formatParseError(decoded.left)))
          }
          return yield* decoded.right
        }
        const now = yield* Clock.currentTimeMillis
        let timeoutAt: number | null = null
        if (recorded?.status === "waiting") {
          const wait = Schema.decodeUnknownEither(SignalWait)(recorded.exit)
          if (Either.isRight(wait)) timeoutAt = wait.right.timeoutAt
        } else if (timeout !== undefined) {
          timeoutAt = now + Duration.toMillis(timeout)
          // the deadline is fixed once, durably: a resume does not restart the timeout
          yield* writeEntry(instance, {
            flowId: instance.flowId,
            key,
            inputHash: null,
            status: "waiting",
            exit: { timeoutAt },
            attempts: 0,
            nextAttemptAt: timeoutAt,
            startedAt: now,
            completedAt: null
          })
        }
        const taken = yield* instance.log.takeSignal(instance.flowId, name, key, instance.fence).pipe(
          Effect.catchTag("StoreError", (error) => abortWith(instance, json.refusedValue(error) ?? error))
        )
        if (Option.isSome(taken)) {
          const payload = decodePayload(taken.value.payload)
          if (Either.isLeft(payload)) {
            // Recorded (the signal stays in the store, consumed by this wait) and reported: never dropped silently.
            return yield* abortWith(
              instance,
              decodeError(instance, `${key} (signal #${taken.value.seq})`, String(schema.ast), formatParseError(payload.left))
            )
          }
          const encoded = codec.encode(Exit.succeed(payload.right))
          yield* writeEntry(instance, {
            flowId: instance.flowId,
            key,
            inputHash: null,
            status: "completed",
            exit: Either.getOrUndefined(encoded),
            attempts: 1,
            nextAttemptAt: null,
            startedAt: recorded?.startedAt ?? now,
            completedAt: now
          })
          return payload.right
        }
        if (timeoutAt !== null && now >= timeoutAt) {
          const error = new SignalTimeout({ name, timeoutAt })
          yield* writeEntry(instance, {
            flowId: instance.flowId,
            key,
            inputHash: null,
            status: "completed",
            exit: Either.getOrUndefined(codec.encode(Exit.fail(error))),
            attempts: 1,
            nextAttemptAt: null,
            startedAt: recorded?.startedAt ?? now,
            completedAt: now
          })
          return yield* error
        }
        return yield* suspend(instance, SuspendReason.Signal({ key, name, timeoutAt: timeoutAt ?? undefined }))
      })))
}

const decodeError = (instance: FlowInstance.Service, key: string, schema: string, detail: string) =>
  new CheckpointDecodeError({ flowType: instance.flowType, flowId: instance.flowId, key, schema, detail })

/** The id of the child started at `key` by flow `parentId`: deterministic, so a replay finds it. */
export const childId = (parentId: string, key: string): string => `${parentId}/${key}`

/** `Flow.invoke`: see there. */
// Typed by `Flow.invoke`; `any` here because the child's schemas are only known as `Schema.All`.
export const invoke = (
  child: Flow.Any,
  input: unknown,
  options: { readonly key?: string | undefined } | undefined
): Effect.Effect<any, any, any> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(
      options?.key !== undefined
        ? Effect.succeed(`$invoke/${options.key}`)
        : nextKey(instance, `$invoke/${child.name}`),
      (key) =>
        Effect.gen(function*() {
          const recorded = instance.journal.get(key)
          if (recorded?.status === "completed") return yield* decodeChildExit(instance, child, key, recorded.exit)
          const id = childId(instance.flowId, key)
          const log = instance.log
          // A child id or input the store refuses can never be written: the parent fails with it, once.
          const storeFailure = (error: StoreError) => abortWith(instance, json.refusedValue(error) ?? error)
          let row = yield* Effect.catchTag(log.getFlow(id), "StoreError", storeFailure)
          if (Option.isNone(row)) {
            const encoded = Schema.encodeEither(child.input as Schema.Schema<any, any>)(input)
            if (Either.isLeft(encoded)) {
              return yield* abortWith(
                instance,
                new CheckpointEncodeError({
                  flowType: instance.flowType,
                  flowId: instance.flowId,
                  key,
                  schema: `the input of child flow '${child.name}'`,
                  detail: formatParseError(encoded.left)
                })
              )
            }
            const now = yield* Clock.currentTimeMillis
            yield* Effect.catchTag(
              log.insertFlow(newFlow({
                id,
                type: child.name,
                version: instance.version,
                input: encoded.right,
                inputHash: hashValue(encoded.right),
                status: "pending",
                now,
                runAfter: now,
                parent: { id: instance.flowId, key },
                attempts: 0
              })),
              "StoreError",
              storeFailure
            )
            if (instance.runChild !== undefined) {
              // In-process execution: run the child now (it may itself suspend).
              yield* instance.runChild(child, input, id, key).pipe(
                Effect.catchAll((error) =>
                  abortWith(
                    instance,
                    error instanceof StoreError ? error : new StoreError({ operation: "invoke", detail: String(error), cause: error })
                  )
                )
              )
            } else {
              yield* wake.notify(log)
            }
            row = yield* Effect.catchTag(log.getFlow(id), "StoreError", storeFailure)
          }
          if (Option.isSome(row) && (row.value.status === "completed" || row.value.status === "cancelled")) {
            const exit = row.value.status === "completed"
              ? row.value.result
              : { _tag: "Failure", cause: { _tag: "Die", defect: { name: "FlowCancelledError", message: new FlowCancelledError({ flowId: id }).message } } }
            const now = yield* Clock.currentTimeMillis
            yield* writeEntry(instance, {
              flowId: instance.flowId,
              key,
              inputHash: null,
              status: "completed",
              exit,
              attempts: 1,
              nextAttemptAt: null,
              startedAt: now,
              completedAt: now
            })
            return yield* decodeChildExit(instance, child, key, exit)
          }
          return yield* suspend(instance, SuspendReason.Child({ key, childId: id }))
        })
    ))

const decodeChildExit = (
  instance: FlowInstance.Service,
  child: Flow.Any,
  key: string,
  encoded: unknown
): Effect.Effect<unknown, unknown> => {
  const decoded = child.exitCodec.decode(encoded)
  if (Either.isLeft(decoded)) {
    return abortWith(instance, decodeError(instance, key, child.exitCodec.description, formatParseError(decoded.left)))
  }
  return decoded.right
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
