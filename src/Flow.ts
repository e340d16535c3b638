/**
 * The durable program.
 *
 * A flow is an ordinary Effect program with a name and schemas for its input, result and typed
 * errors. Run by the `Executor` (or a worker), every step it calls is checkpointed, so a flow
 * that stopped (crash, redeploy, a long wait) resumes where it was by replaying its journal.
 *
 * Determinism rules: a flow's program must take the same path when replayed. Anything that can
 * differ between runs (I/O, time, randomness) belongs in a step or in `Flow.now`, `Flow.random`,
 * `Flow.uuid`, which record their value on the first run. Concurrent calls of the same step get
 * deterministic keys only inside distinct key scopes (`Flow.scope`).
 *
 * A flow's types come from its schemas only: without `success` it returns `void`, without
 * `error` it cannot fail with a typed error, and a `run` that does otherwise is a compile error at
 * `Flow.make`. Its `versions` are checked there too: each a semantic-version literal, and
 * including every version of the pinned children it invokes.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as DurationModule from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Random from "effect/Random"
import type * as RetryPolicy from "./RetryPolicy.js"
import * as Schema from "effect/Schema"
import type { Types } from "effect"
import { FlowDefinitionError, type SignalTimeout, VersionMismatchError } from "./FlowError.js"
import { FlowInstance, scoped } from "./internal/instance.js"
import type { EventTimeout, InvalidEventError } from "./FlowError.js"
import type * as Cause from "effect/Cause"
import * as events from "./internal/event.js"
import * as longLived from "./internal/longLived.js"
import * as journal from "./internal/journal.js"
import * as children from "./internal/child.js"
import * as signal from "./internal/signal.js"
import * as timer from "./internal/timer.js"
import type { InStep } from "./Step.js"
import type {
  Fails,
  InFlow,
  InFlowMessage,
  InvokesPinned,
  Returns,
  SchemaNoContext,
  TypeError,
  UsesPatch
} from "./TypeLevel.js"
import * as Version from "./Version.js"

export {
  /**
   * The running instance of a flow: provided by the executor, required by every in-flow operation.
   *
   * @since 0.1.0
   * @category Services
   */
  FlowInstance
}

export type {
  /**
   * What an in-flow operation requires: a running flow, named by the sentence tsc prints where the
   * Effect is run outside one. A `FlowInstance`, so the flow's executor provides every one at once.
   *
   * @since 0.1.0
   * @category Models
   */
  InFlow,
  /**
   * The sentence of an `InFlow` for an operation.
   *
   * @since 0.1.0
   * @category Type-level
   */
  InFlowMessage,
  /**
   * What `Flow.invoke` of a pinned child requires: a running flow on one of the child's versions.
   *
   * @since 0.1.0
   * @category Models
   */
  InvokesPinned,
  /**
   * What `Flow.patched(id)` and `Flow.deprecatePatch(id)` require: a running flow that declares the
   * patch `id` in its `patches`.
   *
   * @since 0.3.0
   * @category Models
   */
  UsesPatch,
  /**
   * The requirements of an Effect that a flow passes on: its services and the pinned children it
   * invokes.
   *
   * @since 0.1.0
   * @category Type-level
   */
  PassedOn
} from "./TypeLevel.js"

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = Symbol.for("ergon/Flow")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * The types a flow carries: its input, result, typed errors, the services it needs, and the
 * deployment versions it is pinned to (`string` when it is not pinned).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Shape {
  readonly input: any
  readonly success: any
  readonly error: any
  readonly context: any
  readonly versions: string
}

/**
 * A durable flow named `Name`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Flow<Name extends string, S extends Shape> extends Pipeable {
  readonly [TypeId]: {
    readonly _Name: Types.Covariant<Name>
    readonly _Input: Types.Invariant<S["input"]>
    readonly _Success: Types.Covariant<S["success"]>
    readonly _Error: Types.Covariant<S["error"]>
    readonly _Context: Types.Covariant<S["context"]>
    readonly _Versions: Types.Covariant<S["versions"]>
  }
  readonly name: Name
  readonly input: Schema.Schema<S["input"], any>
  readonly success: Schema.Schema<S["success"], any>
  readonly error: Schema.Schema<S["error"], any>
  /** The deployment versions that may run this flow; `undefined` when it is not pinned. */
  readonly versions: ReadonlyArray<S["versions"]> | undefined
  /** The patches the flow's code declares (`Flow.make({ patches })`); empty when none. */
  readonly patches: ReadonlyArray<string>
  readonly run: (input: S["input"]) => Effect.Effect<S["success"], S["error"], S["context"] | FlowInstance>
  /** The most entries an execution's journal may hold (see `Options.maxJournalEntries`). */
  readonly maxJournalEntries?: number | undefined
  /** The flow-level retry policy (see `Options.retry`). */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /** @internal */
  readonly retryable?: ((error: unknown) => boolean) | undefined
  /** @internal */
  readonly exitCodec: journal.ExitCodec<S["success"], S["error"]>
}

