/**
 * Stopping long work on Kernel > Interrupt (and Ctrl-C in a terminal).
 *
 * How tslab 1.0.22 delivers an interrupt (node_modules/tslab/dist/main.js, executor.js): the
 * kernel spec has no interrupt_mode, so Jupyter sends SIGINT to the kernel's process group. tslab's
 * `process.on('SIGINT')` handler then rejects the promise it races against the cell's own promise:
 * the cell ends at once with "Error: Interrupted asynchronously" and a stack trace, but the cell's
 * promise is left running, and so is any loop inside it (its output lands in later cells). Only the
 * synchronous part of a cell is stopped (vm's breakOnSigint).
 *
 * So every long loop in lib runs inside `interruptible`: while one runs, SIGINT goes to this
 * module instead of tslab's (or Node's default) handler. It aborts a signal that the loop checks
 * between batches; the loop cleans up and throws an InterruptedError, which ends the cell (or the
 * command) with its one line. The saved handlers are put back when the outermost loop ends.
 */
import { inspect } from 'util';
import { UserFacingError } from './errors';

/** Long work stopped by an interrupt; the message says how far it got and what was kept. */
export class InterruptedError extends UserFacingError {
  constructor(message: string) {
    super(message);
    this.name = 'InterruptedError';
  }

  /** The one line a notebook cell or terminal shows: the message alone, which says "interrupted". */
  override [inspect.custom](): string {
    return this.message;
  }
}

interface Scope {
  controller: AbortController;
  depth: number;
  /** The SIGINT listeners (tslab's, tsx's) set aside while the scope is open. */
  saved: ((...args: unknown[]) => void)[];
}

let scope: Scope | undefined;

function onInterrupt(): void {
  scope?.controller.abort(new InterruptedError('interrupted'));
}

function open(): Scope {
  if (scope) {
    scope.depth++;
    return scope;
  }
  // Only the listeners process.listeners() shows: tsx hides its own, which exits the process when
  // no other listener is left (so Ctrl-C under tsx reaches this one instead of ending the process).
  const saved = process.listeners('SIGINT') as Scope['saved'];
  for (const listener of saved) process.removeListener('SIGINT', listener);
  process.on('SIGINT', onInterrupt);
  scope = { controller: new AbortController(), depth: 1, saved };
  return scope;
}

function close(closing: Scope): void {
  if (--closing.depth > 0) return;
  process.removeListener('SIGINT', onInterrupt);
  for (const listener of closing.saved) process.on('SIGINT', listener);
  scope = undefined;
}

/**
 * Runs `work` with a signal that aborts on SIGINT (Kernel > Interrupt, Ctrl-C) or when `signal`
 * aborts. Nested calls share the outermost one's SIGINT handling. When the work has finished but
 * an interrupt arrived meanwhile, the outermost call still ends with an InterruptedError, so a
 * notebook's Run All stops there; `finished` names the work in that message.
 */
export async function interruptible<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: { signal?: AbortSignal; finished?: string } = {},
): Promise<T> {
  // Not in the same tick: the synchronous start of a tslab cell runs under vm's breakOnSigint,
  // which removes every SIGINT listener and puts them back when that part returns (Node's
  // sigintHandlersWrap); a listener added then would be lost or would fight with it.
  await Promise.resolve();
  const opened = open();
  const outermost = opened.depth === 1;
  const signal = options.signal
    ? AbortSignal.any([opened.controller.signal, options.signal])
    : opened.controller.signal;
  try {
    const result = await work(signal);
    if (outermost && signal.aborted) {
      throw new InterruptedError(`interrupted just as ${options.finished ?? 'the work'} finished`);
    }
    return result;
  } finally {
    close(opened);
  }
}

/**
 * Throws an InterruptedError with `message` when the signal has been aborted (call between
 * batches). Without a signal: the one of the `interruptible` call this runs in, if any.
 */
export function stopIfInterrupted(signal: AbortSignal | undefined, message: () => string): void {
  if ((signal ?? scope?.controller.signal)?.aborted) throw new InterruptedError(message());
}

/** Adds to an InterruptedError what was kept, e.g. "; the saved model is unchanged" (a function: said at the end). */
export function withInterruptDetail<T>(work: () => Promise<T>, detail: string | (() => string)): Promise<T> {
  return work().catch((error: unknown) => {
    if (error instanceof InterruptedError) {
      throw new InterruptedError(`${error.message}${typeof detail === 'string' ? detail : detail()}`);
    }
    throw error;
  });
}
