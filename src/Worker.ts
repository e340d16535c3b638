/**
 * Runs flows from the store: claims ready flows under a lease, executes them, and releases them
 * when they suspend or end. Many workers, in many processes, share one store.
 *
 * ```ts
 * const worker = Worker.make("orders")
 *   .withVersion("1.4.0")       // or .unversioned(), or .fromEnv("DEPLOY_VERSION")
 *   .register(OrderFlow, ShippingFlow)
 *   .withTimers()
 *   .withSignals()
 *
 * Effect.runFork(worker.run().pipe(Effect.provide(Layer.mergeAll(StoreLive, PaymentGatewayLive))))
 * ```
 *
 * - Version routing: a versioned worker claims flows of its version and unversioned ones, and the
 *   flows of a pinned type stamped with another version that its definition lists along with its
 *   own (`versions: ["1.3.0", "1.4.0"]` on a 1.4.0 worker takes over the 1.3.0 executions); an
 *   unversioned worker claims only unversioned flows. A flow type it has not registered is left
 *   to others. It registers, in the store's registry of live workers, the versions each pinned
 *   flow lists (what `Client.versions` and `Client.migrate` read).
 * - Leases: each claimed flow is leased (owner + epoch + expiry) and the lease renewed by a
 *   heartbeat; every checkpoint is written under the lease, so a worker whose lease was taken
 *   over cannot write. A dead worker's flows are reclaimed once their lease expires, and replayed.
 * - `register` accumulates the flows' requirements in the worker's type: the program that runs
 *   the worker must provide every service its flows need. It also accumulates their names: a flow
 *   name registered twice is a compile error (one definition would silently replace the other).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Types } from "effect"
import type { ExecutionLog } from "./ExecutionLog.js"
import type * as Flow from "./Flow.js"
import { FlowDefinitionError, type NoFlowsRegisteredError, type StoreError } from "./FlowError.js"
import * as internal from "./internal/worker.js"
import * as Scheduler from "./Scheduler.js"
import type { TypeError } from "./TypeLevel.js"
import type * as Version from "./Version.js"

/**
 * @since 0.1.0
 * @category Symbols
 */
export const TypeId: unique symbol = Symbol.for("ergon/Worker")

/**
 * @since 0.1.0
 * @category Symbols
 */
export type TypeId = typeof TypeId

/**
 * The errors a running worker can stop with: the store failed, nothing was registered, or (with
 * `fromEnv` only) the deployment version is missing, invalid, or not one a registered flow is
 * pinned to.
 *
 * @since 0.1.0
 * @category Models
 */
export type RunError<Mode extends Version.Mode> = StoreError | NoFlowsRegisteredError | Scheduler.VersionErrors<Mode>

/**
 * What `withRetention` deletes, and how often.
 *
 * @since 0.3.0
 * @category Models
 */
export interface RetentionOptions {
  /** Flows that ended longer ago than this are deleted. */
  readonly olderThan: Duration.DurationInput
  /** Which ended flows. Defaults to completed and cancelled (failed ones wait for a fix). */
  readonly status?: ReadonlyArray<"completed" | "cancelled" | "failed"> | undefined
  /** How often. Defaults to 1 hour. */
  readonly every?: Duration.DurationInput | undefined
}

/**
 * The tuning of a worker.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Deletes old ended flows as the worker runs (`withRetention`). */
  readonly retention?: {
    readonly olderThan: Duration.Duration
    readonly status: ReadonlyArray<"completed" | "cancelled" | "failed">
    readonly every: Duration.Duration
  } | undefined
  /** How many flows run at once. Defaults to 16. */
  readonly concurrency: number
  /** A claimed flow's lease; renewed every third of it. Defaults to 30 seconds. */
  readonly lease: Duration.Duration
  /**
   * How often the store is polled for work from other processes (in-process work wakes the worker
   * at once). While idle, polls back off up to 10 times this. Defaults to 200 ms.
   */
  readonly pollInterval: Duration.Duration
  /** Waits longer than this suspend the flow and release it. Defaults to 1 minute. */
  readonly suspendAfter: Duration.Duration
  /** Whether this worker resumes flows whose timer is due (`withTimers`). */
  readonly timers: boolean
  /** Whether this worker delivers signals from the `SignalSource` (`withSignals`). */
  readonly signals: boolean
}

/** The message of `register`, `run` or `layer` on an unconfigured worker. */
type ChooseVersioningFirst =
  "ergon: choose how this worker is versioned first: withVersion('1.4.0'), unversioned() or fromEnv('DEPLOY_VERSION')"

/** The message of a second `withVersion`, `unversioned` or `fromEnv`. */
type AlreadyVersioned = "ergon: this worker is already versioned; choose one of withVersion, unversioned or fromEnv, once"

