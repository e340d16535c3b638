/**
 * `ergon version sync` / `ergon version check` on a temporary project: in process through the
 * command (its output captured), and as the `ergon` executable for its exit codes.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Console, Effect, Exit } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import * as Main from "../src/cli/main.js"
import * as VersionCommand from "../src/cli/version.js"

const root = path.resolve(import.meta.dirname, "..")

interface Project {
  readonly dir: string
  readonly pkg: string
  readonly out: string
  readonly setVersion: (version: string) => void
}

const project = Effect.acquireRelease(
  Effect.sync((): Project => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-cli-version-"))
    const pkg = path.join(dir, "package.json")
    const setVersion = (version: string) =>
      fs.writeFileSync(pkg, JSON.stringify({ name: "app", version, type: "module" }, null, 2))
    return { dir, pkg, out: path.join(dir, "src/PackageVersion.ts"), setVersion }
  }),
  ({ dir }) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Runs `ergon ...args` in process; what it printed, and how it ended. */
const ergon = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const current = yield* Effect.console
    const capture: Console.Console = {
      ...current,
      log: (...parts) => Effect.sync(() => void stdout.push(parts.join(" "))),
      error: (...parts) => Effect.sync(() => void stderr.push(parts.join(" ")))
    }
    const exit = yield* Main.run(["node", "ergon", ...args]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.withConsole(capture),
      Effect.exit
    )
    return { exit, stdout: stdout.join("\n"), stderr: stderr.join("\n") }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return failure
}

describe("ergon version", () => {
  it.scoped("sync writes the version; check passes, fails after a bump (writing nothing), passes after sync", () =>
    Effect.gen(function*() {
      const { out, pkg, setVersion } = yield* project
      const files = ["--package", pkg, "--out", out]
      setVersion("1.3.0")

      const missing = yield* ergon("version", "check", ...files)
      const missingError = failureOf(missing.exit)
      assert.instanceOf(missingError, VersionCommand.VersionOutOfSyncError)
      assert.strictEqual((missingError as VersionCommand.VersionOutOfSyncError).reason, "missing")
      assert.match((missingError as Error).message, /PackageVersion\.ts is missing/)
      assert.isFalse(fs.existsSync(out), "check writes nothing")

      const write = yield* ergon("version", "sync", ...files)
      assert.isTrue(Exit.isSuccess(write.exit))
      assert.match(write.stdout, /^wrote .*PackageVersion\.ts \(1\.3\.0\)$/)
      const written = fs.readFileSync(out, "utf8")
      assert.strictEqual(written, VersionCommand.render("1.3.0"))
      assert.include(written, `export const version = "1.3.0" as const\n`)
      assert.include(written, "Do not edit")

      const inSync = yield* ergon("version", "check", ...files)
      assert.isTrue(Exit.isSuccess(inSync.exit))
      assert.match(inSync.stdout, /PackageVersion\.ts is in sync with .*package\.json \(1\.3\.0\)/)

      const again = yield* ergon("version", "sync", ...files)
      assert.match(again.stdout, /is already up to date \(1\.3\.0\)/)

      setVersion("1.4.0")
      const stale = yield* ergon("version", "check", ...files)
      const staleError = failureOf(stale.exit) as VersionCommand.VersionOutOfSyncError
      assert.strictEqual(staleError._tag, "VersionOutOfSyncError")
      assert.strictEqual(staleError.reason, "other-version")
      assert.strictEqual(staleError.found, "1.3.0")
      assert.strictEqual(staleError.version, "1.4.0")
      assert.match(staleError.message, /has version 1\.3\.0 but .*package\.json has version 1\.4\.0/)
      assert.include(staleError.message, "npx ergon version sync")
      assert.strictEqual(fs.readFileSync(out, "utf8"), written, "check does not write")

      const sync = yield* ergon("version", "sync", ...files)
      assert.isTrue(Exit.isSuccess(sync.exit))
      assert.include(sync.stdout, "(1.3.0 -> 1.4.0)")
      assert.strictEqual(fs.readFileSync(out, "utf8"), VersionCommand.render("1.4.0"))
      assert.isTrue(Exit.isSuccess((yield* ergon("version", "check", ...files)).exit))
    }))

  it.scoped("the version file defaults to src/PackageVersion.ts beside the package.json, wherever the command runs", () =>
    Effect.gen(function*() {
      const { dir, pkg, setVersion } = yield* project
      setVersion("2.0.0-rc.1")
      const sync = yield* ergon("version", "sync", "--package", pkg)
      assert.isTrue(Exit.isSuccess(sync.exit))
      assert.notStrictEqual(process.cwd(), dir)
      assert.include(fs.readFileSync(path.join(dir, "src/PackageVersion.ts"), "utf8"), `"2.0.0-rc.1" as const`)
      assert.isTrue(Exit.isSuccess((yield* ergon("version", "check", "--package", pkg)).exit))
    }))

  it.scoped("check reads the declaration: a formatted file passes; a file without one fails and sync replaces it", () =>
    Effect.gen(function*() {
      const { out, pkg, setVersion } = yield* project
      const files = ["--package", pkg, "--out", out]
      setVersion("1.4.0")
      fs.mkdirSync(path.dirname(out), { recursive: true })

      const formatted = `// generated\nexport const version = '1.4.0' as const;\n`
      fs.writeFileSync(out, formatted)
      assert.isTrue(Exit.isSuccess((yield* ergon("version", "check", ...files)).exit))
      const untouched = yield* ergon("version", "sync", ...files)
      assert.include(untouched.stdout, "already up to date")
      assert.strictEqual(fs.readFileSync(out, "utf8"), formatted, "sync leaves a formatted file as it is")

      fs.writeFileSync(out, `export const version: string = "1.4.0"\n`)
      const edited = failureOf((yield* ergon("version", "check", ...files)).exit) as VersionCommand.VersionOutOfSyncError
      assert.strictEqual(edited.reason, "no-declaration")
      assert.include(edited.message, "does not declare `export const version = \"…\" as const`")
      assert.isTrue(Exit.isSuccess((yield* ergon("version", "sync", ...files)).exit))
      assert.strictEqual(fs.readFileSync(out, "utf8"), VersionCommand.render("1.4.0"))
    }))

  it.scoped("a package.json without a semantic version, or that cannot be read, is a PackageJsonError; nothing is written", () =>
    Effect.gen(function*() {
      const { dir, out, pkg, setVersion } = yield* project
      const files = ["--package", pkg, "--out", out]
      setVersion("1.4")
      for (const subcommand of ["sync", "check"]) {
        const error = failureOf((yield* ergon("version", subcommand, ...files)).exit)
        assert.instanceOf(error, VersionCommand.PackageJsonError)
        assert.include((error as Error).message, "'1.4'")
        assert.include((error as Error).message, "is not a semantic version")
      }
      assert.isFalse(fs.existsSync(out))

      fs.writeFileSync(pkg, JSON.stringify({ name: "app" }))
      assert.include((failureOf((yield* ergon("version", "sync", ...files)).exit) as Error).message, `has no "version" string`)
      fs.writeFileSync(pkg, "{ not json")
      assert.include((failureOf((yield* ergon("version", "sync", ...files)).exit) as Error).message, "is not valid JSON")
      const absent = failureOf((yield* ergon("version", "sync", "--package", path.join(dir, "nope.json"))).exit)
      assert.instanceOf(absent, VersionCommand.PackageJsonError)
      assert.include((absent as Error).message, "cannot be read")
      assert.isFalse(fs.existsSync(out))
    }))

  it.effect("declaredVersion finds the declaration with either quote and an optional semicolon, and nothing else", () =>
    Effect.sync(() => {
      assert.strictEqual(VersionCommand.declaredVersion(VersionCommand.render("1.2.3")), "1.2.3")
      assert.strictEqual(VersionCommand.declaredVersion(`export const version = '1.2.3' as const;`), "1.2.3")
      assert.strictEqual(VersionCommand.declaredVersion(`  export  const version="1.2.3"  as const ;  `), "1.2.3")
      assert.isUndefined(VersionCommand.declaredVersion(`export const version = "1.2.3"`))
      assert.isUndefined(VersionCommand.declaredVersion(`export const version = "1.2.3' as const`))
      assert.isUndefined(VersionCommand.declaredVersion(`// export const version = "1.2.3" as const`))
      assert.isUndefined(VersionCommand.declaredVersion(`export const versions = "1.2.3" as const`))
    }))
})

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the `ergon` executable from source, as `npm run ergon` does. */
const bin = async (args: ReadonlyArray<string>): Promise<Run> => {
  try {
    const { stderr, stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", path.join(root, "src/cli/bin.ts"), ...args],
      { cwd: root, timeout: 120_000 }
    )
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { readonly code?: unknown; readonly stdout?: string; readonly stderr?: string }
    if (typeof failed.code !== "number") throw error
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" }
  }
}