/**
 * Any flow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Any extends Pipeable {
  readonly [TypeId]: unknown
  readonly name: string
  readonly input: Schema.Schema.All
  readonly success: Schema.Schema.All
  readonly error: Schema.Schema.All
  readonly versions: ReadonlyArray<string> | undefined
  readonly patches: ReadonlyArray<string>
  readonly run: (input: any) => Effect.Effect<any, any, any>
  readonly maxJournalEntries?: number | undefined
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /** @internal */
  readonly retryable?: ((error: unknown) => boolean) | undefined
  /** @internal */
  readonly exitCodec: journal.ExitCodec<any, any>
}

/**
 * Extractors of a flow's types; also exported one level up (`Flow.Success<F>`), which is how the
 * documentation writes them.
 *
 * @since 0.1.0
 */
export declare namespace Flow {
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Name<F> = F extends Flow<infer N, any> ? N : never
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Input<F> = F extends Flow<any, infer S> ? S["input"] : never
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Success<F> = F extends Flow<any, infer S> ? S["success"] : never
  /**
   * @since 0.1.0
   * @category Type-level
   */
  export type Error<F> = F extends Flow<any, infer S> ? S["error"] : never
  /**
   * The services a flow needs (what a worker running it must be provided with).
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Context<F> = F extends Flow<any, infer S> ? S["context"] : never
  /**
   * The versions a flow is pinned to, or `string` when it is not pinned.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Versions<F> = F extends Flow<any, infer S> ? S["versions"] : never
}

/**
 * The name of a flow.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Name<F> = Flow.Name<F>

/**
 * The input of a flow (the `Type` of its `input` schema).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Input<F> = Flow.Input<F>

/**
 * The result of a flow (the `Type` of its `success` schema).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Success<F> = Flow.Success<F>

/**
 * The typed errors of a flow (the `Type` of its `error` schema).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Error<F> = Flow.Error<F>

/**
 * The services a flow needs (what a worker running it must be provided with).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Context<F> = Flow.Context<F>

/**
 * The versions a flow is pinned to, or `string` when it is not pinned.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Versions<F> = Flow.Versions<F>

/** Narrows the requirement of an in-flow operation to its `InFlow` marker. */
const inFlow = <A, E, What extends string>(
  effect: Effect.Effect<A, E, FlowInstance>
): Effect.Effect<A, E, InFlow<InFlowMessage<What>>> => effect as Effect.Effect<A, E, InFlow<InFlowMessage<What>>>

/**
 * @since 0.1.0
 * @category Guards
 */
export const isFlow = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

/**
 * The options of `Flow.make`, apart from `versions` (see `Pinned`).
 *
 * `Input`, `Success` and `Error` are the schemas themselves; the flow's types are theirs. `run`
 * must return `Success["Type"]` (`void` when there is no `success`) and may fail only with
 * `Error["Type"]` (nothing, when there is no `error`); `Requirements` are the services it needs.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options<
  Input extends SchemaNoContext,
  Success extends SchemaNoContext,
  Error extends SchemaNoContext,
  Requirements
> {
  readonly input: Input
  /** The schema of the flow's result. Defaults to `Schema.Void`: `run` returns nothing. */
  readonly success?: Success | undefined
  /** The schema of the flow's typed errors. Defaults to `Schema.Never`: it fails with none. */
  readonly error?: Error | undefined
  /**
   * The most entries one execution's journal may hold. An operation that would go past it fails the
   * flow with a `JournalLimitError` (an engine error: the flow ends `failed`), which says to end
   * each period of a long loop with `Flow.continueAsNew`. Defaults to 20,000.
   */
  readonly maxJournalEntries?: number | undefined
  /**
   * A flow-level retry policy (the steps' vocabulary): when the flow's program fails with a
   * retryable error (a class marked `Retryable`, one `retryable` accepts) or, if the policy says so,
   * a defect, the flow runs again after the policy's backoff (a durable wait: it is suspended
   * meanwhile), while attempts remain. Its failed journal entries are dropped, so completed steps
   * replay and failed ones run again. Compensations run only once no retry is left. Defaults to
   * `RetryPolicy.none`.
   */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /** Which typed errors of the flow to retry, besides classes marked `Retryable`. */
  readonly retryable?: ((error: Error["Type"]) => boolean) | undefined
  readonly run: (input: Input["Type"]) => Effect.Effect<Returns<Success>, Fails<Error>, Requirements>
}

