/**
 * What the command-line tools (predict, explain, evaluate) share: argument parsing with clear
 * usage errors, finding images, opening a saved model and the feature engine, and a main()
 * wrapper that turns any failure into one line on stderr (never a stack trace) and an exit code.
 *
 * stdout carries only results (JSON lines, paths, the headline); logs, progress bars and
 * skipped files go to stderr, so `npm run predict -- folder > predictions.jsonl` works.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { featureLength } from '../lib/backbone';
import { initBackend } from '../lib/backend';
import { BackendName, Config, EngineName, loadConfig } from '../lib/config';
import { imageExtensions } from '../lib/data';
import { createFeatureEngine, FeatureEngine } from '../lib/engine';
import { DatasetError, describeError, ModelFileError, UserFacingError } from '../lib/errors';
import { loadHead, readModelInfo, SavedModelInfo } from '../lib/modelStore';
import { argmax } from '../lib/train';
import { ensureWeights, weightsFingerprint, WeightsPaths } from '../lib/weights';

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
  constructor(message: string, readonly spec: CommandSpec) {
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
  return [spec.summary, '', usageLine(spec), '', ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`), ''].join('\n');
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
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${flag.name} needs a value (${flag.value})`, spec);
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
    if (flag.required && parsed.flags[flag.name] === undefined) throw new UsageError(`--${flag.name} is required (${flag.description})`, spec);
  }
  const { min, max } = spec.positionals;
  if (parsed.positionals.length < min) {
    throw new UsageError(min === 1 && max === 1 ? `give one ${spec.positionals.label}` : `give at least ${min} ${spec.positionals.label}`, spec);
  }
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals.slice(max).join(' ');
    throw new UsageError(max === 0 ? `unexpected argument ${extra}` : `too many arguments (${extra}); give ${max === 1 ? 'one' : `at most ${max}`} ${spec.positionals.label}`, spec);
  }
  return parsed;
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags[name];
  return typeof value === 'string' ? value : undefined;
}

/** A flag that must be a whole number in [min, max]. */
export function integerFlag(args: ParsedArgs, spec: CommandSpec, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = stringFlag(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, not "${text}"`, spec);
  }
  return value;
}

/** Flags every command accepts. */
export const commonFlags: FlagSpec[] = [
  { name: 'model', value: 'dir', description: 'saved model folder (default: outputs/model)' },
  { name: 'engine', value: 'name', choices: ['onnxruntime', 'tfjs'], description: 'feature engine for the ResNet50 backbone (default: the fastest available)' },
  { name: 'backend', value: 'name', choices: ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'], description: 'tfjs backend (default: the first that loads)' },
];

/** The configuration (defaults, then environment variables), with --engine and --backend applied. */
export function configFromArgs(args: ParsedArgs): Config {
  return loadConfig({
    engine: stringFlag(args, 'engine') as EngineName | undefined,
    backend: stringFlag(args, 'backend') as BackendName | undefined,
  });
}

export function modelFolderFromArgs(args: ParsedArgs, config: Config): string {
  return path.resolve(stringFlag(args, 'model') ?? path.join(config.outputsDir, 'model'));
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
// Images

export function isImageFile(name: string): boolean {
  return imageExtensions.includes(path.extname(name).toLowerCase());
}

/** PNG/JPEG files under a folder, recursively, sorted; hidden entries skipped, symlink loops not followed. */
export function imagesInFolder(folder: string): string[] {
  const found: string[] = [];
  const visited = new Set<string>();
  const walk = (current: string) => {
    let real: string;
    try {
      real = fs.realpathSync(current);
    } catch {
      return;
    }
    if (visited.has(real)) return;
    visited.add(real);
    const entries = fs.readdirSync(current, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(current, entry.name);
      let isDirectory = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        try {
          const stats = fs.statSync(full);
          isDirectory = stats.isDirectory();
          isFile = stats.isFile();
        } catch {
          isFile = true; // a dangling link: listed, then reported as not found
        }
      }
      if (isDirectory) walk(full);
      else if (isFile && isImageFile(entry.name)) found.push(full);
    }
  };
  walk(folder);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Class names

/** The same class under the spellings people use for folders: COVID-19 = COVID = covid, NORMAL = Normal. */
const classAliases: Record<string, string> = { covid19: 'covid', sarscov2: 'covid' };

export function classKey(name: string): string {
  const key = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return classAliases[key] ?? key;
}

/** Index of `name` among `classNames` (case-insensitive, with aliases), or -1. */
export function matchClass(name: string, classNames: readonly string[]): number {
  const key = classKey(name);
  return key === '' ? -1 : classNames.findIndex((className) => classKey(className) === key);
}

/** Which class folder goes to which model class; any folder or class left over is an error. */
export function matchClassFolders(folderNames: string[], classNames: string[], dataFolder: string, modelFolder: string): number[] {
  const mapping = folderNames.map((name) => matchClass(name, classNames));
  const problems: string[] = [];
  const unmatched = folderNames.filter((_, index) => mapping[index] < 0);
  if (unmatched.length) {
    problems.push(`class folder${unmatched.length > 1 ? 's' : ''} ${unmatched.map((name) => `"${name}"`).join(', ')} match${unmatched.length > 1 ? '' : 'es'} none of the model's classes`);
  }
  const missing = classNames.filter((_, index) => !mapping.includes(index));
  if (missing.length) problems.push(`the model's class${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} ha${missing.length > 1 ? 've' : 's'} no folder`);
  classNames.forEach((className, index) => {
    const folders = folderNames.filter((_, folder) => mapping[folder] === index);
    if (folders.length > 1) problems.push(`folders ${folders.map((name) => `"${name}"`).join(' and ')} both match the class ${className}`);
  });
  if (problems.length) {
    throw new DatasetError(
      `${problems.join('; ')}. The model in ${displayPath(modelFolder)} has classes ${classNames.join(', ')}; the data folder has ${folderNames.join(', ')} ` +
        '(names match case-insensitively, COVID-19 = COVID)',
      dataFolder,
    );
  }
  return mapping;
}

