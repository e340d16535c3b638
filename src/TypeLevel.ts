/**
 * Type-level helpers shared by Ergon's typestate builders.
 *
 * Effect already has `Types` for the general helpers; this module holds the few that Ergon's
 * compile errors are built from: a branded `TypeError` whose message tsc prints verbatim, and
 * `Simplify`, applied only where a type is shown to the user (output extractors like
 * `Dag.Outputs`), never at every builder step.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeErrorTypeId: unique symbol = Symbol.for("ergon/TypeLevel/TypeError")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeErrorTypeId = typeof TypeErrorTypeId

/**
 * A type that no value has, carrying a message: put it where a parameter's type would be, and tsc
 * prints the message in its diagnostic.
 *
 * Use it only when TypeScript's own error would not name the problem (a name used twice, for
 * example). Messages start with `ergon:`, name the offending identifier and quote it with `'`
 * (tsc escapes `"` inside the string literal it prints). A misuse then reads:
 *
 * ```text
 * Argument of type '"user"' is not assignable to parameter of type 'TypeError<"ergon: duplicate step 'user'">'.
 * ```
 *
 * The module is Ergon's own (not an entry of the package), so the example imports it as Ergon's
 * sources do:
 *
 * @example
 * ```ts
 * import type { TypeError } from "./TypeLevel.js"
 *
 * declare function name<const N extends string>(
 *   name: N extends "" ? TypeError<"ergon: a name must not be empty"> : N
 * ): N
 * ```
 *
 * @since 0.1.0
 * @category Type-level
 */
export interface TypeError<Message extends string> {
  readonly [TypeErrorTypeId]: Message
}

/**
 * Flattens an intersection of object types into one object type, keeping `readonly` and `?`:
 * `{ readonly a: 1 } & { readonly b: 2 }` becomes `{ readonly a: 1; readonly b: 2 }`.
 *
 * Apply it in extractors whose result users read, not inside builders: every application is
 * one more instantiation per builder call.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Simplify<A> = { [K in keyof A]: A[K] } & {}
