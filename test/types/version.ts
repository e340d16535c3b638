/**
 * Type tests for `Version.SemVer` and the typestate states, checked by `tsc --noEmit`
 * (`npm run typecheck`); nothing here runs.
 *
 * `withVersion` below has the signature the scheduler's and worker's `withVersion` have (minus
 * the `this` parameter), so these cases pin what `SemVer` accepts and what tsc says when it
 * refuses. Positive cases assert exact types, so a `SemVer` that collapsed to `any`, `never` or
 * `string` fails. Each misuse is one line under `// @ts-expect-error <text>`, and
 * `test/types/messages.test.ts` checks that tsc's diagnostic for that line contains `<text>`.
 */
import { describe, expectTypeOf, it } from "vitest"
import type * as Version from "../../src/Version.js"
import type { TypeError } from "../../src/TypeLevel.js"

declare function withVersion<const V extends string>(version: Version.SemVer<V>): Version.Versioned<V>
/** What `Flow.make`'s `versions` accepts (`Flow.Pinned`), minus the rest of the options. */
declare function pinned<const V extends string>(versions: readonly [Version.Pin<V>, ...Array<Version.Pin<V>>]): V
declare const someString: string
declare const someNumberTemplate: `${number}.0.0`
declare const canary: boolean

describe("SemVer", () => {
  it("accepts semantic versions and infers the literal", () => {
    expectTypeOf(withVersion("1.4.0")).toEqualTypeOf<Version.Versioned<"1.4.0">>()
    expectTypeOf(withVersion("0.0.1")).toEqualTypeOf<Version.Versioned<"0.0.1">>()
    expectTypeOf(withVersion("10.20.30")).toEqualTypeOf<Version.Versioned<"10.20.30">>()
    expectTypeOf(withVersion("2.0.0-rc.1")).toEqualTypeOf<Version.Versioned<"2.0.0-rc.1">>()
    expectTypeOf(withVersion("1.0.0+build.5")).toEqualTypeOf<Version.Versioned<"1.0.0+build.5">>()
    expectTypeOf(withVersion("1.0.0-alpha.1+sha.abc")).toEqualTypeOf<Version.Versioned<"1.0.0-alpha.1+sha.abc">>()
  })

  it("accepts the corners of the grammar", () => {
    expectTypeOf(withVersion("0.0.0")).toEqualTypeOf<Version.Versioned<"0.0.0">>()
    expectTypeOf(withVersion("1.0.0-0")).toEqualTypeOf<Version.Versioned<"1.0.0-0">>()
    expectTypeOf(withVersion("1.0.0-0a.00a.-")).toEqualTypeOf<Version.Versioned<"1.0.0-0a.00a.-">>()
    expectTypeOf(withVersion("1.0.0+001.-")).toEqualTypeOf<Version.Versioned<"1.0.0+001.-">>()
    expectTypeOf(withVersion("1.0.0-x-y-z.--")).toEqualTypeOf<Version.Versioned<"1.0.0-x-y-z.--">>()
  })

  it("is the literal itself, or a TypeError", () => {
    expectTypeOf<Version.SemVer<"1.4.0">>().toEqualTypeOf<"1.4.0">()
    expectTypeOf<Version.SemVer<"1.4">>().toEqualTypeOf<
      TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)">
    >()
    expectTypeOf<Version.SemVer<string>>().toEqualTypeOf<
      TypeError<
        "ergon: withVersion needs a version literal such as '1.4.0'; use fromEnv for a version known only at run time"
      >
    >()
  })

  it("rejects what is not MAJOR.MINOR.PATCH", () => {
    // @ts-expect-error TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.4")
    // @ts-expect-error TypeError<"ergon: 'banana' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("banana")
    // @ts-expect-error TypeError<"ergon: '' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("")
    // @ts-expect-error TypeError<"ergon: '1.2.3.4' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.3.4")
    // @ts-expect-error TypeError<"ergon: 'v1.2.3' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("v1.2.3")
    // @ts-expect-error TypeError<"ergon: '1.2.3 ' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.3 ")
    // @ts-expect-error TypeError<"ergon: '1.2.x' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.x")
    // @ts-expect-error TypeError<"ergon: '1e3.0.0' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1e3.0.0")
  })

  it("rejects leading zeros and empty identifiers", () => {
    // @ts-expect-error TypeError<"ergon: '01.2.3' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("01.2.3")
    // @ts-expect-error TypeError<"ergon: '1.02.3' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.02.3")
    // @ts-expect-error TypeError<"ergon: '1.2.3-01' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.3-01")
    // @ts-expect-error TypeError<"ergon: '1.2.3-' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.3-")
    // @ts-expect-error TypeError<"ergon: '1.2.3-rc..1' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.3-rc..1")
    // @ts-expect-error TypeError<"ergon: '1.2.3+' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.3+")
    // @ts-expect-error TypeError<"ergon: '1.2.3+a+b' is not a semantic version (MAJOR.MINOR.PATCH)">
    withVersion("1.2.3+a+b")
  })

  it("rejects a version that is not a literal", () => {
    // @ts-expect-error TypeError<"ergon: withVersion needs a version literal such as '1.4.0'; use fromEnv for a version known only at run time">
    withVersion(someString)
    // @ts-expect-error TypeError<"ergon: withVersion needs a version literal such as '1.4.0'; use fromEnv for a version known only at run time">
    withVersion(someNumberTemplate)
  })

  it("rejects a union of versions: the version is one version", () => {
    // @ts-expect-error is not assignable to parameter of type 'TypeError<"ergon: withVersion takes one version, not a union of versions; choose one, or use fromEnv for a version chosen at run time">'.
    withVersion(canary ? "1.4.0" : "1.3.0")
    expectTypeOf<Version.SemVer<"1.4.0" | "1.3.0">>().toEqualTypeOf<
      TypeError<"ergon: withVersion takes one version, not a union of versions; choose one, or use fromEnv for a version chosen at run time">
    >()
  })
})

