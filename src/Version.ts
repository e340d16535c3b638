/**
 * Deployment versions: the typestate of schedulers and workers, and semantic versions checked at
 * compile time and at run time.
 *
 * `Scheduler.make()` and `Worker.make(name)` start `Unconfigured`; exactly one of three choices
 * configures them, once, and the state they end in is one of the phantom types below:
 *
 * ```ts
 * Scheduler.make().withVersion("1.4.0")        // Versioned<"1.4.0">: checked at compile time
 * Scheduler.make().unversioned()               // Unversioned
 * Scheduler.make().fromEnv("DEPLOY_VERSION")   // EnvSourced: read through Effect Config at run time
 * ```
 *
 * `SemVer` is the compile-time check behind `withVersion`: a literal that is not a semantic
 * version, or a plain `string`, is a compile error. `parse`, `isSemVer` and `fromEnv` are the
 * same check at run time, and `compare` orders versions by semver precedence.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { InvalidVersionError } from "./FlowError.js"
import type { TypeError } from "./TypeLevel.js"

// -----------------------------------------------------------------------------
// Models: the typestate
// -----------------------------------------------------------------------------

/**
 * The state of a scheduler or worker that has not chosen how it is versioned yet: it has no
 * `schedule` (no `run` for a worker) until one of `withVersion`, `unversioned` or `fromEnv` is
 * called.
 *
 * A phantom type: no value of it exists at run time.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Unconfigured {
  readonly _tag: "Unconfigured"
}

/**
 * The state of a scheduler or worker pinned at compile time to the deployment version `V` (a
 * semantic-version literal, checked by `SemVer`).
 *
 * Only flows whose `versions` include `V`, or that are not pinned, can be scheduled by it or
 * registered on it. A phantom type: no value of it exists at run time.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Versioned<V extends string> {
  readonly _tag: "Versioned"
  readonly version: V
}

/**
 * The state of a scheduler or worker that runs without a deployment version: it can take only
 * flows that are not pinned to versions, and a worker in this state claims only unversioned flows.
 *
 * A phantom type: no value of it exists at run time.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Unversioned {
  readonly _tag: "Unversioned"
}

/**
 * The state of a scheduler or worker whose deployment version is read at run time from the
 * configuration `variable` (through Effect `Config`, see `fromEnv`).
 *
 * The version is not known to the compiler, so a pinned flow is checked when the scheduler or
 * worker starts, and a mismatch is a typed `VersionMismatchError`. A phantom type: no value of it
 * exists at run time.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EnvSourced {
  readonly _tag: "EnvSourced"
  readonly variable: string
}

/**
 * Every state of the versioning typestate: the bound of a scheduler's or worker's `Mode`
 * parameter.
 *
 * @since 0.1.0
 * @category Models
 */
export type Mode = Unconfigured | Versioned<string> | Unversioned | EnvSourced

/**
 * The states in which versioning has been chosen: the `this` type of the methods that exist only
 * once it has (`schedule`, a worker's `run` and `layer`).
 *
 * @since 0.1.0
 * @category Models
 */
export type Configured = Versioned<string> | Unversioned | EnvSourced

/**
 * The `this` type of a method that exists only once versioning is chosen (`schedule`, a worker's
 * `register`, `run` and `layer`): `Self` in a configured `State`, and in `Unconfigured` a
 * `TypeError` whose message tsc prints, telling what to call first.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type WhenConfigured<State extends Mode, Self, Message extends string> = [State] extends [Unconfigured]
  ? TypeError<Message>
  : Self

/**
 * The `this` type of `withVersion`, `unversioned` and `fromEnv`: `Self` while `State` is
 * `Unconfigured`, and once versioning is chosen a `TypeError` saying it is chosen only once.
 *
 * @since 0.1.0
 * @category Type-level
 */
export type WhenUnconfigured<State extends Mode, Self, Message extends string> = [State] extends [Unconfigured]
  ? Self
  : TypeError<Message>

// -----------------------------------------------------------------------------
// Type-level: SemVer
// -----------------------------------------------------------------------------

