/**
 * The out-of-distribution guard saved beside the classifier: guard.json (method, threshold, the
 * backbone weights it was made for, size and sha1 of the data) and guard.bin (float32 data).
 * Both are written atomically, the JSON last. classifier.json names the guard once one is saved,
 * so a model saved before guards existed reads as "guard unavailable", while a named guard that is
 * missing, truncated or made for other weights is an error naming the file.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomicSync, writeJsonAtomicSync } from '../core/atomic';
import { featureLength } from '../core/contracts';
import { ModelFileError } from '../core/errors';
import { Guard, guardDataLength, guardMethods } from './ood';

export const guardFile = 'guard.json';
const guardDataFile = 'guard.bin';
const guardVersion = 1;

interface GuardHeader {
  version: number;
  method: Guard['method'];
  weightsFingerprint: string;
  featureLength: number;
  trainingCount: number;
  shrinkage?: number;
  neighbours?: number;
  threshold: number;
  percentile: number;
  validationCount: number;
  dataFile: string;
  dataBytes: number;
  dataSha1: string;
}

export interface SavedGuard extends Guard {
  weightsFingerprint: string;
}

const sha1 = (bytes: Uint8Array) => createHash('sha1').update(bytes).digest('hex');

/** Writes guard.bin, then guard.json. */
export function writeGuardFiles(folder: string, guard: Guard, weightsFingerprint: string): void {
  fs.mkdirSync(folder, { recursive: true });
  const bytes = new Uint8Array(guard.data.buffer, guard.data.byteOffset, guard.data.byteLength);
  fs.rmSync(path.join(folder, guardFile), { force: true });
  writeFileAtomicSync(path.join(folder, guardDataFile), bytes);
  const header: GuardHeader = {
    version: guardVersion,
    method: guard.method,
    weightsFingerprint,
    featureLength,
    trainingCount: guard.trainingCount,
    ...(guard.shrinkage !== undefined ? { shrinkage: guard.shrinkage } : {}),
    ...(guard.neighbours !== undefined ? { neighbours: guard.neighbours } : {}),
    threshold: guard.threshold,
    percentile: guard.percentile,
    validationCount: guard.validationCount,
    dataFile: guardDataFile,
    dataBytes: bytes.byteLength,
    dataSha1: sha1(bytes),
  };
  writeJsonAtomicSync(path.join(folder, guardFile), header);
}

/** Reads and checks guard.json and guard.bin; `weightsFingerprint` is the model's. */
export function readGuardFiles(folder: string, weightsFingerprint: string): SavedGuard {
  const headerPath = path.join(folder, guardFile);
  if (!fs.existsSync(headerPath))
    throw new ModelFileError(
      'is missing: classifier.json names it; run notebook 03 again to refit the guard',
      headerPath,
    );
  let header: GuardHeader;
  try {
    header = JSON.parse(fs.readFileSync(headerPath, 'utf8')) as GuardHeader;
  } catch (error) {
    throw new ModelFileError(`cannot be read (${(error as Error).message})`, headerPath);
  }
  if (header === null || typeof header !== 'object' || header.version !== guardVersion)
    throw new ModelFileError(`is not a version ${guardVersion} guard description`, headerPath);
  if (!guardMethods.includes(header.method))
    throw new ModelFileError(`has unknown method ${JSON.stringify(header.method)}`, headerPath);
  if (header.featureLength !== featureLength || !(header.trainingCount > 0) || !Number.isFinite(header.threshold))
    throw new ModelFileError('has a wrong feature length, training count or threshold', headerPath);
  if (header.weightsFingerprint !== weightsFingerprint) {
    throw new ModelFileError(
      `was made for backbone weights ${header.weightsFingerprint}, but the model was trained on ${weightsFingerprint}; run notebook 03 again`,
      headerPath,
    );
  }
  const dataPath = path.join(folder, path.basename(String(header.dataFile)));
  if (!fs.existsSync(dataPath)) throw new ModelFileError(`is missing (${guardFile} needs it)`, dataPath);
  const bytes = fs.readFileSync(dataPath);
  const expected = guardDataLength(header.method, header.trainingCount) * 4;
  if (bytes.byteLength !== header.dataBytes || bytes.byteLength !== expected) {
    throw new ModelFileError(
      `holds ${bytes.byteLength} bytes, expected ${expected}: truncated or damaged; run notebook 03 again`,
      dataPath,
    );
  }
  if (sha1(bytes) !== header.dataSha1)
    throw new ModelFileError(`does not match its checksum in ${guardFile}: damaged; run notebook 03 again`, dataPath);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return {
    method: header.method,
    trainingCount: header.trainingCount,
    data,
    ...(header.shrinkage !== undefined ? { shrinkage: header.shrinkage } : {}),
    ...(header.neighbours !== undefined ? { neighbours: header.neighbours } : {}),
    threshold: header.threshold,
    percentile: header.percentile,
    validationCount: header.validationCount,
    weightsFingerprint: header.weightsFingerprint,
  };
}
