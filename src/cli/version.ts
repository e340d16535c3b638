/**
 * `ergon version sync` and `ergon version check`: a project's deployment version as a literal type.
 *
 * `sync` writes the `version` of the project's `package.json` into a TypeScript file (by default
 * `src/PackageVersion.ts` beside that `package.json`) as `export const version = "1.4.0" as const`.
 * A scheduler or worker configured with `withVersion(version)` is then typed `Versioned<"1.4.0">`,
 * so after a bump and a `sync`, `tsc` lists every flow pinned with `versions: [...]` that has not
 * been reviewed for the new version. `check` fails (exit code 1) when the file is missing or holds
 * another version, so CI catches a bump that skipped `sync`.
 *
 * ```sh
 * npx ergon version sync                                   # writes src/PackageVersion.ts
 * npx ergon version check                                  # exit 1 when missing or out of date
 * npx ergon version check --package apps/api/package.json  # another package of a monorepo
 * npx ergon version sync --out src/deployment/version.ts   # another file
 * ```
 *
 * `check` reads the declaration, not the whole file: a formatter that adds a semicolon or changes
 * the quotes does not make it fail. `sync` leaves a file that already declares the right version
 * as it is, and otherwise writes the whole file anew.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as Version from "../Version.js"

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

/**
 * The project's `package.json` cannot be read, or has no `version` that is a semantic version.
 *
 * @since 0.1.0
 * @category Errors
 */
export class PackageJsonError extends Data.TaggedError("PackageJsonError")<{
  readonly file: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.file}: ${this.detail}`
  }
}

/**
 * The version file is missing, declares no version, or declares another version than
 * `package.json` (found by `ergon version check`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class VersionOutOfSyncError extends Data.TaggedError("VersionOutOfSyncError")<{
  readonly file: string
  readonly packageFile: string
  readonly version: string
  /** The version the file declares; absent when it is missing or declares none. */
  readonly found?: string | undefined
  readonly reason: "missing" | "no-declaration" | "other-version"
}> {
  override get message(): string {
    const problem = this.reason === "missing"
      ? `${this.file} is missing`
      : this.reason === "no-declaration"
      ? `${this.file} does not declare \`export const version = "…" as const\` (edited by hand?)`
      : `${this.file} has version ${this.found} but ${this.packageFile} has version ${this.version}`
    return `${problem}.\nRun \`npx ergon version sync\` and commit ${this.file}; then fix the flows tsc reports as pinned to other versions.`
  }
}

/**
 * The version file cannot be read or written.
 *
 * @since 0.1.0
 * @category Errors
 */
export class VersionFileError extends Data.TaggedError("VersionFileError")<{
  readonly file: string
  readonly detail: string
}> {
  override get message(): string {
    return `cannot write ${this.file}: ${this.detail}`
  }
}

// -----------------------------------------------------------------------------
// The file
// -----------------------------------------------------------------------------

/**
 * What `sync` writes for `version`. Its only input is the version, so the output is stable.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const render = (version: string): string =>
  `/**
 * The version of this package, generated from \`package.json\` by \`ergon version sync\`.
 * Do not edit: run \`npx ergon version sync\` after changing the version; \`npx ergon version check\`
 * fails in CI when this file is out of date.
 */

/**
 * The version of this package (\`${version}\`), as a literal type: \`withVersion(version)\` makes a
 * scheduler or worker \`Versioned<"${version}">\`, so a flow pinned to other versions is a compile
 * error until it is reviewed for this one.
 */