/**
 * The names of the flows of the tuple `Flows` that are literals, as a tuple (`never` in place of a
 * name that is a `string` or a template with holes: it would match every other name). Read from
 * the flows' type arguments (`Flow.Name`), not from their `name` property, which would resolve
 * every member of each flow.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type NamesOf<Flows extends ReadonlyArray<Flow.Any>> = { readonly [K in keyof Flows]: LiteralName<Flows[K]> }

type LiteralName<F> = F extends Flow.Flow<infer Name, any> ? {} extends Record<Name, unknown> ? never : Name : never

/**
 * The positions of the names of the tuple `Names`: `{ order: "0", shipping: "1" }`. A name that
 * occurs several times maps to the union of its positions (`"0" | "2"`).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Positions<Names extends ReadonlyArray<string>> = {
  readonly [K in keyof Names & `${number}` as Names[K]]: K
}

/**
 * The names of the tuple `Names` (see `NamesOf`) that are registered a second time: names already
 * in `Registered` (on the worker before), and names that occur more than once in `Names` (found
 * through `Positions`, in one pass).
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Duplicated<Names extends ReadonlyArray<string>, Registered extends string> = {
  readonly [K in keyof Names]: Names[K] extends Registered ? Names[K]
    : [Positions<Names>[Names[K]]] extends [K] ? never
    : Names[K]
}[number]

/**
 * What `register` accepts for the flow `F`: the flow itself, or a sentence saying why not: its name is `Taken` (see `Duplicated`), or it is not
 * `Scheduler.Compatible` with the worker's versioning.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Registrable<Mode extends Version.Mode, F extends Flow.Any, Taken extends string> = Flow.Name<F> extends Taken
  ? TypeError<`ergon: flow '${Flow.Name<F>}' is registered twice on this worker; register each flow once`>
  : Scheduler.Compatible<Mode, F>

/**
 * A worker named `name` in versioning `Mode`, whose registered flows need the services
 * `Requirements`; `Names` are the names of the registered flows that are literals (what a later
 * `register` is checked against).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Worker<Mode extends Version.Mode, Requirements, Names extends string = never> {
  readonly [TypeId]: {
    readonly _Mode: Types.Covariant<Mode>
    readonly _Requirements: Types.Covariant<Requirements>
    readonly _Names: Types.Covariant<Names>
  }
  readonly name: string
  readonly mode: Mode
  readonly flows: ReadonlyArray<Flow.Any>
  readonly options: Options
  /**
   * Versions this worker with a semantic-version literal; it claims flows of that version and
   * unversioned ones, and flows of another version that a registered flow lists along with it.
   */
  withVersion<const V extends string>(
    this: Version.WhenUnconfigured<Mode, Worker<Mode, Requirements, Names>, AlreadyVersioned>,
    version: Version.SemVer<V>
  ): Worker<Version.Versioned<V>, Requirements, Names>
  /** This worker claims only unversioned flows, and cannot register pinned ones. */
  unversioned(
    this: Version.WhenUnconfigured<Mode, Worker<Mode, Requirements, Names>, AlreadyVersioned>
  ): Worker<Version.Unversioned, Requirements, Names>
  /** Reads the version from the environment variable `variable` (through Effect `Config`) when it starts. */
  fromEnv(
    this: Version.WhenUnconfigured<Mode, Worker<Mode, Requirements, Names>, AlreadyVersioned>,
    variable: string
  ): Worker<Version.EnvSourced, Requirements, Names>
  /**
   * Registers flows this worker runs. A flow pinned to versions must match the worker's version,
   * and a flow name must not be registered twice (compile errors otherwise); the flows'
   * requirements join the worker's.
   */
  register<const Flows extends ReadonlyArray<Flow.Any>>(
    this: Version.WhenConfigured<Mode, Worker<Mode, Requirements, Names>, ChooseVersioningFirst>,
    ...flows: { readonly [K in keyof Flows]: Registrable<Mode, Flows[K], Duplicated<NamesOf<Flows>, Names>> }
  ): Worker<Mode, Requirements | Flow.Context<Flows[number]>, Names | NamesOf<Flows>[number]>
  /** Sets how many flows run at once (default 16). */
  withConcurrency(concurrency: number): Worker<Mode, Requirements, Names>
  /** Sets the lease of claimed flows (default 30 seconds); the heartbeat renews it every third of it. */
  withLease(lease: Duration.DurationInput): Worker<Mode, Requirements, Names>
  /** Sets the poll interval for other processes' work (default 200 ms; idle polls back off up to 10× it). */
  withPollInterval(interval: Duration.DurationInput): Worker<Mode, Requirements, Names>
  /** Sets the longest wait kept in memory before a flow is suspended and released (default 1 minute). */
  withSuspendAfter(duration: Duration.DurationInput): Worker<Mode, Requirements, Names>
  /** Makes this worker resume flows whose durable timer (sleep, retry backoff, signal timeout) is due. */
  withTimers(): Worker<Mode, Requirements, Names>
  /** Makes this worker deliver signals from the `SignalSource` Layer to the store. */
  withSignals(): Worker<Mode, Requirements, Names>
  /**
   * Makes this worker delete, as it runs, the flows that ended more than `olderThan` ago
   * (`Client.purge` with `status` default completed and cancelled), every `every` (default 1 hour,
   * and once at start), in bounded batches.
   */
  withRetention(options: RetentionOptions): Worker<Mode, Requirements, Names>
  /**
   * Runs the worker until interrupted; on interruption it releases the flows it holds. Two
   * different flows registered under one name (possible only through a cast) make it die with a
   * `FlowDefinitionError` before it claims anything.
   */
  run(
    this: Version.WhenConfigured<Mode, Worker<Mode, Requirements, Names>, ChooseVersioningFirst>
  ): Effect.Effect<never, RunError<Mode>, Requirements | ExecutionLog>
  /** The worker as a Layer: started with the Layer, stopped (flows released) when its scope closes. */
  layer(
    this: Version.WhenConfigured<Mode, Worker<Mode, Requirements, Names>, ChooseVersioningFirst>
  ): Layer.Layer<never, never, Requirements | ExecutionLog>
}

