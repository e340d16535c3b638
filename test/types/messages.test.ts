/**
 * Checks the text of the compile errors that the type tests expect.
 *
 * A bare `// @ts-expect-error` passes on any error, a typo included. So every directive in the
 * type-test files listed below carries the text its error must contain, and this test compiles
 * the files once more with their directives turned into plain comments (in memory: the files on
 * disk are untouched) through the TypeScript compiler, with the repository's tsconfig, in one
 * program. It then checks that the line under each directive has a diagnostic containing that
 * text, as tsc prints it, and that no other line has one. A misuse whose line no longer fails to
 * compile (because the check that refused it is gone, or the misuse was removed) fails here.
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
  "test/types/step.ts",
  "test/types/flow.ts",
  "test/types/patch.ts",
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

/** Compiles `replacements` (absolute path to text) in one program, with the repository's options. */
const diagnose = (replacements: ReadonlyMap<string, string>): ReadonlyArray<ts.Diagnostic> => {
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
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const replacement = replacements.get(path.resolve(fileName))
    return replacement !== undefined
      ? ts.createSourceFile(fileName, replacement, languageVersion, true)
      : getSourceFile(fileName, languageVersion, ...rest)
  }
  const program = ts.createProgram([...replacements.keys()], options, host)
  return program.getRootFileNames().flatMap((file) => ts.getPreEmitDiagnostics(program, program.getSourceFile(file)))
}

interface Compiled {
  readonly expectations: ReadonlyArray<Expectation>
  readonly diagnostics: ReadonlyArray<ts.Diagnostic>
}

/** Every file, neutralised, compiled once (lazily, by the first test that needs it). */
let compiled: ReadonlyMap<string, Compiled> | undefined
const compile = (relative: string): Compiled => {
  if (compiled === undefined) {
    const neutralised = new Map(files.map((file) => {
      const absolute = path.join(root, file)
      return [absolute, neutralise(ts.sys.readFile(absolute) ?? "")] as const
    }))
    const diagnostics = diagnose(new Map([...neutralised].map(([file, { text }]) => [file, text])))
    compiled = new Map([...neutralised].map(([file, { expectations }]) => [file, {
      expectations,
      diagnostics: diagnostics.filter((diagnostic) =>
        diagnostic.file !== undefined && path.resolve(diagnostic.file.fileName) === file
      )
    }]))
  }
  return compiled.get(path.join(root, relative))!
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

  it("reports a definition's mistake on the definition, not as 'No overload matches this call'", () => {
    const overloads = files.flatMap((file) =>
      compile(file).diagnostics.filter((diagnostic) =>
        ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n").includes("No overload matches this call")
      )
    )
    assert.deepStrictEqual(overloads.map((diagnostic) => diagnostic.file?.fileName), [])
  })

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
