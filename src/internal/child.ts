/**
 * Child flows: `Flow.invoke`.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { ExecutionLog } from "../ExecutionLog.js"
import type * as Flow from "../Flow.js"
import { CheckpointEncodeError, FlowCancelledError, StoreError } from "../FlowError.js"
import { hashValue } from "./hash.js"
import { abortWith, FlowInstance, SuspendReason } from "./instance.js"
import * as journal from "./journal.js"
import * as json from "./json.js"
import { newFlow } from "./records.js"
import * as wake from "./wake.js"

/** The id of the child started at `key` by flow `parentId`: deterministic, so a replay finds it. */
export const childId = (parentId: string, key: string): string => `${parentId}/${key}`

/** Whether a child has ended, as its parent sees it (a failed child may still be retried). */
export const hasEnded = (row: ExecutionLog.FlowRecord): boolean => row.status === "completed" || row.status === "cancelled"

/** The exit a parent records for a child that ended: its result, or a defect when it was cancelled. */
const endOf = (row: ExecutionLog.FlowRecord): unknown =>
  row.status === "completed"
    ? row.result
    : {
      _tag: "Failure",
      cause: {
        _tag: "Die",
        defect: { name: "FlowCancelledError", message: new FlowCancelledError({ flowId: row.id }).message }
      }
    }

/** `Flow.invoke`: see there. */
// Typed by `Flow.invoke`; `any` here because the child's schemas are only known as `Schema.All`.
export const invoke = (
  child: Flow.Any,
  input: unknown,
  options: { readonly key?: string | undefined } | undefined
): Effect.Effect<any, any, any> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(
      journal.begin(
        instance,
        `$invoke/${child.name}`,
        "child",
        options?.key !== undefined ? `$invoke/${options.key}` : undefined
      ),
      (begun) =>
        Effect.gen(function*() {
          const key = begun.key
          const recorded = begun.recorded
          if (recorded?.status === "completed") {
            return yield* Effect.flatten(journal.replay(instance, { ...begun, recorded }, child.exitCodec))
          }
          const id = childId(instance.flowId, key)
          const log = instance.log
          // A value or key the store refuses can never be written: a typed error, once.
          const storeFailure = (error: StoreError) => abortWith(instance, json.refusedValue(error) ?? error)
          const read = journal.busy(instance, Effect.catchTag(log.getFlow(id), "StoreError", storeFailure))
          let row = yield* read
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
                  detail: journal.formatParseError(encoded.left)
                })
              )
            }
            const now = yield* Clock.currentTimeMillis
            yield* journal.busy(
              instance,
              Effect.catchTag(
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
            )
            if (instance.runChild !== undefined) {
              // In-process execution: run the child now (it may itself suspend).
              yield* journal.busyOnProcessClock(
                instance,
                instance.runChild(child, input, id, key).pipe(
                  Effect.catchAll((error) =>
                    abortWith(
                      instance,
                      error instanceof StoreError ? error : new StoreError({ operation: "invoke", detail: String(error), cause: error })
                    )
                  )
                )
              )
            } else {
              yield* wake.notify(log)
            }
            row = yield* read
          }
          const finish = (ended: ExecutionLog.FlowRecord) =>
            Effect.gen(function*() {
              const now = yield* Clock.currentTimeMillis
              const stored = yield* journal.complete(instance, begun, {
                inputHash: null,
                exit: endOf(ended),
                attempts: 1,
                startedAt: recorded?.startedAt ?? now,
                completedAt: now
              })
              return yield* Effect.flatten(journal.decodeExit(instance, key, child.exitCodec, stored.exit))
            })
          if (Option.isSome(row) && hasEnded(row.value)) return yield* finish(row.value)
          // Parked until the supervisor sees the child ended in the store.
          const wait: Effect.Effect<any, any> = journal.park(instance, {
            key,
            reason: SuspendReason.Child({ key, childId: id }),
            until: undefined,
            signal: undefined,
            childId: id
          }, () =>
            Effect.flatMap(read, (current) =>
              Option.isSome(current) && hasEnded(current.value)
                ? Effect.asSome(Effect.exit(finish(current.value)))
                : Effect.succeedNone)).pipe(
              Effect.flatMap(Option.match({ onNone: () => wait, onSome: (exit) => exit }))
            )
          return yield* wait
        })
    ))
