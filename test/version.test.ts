import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { InvalidVersionError } from "../src/FlowError.js"
import * as Version from "../src/Version.js"

// The same cases as test/types/version.ts, plus a few.
const valid = [
  "1.4.0",
  "0.0.1",
  "0.0.0",
  "10.20.30",
  "2.0.0-rc.1",
  "1.0.0+build.5",
  "1.0.0-alpha.1+sha.abc",
  "1.0.0-0",
  "1.0.0-0a.00a.-",
  "1.0.0+001.-",
  "1.0.0-x-y-z.--",
  "1.2.3--",
  "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
  "99999999999999999999999.999999999999999999.99999999999999999"
]

/** Each invalid version, with the `detail` its error carries. */
const invalid: ReadonlyArray<readonly [string, string]> = [
  ["1.4", "expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 2 parts"],
  ["banana", "expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 1 part"],
  ["", "the version is empty"],
  ["1.2.3.4", "expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 4 parts"],
  ["01.2.3", "MAJOR '01' has a leading zero"],
  ["1.02.3", "MINOR '02' has a leading zero"],
  ["1.2.03", "PATCH '03' has a leading zero"],
  ["1.2.3-", "the pre-release has an empty identifier"],
  ["1.2.3-rc..1", "the pre-release has an empty identifier"],
  ["1.2.3-01", "the numeric pre-release identifier '01' has a leading zero"],
  ["1.2.3+", "the build has an empty identifier"],
  ["1.2.3+a+b", "the build identifier 'a+b' has a character other than [0-9A-Za-z-]"],
  ["1.2.3-α", "the pre-release identifier 'α' has a character other than [0-9A-Za-z-]"],
  ["v1.2.3", "MAJOR 'v1' is not a number of decimal digits"],
  ["1.2.x", "PATCH 'x' is not a number of decimal digits"],
  ["1e3.0.0", "MAJOR '1e3' is not a number of decimal digits"],
  ["0x10.0.0", "MAJOR '0x10' is not a number of decimal digits"],
  ["1.2.3 ", "it contains whitespace"],
  [" 1.2.3", "it contains whitespace"],
  ["1.2.3\n", "it contains whitespace"],
  ["-1.2.3", "expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 1 part"],
  ["1..3", "MINOR '' is not a number of decimal digits"]
]

// The regular expression published at semver.org, as an independent check of the rules.
const SEMVER_ORG =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/

describe("Version.isSemVer and Version.parse", () => {
  it("accept semantic versions, returning them unchanged", () => {
    for (const version of valid) {
      assert.isTrue(Version.isSemVer(version), version)
      assert.deepStrictEqual(Version.parse(version), Either.right(version))
    }
  })

  it("refuse anything else with an InvalidVersionError saying why", () => {
    for (const [version, detail] of invalid) {
      assert.isFalse(Version.isSemVer(version), JSON.stringify(version))
      assert.deepStrictEqual(
        Version.parse(version, "deploy.json"),
        Either.left(new InvalidVersionError({ source: "deploy.json", value: version, detail }))
      )
    }
  })

  it("names the source in the message, Version.parse by default", () => {
    const error = Either.getOrThrow(Either.flip(Version.parse("1.4")))
    assert.strictEqual(error.source, "Version.parse")
    assert.strictEqual(
      error.message,
      "ergon: '1.4' from Version.parse is not a semantic version: expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 2 parts"
    )
  })

  it("agree with the regular expression of semver.org", () => {
    for (const version of [...valid, ...invalid.map(([version]) => version)]) {
      assert.strictEqual(Version.isSemVer(version), SEMVER_ORG.test(version), JSON.stringify(version))
    }
  })
})

