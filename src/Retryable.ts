/**
 * Marks error classes whose failures a step may retry.
 *
 * A step retries a failure only when it is retryable: an instance of a class marked here, an error
 * the step's own `retryable` predicate accepts, or a defect when the policy's `retryDefects` is on.
 * Everything else is final at once and recorded as the step's result.
 *
 * ```ts
 * class GatewayTimeout extends Retryable.TaggedError<GatewayTimeout>()("GatewayTimeout", {
 *   gateway: Schema.String
 * }) {}
 * // or, for a class you already have:
 * Retryable.mark(GatewayTimeout)
 * ```
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = Symbol.for("ergon/Retryable")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * An error that steps may retry.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Retryable {
  readonly [TypeId]: true
}

/**
 * Whether a value is an instance of a class marked retryable.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isRetryable = (u: unknown): u is Retryable =>
  Predicate.hasProperty(u, TypeId) && (u as Retryable)[TypeId] === true

/**
 * Marks an error class as retryable (on its prototype, so subclasses are too) and returns it.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const mark = <Class extends abstract new(...args: any) => any>(errorClass: Class): Class => {
  Object.defineProperty(errorClass.prototype, TypeId, { value: true, enumerable: false, configurable: true })
  return errorClass
}

/**
 * `Schema.TaggedError`, with the class marked retryable.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const TaggedError: typeof Schema.TaggedError = ((identifier?: string) =>
(tag: string, fields: any, annotations?: any) =>
  mark(Schema.TaggedError<any>(identifier)(tag, fields, annotations))) as typeof Schema.TaggedError