const defaults: Options = {
  concurrency: 16,
  lease: Duration.seconds(30),
  pollInterval: Duration.millis(200),
  suspendAfter: Duration.minutes(1),
  timers: false,
  signals: false
}

const makeWith = (name: string, mode: Version.Mode, flows: ReadonlyArray<Flow.Any>, options: Options): any => {
  const next = (patch: Partial<Options>) => makeWith(name, mode, flows, { ...options, ...patch })
  const run = () =>
    Effect.suspend(() => {
      const duplicated = duplicates(flows)
      return duplicated.length > 0
        ? Effect.die(
          new FlowDefinitionError({
            name,
            detail: duplicated.map((flow) => `two different flows named '${flow}' are registered; register each flow once`)
              .join("; ")
          })
        )
        : internal.run({ name, mode, flows, ...options }, Scheduler.resolveVersion(mode), Scheduler.checkPins)
    })
  return {
    [TypeId]: TypeId as never,
    name,
    mode,
    flows,
    options,
    withVersion: (version: string) => makeWith(name, { _tag: "Versioned", version }, flows, options),
    unversioned: () => makeWith(name, { _tag: "Unversioned" }, flows, options),
    fromEnv: (variable: string) => makeWith(name, { _tag: "EnvSourced", variable }, flows, options),
    register: (...more: ReadonlyArray<Flow.Any>) => makeWith(name, mode, [...flows, ...more], options),
    withConcurrency: (concurrency: number) => next({ concurrency: Math.max(1, Math.floor(concurrency)) }),
    withLease: (lease: Duration.DurationInput) => next({ lease: Duration.decode(lease) }),
    withPollInterval: (interval: Duration.DurationInput) => next({ pollInterval: Duration.decode(interval) }),
    withSuspendAfter: (duration: Duration.DurationInput) => next({ suspendAfter: Duration.decode(duration) }),
    withTimers: () => next({ timers: true }),
    withSignals: () => next({ signals: true }),
    withRetention: (retention: RetentionOptions) =>
      next({
        retention: {
          olderThan: Duration.decode(retention.olderThan),
          status: retention.status ?? ["completed", "cancelled"],
          every: Duration.decode(retention.every ?? "1 hour")
        }
      }),
    run,
    layer: () =>
      Layer.scopedDiscard(
        Effect.forkScoped(
          run().pipe(Effect.tapErrorCause((cause) => Effect.logError("ergon.worker", { event: "stopped", worker: name, cause })))
        )
      )
  } as any
}

/** The names under which different flows are registered (the same flow twice is harmless). */
const duplicates = (flows: ReadonlyArray<Flow.Any>): ReadonlyArray<string> => {
  const byName = new Map<string, Flow.Any>()
  const found = new Set<string>()
  for (const flow of flows) {
    const seen = byName.get(flow.name)
    if (seen === undefined) byName.set(flow.name, flow)
    else if (seen !== flow) found.add(flow.name)
  }
  return Array.from(found)
}

/**
 * A new, unconfigured worker. Choose its versioning (`withVersion`, `unversioned` or `fromEnv`),
 * then register flows.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (name: string): Worker<Version.Unconfigured, never> =>
  makeWith(name, { _tag: "Unconfigured" }, [], defaults)
