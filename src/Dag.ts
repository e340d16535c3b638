/**
 * Parallel steps inside a flow, well-formed by construction.
 *
 * A DAG is a set of named nodes, each an Effect (usually a step call), some of which need the
 * results of others. It is built one node at a time; a node can only depend on nodes declared
 * before it, so a dependency on a node that does not exist is a compile error and a cycle cannot
 * be written. `Dag.run` runs it inside a flow and returns every node's result, typed:
 *
 * ```ts
 * const checkout = Dag.make("checkout")
 *   .step("user", validateUser(input))
 *   .step("inventory", checkInventory(input))
 *   .step("fraud", ["user"], ({ user }) => checkFraud(user))
 *   .step("finalize", ["user", "inventory", "fraud"], (deps) => finalize(deps))
 *
 * const out = yield* Dag.run(checkout, { concurrency: 4 }) // { user, inventory, fraud, finalize }
 * ```
 *
 * At run time a node starts as soon as its own dependencies have finished (not level by level),
 * within the concurrency bound. Each node runs in its own key scope (`<dag>/<node>`), so the
 * journal keys of its steps are the same whatever order the nodes finish in, and replay is
 * deterministic. The first failure interrupts the nodes still running and fails the run; nodes
 * that finished stay checkpointed and replay from the journal. Each finished node also records
 * when it started and finished, read back by `Dag.timeline`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type { Types } from "effect"
import type { ExecutionLog } from "./ExecutionLog.js"
import type { StoreError } from "./FlowError.js"
import * as internal from "./internal/dag.js"
import type { FlowInstance } from "./internal/instance.js"
import type { InFlow, InFlowMessage, PassedOn, Simplify, TypeError } from "./TypeLevel.js"

/**
 * The identifier every DAG carries, under which its phantom types live.
 *
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * A DAG under construction, named `Name`.
 *
 * `Steps` is the record of the nodes declared so far, from name to result type; `Error` and
 * `Requirements` are the union of the nodes' typed errors and of the services they need (apart
 * from the running flow, which `Dag.run` asks for itself, once). A DAG is immutable: `step`
 * returns a new one, so several DAGs can share a common prefix.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Dag<Name extends string, Steps, Error, Requirements> extends Pipeable {
  readonly [TypeId]: {
    readonly _Name: Types.Covariant<Name>
    readonly _Steps: Types.Covariant<Steps>
    readonly _Error: Types.Covariant<Error>
    readonly _Requirements: Types.Covariant<Requirements>
  }
  /** The DAG's name: the first segment of its nodes' key scopes. */
  readonly name: Name
  /** The nodes in declaration order (a dependency always comes before its dependents). */
  readonly nodes: ReadonlyArray<Node>

  /**
   * Adds a node with no dependencies: `effect` starts as soon as the run starts (within the
   * concurrency bound).
   *
   * The name must be a string literal not used by an earlier node; a name used twice is a compile
   * error that reads `ergon: duplicate step '<name>'`.
   */
  step<const StepName extends string, Success, StepError, StepRequirements>(
    name: Dag.StepName<StepName, Steps>,
    effect: Effect.Effect<Success, StepError, StepRequirements>
  ): Dag<
    Name,
    Steps & { readonly [K in StepName]: Success },
    Error | StepError,
    Requirements | PassedOn<StepRequirements>
  >

  /**
   * Adds a node that depends on earlier nodes: once every node named in `deps` has succeeded,
   * `f` is called with exactly their results (`{ [dep]: result }`) and the Effect it returns runs.
   *
   * `deps` can only name nodes declared before this one: an unknown name is a compile error, and a
   * cycle cannot be written.
   */
  step<
    const StepName extends string,
    const Deps extends ReadonlyArray<keyof Steps>,
    Success,
    StepError,
    StepRequirements
  >(
    name: Dag.StepName<StepName, Steps>,
    deps: Dag.Dependencies<Deps, Steps>,
    f: (results: { readonly [K in Deps[number]]: Steps[K] }) => Effect.Effect<Success, StepError, StepRequirements>
  ): Dag<
    Name,
    Steps & { readonly [K in StepName]: Success },
    Error | StepError,
    Requirements | PassedOn<StepRequirements>
  >
}

/**
 * One node of a DAG, as the engine sees it: plain runtime data.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Node {
  readonly name: string
  /** The names of the nodes whose results `run` receives. */
  readonly deps: ReadonlyArray<string>
  readonly run: (results: Readonly<Record<string, unknown>>) => Effect.Effect<unknown, unknown, unknown>
}

/**
 * Any DAG.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Any extends Dag<string, any, any, any> {}

/**
 * The options of `Dag.run`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunOptions {
  /**
   * How many nodes may run at the same time. A node waiting for its dependencies does not count.
   * Defaults to `"unbounded"`. A number that is not a positive integer makes the run die with a
   * `FlowDefinitionError`.
   */
  readonly concurrency?: number | "unbounded" | undefined
}

/**
 * One finished node of a DAG run, as recorded in the flow's journal: when it started (after its
 * dependencies were done and it got a concurrency slot) and when it finished, in epoch
 * milliseconds from Effect's `Clock`.
 *
 * A node that finished in an earlier execution of the flow keeps the times of that execution.
 * A node that was interrupted (by a failure elsewhere, or because the flow stopped) has no entry.
 *
 * @since 0.1.0
 * @category Models
 */
export interface TimelineEntry {
  /** The DAG's name. */
  readonly dag: string
  /** The node's name. */
  readonly node: string
  /** The journal key of the entry (`<dag>/<node>/$node`, with `#2`, … when the DAG ran again). */
  readonly key: string
  readonly startedAt: number
  readonly finishedAt: number
  /** Whether the node succeeded or failed (with a typed error or a defect). */
  readonly outcome: "success" | "failure"
}

