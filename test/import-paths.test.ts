/**
 * The import paths that users copy resolve: every `import … from "…"` in README.md, docs/, and the
 * JSDoc of src/ (shipped in the `.d.ts` files) names an entry of this package's `exports`, a package
 * that can be installed beside it (and exports that path), or (in src/ only) a module of its own
 * sources. A document may import the user's own files with a relative path.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  readonly name: string
  readonly exports: Record<string, unknown>
  readonly peerDependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
}

const IMPORT = /^\s*(?:\*\s*)?(?:import|export)\s[^"'\n]*?from\s+["']([^"']+)["']|^\s*(?:\*\s*)?import\s+["']([^"']+)["']/gm

/** The specifiers imported by the code in `text` (JSDoc lines included), with their line. */
const importsOf = (text: string): ReadonlyArray<{ readonly specifier: string; readonly line: number }> =>
  Array.from(text.matchAll(IMPORT), (match) => ({
    specifier: (match[1] ?? match[2])!,
    line: text.slice(0, match.index).split("\n").length
  }))

/** Only the comments of a source file: the code's own imports are checked by tsc. */
const commentsOf = (source: string): string =>
  source.replace(/\/\*\*?[\s\S]*?\*\/|[^\n]*/g, (chunk) => (chunk.startsWith("/*") ? chunk : chunk.replace(/[^\n]/g, " ")))

/** The package a bare specifier belongs to. */
const packageOf = (specifier: string): string => {
  const parts = specifier.split("/")
  return specifier.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!
}

const problem = (specifier: string, from: string): string | undefined => {
  if (specifier.startsWith("node:")) return undefined
  if (specifier.startsWith(".")) {
    // In a document, a relative import is one of the user's own files (`./PackageVersion.js`).
    if (!from.startsWith(path.join(root, "src"))) return undefined
    const target = path.resolve(path.dirname(from), specifier).replace(/\.js$/, ".ts")
    return fs.existsSync(target) ? undefined : `${path.relative(root, target)} does not exist`
  }
  if (specifier === pkg.name || specifier.startsWith(`${pkg.name}/`)) {
    const entry = specifier === pkg.name ? "." : `./${specifier.slice(pkg.name.length + 1)}`
    return entry in pkg.exports ? undefined : `'${entry}' is not in the exports of package.json`
  }
  const name = packageOf(specifier)
  if (!(name in pkg.peerDependencies) && !(name in pkg.devDependencies)) {
    return `${name} is neither a peer nor a dev dependency`
  }
  const manifest = path.join(root, "node_modules", name, "package.json")
  if (!fs.existsSync(manifest)) return `${name} is not installed`
  const exports = (JSON.parse(fs.readFileSync(manifest, "utf8")) as { readonly exports?: Record<string, unknown> }).exports
  const entry = specifier === name ? "." : `./${specifier.slice(name.length + 1)}`
  if (exports === undefined || entry in exports) return undefined
  const patterns = Object.keys(exports).filter((key) => key.endsWith("/*"))
  return patterns.some((pattern) => entry.startsWith(pattern.slice(0, -1)))
    ? undefined
    : `'${entry}' is not in the exports of ${name}`
}

const files = (dir: string, extension: string): ReadonlyArray<string> =>
  fs.readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(extension))
    .map((file) => path.join(root, dir, file))

describe("import paths", () => {
  it("README.md, docs/ and the JSDoc of src/ import only what a user can import", () => {
    const documents = [path.join(root, "README.md"), ...files("docs", ".md")]
    const sources = files("src", ".ts")
    const found: Array<string> = []
    let checked = 0
    for (const file of [...documents, ...sources]) {
      const text = fs.readFileSync(file, "utf8")
      for (const { line, specifier } of importsOf(file.endsWith(".ts") ? commentsOf(text) : text)) {
        checked++
        const why = problem(specifier, file)
        if (why !== undefined) found.push(`${path.relative(root, file)}:${line}: "${specifier}": ${why}`)
      }
    }
    assert.isAbove(checked, 30, "the documents import something")
    assert.deepStrictEqual(found, [])
  })

  it("finds a subpath that is not exported, in a document and in a JSDoc comment", () => {
    assert.deepStrictEqual(importsOf(`import * as Version from "ergon/Version"`), [{ specifier: "ergon/Version", line: 1 }])
    const jsdoc = commentsOf(`/**\n * @example\n * import type { X } from "ergon/TypeLevel"\n */\nimport * as A from "effect"\n`)
    assert.deepStrictEqual(importsOf(jsdoc).map((found) => found.specifier), ["ergon/TypeLevel"])
    assert.include(problem("ergon/Version", path.join(root, "README.md")), "is not in the exports")
    assert.isUndefined(problem("ergon/sqlite", path.join(root, "README.md")))
    assert.include(problem("left-pad", path.join(root, "README.md")), "neither a peer nor a dev dependency")
    assert.include(problem("effect/Nope", path.join(root, "README.md")), "not in the exports of effect")
    assert.include(problem("./Nope.js", path.join(root, "src/Version.ts")), "src/Nope.ts does not exist")
  })
})
