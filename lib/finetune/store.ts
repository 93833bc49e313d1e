/**
 * The fine-tuned model on disk: the head in the usual store (classifier.json, model.json,
 * weights.bin: lib/head/modelStore.ts) plus the block's folded weights (block.bin) and their
 * description (block.json, with a format version and the sha256 of block.bin). Written block first,
 * classifier.json last, each file atomically: an interrupted save has no classifier.json and is
 * refused as incomplete; a damaged block.bin fails its hash.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomicSync, writeJsonAtomicSync } from '../core/atomic';
import { ModelFileError } from '../core/errors';
import { saveHead, SavedModelInfo } from '../head/modelStore';
import { assemble, checkBlockName, FinetuneBlock, makeConv, TrainableBlock } from './block';
import type { ConvPadding } from './convMatMul';

const blockFormatVersion = 1;
const blockJson = 'block.json';
const blockBin = 'block.bin';

export interface BlockDescription {
  version: number;
  block: FinetuneBlock;
  /** Fingerprint of the ImageNet weights the frozen trunk comes from. */
  weightsFingerprint: string;
  convs: { name: string; kernelShape: number[]; stride: number; padding: ConvPadding }[];
  sha256: string;
  bytes: number;
}

export function isFinetunedModel(folder: string): boolean {
  return fs.existsSync(path.join(folder, blockJson));
}

export async function saveFinetuned(
  folder: string,
  block: TrainableBlock,
  head: tf.LayersModel,
  info: SavedModelInfo,
): Promise<void> {
  fs.mkdirSync(folder, { recursive: true });
  fs.rmSync(path.join(folder, 'classifier.json'), { force: true }); // incomplete until the head is saved
  const parts = block.convs.flatMap((conv) => [conv.kernel.dataSync(), conv.bias.dataSync()] as Float32Array[]);
  const data = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), offset);
    offset += part.byteLength;
  }
  const description: BlockDescription = {
    version: blockFormatVersion,
    block: block.name,
    weightsFingerprint: info.weightsFingerprint,
    convs: block.convs.map((conv) => ({
      name: conv.name,
      kernelShape: conv.kernel.shape,
      stride: conv.stride,
      padding: conv.padding,
    })),
    sha256: createHash('sha256').update(data).digest('hex'),
    bytes: data.length,
  };
  writeFileAtomicSync(path.join(folder, blockBin), data);
  writeJsonAtomicSync(path.join(folder, blockJson), description);
  await saveHead(folder, head, info);
}

/** Reads block.json (checked) without loading the weights. */
export function readBlockDescription(folder: string): BlockDescription {
  const file = path.join(folder, blockJson);
  let description: BlockDescription;
  try {
    description = JSON.parse(fs.readFileSync(file, 'utf8')) as BlockDescription;
  } catch (error) {
    throw new ModelFileError(`cannot be read (${(error as Error).message.split('\n')[0]})`, file);
  }
  if (description.version !== blockFormatVersion)
    throw new ModelFileError(
      `format version ${String(description.version)}, this code reads ${blockFormatVersion}`,
      file,
    );
  try {
    checkBlockName(description.block);
  } catch {
    throw new ModelFileError(`names an unknown block "${String(description.block)}"`, file);
  }
  return description;
}

/** The fine-tuned block as tfjs variables; a missing, truncated or modified block.bin is refused. */
export function loadFinetunedBlock(folder: string): { block: TrainableBlock; description: BlockDescription } {
  const description = readBlockDescription(folder);
  const file = path.join(folder, blockBin);
  if (!fs.existsSync(file)) throw new ModelFileError('missing; save the fine-tuned model again', file);
  const data = fs.readFileSync(file);
  if (data.length !== description.bytes || createHash('sha256').update(data).digest('hex') !== description.sha256)
    throw new ModelFileError(`does not match the sha256 in ${blockJson} (damaged or modified)`, file);
  const values = new Float32Array(data.length / 4);
  new Uint8Array(values.buffer).set(data);
  let offset = 0;
  const take = (count: number) => values.subarray(offset, (offset += count));
  const convs = description.convs.map((conv) => {
    const kernel = take(conv.kernelShape.reduce((a, b) => a * b, 1));
    const bias = take(conv.kernelShape[3]);
    return makeConv(conv.name, kernel, conv.kernelShape, bias, conv.stride, conv.padding);
  });
  if (offset !== values.length)
    throw new ModelFileError(`holds ${values.length - offset} values more than ${blockJson} lists`, file);
  return { block: assemble(description.block, convs), description };
}