// ---------------------------------------------------------------------------------------------
// The saved model and the backbone

export interface OpenedModel {
  folder: string;
  head: tf.LayersModel;
  info: SavedModelInfo;
}

/** Checks classifier.json beyond readModelInfo: class names, positive class and threshold that make sense. */
function checkModelInfo(info: SavedModelInfo, folder: string): void {
  const names = info.classNames;
  if (!Array.isArray(names) || names.length < 2 || names.some((name) => typeof name !== 'string' || name === '')) {
    throw new ModelFileError('classifier.json must list at least two class names in "classNames"', folder);
  }
  const keys = names.map(classKey);
  const duplicate = names.find((_, index) => keys.indexOf(keys[index]) !== index);
  if (duplicate !== undefined) throw new ModelFileError(`classifier.json names the class "${duplicate}" twice`, folder);
  if (!Number.isInteger(info.positiveClass) || info.positiveClass < 0 || info.positiveClass >= names.length) {
    throw new ModelFileError(`classifier.json has positiveClass ${JSON.stringify(info.positiveClass)}, not an index of ${names.join(', ')}`, folder);
  }
  if (info.threshold !== undefined && info.threshold !== null && !(typeof info.threshold === 'number' && info.threshold >= 0 && info.threshold <= 1)) {
    throw new ModelFileError(`classifier.json has threshold ${JSON.stringify(info.threshold)}; expected a probability from 0 to 1`, folder);
  }
  if (info.threshold === null) delete info.threshold;
}

/**
 * Reads the model's classifier.json without loading anything heavy (so a wrong folder fails in
 * well under a second), and checks that its files are there.
 */
export function readCheckedModelInfo(folder: string): SavedModelInfo {
  if (fs.existsSync(folder) && !fs.statSync(folder).isDirectory()) {
    throw new ModelFileError('is a file; --model takes the folder a model was saved to (with classifier.json, model.json and weights.bin)', folder);
  }
  const info = readModelInfo(folder);
  if (info === null || typeof info !== 'object') throw new ModelFileError('classifier.json does not hold a model description', folder);
  checkModelInfo(info, folder);
  for (const file of ['model.json', 'weights.bin']) {
    if (!fs.existsSync(path.join(folder, file))) throw new ModelFileError(`is not a complete saved model (no ${file}); train again`, folder);
  }
  return info;
}

/** Opens a saved head: tfjs backend, then the layers, checked to take the backbone's 2048 pooled features. */
export async function openModel(folder: string, config: Config, info = readCheckedModelInfo(folder)): Promise<OpenedModel> {
  await initBackend(config.backend, note);
  const { head } = await loadHead(folder);
  const inputShape = head.inputs[0]?.shape;
  if (!inputShape || inputShape.length !== 2 || inputShape[1] !== featureLength) {
    head.dispose();
    throw new ModelFileError(`its network takes input ${JSON.stringify(inputShape)}, not the ${featureLength} pooled ResNet50 features: it is not a head for this backbone`, folder);
  }
  return { folder, head, info };
}

/** Weights (fetched on first use) and the feature engine, logging to stderr. */
export async function openEngine(config: Config): Promise<{ weights: WeightsPaths; engine: FeatureEngine }> {
  const weights = await ensureWeights(config.weightsDir, note);
  const engine = await createFeatureEngine(weights, { engine: config.engine, backend: config.backend, log: note });
  return { weights, engine };
}

/** Warns when the model was trained on features of other backbone weights (its outputs would mean nothing). */
export function checkWeightsMatch(model: OpenedModel, weights: WeightsPaths): string | undefined {
  const saved = model.info.weightsFingerprint;
  if (!saved) return undefined;
  let current: string;
  try {
    current = weightsFingerprint(weights);
  } catch {
    return undefined;
  }
  if (saved === current) return undefined;
  const warning = `warning: ${displayPath(model.folder)} was trained on backbone weights ${saved}, but these are ${current}; its predictions may be meaningless`;
  note(warning);
  return warning;
}


// ---------------------------------------------------------------------------------------------
// Decisions

/**
 * The predicted class: with a saved threshold on a two-class model, the positive class when its
 * probability reaches the threshold (as the metrics count it); otherwise argmax.
 */
export function decide(probabilities: readonly number[], info: Pick<SavedModelInfo, 'positiveClass' | 'threshold'>, threshold = info.threshold): number {
  if (threshold === undefined || probabilities.length !== 2) return argmax(probabilities as number[]);
  return probabilities[info.positiveClass] >= threshold ? info.positiveClass : 1 - info.positiveClass;
}

/** Probabilities by class name, rounded to 6 decimals (float32 noise beyond that). */
export function probabilitiesByName(probabilities: readonly number[], classNames: readonly string[]): Record<string, number> {
  return Object.fromEntries(classNames.map((name, index) => [name, Math.round(probabilities[index] * 1e6) / 1e6]));
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
  if (process.env.npm_lifecycle_event === spec.name && callerFolder && fs.existsSync(callerFolder)) process.chdir(callerFolder);
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
      finish(1);
    });
}
