/**
 * Checks the text of the compile errors that the type tests expect.
 *
 * A bare `// @ts-expect-error` passes on any error, a typo included. So every directive in the
 * type-test files listed below carries the text its error must contain, and this test compiles
 * each file once more with its directives turned into plain comments (in memory: the file on
 * disk is untouched) through the TypeScript compiler, with the repository's tsconfig. It then
 * checks that the line under each directive has a diagnostic containing that text, as tsc
 * prints it, and that no other line has one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(import.meta.dirname, "../..")
const files = [
  "test/types/dag.ts",
  "test/types/version.ts",
  "test/types/scheduler-worker.ts",
  "test/types/signal.ts",
  "test/types/longlived.ts"
]

const DIRECTIVE = /^(\s*)\/\/ @ts-expect-error(.*)$/

interface Expectation {
  /** 1-based line of the code the directive is about (the line after it). */
  readonly line: number
  readonly text: string
}

/** The file with its directives turned into plain comments, and what each one expected. */
const neutralise = (source: string): { readonly text: string; readonly expectations: ReadonlyArray<Expectation> } => {
  const expectations: Array<Expectation> = []
  const lines = source.split("\n").map((line, index) => {
    const match = DIRECTIVE.exec(line)
    if (match === null) return line
    expectations.push({ line: index + 2, text: match[2]!.trim() })
    return `${match[1]}// (expected error)${match[2]}`
  })
  return { text: lines.join("\n"), expectations }
}

/** Compiles `file` with the repository's options, reading `replacement` in its place. */
const diagnose = (file: string, replacement: string): ReadonlyArray<ts.Diagnostic> => {
  const configPath = path.join(root, "tsconfig.json")
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"))
    }
  })
  if (config === undefined) throw new Error(`cannot read ${configPath}`)
  const options = { ...config.options, noEmit: true }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (fileName, languageVersion, ...rest) =>
    path.resolve(fileName) === file
      ? ts.createSourceFile(fileName, replacement, languageVersion, true)
      : getSourceFile(fileName, languageVersion, ...rest)
  const program = ts.createProgram([file], options, host)
  return ts.getPreEmitDiagnostics(program).filter((diagnostic) => diagnostic.file?.fileName !== undefined &&
    path.resolve(diagnostic.file.fileName) === file)
}

/** Each file, neutralised and compiled once. */
const compiled = new Map<string, { readonly expectations: ReadonlyArray<Expectation>; readonly diagnostics: ReadonlyArray<ts.Diagnostic> }>()
const compile = (relative: string) => {
  const file = path.join(root, relative)
  let result = compiled.get(file)
  if (result === undefined) {
    const { expectations, text } = neutralise(ts.sys.readFile(file) ?? "")
    result = { expectations, diagnostics: diagnose(file, text) }
    compiled.set(file, result)
  }
  return result
}

describe("type error messages", () => {
  for (const relative of files) {
    it(`${relative}: each @ts-expect-error names the error tsc reports on its line`, () => {
      const { diagnostics: found, expectations } = compile(relative)
      assert.isAbove(expectations.length, 0)
      for (const expectation of expectations) {
        assert.notStrictEqual(expectation.text, "", `line ${expectation.line - 1}: a @ts-expect-error without its text`)
      }
      const diagnostics = found.map((diagnostic) => ({
        line: diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1,
        // The text tsc prints for the diagnostic (its message chain, one message per line).
        text: ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
      }))
      for (const expectation of expectations) {
        const onLine = diagnostics.filter((diagnostic) => diagnostic.line === expectation.line)
        assert.isTrue(
          onLine.some((diagnostic) => diagnostic.text.includes(expectation.text)),
          `line ${expectation.line}: expected an error containing\n  ${expectation.text}\nbut tsc reported\n  ${
            onLine.length === 0 ? "nothing" : onLine.map((diagnostic) => diagnostic.text).join("\n  ")
          }`
        )
      }
      const unexpected = diagnostics.filter((diagnostic) =>
        !expectations.some((expectation) => expectation.line === diagnostic.line)
      )
      assert.deepStrictEqual(unexpected, [])
    })
  }

  it("prints the branded message verbatim, quotes included", () => {
    const printed = ts.formatDiagnostics(compile(files[0]!).diagnostics, {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => root,
      getNewLine: () => "\n"
    })
    assert.include(
      printed,
      `error TS2345: Argument of type 'string' is not assignable to parameter of type 'TypeError<"ergon: duplicate step 'a'">'.`
    )
  })
})