/**
 * `V` itself when it is one semantic-version literal, otherwise a `TypeError` whose message tsc
 * prints: the parameter type of `withVersion`.
 *
 * A semantic version is `MAJOR.MINOR.PATCH` (decimal digits, no leading zero apart from `0`
 * itself), optionally followed by `-` and a pre-release, and by `+` and build metadata, each a
 * list of non-empty dot-separated identifiers of `[0-9A-Za-z-]`; a numeric pre-release identifier
 * has no leading zero either (semver 2.0.0). A union of literals (`canary ? "1.4.0" : "1.3.0"`) is
 * refused: the version a scheduler stamps, or a worker claims, is one version, and a union would
 * pass every pin check that one of its members passes. Misuses read:
 *
 * ```text
 * Argument of type '"1.4"' is not assignable to parameter of type 'TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)">'.
 * Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: withVersion needs a version literal such as '1.4.0'; use fromEnv for a version known only at run time">'.
 * Argument of type '"1.4.0" | "1.3.0"' is not assignable to parameter of type 'TypeError<"ergon: withVersion takes one version, not a union of versions; choose one, or use fromEnv for a version chosen at run time">'.
 * ```
 *
 * The check walks the literal one character at a time through a small automaton, in tail
 * position, and stops at the first character that cannot follow: a few instantiations per
 * character, no unions built. A template literal type with holes (`${number}.0.0`) is refused
 * like a plain `string` is.
 *
 * @example
 * ```ts
 * import type { Version } from "ergon"
 *
 * declare function withVersion<const V extends string>(version: Version.SemVer<V>): Version.Versioned<V>
 *
 * withVersion("1.4.0") // Versioned<"1.4.0">
 * // withVersion("1.4") // error: ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)
 * ```
 *
 * @since 0.1.0
 * @category Type-level
 */
export type SemVer<V extends string> =
  // `string`, or a template literal type with holes, makes `Record<V, unknown>` an index signature,
  // which `{}` is assignable to. The messages are written out here (not behind an alias) so tsc prints them.
  {} extends Record<V, unknown>
    ? TypeError<"ergon: withVersion needs a version literal such as '1.4.0'; use fromEnv for a version known only at run time">
  : true extends IsUnion<V>
    ? TypeError<"ergon: withVersion takes one version, not a union of versions; choose one, or use fromEnv for a version chosen at run time">
  : Accepts<V, MajorStart> extends true ? V
  : TypeError<`ergon: '${V}' is not a semantic version (MAJOR.MINOR.PATCH)`>

/**
 * The type a flow's `versions` accepts for each element, given the union `V` of the elements
 * written: each element that is a semantic-version literal is accepted as itself; one that is not
 * is refused with a `TypeError` naming it, and a non-literal `string` is refused with a sentence
 * (a flow pinned to a version known only at run time could not be checked against schedulers and
 * workers, and would pass as unpinned).
 *
 * It distributes over `V`, so the error lands on the element that is wrong:
 *
 * ```text
 * Type '"1.4"' is not assignable to type '"1.3.0" | TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)">'.
 * Type 'string' is not assignable to type 'TypeError<"ergon: a flow's versions must be version literals such as '1.4.0', not a string known only at run time; list the versions the flow was reviewed for">'.
 * ```
 *
 * @since 0.1.0
 * @category Type-level
 */
export type Pin<V extends string> =
  // Not distributive at the top: tsc infers `V` through this type only when the branch holding `V`
  // is not nested in a distributive conditional. The errors distribute, below.
  {} extends Record<V, unknown> ? TypeError<
      "ergon: a flow's versions must be version literals such as '1.4.0', not a string known only at run time; list the versions the flow was reviewed for"
    >
  : Accepts<V, MajorStart> extends true ? V
  : EachPin<V>

/** Each member of `V` that is a semantic version, and a `TypeError` for each that is not. */
type EachPin<V extends string> = V extends unknown ? Accepts<V, MajorStart> extends true ? V
  : TypeError<`ergon: '${V}' is not a semantic version (MAJOR.MINOR.PATCH)`>
  : never

/** `true` when `V` is a union of several members (`boolean` then), `false` otherwise. */
type IsUnion<V, All = V> = V extends unknown ? [All] extends [V] ? false : true : never

/**
 * `true` when `Input`, read from `State`, ends in an accepting state. `Input` is consumed one
 * character at a time; a character with no transition from the current state stops the walk.
 */
