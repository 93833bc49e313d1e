/**
 * The ONNX copy of the frozen backbone, built once from model.json + weights.bin (see
 * kerasToOnnx.ts) and stored beside them as backbone.onnx, with a record (backbone.onnx.json)
 * of the weights it was built from and of its own sha256. It is rebuilt when the weights change,
 * when the exporter changes, or when the stored file no longer matches its recorded hash
 * (a half-copied, truncated or edited file).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../core/atomic';
import { ModelFileError } from '../core/errors';
import { kerasResnetToOnnx } from './kerasToOnnx';
import { KerasModelJson } from './kerasWeights';
import { WeightsPaths } from './weights';

/**
 * Bumped whenever kerasToOnnx.ts (or onnxGraph.ts, kerasWeights.ts) changes what it writes, so old
 * exports are rebuilt.
 */
const onnxExporterVersion = 1;

export interface OnnxModelPaths {
  onnxFile: string;
  /** JSON record: exporter version, source hashes, and the ONNX file's sha256 and size. */
  recordFile: string;
}

export interface OnnxExportRecord {
  exporterVersion: number;
  /** From conversion.json: identifies the weights and topology the export was built from. */
  weightsSha256: string;
  modelJsonSha256: string;
  onnxSha256: string;
  onnxBytes: number;
  builtAt: string;
}

export function onnxModelPaths(paths: WeightsPaths): OnnxModelPaths {
  const onnxFile = path.join(paths.backboneDir, 'backbone.onnx');
  return { onnxFile, recordFile: `${onnxFile}.json` };
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The source hashes recorded by the weights conversion (lib/weights.ts). */
function sourceHashes(paths: WeightsPaths): { weightsSha256: string; modelJsonSha256: string } {
  let stamp: { weightsSha256?: unknown; modelJsonSha256?: unknown };
  try {
    stamp = JSON.parse(fs.readFileSync(paths.stamp, 'utf8'));
  } catch (error) {
    throw new ModelFileError(
      `cannot read the conversion record (${(error as Error).message.split('\n')[0]}); run \`npm run setup\``,
      paths.stamp,
    );
  }
  if (typeof stamp.weightsSha256 !== 'string' || typeof stamp.modelJsonSha256 !== 'string') {
    throw new ModelFileError('the conversion record has no weight hashes; run `npm run setup`', paths.stamp);
  }
  return { weightsSha256: stamp.weightsSha256, modelJsonSha256: stamp.modelJsonSha256 };
}

function readRecord(recordFile: string): OnnxExportRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(recordFile, 'utf8')) as OnnxExportRecord;
  } catch {
    return undefined;
  }
}

/**
 * Why the stored export cannot be used (undefined when it can). Hashes the ONNX file
 * (about 0.2 s for 94 MB), which is what catches a damaged file of the right size.
 */
export function staleReason(paths: WeightsPaths): string | undefined {
  const { onnxFile, recordFile } = onnxModelPaths(paths);
  if (!fs.existsSync(onnxFile)) return 'not built yet';
  const record = readRecord(recordFile);
  if (!record) return `${path.basename(recordFile)} is missing or unreadable`;
  if (record.exporterVersion !== onnxExporterVersion)
    return `built by exporter version ${record.exporterVersion}, current is ${onnxExporterVersion}`;
  const source = sourceHashes(paths);
  if (record.weightsSha256 !== source.weightsSha256 || record.modelJsonSha256 !== source.modelJsonSha256) {
    return 'built from other weights';
  }
  const data = fs.readFileSync(onnxFile);
  if (data.length !== record.onnxBytes || sha256(data) !== record.onnxSha256)
    return 'the file does not match its recorded sha256 (damaged or modified)';
  return undefined;
}

/** Builds backbone.onnx from the converted weights and stores it (atomically) with its record. */
async function buildBackboneOnnx(paths: WeightsPaths): Promise<OnnxExportRecord> {
  const { onnxFile, recordFile } = onnxModelPaths(paths);
  const source = sourceHashes(paths);
  let modelJson: KerasModelJson;
  let weightsData: Buffer;
  try {
    modelJson = JSON.parse(fs.readFileSync(paths.modelJson, 'utf8'));
    weightsData = fs.readFileSync(paths.weightsBin);
  } catch (error) {
    throw new ModelFileError(
      `cannot read the converted weights (${(error as Error).message.split('\n')[0]}); run \`npm run setup\``,
      paths.backboneDir,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = kerasResnetToOnnx(modelJson, weightsData);
  } catch (error) {
    if (error instanceof ModelFileError)
      throw new ModelFileError(`cannot export to ONNX: ${error.message}`, paths.modelJson);
    throw error;
  }
  const record: OnnxExportRecord = {
    exporterVersion: onnxExporterVersion,
    ...source,
    onnxSha256: sha256(bytes),
    onnxBytes: bytes.length,
    builtAt: new Date().toISOString(),
  };
  // The model first, then the record that vouches for it: a crash in between leaves a record
  // that does not match, which triggers a rebuild.
  await writeFileAtomic(onnxFile, bytes);
  await writeJsonAtomic(recordFile, record);
  return record;
}

/**
 * Returns the path of an up-to-date backbone.onnx, building it first when it is missing,
 * stale or damaged (about 2 s). Logs why it rebuilds.
 */
export async function ensureBackboneOnnx(
  paths: WeightsPaths,
  log: (line: string) => void = console.log,
): Promise<string> {
  const reason = staleReason(paths);
  if (reason) {
    const { onnxFile } = onnxModelPaths(paths);
    log(`Building ${onnxFile} (${reason})...`);
    await buildBackboneOnnx(paths);
  }
  return onnxModelPaths(paths).onnxFile;
}
