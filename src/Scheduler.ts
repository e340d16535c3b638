/**
 * Enqueues flows durably for workers to run.
 *
 * A scheduler starts unconfigured and must choose, once, how it is versioned before it can
 * schedule anything:
 *
 * ```ts
 * Scheduler.make().withVersion("1.4.0")      // the version is known at compile time
 * Scheduler.make().unversioned()             // flows are stamped unversioned
 * Scheduler.make().fromEnv("DEPLOY_VERSION") // read through Effect Config at run time
 * ```
 *
 * `schedule` on an unconfigured scheduler, configuring twice, a version that is not a semantic
 * version, and a flow pinned (`versions: [...]`) to other versions are compile errors. With
 * `fromEnv` the version checks happen at run time and fail with typed errors.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Types } from "effect"
import type { ExecutionLog } from "./ExecutionLog.js"
import type * as Flow from "./Flow.js"
import { type InvalidVersionError, VersionMismatchError } from "./FlowError.js"
import * as client from "./internal/client.js"
import type { TypeError } from "./TypeLevel.js"
import * as Version from "./Version.js"

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = Symbol.for("ergon/Scheduler")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * A handle on a scheduled flow: its id, its result (`await`), its status, and control.
 *
 * @since 0.1.0
 * @category Models
 */
export type FlowHandle<A, E> = client.FlowHandle<A, E>

/**
 * The options of `schedule`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ScheduleOptions {
  /** The flow's id. Defaults to `<flow name>-<uuid>`. Scheduling an id that exists is idempotent. */
  readonly id?: string | undefined
  /** Not before this time (a valid `Date` or finite epoch millis). Defaults to now. */
  readonly runAt?: Date | number | undefined
  /** Higher first: an integer from -2^31 to 2^31 - 1. Defaults to 0. */
  readonly priority?: number | undefined
  /**
   * When a flow with this id exists with another input: `"fail"` (the default) with a
   * `FlowConflictError`, or `"useExisting"`, returning a handle on the existing flow, as Temporal's
   * `USE_EXISTING` does (`handle.created` tells whether this call created it). A flow of another
   * type under the id is a `FlowConflictError` either way.
   */
  readonly onConflict?: "fail" | "useExisting" | undefined
}

/**
 * A flow that a scheduler or worker in `Mode` may take: the flow itself, or a sentence saying why
 * not. Pinned flows need a `Versioned<V>` whose `V` is one of their versions (`V` is one literal:
 * `withVersion` refuses a union); an unversioned scheduler or worker takes only unpinned flows.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Compatible<Mode extends Version.Mode, F extends Flow.Any> = Mode extends Version.Versioned<infer V>
  ? [V] extends [Flow.Versions<F>] ? F
  : TypeError<`ergon: flow '${Flow.Name<F>}' is not pinned to version '${V}'; add '${V}' to its versions once it has been reviewed for it`>
  : Mode extends Version.Unversioned
    ? string extends Flow.Versions<F> ? F
    : TypeError<`ergon: flow '${Flow.Name<F>}' is pinned to versions, so an unversioned scheduler or worker cannot take it; use withVersion`>
  : F

/**
 * The version errors a configuration can fail with at run time: only `fromEnv` has any.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type VersionErrors<Mode extends Version.Mode> = Mode extends Version.EnvSourced
  ? InvalidVersionError | VersionMismatchError
  : never

/** The message of `schedule` on an unconfigured scheduler. */
type ChooseVersioningFirst =
  "ergon: choose how this scheduler is versioned before scheduling: withVersion('1.4.0'), unversioned() or fromEnv('DEPLOY_VERSION')"

/** The message of a second `withVersion`, `unversioned` or `fromEnv`. */
type AlreadyVersioned = "ergon: this scheduler is already versioned; choose one of withVersion, unversioned or fromEnv, once"

