import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { ExecutionLog } from "../ExecutionLog.js"
import {
  CheckpointDecodeError,
  CheckpointEncodeError,
  LeaseLostError,
  NonDeterminismError,
  StoreError
} from "../FlowError.js"
import * as Retryable from "../Retryable.js"
import * as RetryPolicy from "../RetryPolicy.js"
import { hashValue } from "./hash.js"
import * as json from "./json.js"
import { abortWith, FlowInstance, nextKey, suspend, SuspendReason } from "./instance.js"

// ---------------------------------------------------------------------------------------------
// Codecs, compiled once per schema
// ---------------------------------------------------------------------------------------------

/** An exit codec: encode and decode compiled once, plus a description for error messages. */
export interface ExitCodec<A, E> {
  readonly description: string
  // Methods (not function properties), so codecs of specific types are assignable to `ExitCodec<any, any>`.
  encode(exit: Exit.Exit<A, E>): Either.Either<unknown, ParseResult.ParseError>
  decode(encoded: unknown): Either.Either<Exit.Exit<A, E>, ParseResult.ParseError>
}

export const exitCodec = <A, AI, E, EI>(
  success: Schema.Schema<A, AI>,
  failure: Schema.Schema<E, EI>
): ExitCodec<A, E> => {
  const schema = Schema.Exit({ success, failure, defect: Schema.Defect })
  return {
    description: `Exit<${String(success.ast)}, ${String(failure.ast)}>`,
    encode: Schema.encodeEither(schema) as ExitCodec<A, E>["encode"],
    decode: Schema.decodeUnknownEither(schema) as ExitCodec<A, E>["decode"]
  }
}

export const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.TreeFormatter.formatErrorSync(error)

// ---------------------------------------------------------------------------------------------
// The current step
// ---------------------------------------------------------------------------------------------

/**
 * What a step's `run` knows about itself.
 *
 * @since 0.1.0
 * @category Services
 */
export class StepContext extends Context.Tag("ergon/Step/Current")<StepContext, {
  readonly flowId: string
  readonly flowType: string
  /** The step's key in the flow's journal. */
  readonly key: string
  /** The attempt being made, from 1. */
  readonly attempt: number
  /** A key stable across attempts and replays: the flow id and the step key. */
  readonly idempotencyKey: string
}>() {}

// ---------------------------------------------------------------------------------------------
// Writing entries
// ---------------------------------------------------------------------------------------------

const entry = (
  instance: FlowInstance.Service,
  fields: Omit<ExecutionLog.StepRecord, "flowId">
): ExecutionLog.StepRecord => ({ flowId: instance.flowId, ...fields })

/**
 * Writes one journal entry (one statement). If the store refuses it, finds out why: a lost lease
 * stops the run; an entry completed meanwhile by another executor of the same flow is returned,
 * and the caller must use it instead of its own.
 */
export const writeEntry = (
  instance: FlowInstance.Service,
  record: ExecutionLog.StepRecord
): Effect.Effect<ExecutionLog.StepRecord> =>
  instance.log.putStep(record, instance.fence).pipe(
    Effect.flatMap((written) => {
      if (written) {
        instance.journal.set(record.key, record)
        return Effect.succeed(record)
      }
      return Effect.flatMap(instance.log.loadFlow(instance.flowId), (loaded) => {
        if (Option.isNone(loaded)) {
          return abortWith(
            instance,
            new StoreError({ operation: "putStep", detail: `flow '${instance.flowId}' is no longer in the store` })
          )
        }
        const { flow, steps } = loaded.value
        const fence = instance.fence
        if (fence !== undefined && (flow.leaseOwner !== fence.owner || flow.leaseEpoch !== fence.epoch)) {
          return abortWith(instance, new LeaseLostError({ flowId: instance.flowId, ...fence }))
        }
        const stored = steps.find((step) => step.key === record.key)
        if (stored === undefined || stored.status !== "completed") {
          return abortWith(
            instance,
            new StoreError({ operation: "putStep", detail: `the store refused the entry '${record.key}'` })
          )
        }
        instance.journal.set(stored.key, stored)
        return Effect.succeed(stored)
      })
    }),
    // A value or key the store refuses can never be written: the run stops with that typed error
    // and the flow is failed with it, once, instead of being taken up again at every lease.
    Effect.catchTag("StoreError", (error) => abortWith(instance, json.refusedValue(error) ?? error))
  )

/** Decodes a recorded exit, or stops the run with a `CheckpointDecodeError` naming flow, key and schema. */
const decodeRecorded = <A, E>(
  instance: FlowInstance.Service,
  key: string,
  codec: ExitCodec<A, E>,
  record: ExecutionLog.StepRecord
): Effect.Effect<Exit.Exit<A, E>> => {
  const decoded = codec.decode(record.exit)
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right)
    : abortWith(
      instance,
      new CheckpointDecodeError({
        flowType: instance.flowType,
        flowId: instance.flowId,
        key,
        schema: codec.description,
        detail: formatParseError(decoded.left)
      })
    )
}

