/**
 * Picks the tfjs backend: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (both optional
 * dependencies: their install downloads libtensorflow, which fails offline), then wasm, then the
 * pure-JS cpu backend. The first that loads is used and logged; config.backend or TF_BACKEND forces one.
 *
 * Which modules load is the one seam: `initBackend(..., load)` takes the loader (default `require`),
 * so tests can declare a backend present or missing without a GPU.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from './config';
import { UserFacingError } from './errors';
import { transposeBeforeWasmMatMul } from './wasmMatMul';

const backendOrder: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Loads a module by name (node's require by default); throws when it is missing or cannot load. */
export type ModuleLoader = (moduleName: string) => unknown;

// eslint-disable-next-line @typescript-eslint/no-require-imports -- optional modules: loaded only if installed
export const requireModule: ModuleLoader = (moduleName) => require(moduleName);

/** The npm package each backend needs (cpu is built into @tensorflow/tfjs). */
const backendModules: Record<BackendName, string | undefined> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: undefined,
};

/** The tfjs backend that each of our names registers. */
const tfjsBackendName: Record<BackendName, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** Native TensorFlow (libtensorflow, CPU or CUDA): fast enough to run the backbone itself. */
export function isNativeBackend(name: BackendName | undefined): boolean {
  return name === 'tensorflow' || name === 'tensorflow-gpu';
}

let chosen: BackendName | undefined;

/** The npm package behind each backend, as the README names them. */
const packageOf: Record<BackendName, string> = {
  'tensorflow-gpu': 'tfjs-node-gpu',
  tensorflow: 'tfjs-node',
  wasm: 'tfjs-backend-wasm',
  cpu: 'tfjs cpu',
};

export interface BackendFailure {
  name: BackendName;
  message: string;
}

/**
 * One calm line for the backend in use: what the faster backends lack, in words, pointing at the
 * README; their error messages only with CXR_DEBUG=1 (they read like errors, and wrapped mid-word).
 */
export function describeBackendChoice(name: BackendName, failures: BackendFailure[], debug = false): string {
  const missing = failures.filter((failure) => /Cannot find module/.test(failure.message));
  const broken = failures.filter((failure) => !missing.includes(failure));
  const notes: string[] = [];
  if (missing.length) notes.push(`${missing.map((failure) => packageOf[failure.name]).join(', ')} not installed`);
  if (broken.length) notes.push(`${broken.map((failure) => packageOf[failure.name]).join(', ')} failed to load`);
  let line = `tfjs backend: ${name}`;
  if (notes.length) line += `; ${notes.join(', ')}, see README (Backends)`;
  if (broken.length && !debug) line += '; CXR_DEBUG=1 shows why';
  if (debug && failures.length) {
    line += failures.map((failure) => `\n  ${failure.name}: ${failure.message}`).join('');
  }
  return line;
}

async function tryBackend(name: BackendName, load: ModuleLoader): Promise<string | undefined> {
  try {
    const moduleName = backendModules[name];
    if (moduleName) load(moduleName);
    const ok = await tf.setBackend(tfjsBackendName[name]);
    if (!ok) return 'tf.setBackend returned false';
    await tf.ready();
    // Training the head on wasm is 9x faster with this (see wasmMatMul.ts).
    if (name === 'wasm') transposeBeforeWasmMatMul();
    return undefined;
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    return message.split('\n')[0];
  }
}

/**
 * Initialises tfjs once per process and returns the backend in use.
 * Calling it again returns the same backend (switching mid-process would strand tensors).
 * A forced backend that cannot load is one UserFacingError naming its package and why.
 */
export async function initBackend(
  preferred?: BackendName,
  log: (line: string) => void = console.log,
  load: ModuleLoader = requireModule,
): Promise<BackendName> {
  if (chosen && (!preferred || preferred === chosen)) return chosen;
  if (preferred && !backendOrder.includes(preferred)) {
    throw new UserFacingError(`unknown tfjs backend "${preferred}"; choose one of ${backendOrder.join(', ')}`);
  }
  const candidates = preferred ? [preferred] : backendOrder;
  const failures: BackendFailure[] = [];
  for (const name of candidates) {
    const failure = await tryBackend(name, load);
    if (!failure) {
      chosen = name;
      log(describeBackendChoice(name, failures, Boolean(process.env.CXR_DEBUG)));
      return name;
    }
    failures.push({ name, message: failure });
  }
  const details = failures.map((failure) => `${failure.name}: ${failure.message}`).join('; ');
  if (preferred) {
    const moduleName = backendModules[preferred];
    const hint = isNativeBackend(preferred)
      ? `; install ${moduleName} (README: "Running on a GPU") or unset TF_BACKEND`
      : '';
    throw new UserFacingError(`tfjs backend "${preferred}" was asked for but cannot be loaded (${details})${hint}`);
  }
  throw new UserFacingError(`no tfjs backend could be loaded (${details})`);
}

export function currentBackend(): BackendName | undefined {
  return chosen;
}
