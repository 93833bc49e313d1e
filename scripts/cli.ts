/**
 * What the command-line tools (predict, explain, evaluate) share: argument parsing with clear
 * usage errors, terminal output, and a main()
 * wrapper that turns any failure into one line on stderr (never a stack trace) and an exit code.
 *
 * stdout carries only results (JSON lines, paths, the headline); logs, progress bars and
 * skipped files go to stderr, so `npm run predict -- folder > predictions.jsonl` works.
 */
import * as fs from 'fs';
import * as path from 'path';
import { WeightsPaths } from '../lib/backbone/weights';
import { BackendName, Config, EngineName, engineNames, loadConfig } from '../lib/core/config';
import { outputPaths } from '../lib/core/paths';
import { weightsMismatch } from '../lib/pipeline/backbone';
import type { OpenedModel } from '../lib/pipeline/model';
import { describeError, UserFacingError } from '../lib/core/errors';
import { InterruptedError } from '../lib/core/interrupt';

// ---------------------------------------------------------------------------------------------
// Arguments

export interface FlagSpec {
  /** Without the dashes, e.g. "model". */
  name: string;
  /** Placeholder of the value in the usage line, e.g. "dir"; absent for a switch (no value). */
  value?: string;
  /** Allowed values, checked while parsing. */
  choices?: string[];
  /** Must be given (shown without brackets in the usage line). */
  required?: boolean;
  description: string;
}

export interface CommandSpec {
  /** The npm script name, e.g. "predict". */
  name: string;
  summary: string;
  /** The positional arguments as shown in the usage line, e.g. "<image or folder>...". */
  positionals: { label: string; min: number; max: number };
  flags: FlagSpec[];
}

export interface ParsedArgs {
  positionals: string[];
  /** Flag values by name; a switch is true. */
  flags: Record<string, string | true>;
}

/** A command line that does not fit the command: printed with the usage line, exit code 1. */
export class UsageError extends UserFacingError {
  constructor(
    message: string,
    readonly spec: CommandSpec,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** --help or -h: print the help text and exit 0. */
class HelpRequested extends Error {
  constructor(readonly spec: CommandSpec) {
    super('help');
  }
}

export function usageLine(spec: CommandSpec): string {
  const flags = spec.flags.map((flag) => {
    const text = `--${flag.name}${flag.value ? ` ${flag.choices ? flag.choices.join('|') : flag.value}` : ''}`;
    return flag.required ? text : `[${text}]`;
  });
  return `usage: npm run ${spec.name} -- ${[spec.positionals.label, ...flags].filter(Boolean).join(' ')}`;
}

export function helpText(spec: CommandSpec): string {
  const rows = spec.flags.map((flag) => [`--${flag.name}${flag.value ? ` ${flag.value}` : ''}`, flag.description]);
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    spec.summary,
    '',
    usageLine(spec),
    '',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
    '',
  ].join('\n');
}

/**
 * Parses `--flag value`, `--flag=value`, switches, and positionals; `--` ends the flags.
 * Unknown flags, missing values, values outside `choices` and wrong positional counts throw UsageError.
 */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const parsed: ParsedArgs = { positionals: [], flags: {} };
  const byName = new Map(spec.flags.map((flag) => [flag.name, flag]));
  let flagsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (flagsEnded || !argument.startsWith('-') || argument === '-') {
      parsed.positionals.push(argument);
      continue;
    }
    if (argument === '--') {
      flagsEnded = true;
      continue;
    }
    if (argument === '--help' || argument === '-h') throw new HelpRequested(spec);
    const match = /^--([^=]+)(?:=(.*))?$/s.exec(argument);
    const flag = match ? byName.get(match[1]) : undefined;
    if (!match || !flag) throw new UsageError(`unknown option ${argument.split('=')[0]}`, spec);
    if (parsed.flags[flag.name] !== undefined) throw new UsageError(`--${flag.name} is given twice`, spec);
    if (!flag.value) {
      if (match[2] !== undefined) throw new UsageError(`--${flag.name} takes no value`, spec);
      parsed.flags[flag.name] = true;
      continue;
    }
    let value = match[2];
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2))
        throw new UsageError(`--${flag.name} needs a value (${flag.value})`, spec);
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`--${flag.name} needs a value (${flag.value})`, spec);
    if (flag.choices && !flag.choices.includes(value)) {
      throw new UsageError(`--${flag.name} must be one of ${flag.choices.join(', ')}, not "${value}"`, spec);
    }
    parsed.flags[flag.name] = value;
  }
  for (const flag of spec.flags) {
    if (flag.required && parsed.flags[flag.name] === undefined)
      throw new UsageError(`--${flag.name} is required (${flag.description})`, spec);
  }
  const { min, max } = spec.positionals;
  if (parsed.positionals.length < min) {
    throw new UsageError(
      min === 1 && max === 1 ? `give one ${spec.positionals.label}` : `give at least ${min} ${spec.positionals.label}`,
      spec,
    );
  }
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals.slice(max).join(' ');
    throw new UsageError(
      max === 0
        ? `unexpected argument ${extra}`
        : `too many arguments (${extra}); give ${max === 1 ? 'one' : `at most ${max}`} ${spec.positionals.label}`,
      spec,
    );
  }
  return parsed;
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags[name];
  return typeof value === 'string' ? value : undefined;
}