/**
 * Extractors of a DAG's types; also exported one level up (`Dag.Outputs<D>`), which is how the
 * documentation writes them.
 *
 * @since 0.1.0
 * @category Type-level
 */
export declare namespace Dag {
  /**
   * The record of every node's result, as `Dag.run` returns it.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Outputs<D> = D extends Dag<any, infer Steps, any, any> ? Simplify<Steps> : never
  /**
   * The union of the typed errors of a DAG's nodes.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Error<D> = D extends Dag<any, any, infer E, any> ? E : never
  /**
   * The services a DAG's nodes need (besides the running flow).
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Requirements<D> = D extends Dag<any, any, any, infer R> ? Exclude<R, FlowInstance> : never
  /**
   * The name of a DAG.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Name<D> = D extends Dag<infer N, any, any, any> ? N : never
  /**
   * What `.step` accepts as its dependencies: names of nodes declared before. In a DAG without
   * nodes yet there is none, and tsc's own message would read `Type 'string' is not assignable to
   * type 'never'`; it prints this sentence instead.
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type Dependencies<Deps, Steps> = [keyof Steps] extends [never]
    ? TypeError<"ergon: the first step of a DAG has no step declared before it to depend on; give it no dependencies">
    : Deps
  /**
   * The type `.step` accepts as the name `StepName` of a new node: the name itself, or a branded
   * error when an earlier node has it (`ergon: duplicate step '<name>'`) or when it is not a
   * literal (a `string` name would make the DAG's record an index signature and switch every
   * other check off).
   *
   * @since 0.1.0
   * @category Type-level
   */
  export type StepName<StepName extends string, Steps> = StepName extends keyof Steps
    ? TypeError<`ergon: duplicate step '${StepName}'`>
    : string extends StepName ? TypeError<"ergon: a step name must be a string literal, not 'string'">
    : StepName
}

/**
 * The record of every node's result, as `Dag.run` returns it.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Outputs<D> = Dag.Outputs<D>

/**
 * The union of the typed errors of a DAG's nodes.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Error<D> = Dag.Error<D>

/**
 * The services a DAG's nodes need (besides the running flow).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Requirements<D> = Dag.Requirements<D>

/**
 * The name of a DAG.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Name<D> = Dag.Name<D>

/**
 * The type `.step` accepts as the name of a new node (see `Dag.Dag.StepName`).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type StepName<Name extends string, Steps> = Dag.StepName<Name, Steps>

/**
 * What `Dag.run` requires: the services of the DAG's nodes, the pinned children they invoke, and a
 * running flow, named after the DAG (`InFlow<"ergon: DAG 'checkout' runs only inside a flow; …">`).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type RunRequirements<D> = D extends Dag<infer N, any, any, infer R> ? R | InFlow<InFlowMessage<`DAG '${N}'`>>
  : never

/**
 * Tells whether a value is a DAG built by `Dag.make`.
 *
 * @since 0.1.0
 * @category Guards
 */
export const isDag: (u: unknown) => u is Any = internal.isDag

/**
 * Starts an empty DAG named `name`.
 *
 * The name is the first segment of the key scope of every node (`<name>/<node>`), so two DAGs
 * run in the same flow need distinct names (or distinct `Flow.scope`s). An empty name, which the
 * types cannot rule out, makes `Dag.run` die with a `FlowDefinitionError` before any node starts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dag } from "ergon"
 *
 * const dag = Dag.make("pricing")
 *   .step("base", Effect.succeed(100))
 *   .step("tax", ["base"], ({ base }) => Effect.succeed(base * 0.2))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: <const Name extends string>(name: Name) => Dag<Name, {}, never, never> = internal.make

/**
 * Runs a DAG inside a flow and returns every node's result, typed.
 *
 * Each node starts as soon as its own dependencies have succeeded, at most `concurrency` at a
 * time (unbounded by default), inside the key scope `<dag>/<node>`. The first node to fail
 * interrupts the others and the run fails with its error; nodes that had finished stay
 * checkpointed, so running the flow again replays them from the journal instead of running
 * their steps. Each node that finishes records its start and finish times in one journal entry
 * (see `Dag.timeline`).
 *
 * A definition the types could not rule out (an empty name, or a duplicate or unknown name
 * reached through a cast) and a `concurrency` that is not a positive integer make the run die
 * with a `FlowDefinitionError` before any node starts.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Dag } from "ergon"
 *
 * const program = Effect.gen(function*() {
 *   const out = yield* Dag.make("pricing")
 *     .step("base", Effect.succeed(100))
 *     .step("tax", ["base"], ({ base }) => Effect.succeed(base * 0.2))
 *     .pipe(Dag.run({ concurrency: 4 }))
 *   return out.base + out.tax
 * })
 * ```
 *
 * @since 0.1.0
 * @category Combinators
 */
export const run: {
  (
    options?: RunOptions
  ): <D extends Any>(self: D) => Effect.Effect<Dag.Outputs<D>, Dag.Error<D>, RunRequirements<D>>
  <D extends Any>(
    self: D,
    options?: RunOptions
  ): Effect.Effect<Dag.Outputs<D>, Dag.Error<D>, RunRequirements<D>>
} = internal.run

/**
 * Reads back the timeline of every DAG run by the flow `flowId`: one entry per finished node,
 * ordered by start time (then finish time, then key), for a view to draw. It reads the store
 * only, so any process can call it. An unknown flow has an empty timeline.
 *
 * @since 0.1.0
 * @category Combinators
 */
export const timeline: (flowId: string) => Effect.Effect<ReadonlyArray<TimelineEntry>, StoreError, ExecutionLog> =
  internal.timeline