/**
 * The `versions` option of `Flow.make`: the deployment versions that may run the flow, each a
 * semantic-version literal (`Version.Pin`). A versioned scheduler or worker must be of one of
 * them; an unversioned one cannot take the flow. Omit it to let any deployment run the flow.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Pinned<Versions extends string> {
  readonly versions?: readonly [Version.Pin<Versions>, ...Array<Version.Pin<Versions>>] | undefined
}

/**
 * The `patches` option of `Flow.make`: the ids of the patches the flow's code has, each used by
 * `Flow.patched(id)` or `Flow.deprecatePatch(id)` in its `run`. Using an id the flow does not
 * declare is a compile error naming it.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Patched<Patches extends string> {
  readonly patches?: readonly [Patches, ...Array<Patches>] | undefined
}

/**
 * The type `Flow.make` accepts as the flow's name: the name itself when what `run` requires passes
 * the checks, otherwise a `TypeError` saying what is wrong. `run` must not use what only a step's
 * run provides (`Step.idempotencyKey`, `Step.attempt`, `Step.Current`), and a flow pinned to
 * `Versions` must not invoke a pinned child that is not pinned to each of them. The check sits on
 * the name (the first line of the definition) rather than on the options: it is resolved once
 * inference is done, at a fraction of the cost.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type FlowName<Name extends string, Versions extends string, Requirements, Patches extends string = never> =
  [Extract<Requirements, journal.StepContext>] extends [never] ? PatchesChecked<
      string extends Versions ? Name : PinsChecked<Name, Versions, Extract<Requirements, InvokesPinned<string, string, string>>>,
      Name,
      Exclude<PatchIds<Requirements>, Patches>
    >
    : TypeError<
      `ergon: flow '${Name}' cannot use ${StepOperation<
        Extract<Requirements, journal.StepContext>
      >} in its run: it is available only inside a step's run; move that code into a step`
    >

/** The ids of the patches that `Requirements` use. */
type PatchIds<Requirements> = Requirements extends UsesPatch<string, infer Id> ? Id : never

/** `Checked` when no patch is used undeclared; a `TypeError` naming the first one otherwise. */
type PatchesChecked<Checked, Name extends string, Undeclared extends string> = [Undeclared] extends [never] ? Checked
  : TypeError<UndeclaredPatch<Name, Undeclared>>

type UndeclaredPatch<Name extends string, Id extends string> = Id extends unknown
  ? `ergon: flow '${Name}' uses patch '${Id}', which it does not declare; add '${Id}' to its patches`
  : never

/** The operation an `InStep` is about, read back from its sentence. */
type StepOperation<Marker> = Marker extends InStep<`ergon: ${infer What} is available only${string}`> ? What
  : "Step.Current"

/** `Name` when every pinned child `Invoked` is pinned to each of `Versions`; a `TypeError` per missing pin otherwise. */
type PinsChecked<Name extends string, Versions extends string, Invoked> = [Invoked] extends [never] ? Name
  : [ChildPinsMessage<Name, Versions, Invoked>] extends [never] ? Name
  : TypeError<ChildPinsMessage<Name, Versions, Invoked>>

type ChildPinsMessage<Name extends string, Versions extends string, Invoked> = Invoked extends
  InvokesPinned<string, infer Child, infer ChildVersions>
  ? MissingPin<Name, Child, Exclude<Versions, ChildVersions>>
  : never

type MissingPin<Name extends string, Child extends string, Missing extends string> = Missing extends unknown
  ? `ergon: flow '${Name}' may run on '${Missing}', but invokes flow '${Child}', which is not pinned to '${Missing}'; add '${Missing}' to the versions of '${Child}' once it has been reviewed for it`
  : never