type Accepts<Input extends string, State> = Input extends `${infer Char}${infer Rest}`
  ? Char extends keyof CharClass ? CharClass[Char] extends infer Class extends keyof State ? Accepts<Rest, State[Class]>
    : false
  : false
  : State extends Accepting ? true
  : false

/** The characters a semantic version is made of, by the role they play in it. */
interface CharClass {
  "0": "zero"
  "1": "digit"
  "2": "digit"
  "3": "digit"
  "4": "digit"
  "5": "digit"
  "6": "digit"
  "7": "digit"
  "8": "digit"
  "9": "digit"
  "-": "hyphen"
  ".": "dot"
  "+": "plus"
  a: "letter"
  b: "letter"
  c: "letter"
  d: "letter"
  e: "letter"
  f: "letter"
  g: "letter"
  h: "letter"
  i: "letter"
  j: "letter"
  k: "letter"
  l: "letter"
  m: "letter"
  n: "letter"
  o: "letter"
  p: "letter"
  q: "letter"
  r: "letter"
  s: "letter"
  t: "letter"
  u: "letter"
  v: "letter"
  w: "letter"
  x: "letter"
  y: "letter"
  z: "letter"
  A: "letter"
  B: "letter"
  C: "letter"
  D: "letter"
  E: "letter"
  F: "letter"
  G: "letter"
  H: "letter"
  I: "letter"
  J: "letter"
  K: "letter"
  L: "letter"
  M: "letter"
  N: "letter"
  O: "letter"
  P: "letter"
  Q: "letter"
  R: "letter"
  S: "letter"
  T: "letter"
  U: "letter"
  V: "letter"
  W: "letter"
  X: "letter"
  Y: "letter"
  Z: "letter"
}

// The automaton: each state lists its transitions by character class; a class it does not list
// rejects the input. Accepting states are marked with `end`.

/** Before the first digit of MAJOR. */
interface MajorStart {
  zero: MajorDone
  digit: Major
}
/** MAJOR is `0`: only the dot may follow. */
interface MajorDone {
  dot: MinorStart
}
/** MAJOR is `[1-9][0-9]*` so far. */
interface Major {
  zero: Major
  digit: Major
  dot: MinorStart
}
interface MinorStart {
  zero: MinorDone
  digit: Minor
}
interface MinorDone {
  dot: PatchStart
}
interface Minor {
  zero: Minor
  digit: Minor
  dot: PatchStart
}
interface PatchStart {
  zero: PatchDone
  digit: Patch
}
interface PatchDone {
  end: true
  hyphen: PreStart
  plus: BuildStart
}
interface Patch {
  end: true
  zero: Patch
  digit: Patch
  hyphen: PreStart
  plus: BuildStart
}
/** Before the first character of a pre-release identifier. */
interface PreStart {
  zero: PreZero
  digit: PreNumeric
  letter: PreAlphanumeric
  hyphen: PreAlphanumeric
}
/** The identifier is `0` so far. */
interface PreZero {
  end: true
  zero: PreLeadingZero
  digit: PreLeadingZero
  letter: PreAlphanumeric
  hyphen: PreAlphanumeric
  dot: PreStart
  plus: BuildStart
}
/** The identifier is `[1-9][0-9]*` so far. */
interface PreNumeric {
  end: true
  zero: PreNumeric
  digit: PreNumeric
  letter: PreAlphanumeric
  hyphen: PreAlphanumeric
  dot: PreStart
  plus: BuildStart
}
/** The identifier is `0[0-9]+` so far: valid only if a letter or hyphen follows. */
interface PreLeadingZero {
  zero: PreLeadingZero
  digit: PreLeadingZero
  letter: PreAlphanumeric
  hyphen: PreAlphanumeric
}
/** The identifier has a letter or hyphen. */
interface PreAlphanumeric {
  end: true
  zero: PreAlphanumeric
  digit: PreAlphanumeric
  letter: PreAlphanumeric
  hyphen: PreAlphanumeric
  dot: PreStart
  plus: BuildStart
}
/** Before the first character of a build identifier. */
interface BuildStart {
  zero: Build
  digit: Build
  letter: Build
  hyphen: Build
}
interface Build {
  end: true
  zero: Build
  digit: Build
  letter: Build
  hyphen: Build
  dot: BuildStart
}
interface Accepting {
  end: true
}