const encodeExit = <A, E>(
  instance: FlowInstance.Service,
  key: string,
  codec: ExitCodec<A, E>,
  exit: Exit.Exit<A, E>
): Effect.Effect<unknown> => {
  const encoded = codec.encode(exit)
  return Either.isRight(encoded)
    ? Effect.succeed(encoded.right)
    : abortWith(
      instance,
      new CheckpointEncodeError({
        flowType: instance.flowType,
        flowId: instance.flowId,
        key,
        schema: codec.description,
        detail: formatParseError(encoded.left)
      })
    )
}

const checkHash = (
  instance: FlowInstance.Service,
  key: string,
  record: ExecutionLog.StepRecord,
  inputHash: string | null
): Effect.Effect<void> =>
  record.inputHash !== null && inputHash !== null && record.inputHash !== inputHash
    ? abortWith(
      instance,
      new NonDeterminismError({
        flowType: instance.flowType,
        flowId: instance.flowId,
        key,
        recordedHash: record.inputHash,
        currentHash: inputHash
      })
    )
    : Effect.void

/** Emits an engine event as a debug log: `ergon.step`, then the details. */
export const event = (
  instance: FlowInstance.Service,
  kind: "ran" | "replayed" | "retrying" | "failed" | "suspended",
  key: string,
  details?: Record<string, unknown>
): Effect.Effect<void> =>
  Effect.logDebug("ergon.step", { event: kind, flowId: instance.flowId, flowType: instance.flowType, key, ...details })

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

/** The runtime description of a step. */
export interface StepSpec {
  readonly name: string
  readonly hashInput: (args: ReadonlyArray<unknown>) => Either.Either<string, ParseResult.ParseError>
  readonly codec: ExitCodec<any, any>
  readonly retry: RetryPolicy.RetryPolicy
  readonly retryable: ((error: any) => boolean) | undefined
  readonly run: (...args: ReadonlyArray<any>) => Effect.Effect<any, any, any>
}

const isRetryableCause = (spec: StepSpec, cause: Cause.Cause<unknown>): boolean => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    return Retryable.isRetryable(failure.value) || (spec.retryable !== undefined && spec.retryable(failure.value))
  }
  return spec.retry.retryDefects && Cause.isDie(cause)
}

/**
 * Waits until `at`: in memory when the wait is short, otherwise by suspending the flow (the
 * suspension reason is built by `reason`).
 */
const waitUntil = (
  instance: FlowInstance.Service,
  at: number,
  reason: () => SuspendReason
): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const remaining = at - now
    if (remaining <= 0) return Effect.void
    if (remaining <= instance.suspendAfterMillis) return Effect.sleep(Duration.millis(remaining))
    return suspend(instance, reason())
  })

/** Calls a step inside a flow: replays its recorded result, or runs it (with retries) and records it. */
export const callStep = (spec: StepSpec, args: ReadonlyArray<unknown>): Effect.Effect<any, any, any> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(nextKey(instance, spec.name), (key) => {
      const hashed = spec.hashInput(args)
      if (Either.isLeft(hashed)) {
        return abortWith(
          instance,
          new CheckpointEncodeError({
            flowType: instance.flowType,
            flowId: instance.flowId,
            key,
            schema: "step input",
            detail: formatParseError(hashed.left)
          })
        )
      }
      const inputHash = hashed.right
      const recorded = instance.journal.get(key)
      if (recorded === undefined) return runAttempts(instance, spec, key, inputHash, args, 0, undefined)
      return Effect.zipRight(
        checkHash(instance, key, recorded, inputHash),
        recorded.status === "completed"
          ? replay(instance, spec.codec, key, recorded)
          : runAttempts(instance, spec, key, inputHash, args, recorded.attempts, recorded.nextAttemptAt ?? undefined)
      )
    }))

const replay = <A, E>(
  instance: FlowInstance.Service,
  codec: ExitCodec<A, E>,
  key: string,
  recorded: ExecutionLog.StepRecord
): Effect.Effect<A, E> =>
  Effect.flatMap(decodeRecorded(instance, key, codec, recorded), (exit) =>
    Effect.zipRight(event(instance, "replayed", key, { attempts: recorded.attempts }), exit))