/**
 * Defines a flow.
 *
 * The flow's input, result and typed errors are the types of `input`, `success` (default
 * `Schema.Void`) and `error` (default `Schema.Never`), whatever `run` infers: a `run` that returns
 * something `success` does not describe, or can fail with something `error` does not, is a
 * compile error on the `run` line. So is a `run` that uses `Step.idempotencyKey` (or another
 * operation of a step's own run).
 *
 * `versions` pins the flow to deployment versions: each must be a semantic-version literal (a
 * plain `string` is refused), and each must be a version every pinned child it invokes is pinned
 * to as well. A list that is empty or holds a string that is not a semantic version (possible only
 * through a cast) makes `Flow.make` throw a `FlowDefinitionError`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Flow } from "ergon"
 *
 * const Greet = Flow.make("greet", {
 *   input: Schema.String,
 *   success: Schema.String,
 *   versions: ["1.4.0"],
 *   run: (name) => Effect.succeed(`hello ${name}`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <
  const Name extends string,
  Input extends SchemaNoContext,
  Success extends SchemaNoContext = typeof Schema.Void,
  Error extends SchemaNoContext = typeof Schema.Never,
  Requirements = never,
  const Versions extends string = string,
  const Patches extends string = never
>(
  name: FlowName<Name, Versions, Requirements, Patches>,
  options: Options<Input, Success, Error, Requirements> & Pinned<Versions> & Patched<Patches>
): Flow<Name, {
  readonly input: Input["Type"]
  readonly success: Success["Type"]
  readonly error: Error["Type"]
  readonly context: Exclude<Requirements, FlowInstance>
  readonly versions: Versions
}> => {
  // The checks of `FlowName` are over once the call compiles: the name is the name.
  const flowName = name as Name
  const versions = options.versions as ReadonlyArray<string> | undefined
  if (versions !== undefined) checkVersions(flowName, versions)
  const patches = options.patches as ReadonlyArray<string> | undefined
  if (patches !== undefined) checkPatches(flowName, patches)
  const success = (options.success ?? Schema.Void) as Schema.Schema<any, any>
  const error = (options.error ?? Schema.Never) as Schema.Schema<any, any>
  return {
    [TypeId]: TypeId as never,
    name: flowName,
    input: options.input as Schema.Schema<any, any>,
    success,
    error,
    versions: versions as never,
    patches: patches ?? [],
    run: options.run as never,
    ...(options.maxJournalEntries === undefined ? {} : { maxJournalEntries: options.maxJournalEntries }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.retryable === undefined ? {} : { retryable: options.retryable as (error: unknown) => boolean }),
    exitCodec: journal.exitCodec(success, error),
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}

/** Throws a `FlowDefinitionError` when `versions` is not a non-empty list of semantic versions. */
const checkVersions = (name: string, versions: ReadonlyArray<string>): void => {
  const problems = !Array.isArray(versions) || versions.length === 0
    ? ["versions must list at least one semantic version"]
    : versions.flatMap((version) => {
      if (typeof version !== "string") return [`versions: ${String(version)} is not a string`]
      const parsed = Version.parse(version, `the versions of flow '${name}'`)
      return parsed._tag === "Left" ? [`versions: '${version}' is not a semantic version: ${parsed.left.detail}`] : []
    })
  if (problems.length > 0) throw new FlowDefinitionError({ name, detail: problems.join("; ") })
}

/** Throws a `FlowDefinitionError` when `patches` is not a non-empty list of distinct, non-empty ids without `/`. */
const checkPatches = (name: string, patches: ReadonlyArray<string>): void => {
  const problems = !Array.isArray(patches) || patches.length === 0
    ? ["patches must list at least one patch id"]
    : patches.flatMap((id, index) =>
      typeof id !== "string" || id === "" || id.includes("/")
        ? [`patches: ${JSON.stringify(id)} is not a patch id (a non-empty string without '/')`]
        : patches.indexOf(id) !== index
        ? [`patches: '${id}' is declared twice`]
        : []
    )
  if (problems.length > 0) throw new FlowDefinitionError({ name, detail: problems.join("; ") })
}

