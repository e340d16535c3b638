import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import { pipeArguments } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import { CheckpointEncodeError, StepTimeout } from "../FlowError.js"
import * as Retryable from "../Retryable.js"
import * as RetryPolicy from "../RetryPolicy.js"
import type { Options } from "../Step.js"
import { TypeId } from "../Step.js"
import { canonicalJson, hashCanonical } from "./hash.js"
import { abortWith, FlowInstance, SuspendReason } from "./instance.js"
import * as journal from "./journal.js"
import * as telemetry from "./telemetry.js"

/** The runtime description of a step. */
export interface StepSpec {
  readonly name: string
  readonly hashInput: (args: ReadonlyArray<unknown>) => Either.Either<HashedArgs, ParseResult.ParseError>
  readonly codec: journal.ExitCodec<any, any>
  readonly retry: RetryPolicy.RetryPolicy
  readonly retryable: ((error: any) => boolean) | undefined
  /** The longest one attempt may run, in milliseconds. */
  readonly timeoutMillis: number | undefined
  readonly run: (...args: ReadonlyArray<any>) => Effect.Effect<any, any, any>
}

/** A step's arguments as recorded: their hash, and their encoded form. */
export interface HashedArgs extends journal.HashedInput {
  readonly encoded: unknown
}

/** Hashes step arguments: encoded with the input schema when there is one, canonical JSON otherwise. */
export const makeInputHasher = (
  input: Schema.Schema<any, any> | undefined
): (args: ReadonlyArray<unknown>) => Either.Either<HashedArgs, ParseResult.ParseError> => {
  const hashed = (encoded: unknown): HashedArgs => {
    const canonical = canonicalJson(encoded)
    return { hash: hashCanonical(canonical), kept: journal.keptInput(encoded, canonical), encoded }
  }
  if (input === undefined) return (args) => Either.right(hashed(args.length === 1 ? args[0] : args))
  const encode = Schema.encodeEither(input)
  return (args) => Either.map(encode(args[0]), hashed)
}

const isRetryableCause = (spec: StepSpec, cause: Cause.Cause<unknown>): boolean => {
  // A timed-out attempt is retried whenever the policy allows another attempt.
  if (Cause.isDie(cause) && Option.exists(Cause.dieOption(cause), (defect) => defect instanceof StepTimeout)) return true
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    return Retryable.isRetryable(failure.value) || (spec.retryable !== undefined && spec.retryable(failure.value))
  }
  return spec.retry.retryDefects && Cause.isDie(cause)
}

/** Waits for a retry's backoff: a durable wait, which the supervisor spends in memory when it is short. */
const backoff = (instance: FlowInstance.Service, key: string, at: number, attempt: number): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    at <= now ? Effect.void : journal.park(instance, {
      key,
      reason: SuspendReason.Retry({ key, at, attempt }),
      until: at,
      signal: undefined,
      childId: undefined
    }, () => Effect.void))

/** Calls a step inside a flow: replays its recorded result, or runs it (with retries) and records it. */
export const callStep = (spec: StepSpec, args: ReadonlyArray<unknown>): Effect.Effect<any, any, any> =>
  Effect.flatMap(FlowInstance, (instance) =>
    Effect.flatMap(journal.begin(instance, spec.name, "step"), (begun) => {
      const hashed = spec.hashInput(args)
      if (Either.isLeft(hashed)) {
        return abortWith(
          instance,
          new CheckpointEncodeError({
            flowType: instance.flowType,
            flowId: instance.flowId,
            key: begun.key,
            schema: "step input",
            detail: journal.formatParseError(hashed.left)
          })
        )
      }
      const input = hashed.right
      const recorded = begun.recorded
      if (recorded === undefined) return runAttempts(instance, spec, begun, input, args, 0, undefined)
      return Effect.zipRight(
        journal.checkInput(instance, begun, input, input.encoded),
        recorded.status === "completed"
          ? telemetry.stepReplayed(
            instance,
            spec.name,
            begun.key,
            recorded.attempts,
            Effect.flatMap(journal.replay(instance, { ...begun, recorded }, spec.codec), (exit) =>
              Effect.zipRight(journal.event(instance, "replayed", begun.key, { attempts: recorded.attempts }), exit))
          )
          : runAttempts(instance, spec, begun, input, args, recorded.attempts, recorded.nextAttemptAt ?? undefined)
      )
    }))

