import { pipeArguments } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import * as RetryPolicy from "../RetryPolicy.js"
import type { Options } from "../Step.js"
import { TypeId } from "../Step.js"
import * as journal from "./journal.js"

/** `Step.make`. `any`: the step is a function with properties, typed by `Step.make`'s overloads. */
export const make: any = (name: string, options: Options<any, any, any, any, any, any> & { readonly input?: Schema.Schema<any, any> }) => {
  const success: Schema.Schema<any, any> = options.success ?? Schema.Void
  const error = (options.error ?? Schema.Never) as Schema.Schema<any, any>
  const retry = options.retry ?? RetryPolicy.none
  const spec: journal.StepSpec = {
    name,
    hashInput: journal.makeInputHasher(options.input),
    codec: journal.exitCodec(success, error),
    retry,
    retryable: options.retryable,
    run: options.run
  }
  const step = (...args: ReadonlyArray<unknown>) => journal.callStep(spec, args)
  Object.defineProperty(step, "name", { value: name })
  return Object.assign(step, {
    [TypeId]: TypeId,
    stepName: name,
    success,
    error,
    retry,
    pipe() {
      return pipeArguments(this, arguments)
    }
  }) as any
}
