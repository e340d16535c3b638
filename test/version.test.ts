import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Client from "../src/Client.js"
import * as ExecutionLog from "../src/ExecutionLog.js"
import * as Executor from "../src/Executor.js"
import * as Flow from "../src/Flow.js"
import { FlowDefinitionError, InvalidVersionError, VersionMismatchError } from "../src/FlowError.js"
import * as Version from "../src/Version.js"
import * as Worker from "../src/Worker.js"

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

describe("Flow.make", () => {
  const run = () => Effect.void

  it("refuses versions that are not semantic versions, when a cast got them past the types", () => {
    const thrown = (versions: ReadonlyArray<string>) => {
      try {
        Flow.make("pinned", { input: Schema.Void, versions: versions as unknown as readonly ["1.0.0"], run })
      } catch (error) {
        return error
      }
      return assert.fail("Flow.make accepted the versions")
    }
    const typo = thrown(["1.3.0", "1.4"])
    assert.instanceOf(typo, FlowDefinitionError)
    assert.strictEqual(
      (typo as FlowDefinitionError).message,
      "ergon: invalid definition 'pinned': versions: '1.4' is not a semantic version: expected MAJOR.MINOR.PATCH (three numbers separated by dots), found 2 parts"
    )
    assert.strictEqual(
      (thrown([]) as FlowDefinitionError).message,
      "ergon: invalid definition 'pinned': versions must list at least one semantic version"
    )
    assert.include((thrown(["v1.0.0", ""]) as FlowDefinitionError).detail, "'v1.0.0' is not a semantic version")
  })

  it("keeps valid versions, and no versions as unpinned", () => {
    const pinned = Flow.make("pinned", { input: Schema.Void, versions: ["1.3.0", "2.0.0-rc.1"], run })
    assert.deepStrictEqual(pinned.versions, ["1.3.0", "2.0.0-rc.1"])
    assert.strictEqual(Flow.make("free", { input: Schema.Void, run }).versions, undefined)
  })
})

describe("Flow.invoke of a pinned child", () => {
  const Child = Flow.make("pinned-child", {
    input: Schema.Number,
    success: Schema.Number,
    versions: ["1.3.0"],
    run: (n) => Effect.succeed(n * 2)
  })
  /** Not pinned: it may run on any version, so the mismatch is a typed error it handles. */
  const Parent = Flow.make("unpinned-parent", {
    input: Schema.Number,
    success: Schema.Union(Schema.Number, VersionMismatchError),
    run: (n) => Flow.invoke(Child, n).pipe(Effect.catchTag("VersionMismatchError", Effect.succeed))
  })
  const children = (parentId: string) => Client.list({ parentId })
  /** The mismatch the parent completed with (its fields: errors carry a stack of their own). */
  const mismatch = (outcome: Executor.FlowOutcome<number | VersionMismatchError, never>) => {
    if (outcome._tag !== "Completed" || Exit.isFailure(outcome.exit) || typeof outcome.exit.value === "number") {
      return assert.fail(`expected a completion with a VersionMismatchError, got ${JSON.stringify(outcome)}`)
    }
    const { _tag, deployment, flowType, versions } = outcome.exit.value
    return { _tag, flowType, versions, deployment }
  }

  it.effect("runs the child when the parent's version is one of its pins", () =>
    Effect.gen(function*() {
      const outcome = yield* Executor.execute(Parent, 21, { id: "on-1.3.0", version: "1.3.0" })
      assert.deepStrictEqual(outcome, { _tag: "Completed", exit: Exit.succeed(42) })
      const started = yield* children("on-1.3.0")
      assert.deepStrictEqual(started.map((child) => [child.type, child.version]), [["pinned-child", "1.3.0"]])
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.effect("fails the invoke with a VersionMismatchError, and starts no child, on another version", () =>
    Effect.gen(function*() {
      const outcome = yield* Executor.execute(Parent, 21, { id: "on-1.4.0", version: "1.4.0" })
      assert.deepStrictEqual(mismatch(outcome), {
        _tag: "VersionMismatchError",
        flowType: "pinned-child",
        versions: ["1.3.0"],
        deployment: "1.4.0"
      })
      assert.deepStrictEqual(yield* children("on-1.4.0"), [])
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))

  it.effect("fails the invoke with a VersionMismatchError, and starts no child, unversioned", () =>
    Effect.gen(function*() {
      const outcome = yield* Executor.execute(Parent, 21, { id: "unversioned" })
      assert.deepStrictEqual(mismatch(outcome), {
        _tag: "VersionMismatchError",
        flowType: "pinned-child",
        versions: ["1.3.0"],
        deployment: null
      })
      assert.deepStrictEqual(yield* children("unversioned"), [])
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))
})

describe("Worker.register", () => {
  const A = Flow.make("same-name", { input: Schema.Void, run: () => Effect.void })
  const B = Flow.make("same-name", { input: Schema.Void, run: () => Effect.log("another definition") })
  /** The type the cast gives `B`: a flow of another name, which the types accept. */
  const Other = Flow.make("other-name", { input: Schema.Void, run: () => Effect.void })

  it.effect("two different flows of one name (past the types by a cast) make run die before it claims anything", () =>
    Effect.gen(function*() {
      const worker = Worker.make("twice").unversioned().register(A).register(B as unknown as typeof Other)
      const exit = yield* Effect.exit(worker.run())
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const defect = Cause.dieOption(exit.cause)
      assert.isTrue(defect._tag === "Some" && defect.value instanceof FlowDefinitionError)
      assert.strictEqual(
        (defect as { readonly value: FlowDefinitionError }).value.message,
        "ergon: invalid definition 'twice': two different flows named 'same-name' are registered; register each flow once"
      )
    }).pipe(Effect.provide(ExecutionLog.layerMemory)))
})