export const version = ${JSON.stringify(version)} as const
`

const declaration = /^[ \t]*export[ \t]+const[ \t]+version[ \t]*=[ \t]*(["'])([^"'\n]*)\1[ \t]+as[ \t]+const[ \t]*;?[ \t]*$/m

/**
 * The version a file declares (`export const version = "1.4.0" as const`, with either quote and
 * an optional semicolon), if it declares one.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const declaredVersion = (text: string): string | undefined => declaration.exec(text)?.[2]

// -----------------------------------------------------------------------------
// The commands
// -----------------------------------------------------------------------------

const packageOption = Options.file("package").pipe(
  Options.withDefault("package.json"),
  Options.withDescription("the project's package.json, whose version is used")
)

const outOption = Options.file("out").pipe(
  Options.optional,
  Options.withDescription("the version file (default: src/PackageVersion.ts beside the package.json)")
)

interface Files {
  /** Absolute paths. */
  readonly packageFile: string
  readonly outFile: string
  /** As shown in messages: relative to the working directory. */
  readonly packageShown: string
  readonly outShown: string
}

const resolveFiles = (options: { readonly package: string; readonly out: Option.Option<string> }) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const packageFile = path.resolve(options.package)
    const outFile = options.out._tag === "Some"
      ? path.resolve(options.out.value)
      : path.join(path.dirname(packageFile), "src", "PackageVersion.ts")
    const shown = (file: string) => path.relative(process.cwd(), file) || file
    return { packageFile, outFile, packageShown: shown(packageFile), outShown: shown(outFile) } satisfies Files
  })

/** The `version` of a `package.json`, checked to be a semantic version. */
const readPackageVersion = (files: Files) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fail = (detail: string) => new PackageJsonError({ file: files.packageShown, detail })
    const text = yield* fs.readFileString(files.packageFile).pipe(
      Effect.mapError((error) => fail(`cannot be read (${error.message})`))
    )
    const json = yield* Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => fail("is not valid JSON") })
    const version = typeof json === "object" && json !== null && "version" in json ? json.version : undefined
    if (typeof version !== "string") return yield* fail(`has no "version" string`)
    const parsed = Version.parse(version, files.packageShown)
    if (Either.isLeft(parsed)) return yield* fail(parsed.left.message)
    return version
  })

/** The current content of the version file, or `undefined` when there is none. */
const readOut = (files: Files) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(files.outFile)
    if (!exists) return undefined
    return yield* fs.readFileString(files.outFile)
  }).pipe(Effect.mapError((error) => new VersionFileError({ file: files.outShown, detail: error.message })))

const check = Command.make("check", { package: packageOption, out: outOption }, (options) =>
  Effect.gen(function*() {
    const files = yield* resolveFiles(options)
    const version = yield* readPackageVersion(files)
    const current = yield* readOut(files)
    const found = current === undefined ? undefined : declaredVersion(current)
    if (found !== version) {
      return yield* new VersionOutOfSyncError({
        file: files.outShown,
        packageFile: files.packageShown,
        version,
        found,
        reason: current === undefined ? "missing" : found === undefined ? "no-declaration" : "other-version"
      })
    }
    yield* Console.log(`${files.outShown} is in sync with ${files.packageShown} (${version})`)
  })).pipe(
    Command.withDescription(
      "Exit with 1 when the version file is missing or declares another version than package.json (for CI)."
    )
  )

const sync = Command.make("sync", { package: packageOption, out: outOption }, (options) =>
  Effect.gen(function*() {
    const files = yield* resolveFiles(options)
    const version = yield* readPackageVersion(files)
    const current = yield* readOut(files)
    const previous = current === undefined ? undefined : declaredVersion(current)
    if (previous === version) {
      return yield* Console.log(`${files.outShown} is already up to date (${version})`)
    }
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(path.dirname(files.outFile), { recursive: true }).pipe(
      Effect.zipRight(fs.writeFileString(files.outFile, render(version))),
      Effect.mapError((error) => new VersionFileError({ file: files.outShown, detail: error.message }))
    )
    yield* Console.log(
      `wrote ${files.outShown} (${previous !== undefined ? `${previous} -> ` : ""}${version})`
    )
  })).pipe(
    Command.withDescription("Write the version of package.json into the version file, as a literal type.")
  )

/**
 * `ergon version`: `sync` writes the project's version file from its `package.json`, `check`
 * fails when it is out of date.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Command.make("version").pipe(
  Command.withDescription("The project's deployment version as a literal type, from its package.json."),
  Command.withSubcommands([sync, check])
)
