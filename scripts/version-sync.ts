/**
 * Writes `src/PackageVersion.ts` from the `version` of `package.json`, or checks that it is in sync.
 *
 * ```sh
 * npx tsx scripts/version-sync.ts           # npm run version:sync: write src/PackageVersion.ts
 * npx tsx scripts/version-sync.ts --check   # npm run version:check: exit 1 when missing or out of sync
 * ```
 *
 * `src/PackageVersion.ts` exports the version as a literal type, so a deployment configured with
 * `withVersion(version)` is typed `Versioned<"0.1.0">`, and every flow pinned with
 * `versions: [...]` to other versions is a compile error. Bumping the version in `package.json`
 * and running `version:sync` makes `tsc` list each pinned flow not yet reviewed for the new
 * version; `version:check` in CI makes sure the bump was not left out of `src/PackageVersion.ts`.
 *
 * Options (for tests): `--package <path>` reads another `package.json`, `--out <path>` writes or
 * checks another file. Both default to the files of this repository, whatever the working
 * directory. Exit codes: 0 done or in sync, 1 out of sync or missing (or `package.json` has no
 * semantic version), 2 wrong arguments.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Version from "../src/Version.js"

const root = path.resolve(import.meta.dirname, "..")

/** What the file holds for `version`: the only input is the version, so the output is stable. */
const render = (version: string): string =>
  `/**
 * The version of this package, generated from \`package.json\` by \`scripts/version-sync.ts\`:
 * do not edit. Run \`npm run version:sync\` after changing the version; \`npm run version:check\`
 * fails in CI when this file is out of date.
 *
 * @since 0.1.0
 */

/**
 * The version of this package (\`${version}\`), as a literal type: \`withVersion(version)\` makes a
 * scheduler or worker \`Versioned<"${version}">\`, so a flow pinned to other versions is a
 * compile error until it is reviewed for this one.
 *
 * @since 0.1.0
 * @category Models
 */
export const version = ${JSON.stringify(version)} as const
`

/** The version a generated file holds, if it looks like one. */
const versionIn = (text: string): string | undefined =>
  /^export const version = "([^"]*)" as const$/m.exec(text)?.[1]

interface Options {
  readonly check: boolean
  readonly packageFile: string
  readonly outFile: string
}

const USAGE = "usage: tsx scripts/version-sync.ts [--check] [--package <package.json>] [--out <file>]"

const parseArguments = (args: ReadonlyArray<string>): Options | string => {
  let check = false
  let packageFile = path.join(root, "package.json")
  // Not `src/version.ts`: next to `src/Version.ts` it differs only in case, which tsc refuses
  // (TS1261) and which a case-insensitive file system (macOS, Windows) cannot hold.
  let outFile = path.join(root, "src/PackageVersion.ts")
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg === "--check") {
      check = true
    } else if (arg === "--package" || arg === "--out") {
      const value = args[++index]
      if (value === undefined || value.startsWith("--")) return `${arg} needs a path\n${USAGE}`
      if (arg === "--package") packageFile = path.resolve(value)
      else outFile = path.resolve(value)
    } else {
      return `unknown argument '${arg}'\n${USAGE}`
    }
  }
  return { check, packageFile, outFile }
}

/** Reads the `version` of a `package.json`, or says why it cannot. */
const readVersion = (packageFile: string): { readonly version: string } | { readonly error: string } => {
  let json: unknown
  try {
    json = JSON.parse(fs.readFileSync(packageFile, "utf8"))
  } catch (cause) {
    return { error: `cannot read ${packageFile}: ${cause instanceof Error ? cause.message : String(cause)}` }
  }
  const version = typeof json === "object" && json !== null && "version" in json ? json.version : undefined
  if (typeof version !== "string") return { error: `${packageFile} has no "version" string` }
  const parsed = Version.parse(version, packageFile)
  return parsed._tag === "Left" ? { error: parsed.left.message } : { version }
}

const main = (args: ReadonlyArray<string>): number => {
  const options = parseArguments(args)
  if (typeof options === "string") {
    console.error(options)
    return 2
  }
  const read = readVersion(options.packageFile)
  if ("error" in read) {
    console.error(`version-sync: ${read.error}`)
    return 1
  }
  const { version } = read
  const out = path.relative(process.cwd(), options.outFile) || options.outFile
  const pkg = path.relative(process.cwd(), options.packageFile) || options.packageFile
  const expected = render(version)
  const current = fs.existsSync(options.outFile) ? fs.readFileSync(options.outFile, "utf8") : undefined

  if (options.check) {
    if (current === expected) {
      console.log(`version-sync: ${out} is in sync with ${pkg} (${version})`)
      return 0
    }
    const found = current === undefined ? undefined : versionIn(current)
    const problem = current === undefined
      ? `${out} is missing`
      : found !== undefined && found !== version
      ? `${out} has version ${found} but ${pkg} has version ${version}`
      : `${out} is not what version-sync writes for version ${version} (edited by hand?)`
    console.error(
      `version-sync: ${problem}.\nRun \`npm run version:sync\` and commit ${out}; then fix the flows tsc reports as pinned to other versions.`
    )
    return 1
  }

  if (current === expected) {
    console.log(`version-sync: ${out} is already up to date (${version})`)
    return 0
  }
  fs.mkdirSync(path.dirname(options.outFile), { recursive: true })
  fs.writeFileSync(options.outFile, expected)
  const previous = current === undefined ? undefined : versionIn(current)
  console.log(
    `version-sync: wrote ${out} (${previous !== undefined && previous !== version ? `${previous} -> ` : ""}${version})`
  )
  return 0
}

process.exitCode = main(process.argv.slice(2))