/**
 * Runs `effect` in the key scope `name`: steps called inside get keys prefixed with the scope
 * (`name/step`), and their occurrence counters are the scope's own. Concurrent branches that call
 * the same steps get deterministic keys when each runs in its own scope.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const scope: {
  (name: string): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
} = function(this: unknown, ...args: Array<any>): any {
  if (args.length === 1) return (effect: Effect.Effect<any, any, any>) => scoped(args[0], effect)
  return scoped(args[0], args[1])
}

/**
 * The id of the running flow.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const id: Effect.Effect<string, never, InFlow<InFlowMessage<"Flow.id">>> = inFlow(
  Effect.map(FlowInstance, (instance) => instance.flowId)
)

const nowCodec = journal.exitCodec(Schema.Number, Schema.Never)
const uuidCodec = journal.exitCodec(Schema.String, Schema.Never)

/**
 * The current time (epoch milliseconds, from Effect's `Clock`), recorded on the first run and
 * the same on every replay.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const now: Effect.Effect<number, never, InFlow<InFlowMessage<"Flow.now">>> = inFlow(
  journal.recordValue("$now", nowCodec, Effect.clockWith((clock) => clock.currentTimeMillis))
)

/**
 * A random number in [0, 1) (from Effect's `Random`), recorded on the first run and the same on
 * every replay.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const random: Effect.Effect<number, never, InFlow<InFlowMessage<"Flow.random">>> = inFlow(
  journal.recordValue("$random", nowCodec, Random.next)
)

/**
 * A random UUID (v4), recorded on the first run and the same on every replay.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const uuid: Effect.Effect<string, never, InFlow<InFlowMessage<"Flow.uuid">>> = inFlow(
  journal.recordValue("$uuid", uuidCodec, Effect.sync(() => crypto.randomUUID()))
)

/**
 * A durable sleep: the fire time (now + `duration`) is computed once and recorded. A short
 * remaining wait is spent in memory; a longer one suspends the flow, which is released and
 * resumed once the time has come (by a worker, or by running it again).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const sleep = (duration: Duration.DurationInput): Effect.Effect<void, never, InFlow<InFlowMessage<"Flow.sleep">>> => {
  const millis = DurationModule.toMillis(duration)
  return inFlow(timer.sleepUntil("$sleep", (now) => now + millis))
}

/**
 * A durable sleep until a point in time (a `Date` or epoch milliseconds).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const sleepUntil = (time: Date | number): Effect.Effect<void, never, InFlow<InFlowMessage<"Flow.sleepUntil">>> => {
  const at = typeof time === "number" ? time : time.getTime()
  return inFlow(timer.sleepUntil("$sleep", () => at))
}

/**
 * The result of a flow's run as an `Exit`, for callers that want to branch on it.
 *
 * @since 0.1.0
 * @category Models
 */
export type FlowExit<F> = Exit.Exit<Success<F>, Error<F>>

/**
 * Waits for a signal named `name` sent to this flow, and returns its payload decoded with
 * `schema`.
 *
 * A signal sent before the wait is buffered in the store and taken at once; several signals of one
 * name are taken one per wait, in the order they were sent. While nothing has come, the flow is
 * suspended (it costs no memory) and is woken when a signal arrives. With `timeout`, the deadline
 * is fixed durably on the first run, and the wait fails with a typed `SignalTimeout` once it has
 * passed. A payload that does not decode with `schema` stops the flow with a
 * `CheckpointDecodeError` naming the signal (it stays recorded, never dropped).
 *
 * @since 0.1.0
 * @category Combinators
 */
export const awaitSignal: {
  <A, I>(name: string, schema: Schema.Schema<A, I, never>): Effect.Effect<A, never, InFlow<InFlowMessage<"Flow.awaitSignal">>>
  <A, I>(
    name: string,
    schema: Schema.Schema<A, I, never>,
    options: { readonly timeout: Duration.DurationInput }
  ): Effect.Effect<A, SignalTimeout, InFlow<InFlowMessage<"Flow.awaitSignal">>>
} = signal.awaitSignalTyped as typeof awaitSignal

