/**
 * How a step is retried when it fails with a retryable error.
 *
 * A policy says how many attempts a step gets in all (`maxAttempts`, the first one included),
 * how long to wait before each retry, and whether defects (unexpected exceptions) are retried.
 * Only failures that are retryable are retried at all: an error class marked with `Retryable`,
 * an error accepted by the step's own `retryable` predicate, or a defect when `retryDefects` is on.
 * Waits are measured with Effect's `Clock`, so `TestClock` drives them in tests.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = Symbol.for("ergon/RetryPolicy")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * A retry policy.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RetryPolicy {
  readonly [TypeId]: TypeId
  readonly _tag: "None" | "Fixed" | "Exponential"
  /** Attempts in all, the first one included. At least 1. */
  readonly maxAttempts: number
  /** The wait before the retry that follows failed attempt `attempt` (1-based), before jitter. */
  readonly baseDelay: (attempt: number) => Duration.Duration
  /** The fraction (0 to 1) of each wait that is randomised away. 0 means no jitter. */
  readonly jitter: number
  /** Whether defects (exceptions, `Effect.die`) are retried. */
  readonly retryDefects: boolean
}

const make = (policy: Omit<RetryPolicy, typeof TypeId>): RetryPolicy => ({ [TypeId]: TypeId, ...policy })

const attemptsOf = (maxAttempts: number | undefined, fallback: number): number =>
  maxAttempts === undefined || !Number.isFinite(maxAttempts) ? fallback : Math.max(1, Math.floor(maxAttempts))

const jitterOf = (jitter: boolean | number | undefined): number =>
  jitter === undefined || jitter === false ? 0 : jitter === true ? 0.5 : Math.min(1, Math.max(0, jitter))

/**
 * Never retry: the first failure is the step's result.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const none: RetryPolicy = make({
  _tag: "None",
  maxAttempts: 1,
  baseDelay: () => Duration.zero,
  jitter: 0,
  retryDefects: false
})

/**
 * Retry after the same wait each time.
 *
 * `maxAttempts` defaults to 3. `jitter` (`true` = 0.5, or a fraction) shortens each wait by a random part
 * of up to that fraction; it defaults to none.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fixed = (options: {
  readonly delay: Duration.DurationInput
  readonly maxAttempts?: number | undefined
  readonly jitter?: boolean | number | undefined
  readonly retryDefects?: boolean | undefined
}): RetryPolicy => {
  const delay = Duration.decode(options.delay)
  return make({
    _tag: "Fixed",
    maxAttempts: attemptsOf(options.maxAttempts, 3),
    baseDelay: () => delay,
    jitter: jitterOf(options.jitter),
    retryDefects: options.retryDefects ?? false
  })
}

/**
 * Retry with waits that grow by `factor` (default 2) after each failure: `initialDelay`,
 * `initialDelay * factor`, … capped at `maxDelay` (default: no cap).
 *
 * `maxAttempts` defaults to 5. `jitter` (`true` = 0.5, or a fraction) shortens each wait by a random part
 * of up to that fraction, which spreads out retries of many flows failing together; it defaults to none,
 * so waits are exact unless asked.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const exponential = (options: {
  readonly initialDelay: Duration.DurationInput
  readonly maxDelay?: Duration.DurationInput | undefined
  readonly factor?: number | undefined
  readonly maxAttempts?: number | undefined
  readonly jitter?: boolean | number | undefined
  readonly retryDefects?: boolean | undefined
}): RetryPolicy => {
  const initial = Duration.toMillis(options.initialDelay)
  const cap = options.maxDelay === undefined ? Infinity : Duration.toMillis(options.maxDelay)
  const factor = options.factor ?? 2
  return make({
    _tag: "Exponential",
    maxAttempts: attemptsOf(options.maxAttempts, 5),
    baseDelay: (attempt) => Duration.millis(Math.min(cap, initial * Math.pow(factor, Math.max(0, attempt - 1)))),
    jitter: jitterOf(options.jitter),
    retryDefects: options.retryDefects ?? false
  })
}

/**
 * The wait before the retry that follows failed attempt `attempt` (1-based), jitter applied with
 * Effect's `Random` (so `TestRandom` makes it repeatable).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const delayFor = (policy: RetryPolicy, attempt: number): Effect.Effect<Duration.Duration> => {
  const base = policy.baseDelay(attempt)
  if (policy.jitter === 0) return Effect.succeed(base)
  return Effect.map(Random.next, (r) => Duration.millis(Math.round(Duration.toMillis(base) * (1 - policy.jitter * r))))
}

/**
 * Whether the policy allows another attempt after `attempt` failed ones.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const allowsRetryAfter = (policy: RetryPolicy, attempt: number): boolean => attempt < policy.maxAttempts

/**
 * @since 0.1.0
 * @category Guards
 */
export const isRetryPolicy = (u: unknown): u is RetryPolicy => typeof u === "object" && u !== null && TypeId in u