/**
 * A scheduler in a versioning `Mode` (`Unconfigured` until one of `withVersion`, `unversioned`,
 * `fromEnv` is chosen).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Scheduler<Mode extends Version.Mode> {
  readonly [TypeId]: { readonly _Mode: Types.Covariant<Mode> }
  /** The versioning chosen, at run time. */
  readonly mode: Mode
  /**
   * Versions this scheduler with a semantic-version literal known at compile time (`"1.4.0"`,
   * `"2.0.0-rc.1"`). Flows it schedules are stamped with it.
   */
  withVersion<const V extends string>(this: Version.WhenUnconfigured<Mode, Scheduler<Mode>, AlreadyVersioned>, version: Version.SemVer<V>): Scheduler<Version.Versioned<V>>
  /** Schedules flows unversioned: only unversioned workers, and unpinned flows. */
  unversioned(this: Version.WhenUnconfigured<Mode, Scheduler<Mode>, AlreadyVersioned>): Scheduler<Version.Unversioned>
  /** Reads the version from the environment variable `variable` (through Effect `Config`) when scheduling. */
  fromEnv(this: Version.WhenUnconfigured<Mode, Scheduler<Mode>, AlreadyVersioned>, variable: string): Scheduler<Version.EnvSourced>
  /**
   * Enqueues `flow` durably and returns its handle. Scheduling an id that exists returns the
   * existing flow when flow and input match, and fails with `FlowConflictError` when they do not.
   * Before anything is written, the id (`InvalidIdError`), `runAt` and `priority`
   * (`InvalidOptionError`) and the encoded input (`InvalidInputError`, and `UnstorableValueError`
   * for a value JSON would change or one over the store's limits) are checked.
   * Inside a `SqlClient` transaction of yours, the insert joins it.
   */
  schedule<F extends Flow.Any>(
    this: Version.WhenConfigured<Mode, Scheduler<Mode>, ChooseVersioningFirst>,
    flow: Compatible<Mode, F>,
    input: Flow.Input<F>,
    options?: ScheduleOptions
  ): Effect.Effect<
    FlowHandle<Flow.Success<F>, Flow.Error<F>>,
    client.ScheduleError | VersionErrors<Mode>,
    ExecutionLog
  >
}

/**
 * The version a configured mode stamps, checked against a flow's pins at run time (the types
 * already rule out mismatches for `withVersion` and `unversioned`).
 *
 * @internal
 */
export const resolveVersion = (
  mode: Version.Mode
): Effect.Effect<string | null, InvalidVersionError> => {
  switch (mode._tag) {
    case "Versioned":
      return Effect.succeed(mode.version)
    case "Unversioned":
      return Effect.succeed(null)
    case "EnvSourced":
      return Version.fromEnv(mode.variable)
    case "Unconfigured":
      return Effect.die(new Error("ergon: choose withVersion, unversioned or fromEnv first"))
  }
}

/**
 * Checks that a flow may run under `version` (null: unversioned).
 *
 * @internal
 */
export const checkPins = (flow: Flow.Any, version: string | null): Effect.Effect<void, VersionMismatchError> =>
  flow.versions === undefined || (version !== null && flow.versions.includes(version))
    ? Effect.void
    : Effect.fail(new VersionMismatchError({ flowType: flow.name, versions: [...flow.versions], deployment: version }))

const makeWith = <Mode extends Version.Mode>(mode: Mode): Scheduler<Mode> => ({
  [TypeId]: TypeId as never,
  mode,
  withVersion(version: string) {
    return makeWith({ _tag: "Versioned", version } as Version.Versioned<any>)
  },
  unversioned() {
    return makeWith({ _tag: "Unversioned" } as Version.Unversioned)
  },
  fromEnv(variable: string) {
    return makeWith({ _tag: "EnvSourced", variable } as Version.EnvSourced)
  },
  schedule(flow: Flow.Any, input: unknown, options?: ScheduleOptions) {
    return Effect.flatMap(resolveVersion(mode), (version) =>
      Effect.zipRight(checkPins(flow, version), client.schedule(flow, input as never, version, options)))
  }
} as any)

/**
 * A new, unconfigured scheduler.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (): Scheduler<Version.Unconfigured> => makeWith({ _tag: "Unconfigured" })

/**
 * A handle on an existing flow, by id, to await, inspect or control it.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const handle: <F extends Flow.Any>(flow: F, id: string) => FlowHandle<Flow.Success<F>, Flow.Error<F>> =
  client.handle