describe("Pin", () => {
  it("accepts a list of semantic-version literals and infers their union", () => {
    expectTypeOf(pinned(["1.3.0"])).toEqualTypeOf<"1.3.0">()
    expectTypeOf(pinned(["1.3.0", "1.4.0", "2.0.0-rc.1"])).toEqualTypeOf<"1.3.0" | "1.4.0" | "2.0.0-rc.1">()
    expectTypeOf<Version.Pin<"1.3.0" | "1.4.0">>().toEqualTypeOf<"1.3.0" | "1.4.0">()
  })

  it("refuses, on the element, what is not a semantic version", () => {
    // @ts-expect-error Type '"1.4"' is not assignable to type 'TypeError<"ergon: '1.4' is not a semantic version (MAJOR.MINOR.PATCH)"> | "1.3.0"'.
    pinned(["1.3.0", "1.4"])
    // @ts-expect-error is not assignable to type 'TypeError<"ergon: 'banana' is not a semantic version (MAJOR.MINOR.PATCH)">'.
    pinned(["banana"])
  })

  it("refuses a version that is not a literal", () => {
    // @ts-expect-error Type 'string' is not assignable to type 'TypeError<"ergon: a flow's versions must be version literals such as '1.4.0', not a string known only at run time; list the versions the flow was reviewed for">'.
    pinned([someString])
    // @ts-expect-error Type '`${number}.0.0`' is not assignable to type 'TypeError<"ergon: a flow's versions must be version literals such as '1.4.0', not a string known only at run time; list the versions the flow was reviewed for">'.
    pinned([someNumberTemplate])
  })

  it("refuses an empty list", () => {
    // @ts-expect-error Source has 0 element(s) but target requires 1.
    pinned([])
  })
})

describe("the typestate states", () => {
  it("Configured is every state but Unconfigured", () => {
    expectTypeOf<Version.Configured>().toEqualTypeOf<Exclude<Version.Mode, Version.Unconfigured>>()
    expectTypeOf<Version.Versioned<"1.4.0">>().toExtend<Version.Configured>()
    expectTypeOf<Version.Unconfigured>().not.toExtend<Version.Configured>()
  })
})