// -----------------------------------------------------------------------------
// Guards
// -----------------------------------------------------------------------------

/**
 * Tells whether `value` is a semantic version, by the same rules as `SemVer` checks at compile
 * time: `MAJOR.MINOR.PATCH`, optional `-pre.release`, optional `+build.metadata`.
 *
 * Nothing is trimmed: `" 1.4.0"` and `"v1.4.0"` are not semantic versions.
 *
 * @example
 * ```ts
 * import { Version } from "ergon"
 *
 * Version.isSemVer("2.0.0-rc.1") // true
 * Version.isSemVer("1.4") // false
 * ```
 *
 * @since 0.1.0
 * @category Guards
 */
export const isSemVer = (value: string): boolean => problem(value) === undefined

// -----------------------------------------------------------------------------
// Constructors
// -----------------------------------------------------------------------------

/**
 * Checks that `value` is a semantic version: `Right` of the value itself, or `Left` of an
 * `InvalidVersionError` whose `detail` says what is wrong.
 *
 * `source` says where the value came from and ends up in the error (`env DEPLOY_VERSION`, for
 * example); it defaults to `Version.parse`. The value is not trimmed or normalised.
 *
 * @example
 * ```ts
 * import { Version } from "ergon"
 *
 * Version.parse("1.4.0") // Either.right("1.4.0")
 * Version.parse("01.4.0", "deploy.json")
 * // Either.left(InvalidVersionError { source: "deploy.json", value: "01.4.0", detail: "MAJOR '01' has a leading zero" })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const parse = (value: string, source: string = "Version.parse"): Either.Either<string, InvalidVersionError> => {
  const detail = problem(value)
  return detail === undefined ? Either.right(value) : Either.left(new InvalidVersionError({ source, value, detail }))
}

/**
 * Reads the deployment version from the configuration `variable` through Effect `Config`
 * (`Config.string(variable)`), and checks that it is a semantic version.
 *
 * With the default `ConfigProvider` the variable is an environment variable; provide another with
 * `Effect.withConfigProvider` (e.g. `ConfigProvider.fromMap` in tests). Fails with an
 * `InvalidVersionError` whose `source` is `env <variable>`: without `value` when the variable is
 * missing (or the provider cannot be read), with it when the value is not a semantic version.
 *
 * @example
 * ```ts
 * import * as ConfigProvider from "effect/ConfigProvider"
 * import * as Effect from "effect/Effect"
 * import { Version } from "ergon"
 *
 * const version = Version.fromEnv("DEPLOY_VERSION").pipe(
 *   Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DEPLOY_VERSION", "1.4.0"]])))
 * ) // Effect<string, InvalidVersionError>, succeeds with "1.4.0"
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromEnv = (variable: string): Effect.Effect<string, InvalidVersionError> => {
  const source = `env ${variable}`
  return Config.string(variable).pipe(
    Effect.mapError((error) =>
      new InvalidVersionError({
        source,
        detail: ConfigError.isMissingDataOnly(error)
          ? `the variable ${variable} is missing; set it to the deployment version, e.g. ${variable}=1.4.0`
          : `the variable ${variable} cannot be read: ${error.message}`
      })
    ),
    Effect.flatMap((value) => parse(value, source)),
    Effect.withSpan("Version.fromEnv", { attributes: { variable } })
  )
}

// -----------------------------------------------------------------------------
// Combinators
// -----------------------------------------------------------------------------

/**
 * Compares two semantic versions by semver precedence: `-1` when `a` comes before `b`, `1` when
 * after, `0` when they have the same precedence.
 *
 * MAJOR, MINOR and PATCH are compared numerically (at any size); a pre-release comes before the
 * release (`1.0.0-rc.1 < 1.0.0`); pre-release identifiers are compared one by one, numeric ones
 * numerically and before alphanumeric ones, which compare in ASCII order, and a shorter list that
 * is a prefix of a longer one comes first. Build metadata is ignored (`1.0.0+a` and `1.0.0+b`
 * compare as `0`). A string that is not a semantic version comes before every semantic version,
 * and such strings compare among themselves in code-unit order, so `compare` is a total order
 * usable with `Array.prototype.sort`.
 *
 * @example
 * ```ts
 * import { Version } from "ergon"
 *
 * ["1.10.0", "1.4.0", "1.4.0-rc.1"].sort(Version.compare) // ["1.4.0-rc.1", "1.4.0", "1.10.0"]
 * ```
 *
 * @since 0.1.0
 * @category Combinators
 */