const runAttempts = (
  instance: FlowInstance.Service,
  spec: StepSpec,
  key: string,
  inputHash: string,
  args: ReadonlyArray<unknown>,
  failedAttempts: number,
  nextAttemptAt: number | undefined
): Effect.Effect<any, any, any> =>
  Effect.gen(function*() {
    let failed = failedAttempts
    if (nextAttemptAt !== undefined) {
      yield* waitUntil(instance, nextAttemptAt, () => SuspendReason.Retry({ key, at: nextAttemptAt, attempt: failed + 1 }))
    }
    const idempotencyKey = `${instance.flowId}/${key}`
    while (true) {
      const attempt = failed + 1
      const startedAt = yield* Clock.currentTimeMillis
      const exit = yield* spec.run(...args).pipe(
        Effect.provideService(StepContext, {
          flowId: instance.flowId,
          flowType: instance.flowType,
          key,
          attempt,
          idempotencyKey
        }),
        Effect.exit
      )
      // Interrupted (the flow is stopping, or a sibling failed): nothing is recorded, the step runs again on resume.
      if (Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)) return yield* exit
      const now = yield* Clock.currentTimeMillis
      if (Exit.isFailure(exit) && isRetryableCause(spec, exit.cause) && RetryPolicy.allowsRetryAfter(spec.retry, attempt)) {
        const delay = yield* RetryPolicy.delayFor(spec.retry, attempt)
        const at = now + Duration.toMillis(delay)
        yield* writeEntry(
          instance,
          entry(instance, {
            key,
            inputHash,
            status: "retrying",
            exit: undefined,
            attempts: attempt,
            nextAttemptAt: at,
            startedAt,
            completedAt: null
          })
        )
        yield* event(instance, "retrying", key, { attempt, delayMillis: Duration.toMillis(delay), cause: Cause.pretty(exit.cause) })
        failed = attempt
        yield* waitUntil(instance, at, () => SuspendReason.Retry({ key, at, attempt: attempt + 1 }))
        continue
      }
      const encoded = yield* encodeExit(instance, key, spec.codec, exit)
      const stored = yield* writeEntry(
        instance,
        entry(instance, {
          key,
          inputHash,
          status: "completed",
          exit: encoded,
          attempts: attempt,
          nextAttemptAt: null,
          startedAt,
          completedAt: now
        })
      )
      if (stored.exit !== encoded) {
        // Another executor of this flow completed the step first: its result is the step's result.
        return yield* replay(instance, spec.codec, key, stored)
      }
      yield* event(instance, Exit.isSuccess(exit) ? "ran" : "failed", key, { attempts: attempt })
      return yield* exit
    }
  })

// ---------------------------------------------------------------------------------------------
// Recorded values and timers
// ---------------------------------------------------------------------------------------------

/** Computes a value once, records it, and replays it after: `Flow.now`, `Flow.random`, `Flow.uuid`. */
export const recordValue = <A, I>(
  name: string,
  codec: ExitCodec<A, never>,
  compute: Effect.Effect<A>
): Effect.Effect<A, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(nextKey(instance, name), (key) => {
      const recorded = instance.journal.get(key)
      if (recorded !== undefined && recorded.status === "completed") {
        return Effect.flatMap(decodeRecorded(instance, key, codec, recorded), (exit) => exit)
      }
      return Effect.gen(function*() {
        const value = yield* compute
        const now = yield* Clock.currentTimeMillis
        const encoded = yield* encodeExit(instance, key, codec, Exit.succeed(value))
        const stored = yield* writeEntry(
          instance,
          entry(instance, {
            key,
            inputHash: null,
            status: "completed",
            exit: encoded,
            attempts: 1,
            nextAttemptAt: null,
            startedAt: now,
            completedAt: now
          })
        )
        if (stored.exit === encoded) return value
        return yield* Effect.flatMap(decodeRecorded(instance, key, codec, stored), (exit) => exit)
      })
    }))

const TimerSchema = Schema.Struct({ until: Schema.Number })

/**
 * A durable timer: the fire time is computed once (from `Clock`) and recorded; the flow waits in
 * memory when the rest of the wait is short and suspends otherwise.
 */
export const sleepUntil = (name: string, fireAt: (now: number) => number): Effect.Effect<void, never, FlowInstance> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(nextKey(instance, name), (key) =>
      Effect.gen(function*() {
        const recorded = instance.journal.get(key)
        if (recorded?.status === "completed") return
        const now = yield* Clock.currentTimeMillis
        let until: number
        if (recorded?.status === "waiting") {
          const decoded = Schema.decodeUnknownEither(TimerSchema)(recorded.exit)
          if (Either.isLeft(decoded)) {
            return yield* abortWith(
              instance,
              new CheckpointDecodeError({
                flowType: instance.flowType,
                flowId: instance.flowId,
                key,
                schema: String(TimerSchema.ast),
                detail: formatParseError(decoded.left)
              })
            )
          }
          until = decoded.right.until
        } else {
          until = fireAt(now)
          if (until > now) {
            yield* writeEntry(
              instance,
              entry(instance, {
                key,
                inputHash: null,
                status: "waiting",
                exit: { until },
                attempts: 0,
                nextAttemptAt: until,
                startedAt: now,
                completedAt: null
              })
            )
          }
        }
        yield* waitUntil(instance, until, () => SuspendReason.Timer({ key, until }))
        const firedAt = yield* Clock.currentTimeMillis
        yield* writeEntry(
          instance,
          entry(instance, {
            key,
            inputHash: null,
            status: "completed",
            exit: { until },
            attempts: 1,
            nextAttemptAt: null,
            startedAt: now,
            completedAt: firedAt
          })
        )
      })))

/** Hashes step arguments: encoded with the input schema when there is one, canonical JSON otherwise. */
export const makeInputHasher = (
  input: Schema.Schema<any, any> | undefined
): (args: ReadonlyArray<unknown>) => Either.Either<string, ParseResult.ParseError> => {
  if (input === undefined) {
    return (args) => Either.right(hashValue(args.length === 1 ? args[0] : args))
  }
  const encode = Schema.encodeEither(input)
  return (args) => Either.map(encode(args[0]), hashValue)
}
