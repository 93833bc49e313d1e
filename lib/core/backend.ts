/**
 * Picks the tfjs backend: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (both optional
 * dependencies: their install downloads libtensorflow, which fails offline), then wasm, then the
 * pure-JS cpu backend. The first that loads is used and logged; config.backend or TF_BACKEND forces one.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from './config';
import { UserFacingError } from './errors';
import { transposeBeforeWasmMatMul } from './wasmMatMul';

const backendOrder: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** The tfjs backend that each of our names registers. */
const tfjsBackendName: Record<BackendName, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

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

async function tryBackend(name: BackendName): Promise<string | undefined> {
  try {
    /* eslint-disable @typescript-eslint/no-require-imports -- optional modules: loaded only if installed */
    if (name === 'tensorflow-gpu') require('@tensorflow/tfjs-node-gpu');
    else if (name === 'tensorflow') require('@tensorflow/tfjs-node');
    else if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    /* eslint-enable @typescript-eslint/no-require-imports */
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
 */
export async function initBackend(
  preferred?: BackendName,
  log: (line: string) => void = console.log,
): Promise<BackendName> {
  if (chosen && (!preferred || preferred === chosen)) return chosen;
  if (preferred && !backendOrder.includes(preferred)) {
    throw new UserFacingError(`unknown tfjs backend "${preferred}"; choose one of ${backendOrder.join(', ')}`);
  }
  const candidates = preferred ? [preferred] : backendOrder;
  const failures: BackendFailure[] = [];
  for (const name of candidates) {
    const failure = await tryBackend(name);
    if (!failure) {
      chosen = name;
      log(describeBackendChoice(name, failures, Boolean(process.env.CXR_DEBUG)));
      return name;
    }
    failures.push({ name, message: failure });
  }
  const details = failures.map((failure) => `${failure.name}: ${failure.message}`).join('; ');
  throw new UserFacingError(`no tfjs backend could be loaded (${details})`);
}

export function currentBackend(): BackendName | undefined {
  return chosen;
}