export const compare = (a: string, b: string): -1 | 0 | 1 => {
  const validA = isSemVer(a)
  const validB = isSemVer(b)
  if (!validA || !validB) {
    return validA ? 1 : validB ? -1 : a < b ? -1 : a > b ? 1 : 0
  }
  const [coreA, preA] = split(a)
  const [coreB, preB] = split(b)
  const core = compareLists(coreA, coreB)
  if (core !== 0 || preA === preB) return core
  // A pre-release comes before the release it precedes.
  if (preA === undefined) return 1
  if (preB === undefined) return -1
  return compareLists(preA, preB)
}

// -----------------------------------------------------------------------------
// Internal
// -----------------------------------------------------------------------------

const NUMERIC = /^(0|[1-9][0-9]*)$/
const IDENTIFIER = /^[0-9A-Za-z-]+$/

/** What makes `value` not a semantic version, or `undefined` when it is one. */
const problem = (value: string): string | undefined => {
  if (value === "") return "the version is empty"
  if (/\s/.test(value)) return "it contains whitespace"
  const plus = value.indexOf("+")
  const beforeBuild = plus === -1 ? value : value.slice(0, plus)
  const hyphen = beforeBuild.indexOf("-")
  const core = (hyphen === -1 ? beforeBuild : beforeBuild.slice(0, hyphen)).split(".")
  if (core.length !== 3) {
    return `expected MAJOR.MINOR.PATCH (three numbers separated by dots), found ${core.length} part${core.length === 1 ? "" : "s"}`
  }
  for (const [index, part] of core.entries()) {
    const name = (["MAJOR", "MINOR", "PATCH"] as const)[index]
    if (!/^[0-9]+$/.test(part)) return `${name} '${part}' is not a number of decimal digits`
    if (!NUMERIC.test(part)) return `${name} '${part}' has a leading zero`
  }
  if (hyphen !== -1) {
    for (const identifier of beforeBuild.slice(hyphen + 1).split(".")) {
      if (!IDENTIFIER.test(identifier)) return identifierProblem("pre-release", identifier)
      if (/^[0-9]+$/.test(identifier) && !NUMERIC.test(identifier)) {
        return `the numeric pre-release identifier '${identifier}' has a leading zero`
      }
    }
  }
  if (plus !== -1) {
    for (const identifier of value.slice(plus + 1).split(".")) {
      if (!IDENTIFIER.test(identifier)) return identifierProblem("build", identifier)
    }
  }
  return undefined
}

const identifierProblem = (part: "pre-release" | "build", identifier: string): string =>
  identifier === ""
    ? `the ${part} has an empty identifier`
    : `the ${part} identifier '${identifier}' has a character other than [0-9A-Za-z-]`

/** The numbers of a valid version's core and its pre-release identifiers (build dropped). */
const split = (version: string): readonly [ReadonlyArray<string>, ReadonlyArray<string> | undefined] => {
  const withoutBuild = version.split("+", 1)[0]!
  const hyphen = withoutBuild.indexOf("-")
  return hyphen === -1
    ? [withoutBuild.split("."), undefined]
    : [withoutBuild.slice(0, hyphen).split("."), withoutBuild.slice(hyphen + 1).split(".")]
}

/** Compares identifier lists by semver precedence; a prefix comes first. */
const compareLists = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): -1 | 0 | 1 => {
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    const order = compareIdentifiers(a[index]!, b[index]!)
    if (order !== 0) return order
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0
}

/**
 * Numeric identifiers compare numerically, and come before alphanumeric ones, which compare in
 * ASCII order. Numeric identifiers have no leading zero, so the longer one is the larger,
 * whatever its size.
 */
const compareIdentifiers = (a: string, b: string): -1 | 0 | 1 => {
  const numericA = NUMERIC.test(a)
  const numericB = NUMERIC.test(b)
  if (numericA && numericB && a.length !== b.length) return a.length < b.length ? -1 : 1
  if (numericA !== numericB) return numericA ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}