describe("Version.compare", () => {
  // semver.org, item 11: each comes before the next.
  const ordered = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.9.0",
    "1.10.0",
    "2.0.0",
    "10.0.0"
  ]

  it("orders versions by semver precedence", () => {
    for (const [i, a] of ordered.entries()) {
      for (const [j, b] of ordered.entries()) {
        assert.strictEqual(Version.compare(a, b), i < j ? -1 : i > j ? 1 : 0, `${a} vs ${b}`)
      }
    }
  })

  it("sorts", () => {
    // 5 and 14 are coprime, so this visits every index once.
    const shuffled = ordered.map((_, index) => ordered[(index * 5) % ordered.length]!)
    assert.notDeepEqual(shuffled, ordered)
    assert.deepStrictEqual(shuffled.sort(Version.compare), ordered)
  })

  it("compares numbers numerically at any size", () => {
    assert.strictEqual(Version.compare("99999999999999999999.0.0", "100000000000000000000.0.0"), -1)
    assert.strictEqual(Version.compare("1.0.0-9007199254740993", "1.0.0-9007199254740992"), 1)
    assert.strictEqual(Version.compare("1.0.0-2", "1.0.0-10"), -1)
  })

  it("puts numeric identifiers before alphanumeric ones, compared in ASCII order", () => {
    assert.strictEqual(Version.compare("1.0.0-999", "1.0.0-a"), -1)
    assert.strictEqual(Version.compare("1.0.0-0a", "1.0.0-1"), 1)
    assert.strictEqual(Version.compare("1.0.0-B", "1.0.0-a"), -1)
    assert.strictEqual(Version.compare("1.0.0-a-b", "1.0.0-a.b"), 1)
  })

  it("ignores build metadata", () => {
    assert.strictEqual(Version.compare("1.0.0+a", "1.0.0+b"), 0)
    assert.strictEqual(Version.compare("1.0.0-rc.1+a", "1.0.0-rc.1"), 0)
    assert.strictEqual(Version.compare("1.0.0+zzz", "1.0.1"), -1)
  })

  it("puts strings that are not semantic versions first, in code-unit order", () => {
    assert.strictEqual(Version.compare("banana", "0.0.0"), -1)
    assert.strictEqual(Version.compare("0.0.0", "banana"), 1)
    assert.strictEqual(Version.compare("1.4", "banana"), -1)
    assert.strictEqual(Version.compare("banana", "banana"), 0)
  })
})

describe("Version.fromEnv", () => {
  // The error that comes out of an Effect carries its span, so compare its fields.
  const fields = (error: InvalidVersionError): Record<string, unknown> => ({ ...error })
  const withEnv = (entries: ReadonlyArray<readonly [string, string]>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))

  it.effect("reads a semantic version from the variable", () =>
    Effect.gen(function*() {
      const version = yield* Version.fromEnv("DEPLOY_VERSION").pipe(withEnv([["DEPLOY_VERSION", "1.4.0-rc.1"]]))
      assert.strictEqual(version, "1.4.0-rc.1")
    }))

  it.effect("fails with an InvalidVersionError without value when the variable is missing", () =>
    Effect.gen(function*() {
      const error = yield* Version.fromEnv("DEPLOY_VERSION").pipe(
        withEnv([["OTHER", "1.4.0"]]),
        Effect.flip
      )
      assert.instanceOf(error, InvalidVersionError)
      assert.deepStrictEqual(fields(error), {
        _tag: "InvalidVersionError",
        source: "env DEPLOY_VERSION",
        detail: "the variable DEPLOY_VERSION is missing; set it to the deployment version, e.g. DEPLOY_VERSION=1.4.0"
      })
      assert.strictEqual(
        error.message,
        "ergon: no deployment version in env DEPLOY_VERSION: the variable DEPLOY_VERSION is missing; set it to the deployment version, e.g. DEPLOY_VERSION=1.4.0"
      )
    }))

  it.effect("fails with an InvalidVersionError carrying the value when it is not a semantic version", () =>
    Effect.gen(function*() {
      const error = yield* Version.fromEnv("DEPLOY_VERSION").pipe(
        withEnv([["DEPLOY_VERSION", "v1.4"]]),
        Effect.flip
      )
      assert.instanceOf(error, InvalidVersionError)
      assert.deepStrictEqual(fields(error), {
        _tag: "InvalidVersionError",
        source: "env DEPLOY_VERSION",
        value: "v1.4",
        detail: "expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 2 parts"
      })
      assert.strictEqual(
        error.message,
        "ergon: 'v1.4' from env DEPLOY_VERSION is not a semantic version: expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 2 parts"
      )
    }))

  it.effect("does not trim the value", () =>
    Effect.gen(function*() {
      const error = yield* Version.fromEnv("DEPLOY_VERSION").pipe(
        withEnv([["DEPLOY_VERSION", "1.4.0\n"]]),
        Effect.flip
      )
      assert.strictEqual(error.value, "1.4.0\n")
      assert.strictEqual(error.detail, "it contains whitespace")
    }))

  it.effect("has only InvalidVersionError in its error channel", () =>
    Effect.gen(function*() {
      // Handling the one tag leaves no error: this would not compile if fromEnv had another.
      const handled: Effect.Effect<string> = Version.fromEnv("DEPLOY_VERSION").pipe(
        Effect.catchTag("InvalidVersionError", (error) => Effect.succeed(error.source))
      )
      assert.strictEqual(yield* handled.pipe(withEnv([])), "env DEPLOY_VERSION")
    }))
})