/**
 * What `Flow.invoke(child)` requires: a running flow, and when the child is pinned, a running flow
 * on one of its versions (`InvokesPinned`, which `Flow.make` checks against the parent's pins).
 * The sentence does not name the child: a flow's requirements are the union of what its
 * operations require, and one member per child would cost every flow that many members.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type InvokeRequirements<F> = string extends Versions<F> ? InFlow<InFlowMessage<"Flow.invoke">>
  : InvokesPinned<InFlowMessage<"Flow.invoke">, Name<F>, Versions<F>>

/**
 * The errors of `Flow.invoke(child)`: the child's typed errors, and a `VersionMismatchError` when
 * the child is pinned (the parent's version, which the child would inherit, is known only at run
 * time for a parent that is not pinned itself).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type InvokeError<F> = string extends Versions<F> ? Error<F> : Error<F> | VersionMismatchError

/**
 * Runs a child flow and waits for its result (its success, or its typed failure).
 *
 * The child's id is deterministic (`<parent id>/$invoke/<child name>[#n]`, or the given `key`), so
 * a replay finds the same child. Under `Executor.execute` the child runs at once in this process;
 * under workers it is scheduled with the parent's version and claimed by a worker that has it
 * registered, while the parent is suspended until the child ends. Cancelling the parent cancels
 * its children.
 *
 * A child pinned to versions (`versions: [...]`) inherits the parent's version, which must be one
 * of them. For a parent pinned itself, `Flow.make` checks that at compile time (every version of
 * the parent must be one of the child's). At run time, a parent whose version is not one of the
 * child's (a parent that is not pinned, run unversioned or on another version) gets a typed
 * `VersionMismatchError` from the invoke, and no child is started: a child no worker may run would
 * keep the parent waiting forever. So the invoke of a pinned child has `VersionMismatchError` in
 * its error type: handle it, or declare it in the parent's `error` schema.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const invoke = <F extends Any>(
  child: F,
  input: Input<F>,
  options?: { readonly key?: string | undefined }
): Effect.Effect<Success<F>, InvokeError<F>, Context<F> | InvokeRequirements<F>> =>
  Effect.flatMap(FlowInstance, (instance) => {
    const pins = child.versions
    return pins !== undefined && (instance.version === null || !pins.includes(instance.version))
      ? Effect.fail(new VersionMismatchError({ flowType: child.name, versions: [...pins], deployment: instance.version }))
      : children.invoke(child, input, options)
  }) as Effect.Effect<Success<F>, InvokeError<F>, Context<F> | InvokeRequirements<F>>

/**
 * Waits for the named event `name` and returns its payload decoded with `schema`.
 *
 * Events are not addressed to a flow: any flow (or any process, with `Client.emitEvent`) emits
 * one under a name, and every flow that awaits that name, before or after the emit, gets it. The
 * first emit of a name wins: later emits change nothing, so all waiters see the same payload. A
 * flow that waits before the emit is suspended (it costs no memory) and woken by it, in any
 * process. A payload that does not decode with this waiter's `schema` is this waiter's typed
 * `InvalidEventError` (recorded and replayed), not a crash. With `timeout`, the deadline is fixed
 * durably on the first run and the wait fails with `EventTimeout` once it has passed.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const awaitEvent: {
  <A, I>(name: string, schema: Schema.Schema<A, I, never>): Effect.Effect<A, InvalidEventError, InFlow<InFlowMessage<"Flow.awaitEvent">>>
  <A, I>(
    name: string,
    schema: Schema.Schema<A, I, never>,
    options: { readonly timeout: Duration.DurationInput }
  ): Effect.Effect<A, EventTimeout | InvalidEventError, InFlow<InFlowMessage<"Flow.awaitEvent">>>
} = events.awaitEventTyped as typeof awaitEvent

/**
 * Emits the named event `name` from inside a flow, once: the emit is recorded, so a replay does
 * not emit again. Returns whether this emit stored the event (`false` when one of that name had
 * been emitted already: the first wins). With `schema`, the payload is encoded with it first.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const emitEvent: <P, PI = P>(
  name: string,
  payload: P,
  schema?: Schema.Schema<P, PI, never>
) => Effect.Effect<boolean, never, InFlow<InFlowMessage<"Flow.emitEvent">>> = longLived.emitEvent as typeof emitEvent

/**
 * Ends this execution of the flow and starts a new one under the same id, with `input` and an
 * empty journal, atomically. The finished execution's journal is kept (see
 * `Client.listExecutions`); handles awaiting the id get the result of the last execution. The
 * flow's version and parent carry over. Use it to bound the journal of a flow that loops for a
 * long time (a subscription, a poller): end each period with `continueAsNew(nextState)`.
 *
 * Give the flow to have the input checked by `tsc`: `Flow.continueAsNew(Subscription, next)`. An
 * input that does not encode with the flow's input schema stops the flow with a
 * `CheckpointEncodeError`.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const continueAsNew: {
  <F extends Any>(flow: F, input: Input<F>): Effect.Effect<never, never, InFlow<InFlowMessage<"Flow.continueAsNew">>>
  (input: unknown): Effect.Effect<never, never, InFlow<InFlowMessage<"Flow.continueAsNew">>>
} = longLived.continueAsNew as typeof continueAsNew

/**
 * Registers a compensation for what `effect` did (a saga): when the flow later fails (its typed
 * error or a defect), the compensations of the effects that succeeded run, newest first, each
 * recorded once done (a crash during them resumes with those not done), before the flow's failure
 * is written. They do not run when the flow succeeds or suspends. The compensation receives the
 * effect's value and the flow's failure; make it a step (`refund(payment)`) to have it retried with
 * the step's policy. A compensation that fails is added to the flow's cause as a defect, and the
 * others still run.
 *
 * @example
 * const payment = yield* chargeCard(order).pipe(Flow.withCompensation((payment) => refund(payment)))
 *
 * @since 0.3.0
 * @category Combinators
 */