const runAttempts = (
  instance: FlowInstance.Service,
  spec: StepSpec,
  begun: journal.Begun,
  input: HashedArgs,
  args: ReadonlyArray<unknown>,
  failedAttempts: number,
  nextAttemptAt: number | undefined
): Effect.Effect<any, any, any> =>
  Effect.gen(function*() {
    const key = begun.key
    let failed = failedAttempts
    if (nextAttemptAt !== undefined) yield* backoff(instance, key, nextAttemptAt, failed + 1)
    const idempotencyKey = `${instance.flowId}/${key}`
    while (true) {
      const attempt = failed + 1
      const startedAt = yield* Clock.currentTimeMillis
      const timeoutMillis = spec.timeoutMillis
      const attemptRun: Effect.Effect<any, any, any> = timeoutMillis === undefined
        ? spec.run(...args)
        : Effect.timeoutFailCause(spec.run(...args), {
          duration: Duration.millis(timeoutMillis),
          onTimeout: () => Cause.die(new StepTimeout({ step: key, attempt, timeoutMillis }))
        })
      const exit = yield* Effect.exit(journal.busy(
        instance,
        telemetry.stepAttempt(instance, spec.name, key, attempt, attemptRun),
        { flowId: instance.flowId, flowType: instance.flowType, key, attempt, idempotencyKey }
      ))
      const now = yield* Clock.currentTimeMillis
      yield* telemetry.stepRan(spec.name, attempt, exit, now - startedAt)
      // Interrupted (the flow is stopping, or a race was lost): nothing is recorded, the step runs again on resume.
      if (Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)) return yield* exit
      if (Exit.isFailure(exit) && isRetryableCause(spec, exit.cause) && RetryPolicy.allowsRetryAfter(spec.retry, attempt)) {
        const delay = yield* RetryPolicy.delayFor(spec.retry, attempt)
        const at = now + Duration.toMillis(delay)
        yield* journal.declare(instance, begun, {
          inputHash: input.hash,
          input: input.kept,
          status: "retrying",
          exit: undefined,
          attempts: attempt,
          nextAttemptAt: at,
          startedAt,
          completedAt: null
        })
        yield* journal.event(instance, "retrying", key, {
          attempt,
          delayMillis: Duration.toMillis(delay),
          cause: Cause.pretty(exit.cause)
        })
        failed = attempt
        yield* backoff(instance, key, at, attempt + 1)
        continue
      }
      const encoded = yield* journal.encodeExit(instance, key, spec.codec, exit)
      const stored = yield* journal.complete(instance, begun, {
        inputHash: input.hash,
        input: input.kept,
        exit: encoded,
        attempts: attempt,
        startedAt,
        completedAt: now
      })
      if (stored.exit !== encoded) {
        // Another executor of this flow completed the step first: its result is the step's result.
        return yield* Effect.flatMap(journal.decodeExit(instance, key, spec.codec, stored.exit), (recorded) => recorded)
      }
      yield* journal.event(instance, Exit.isSuccess(exit) ? "ran" : "failed", key, { attempts: attempt })
      return yield* exit
    }
  })

/** `Step.make`. `any`: the step is a function with properties, typed by `Step.make`'s overloads. */
export const make: any = (name: string, options: Options<any, any, any, any> & { readonly input?: Schema.Schema<any, any> }) => {
  const success: Schema.Schema<any, any> = options.success ?? Schema.Void
  const error = (options.error ?? Schema.Never) as Schema.Schema<any, any>
  const retry = options.retry ?? RetryPolicy.none
  const spec: StepSpec = {
    name,
    hashInput: makeInputHasher(options.input),
    codec: journal.exitCodec(success, error),
    retry,
    retryable: options.retryable,
    timeoutMillis: options.timeout === undefined ? undefined : Duration.toMillis(options.timeout),
    run: options.run
  }
  const step = (...args: ReadonlyArray<unknown>) => callStep(spec, args)
  Object.defineProperty(step, "name", { value: name })
  return Object.assign(step, {
    [TypeId]: TypeId,
    stepName: name,
    success,
    error,
    retry,
    pipe() {
      return pipeArguments(this, arguments)
    }
  }) as any
}
