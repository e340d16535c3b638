/**
 * Type-level helpers shared by Ergon's typestate builders.
 *
 * Effect already has `Types` for the general helpers; this module holds the few that Ergon's
 * compile errors are built from: a branded `TypeError` whose message tsc prints verbatim,
 * `Simplify`, applied only where a type is shown to the user (output extractors like
 * `Dag.Outputs`), never at every builder step, and the types a step's or flow's `run` must
 * return given its schemas (`Returns`, `Fails`).
 *
 * @since 0.1.0
 */
import type * as Schema from "effect/Schema"
import type { FlowInstance } from "./internal/instance.js"

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

/**
 * A schema that needs no services to encode or decode: what a step or flow declares for its input,
 * result and errors (they are encoded when written and decoded on replay, outside any service
 * scope). `Schema.Schema.AnyNoContext`, widened to the schemas of `never` (`Schema.Never`), which
 * it does not admit.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type SchemaNoContext =
  | Schema.Schema<any, any, never>
  | Schema.Schema<never, any, never>
  | Schema.Schema<any, never, never>
  | Schema.Schema<never, never, never>

/**
 * The success type a `run` may return, given the declared `success` schema: the schema's `Type`.
 *
 * When that type admits `void` (no `success` given, so `Schema.Void`), a `TypeError` joins it: an
 * `Effect<Date>` is assignable to an `Effect<void>` (a function returning `Date` is assignable to
 * one returning `void`), and the `Date` would then be stored through `Schema.Void` and come back
 * as something else on replay. With the `TypeError` in the union that comparison is an ordinary
 * one, and it fails with the message:
 *
 * ```text
 * Type 'Date' is not assignable to type 'void | TypeError<"ergon: no success schema (or Schema.Void), so the result is not stored and must be void; declare success: <its schema> to return a value">'.
 * ```
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Returns<Success extends SchemaNoContext> = void extends Success["Type"] ? Success["Type"] | TypeError<
    "ergon: no success schema (or Schema.Void), so the result is not stored and must be void; declare success: <its schema> to return a value"
  >
  : Success["Type"]

/**
 * The typed errors a `run` may fail with, given the declared `error` schema: the schema's `Type`,
 * or, when it is `never` (no `error` given, so `Schema.Never`), a `TypeError` no error is
 * assignable to, whose message says to declare the schema. A failure that the schema cannot encode
 * would otherwise compile, and end the flow with a `CheckpointEncodeError` instead of reaching the
 * caller's `catchTag`:
 *
 * ```text
 * Property '[TypeErrorTypeId]' is missing in type 'CardDeclined' but required in type 'TypeError<"ergon: no error schema (or Schema.Never), so run must not fail with a typed error; declare error: <its schema>, or handle the error in run">'.
 * ```
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Fails<Error extends SchemaNoContext> = [Error["Type"]] extends [never] ? TypeError<
    "ergon: no error schema (or Schema.Never), so run must not fail with a typed error; declare error: <its schema>, or handle the error in run"
  >
  : Error["Type"]

/**
 * What an in-flow operation requires: a running flow. A step call, `Dag.run` and every `Flow.*`
 * operation require one, named by `Message`, the sentence tsc prints when the Effect is run
 * anywhere but in a flow:
 *
 * ```text
 * Type 'InFlow<"ergon: Flow.sleep runs only inside a flow; call it from a flow's run (Flow.make)">' is not assignable to type 'never'.
 * ```
 *
 * It is a `FlowInstance` (the service the engine provides a flow's program with), so
 * `Flow.make` and `Effect.provideService(FlowInstance, …)` remove every one of them at once, and an
 * Effect annotated as requiring `FlowInstance` accepts them.
 *
 * @since 0.1.0
 * @category Models
 */
export interface InFlow<Message extends string> extends FlowInstance {
  readonly [InFlowTypeId]: Message
}

declare const InFlowTypeId: unique symbol

/**
 * The `InFlow` of `Flow.invoke` for the child `Child`, pinned to `Versions`: the running flow must
 * be on one of them. `Flow.make` checks it against the parent's own `versions`, and `Dag.step` passes it on
 * (unlike the other `InFlow`s, which a DAG's run requires once for all its nodes).
 *
 * @since 0.1.0
 * @category Models
 */
export interface InvokesPinned<Message extends string, Child extends string, Versions extends string>
  extends InFlow<Message>
{
  readonly [InvokesPinnedTypeId]: { readonly child: Child; readonly versions: Versions }
}

declare const InvokesPinnedTypeId: unique symbol

/**
 * The sentence of an `InFlow` for the operation `What`.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type InFlowMessage<What extends string> =
  `ergon: ${What} runs only inside a flow; call it from a flow's run (Flow.make)`

/**
 * The requirements of an Effect that a flow passes on: its services, and the pinned children it
 * invokes; every other `InFlow` (and `FlowInstance`) is dropped, since the flow provides it.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type PassedOn<Requirements> = Requirements extends FlowInstance
  ? Requirements extends InvokesPinned<string, string, string> ? Requirements : never
  : Requirements