export const withCompensation: {
  <A, R2>(
    compensation: (value: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
  ): <E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R2 | InFlow<InFlowMessage<"Flow.withCompensation">>>
  <A, E, R, R2>(
    effect: Effect.Effect<A, E, R>,
    compensation: (value: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
  ): Effect.Effect<A, E, R | R2 | InFlow<InFlowMessage<"Flow.withCompensation">>>
} = longLived.withCompensation as typeof withCompensation

/**
 * Tells whether this execution runs the patch `id` at this point: `true` when it reaches the point
 * under code that has the patch (a new execution, or one that gets here for the first time after
 * the deploy), `false` when this is a replay of an execution that went past this point before the
 * patch existed. Branch on it to change a flow's code under executions in flight:
 *
 * ```ts
 * if (yield* Flow.patched("skip-fraud-check")) {
 *   // the new code
 * } else {
 *   yield* checkFraud(order) // exactly what the old code did here
 * }
 * ```
 *
 * The answer is recorded in the journal (a marker entry, written the first time it is `true`), so
 * it is the same on every later replay, on any worker. The marker takes no place among the flow's
 * operations: the code around the patch point keeps the places it had. `id` must be declared in
 * the flow's `patches` (`Flow.make(name, { patches: ["skip-fraud-check"], … })`): an id it does not
 * declare is a compile error naming it. Each call is its own patch point: a second
 * `Flow.patched(id)` of the same id in the same scope is decided on its own.
 *
 * The lifecycle of a patch (docs/versioning.md): add it (`if (yield* Flow.patched(id))`, old path
 * in the `else`); once every execution started before it has ended, replace the branch by
 * `yield* Flow.deprecatePatch(id)` and the new path alone; once every execution that ran the
 * patched code has ended, remove the call and the id.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const patched = <const Id extends string>(
  id: Id
): Effect.Effect<boolean, never, UsesPatch<InFlowMessage<"Flow.patched">, Id>> =>
  journal.patchPoint(id, false) as Effect.Effect<boolean, never, UsesPatch<InFlowMessage<"Flow.patched">, Id>>

/**
 * The second step of a patch's lifecycle: the code keeps only the new path, and this call stands
 * where `Flow.patched(id)` was. It records the patch's marker as `Flow.patched` would (so a worker
 * still running the code with `Flow.patched(id)` takes the new path for executions started here),
 * and decides nothing. Deploy it once every execution that passed the patch point before the patch
 * existed has ended; a replay of one that has not fails the step-order check with a
 * `NonDeterminismError` naming the patch (its `patch` field). `id` must be declared in the flow's
 * `patches`.
 *
 * @since 0.3.0
 * @category Combinators
 */
export const deprecatePatch = <const Id extends string>(
  id: Id
): Effect.Effect<void, never, UsesPatch<InFlowMessage<"Flow.deprecatePatch">, Id>> =>
  Effect.asVoid(journal.patchPoint(id, true)) as Effect.Effect<void, never, UsesPatch<InFlowMessage<"Flow.deprecatePatch">, Id>>