/** A flag that must be a whole number in [min, max]. */
export function integerFlag(
  args: ParsedArgs,
  spec: CommandSpec,
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const text = stringFlag(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, not "${text}"`,
      spec,
    );
  }
  return value;
}

/** Flags every command accepts. */
export const commonFlags: FlagSpec[] = [
  { name: 'model', value: 'dir', description: 'saved model folder (default: outputs/model)' },
  {
    name: 'engine',
    value: 'name',
    choices: engineNames,
    description: 'feature engine for the ResNet50 backbone (default: tfjs on native TensorFlow, else onnxruntime)',
  },
  {
    name: 'backend',
    value: 'name',
    choices: ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'],
    description: 'tfjs backend (default: the first that loads)',
  },
];

/** The configuration (defaults, then environment variables), with --engine and --backend applied. */
export function configFromArgs(args: ParsedArgs): Config {
  return loadConfig({
    engine: stringFlag(args, 'engine') as EngineName | undefined,
    backend: stringFlag(args, 'backend') as BackendName | undefined,
  });
}

export function modelFolderFromArgs(args: ParsedArgs, config: Config): string {
  return path.resolve(stringFlag(args, 'model') ?? outputPaths(config).model);
}

// ---------------------------------------------------------------------------------------------
// Terminal output

/** One line on stderr; on a terminal, first clears a progress bar drawn on the same line. */
export function note(line: string): void {
  process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}${line}\n`);
}

export function printResult(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** `--model outputs/model` in messages: relative to the working directory when shorter. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** "skipped 2 files: a.png (empty), b.png (not an image)", names only when the reasons were shown already. */
export function skippedSummary(skipped: { file: string; reason: string }[], withReasons: boolean): string {
  const items = skipped.map((entry) => (withReasons ? `${entry.file} (${entry.reason})` : entry.file));
  return `skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'}: ${items.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// main()

/**
 * Runs a command: its resolved number is the exit code. A failure prints one line
 * ("predict: <message>") on stderr and exits 1; usage errors add the usage line; the stack trace
 * of an unexpected error is shown only with CXR_DEBUG=1.
 */
export function main(spec: CommandSpec, run: (args: ParsedArgs) => Promise<number>): void {
  // `npm run predict -- folder | head`: a closed pipe ends the command quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
  });
  const finish = (code: number) => {
    // Native runtimes may keep the event loop alive; stdout/stderr writes are synchronous for files and pipes on Linux.
    process.exitCode = code;
    setImmediate(() => process.exit(code));
  };
  // npm runs scripts in the project root; paths on the command line mean the caller's folder.
  const callerFolder = process.env.INIT_CWD;
  if (process.env.npm_lifecycle_event === spec.name && callerFolder && fs.existsSync(callerFolder))
    process.chdir(callerFolder);
  // Ctrl-C: the long loops stop themselves with one line (core/interrupt); anywhere else, this line.
  process.on('SIGINT', () => {
    note(`${spec.name}: interrupted`);
    process.exit(130);
  });
  Promise.resolve()
    .then(() => run(parseArgs(process.argv.slice(2), spec)))
    .then(finish, (error: unknown) => {
      if (error instanceof HelpRequested) {
        process.stdout.write(helpText(error.spec));
        finish(0);
        return;
      }
      note(`${spec.name}: ${describeError(error)}`);
      if (error instanceof UsageError) note(`${usageLine(error.spec)}\n(run with --help for details)`);
      else if (!(error instanceof UserFacingError)) {
        if (process.env.CXR_DEBUG) note(String((error as Error)?.stack ?? error));
        else note('(unexpected error; run with CXR_DEBUG=1 to see where it happened)');
      }
      // 130 = 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C.
      finish(error instanceof InterruptedError ? 130 : 1);
    });
}

/** Notes a warning when the model was trained on other backbone weights; returns it for reports. */
export function warnIfWeightsDiffer(model: OpenedModel, weights: WeightsPaths): string | undefined {
  const warning = weightsMismatch({ ...model, folder: displayPath(model.folder) }, weights);
  if (warning) note(warning);
  return warning;
}
