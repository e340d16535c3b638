/**
 * The names the documentation writes exist: every `Flow.X`, `Dag.X`, `Step.Success<…>`, …
 * (a module of `ergon` followed by one or more names) in README.md and docs/ is an export of that
 * module, found with the TypeScript compiler (`Dag.Outputs<D>` is an export of `src/Dag.ts`, and
 * `Dag.Dag.Outputs<D>` a member of its `Dag` namespace). Documentation that writes an extractor
 * or an operation that does not exist fails here.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(import.meta.dirname, "../..")

/** The modules `ergon` exports as namespaces, and their source files. */
const modules = [
  "Client",
  "Dag",
  "ExecutionLog",
  "Executor",
  "Flow",
  "RetryPolicy",
  "Retryable",
  "Scheduler",
  "SignalSource",
  "Step",
  "Version",
  "Worker"
] as const

/** `Module.Name(.Name)*`, not preceded by an identifier character or a dot (so `handle.await`, `Effect.Effect` or `x.Flow` are not read). */
const REFERENCE = new RegExp(`(?<![\\w.$])(${modules.join("|")})((?:\\.[A-Za-z_$][\\w$]*)+)`, "g")

const pages = [
  "README.md",
  ...fs.readdirSync(path.join(root, "docs")).filter((file) => file.endsWith(".md")).map((file) => `docs/${file}`)
]

const program = ts.createProgram(
  modules.map((module) => path.join(root, "src", `${module}.ts`)),
  { noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022 }
)
const checker = program.getTypeChecker()

/** The exported names of a module, or of a namespace in it, by path (`["Dag"]`, `["Dag", "Dag"]`). */
const exportsAt = (module: string, names: ReadonlyArray<string>): ReadonlySet<string> | undefined => {
  const source = program.getSourceFile(path.join(root, "src", `${module}.ts`))
  const moduleSymbol = source === undefined ? undefined : checker.getSymbolAtLocation(source)
  let symbols = moduleSymbol === undefined ? undefined : checker.getExportsOfModule(moduleSymbol)
  for (const name of names) {
    const symbol = symbols?.find((candidate) => candidate.name === name)
    if (symbol === undefined || symbol.exports === undefined || symbol.exports.size === 0) return undefined
    symbols = Array.from(symbol.exports.values() as Iterable<ts.Symbol>)
  }
  return symbols === undefined ? undefined : new Set(symbols.map((symbol) => symbol.name))
}

describe("the names the documentation writes", () => {
  for (const page of pages) {
    it(`${page}: each Module.Name is an export of that module`, () => {
      const text = fs.readFileSync(path.join(root, page), "utf8")
      const missing: Array<string> = []
      for (const match of text.matchAll(REFERENCE)) {
        const module = match[1]!
        const names = match[2]!.slice(1).split(".")
        // A file name (`Version.ts`), not a reference.
        if (["ts", "js", "md", "json"].includes(names[0]!)) continue
        // `Flow.make(...).pipe`: only the names before the first call are the module's.
        let known = exportsAt(module, [])
        const walked: Array<string> = []
        for (const name of names) {
          if (known === undefined) break
          if (!known.has(name)) {
            missing.push(`${module}.${[...walked, name].join(".")} (line ${text.slice(0, match.index).split("\n").length})`)
            break
          }
          walked.push(name)
          known = exportsAt(module, walked)
        }
      }
      assert.deepStrictEqual(missing, [])
    })
  }

  it("finds the extractors the documentation shows", () => {
    assert.isTrue(exportsAt("Dag", [])?.has("Outputs"))
    assert.isTrue(exportsAt("Flow", [])?.has("Success"))
    assert.isTrue(exportsAt("Dag", ["Dag"])?.has("Outputs"))
    assert.isFalse(exportsAt("Dag", [])?.has("NoSuchExtractor"))
  })
})