describe("the ergon executable", () => {
  it("exits with 1 and says why when out of sync, with 2 on wrong arguments, with 0 when in sync", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ergon-cli-bin-"))
    try {
      const pkg = path.join(dir, "package.json")
      fs.writeFileSync(pkg, JSON.stringify({ name: "app", version: "1.4.0" }))
      fs.mkdirSync(path.join(dir, "src"))
      fs.writeFileSync(path.join(dir, "src/PackageVersion.ts"), VersionCommand.render("1.3.0"))

      const stale = await bin(["version", "check", "--package", pkg])
      assert.strictEqual(stale.code, 1, stale.stderr)
      assert.match(stale.stderr, /^ergon: .*PackageVersion\.ts has version 1\.3\.0 but .*package\.json has version 1\.4\.0\./)
      assert.notInclude(stale.stderr, "    at ", "no stack trace for an expected failure")

      const wrong = await bin(["version", "chek"])
      assert.strictEqual(wrong.code, 2)
      assert.include(wrong.stderr, "Invalid subcommand")

      const synced = await bin(["version", "sync", "--package", pkg])
      assert.strictEqual(synced.code, 0, synced.stderr)
      const check = await bin(["version", "check", "--package", pkg])
      assert.strictEqual(check.code, 0, check.stderr)
      assert.include(check.stdout, "is in sync")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 300_000) // several processes, each starting tsx: slow on a loaded machine

  it("src/PackageVersion.ts of this repository is in sync with its package.json", async () => {
    const check = await bin(["version", "check"])
    assert.strictEqual(check.code, 0, check.stderr)
  }, 300_000)
})
