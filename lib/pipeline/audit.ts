/**
 * The shortcut audit over the whole test set (not eight pictures): does the model look at the lungs?
 * - every conv-map CAM method's share of heatmap energy inside the central box (and inside real
 *   lung masks when a mask folder is given), per class;
 * - accuracy and ROC AUC with the region blacked out, and with only the region kept
 *   (Maguolo & Nanni 2021: models that score well with the lungs removed learned the source).
 * Altered images go through the feature engine in batches and are cached under their own
 * preprocessing name, so a second run costs nothing.
 */
import { interruptible, stopIfInterrupted } from '../core/interrupt';
import { createHash } from 'crypto';
import * as tf from '@tensorflow/tfjs';
import { currentBackend } from '../core/backend';
import { Config, resolveFeatureBatchSize } from '../core/config';
import { convMapShape, featureLength, imageSize, silentProgress } from '../core/contracts';
import { describeError } from '../core/errors';
import { absolutePath, DatasetSplit, LabelledImage } from '../data/dataset';
import { caffePreprocess, loadImageRgb } from '../data/images';
import { checkMaskFolder, loadLungMask, maskFileFor } from '../data/masks';
import { contentHash, FeatureCache, precisionOf } from '../backbone/featureCache';
import { preprocessingName } from '../core/preprocessing';
import { preprocessedBatches } from '../backbone/featurePipeline';
import { weightsFingerprint } from '../backbone/weights';
import { camsFromConvMap, ConvCamMethodName, convCamMethodNames } from '../explain/cams';
import { blackOut, centralBoxMask, energyInside, maskArea } from '../explain/regions';
import { positiveColumn } from '../evaluate/confusion';
import { rocAuc } from '../evaluate/ranking';
import { argmax, predictHead } from '../head/predict';
import { createProgress } from '../view/progress';
import type { Backbone } from './backbone';
import type { OpenedModel } from './model';

/** The backbone batch size for the backend in use. */
const featureBatch = (config: Config) => resolveFeatureBatchSize(config.featureBatchSize, currentBackend());

type Log = (line: string) => void;

/** One test image seen by the CAM pass; the sample's images also keep what faithfulness needs. */
export interface KeptImage {
  image: LabelledImage;
  file: string;
  input: Float32Array;
  convMap: Float32Array;
  heatmaps: Record<ConvCamMethodName, Float32Array>;
  probabilities: number[];
}

export interface EnergyRecord {
  label: number;
  /** Share of the heatmap's energy inside the central box. */
  box: number;
  /** Share inside the image's lung mask, when there is one. */
  lungs?: number;
}

export interface CamPass {
  energy: Record<ConvCamMethodName, EnergyRecord[]>;
  kept: Map<string, KeptImage>;
  /** Lung masks by image file (only with a mask folder). */
  lungMasks: Map<string, Uint8Array>;
  maskSkipped: { file: string; reason: string }[];
  notes: string[];
  seconds: number;
}

/** Reads every test image's lung mask: missing ones are named and counted, other sizes resized (said once). */
export async function readLungMasks(
  folder: string,
  files: string[],
  log: Log,
): Promise<Pick<CamPass, 'lungMasks' | 'maskSkipped' | 'notes'>> {
  checkMaskFolder(folder);
  const lungMasks = new Map<string, Uint8Array>();
  const maskSkipped: CamPass['maskSkipped'] = [];
  const notes: string[] = [];
  let resized: string | undefined;
  for (const file of files) {
    const maskFile = maskFileFor(folder, file);
    if (!maskFile) {
      maskSkipped.push({ file, reason: `no mask ${folder}/${file.split('/').pop()}` });
      continue;
    }
    try {
      const mask = await loadLungMask(maskFile, imageSize);
      if (!mask.mask.some(Boolean)) throw new Error('the mask is empty (no white pixels)');
      if (!resized && (mask.originalWidth !== imageSize || mask.originalHeight !== imageSize))
        resized = `lung masks of ${mask.originalWidth}x${mask.originalHeight} are resized to ${imageSize}x${imageSize} (nearest)`;
      lungMasks.set(file, mask.mask);
    } catch (error) {
      maskSkipped.push({ file, reason: describeError(error) });
    }
  }
  if (resized) notes.push(resized);
  if (maskSkipped.length) {
    const named = maskSkipped.slice(0, 5).map((entry) => `${entry.file} (${entry.reason})`);
    notes.push(
      `${maskSkipped.length} of ${files.length} test images have no usable lung mask and are left out of the mask audit: ${named.join('; ')}${maskSkipped.length > 5 ? '; ...' : ''}`,
    );
  }
  notes.forEach((note) => log(note));
  return { lungMasks, maskSkipped, notes };
}

/**
 * One pass over the test set: conv maps in batches, every conv-map CAM method for the image's true
 * class, the energy shares; the images in `keep` also keep their maps for the faithfulness step.
 */
async function camEnergyPassWork(
  config: Config,
  model: OpenedModel,
  backbone: Backbone,
  split: DatasetSplit,
  keep: ReadonlySet<string>,
  log: Log = console.log,
): Promise<CamPass> {
  const started = Date.now();
  const box = centralBoxMask(config.explain.centralBox);
  const files = split.test.map((image) => absolutePath(split.root, image));
  const masks = config.explain.lungMaskDir
    ? await readLungMasks(config.explain.lungMaskDir, files, log)
    : { lungMasks: new Map<string, Uint8Array>(), maskSkipped: [], notes: [] };
  const energy = Object.fromEntries(convCamMethodNames.map((method) => [method, []])) as unknown as CamPass['energy'];
  const kept = new Map<string, KeptImage>();
  const byFile = new Map(split.test.map((image, index) => [files[index], image]));
  const progress = createProgress('CAMs of the test set', files.length);
  let done = 0;
  const skipped: string[] = [];
  for await (const batch of preprocessedBatches(files, {
    batchSize: featureBatch(config),
    preprocessing: backbone.preprocessing,
  })) {
    stopIfInterrupted(undefined, () => `the CAM pass was interrupted after ${done} of ${files.length} test images`);
    skipped.push(...batch.skipped.map((entry) => `${entry.file} (${entry.reason})`));
    const maps = batch.count ? await backbone.engine.convMaps(batch.input, batch.count) : new Float32Array(0);
    const mapValues = convMapShape[0] * convMapShape[1] * convMapShape[2];
    batch.files.forEach((file, row) => {
      const image = byFile.get(file)!;
      const convValues = maps.subarray(row * mapValues, (row + 1) * mapValues);
      const convMap = tf.tensor4d(convValues, [1, ...convMapShape]);
      try {
        const cams = camsFromConvMap(convMap, model.head, image.label);
        const lungs = masks.lungMasks.get(file);
        for (const method of convCamMethodNames) {
          const heatmap = cams.heatmaps[method]!;
          energy[method].push({
            label: image.label,
            box: energyInside(heatmap, box),
            lungs: lungs ? energyInside(heatmap, lungs) : undefined,
          });
        }
        if (keep.has(image.file)) {
          const valuesPerImage = imageSize * imageSize * 3;
          kept.set(image.file, {
            image,
            file,
            input: batch.input.slice(row * valuesPerImage, (row + 1) * valuesPerImage),
            convMap: Float32Array.from(convValues),
            heatmaps: cams.heatmaps as KeptImage['heatmaps'],
            probabilities: cams.probabilities,
          });
        }
      } finally {
        convMap.dispose();
      }
    });
    done += batch.count + batch.skipped.length;
    progress.update(done);
  }
  progress.finish(skipped.length ? `${skipped.length} unreadable` : undefined);
  const notes = [...masks.notes];
  if (skipped.length) notes.push(`${skipped.length} unreadable test images skipped: ${skipped.join('; ')}`);
  return { energy, kept, ...masks, notes, seconds: (Date.now() - started) / 1000 };
}

/** Mean energy share per class name, and the area of the region (what a flat map would give). */
export function energySummary(
  records: readonly EnergyRecord[],
  classNames: string[],
  which: 'box' | 'lungs',
): Record<string, { mean: number; n: number }> {
  return Object.fromEntries(
    classNames.map((name, label) => {
      const values = records
        .filter((record) => record.label === label)
        .map((record) => record[which])
        .filter((value): value is number => value !== undefined && Number.isFinite(value));
      return [name, { mean: values.reduce((sum, v) => sum + v, 0) / (values.length || NaN), n: values.length }];
    }),
  );
}

export interface RegionScores {
  accuracy: number;
  auc: number;
  n: number;
}

/** Accuracy (argmax) and ROC AUC (positive class) of the head on pooled features. */
export function scoreFeatures(model: OpenedModel, features: Float32Array, labels: number[]): RegionScores {
  const probabilities = predictHead(model.head, features);
  const correct = probabilities.filter((row, index) => argmax(row) === labels[index]).length;
  const positiveClass = model.info.positiveClass;
  return {
    accuracy: correct / (labels.length || NaN),
    auc: rocAuc(labels, positiveColumn(probabilities, positiveClass), { positiveClass }),
    n: labels.length,
  };
}

/**
 * Pooled features of altered copies of images, cached under `cacheName`; `key` identifies the
 * alteration of one image (e.g. its content hash, plus its mask's hash).
 */
async function alteredFeatures(
  items: { file: string; key: string; mask: Uint8Array }[],
  mode: 'region-out' | 'region-only',
  cacheName: string,
  config: Config,
  backbone: Backbone,
  label: string,
): Promise<Float32Array> {
  const fingerprint = weightsFingerprint(backbone.weights);
  const cache = FeatureCache.open(config.cacheDir, fingerprint, precisionOf(backbone.engine.name), cacheName);
  const missing = items.filter((item) => !cache.get(item.key));
  // Nothing to compute: no progress line (a second run reads everything from the cache).
  const progress = missing.length ? createProgress(label, missing.length) : silentProgress(label, 0);
  const valuesPerImage = imageSize * imageSize * 3;
  for (let start = 0; start < missing.length; start += featureBatch(config)) {
    stopIfInterrupted(
      undefined,
      () => `${label}: interrupted after ${start} of ${missing.length} images; those are kept in the feature cache`,
    );
    const batch = missing.slice(start, start + featureBatch(config));
    const input = new Float32Array(batch.length * valuesPerImage);
    const images = await Promise.all(batch.map((item) => loadImageRgb(item.file, imageSize, backbone.preprocessing)));
    images.forEach((image, row) =>
      caffePreprocess(blackOut(image.rgb, batch[row].mask, mode), input, row * valuesPerImage),
    );
    const pooled = await backbone.engine.pooledFeatures(input, batch.length);
    const records = batch.map((item, row) => ({
      hash: item.key,
      features: pooled.slice(row * featureLength, (row + 1) * featureLength),
    }));
    cache.add(records, backbone.engine.name);
    progress.update(start + batch.length);
  }
  progress.finish(missing.length < items.length ? `${items.length - missing.length} cached` : undefined);
  const features = new Float32Array(items.length * featureLength);
  items.forEach((item, row) => features.set(cache.get(item.key)!.features, row * featureLength));
  return features;
}

export interface RegionAudit {
  region: string;
  /** Mean share of the image the region covers. */
  area: number;
  regionOut: RegionScores;
  regionOnly: RegionScores;
}

/** Accuracy and AUC of the test images with the region blacked out, and with only the region kept. */
async function regionAccuracyAuditWork(
  config: Config,
  model: OpenedModel,
  backbone: Backbone,
  split: DatasetSplit,
  region: 'central box' | 'lung masks',
  lungMasks: Map<string, Uint8Array> = new Map(),
): Promise<RegionAudit> {
  const box = centralBoxMask(config.explain.centralBox);
  const { x, y } = config.explain.centralBox;
  const boxName = `box-x${x[0]}-${x[1]}-y${y[0]}-${y[1]}`;
  const items = split.test
    .map((image) => absolutePath(split.root, image))
    .flatMap((file, index) => {
      const mask = region === 'central box' ? box : lungMasks.get(file);
      if (!mask) return [];
      let key: string;
      try {
        key = contentHash(file);
      } catch {
        return [];
      }
      // A lung mask is part of the alteration: its content goes into the key.
      if (region === 'lung masks') key = createHash('sha1').update(key).update(mask).digest('hex');
      return [{ file, key, mask, label: split.test[index].label }];
    });
  const labels = items.map((item) => item.label);
  const name = region === 'central box' ? boxName : 'lungmask';
  const scores = async (mode: 'region-out' | 'region-only') =>
    scoreFeatures(
      model,
      await alteredFeatures(
        items,
        mode,
        `${preprocessingName(backbone.preprocessing)}+${name}-${mode}`,
        config,
        backbone,
        `${region}: ${mode}`,
      ),
      labels,
    );
  const area = items.reduce((sum, item) => sum + maskArea(item.mask), 0) / (items.length || NaN);
  return { region, area, regionOut: await scores('region-out'), regionOnly: await scores('region-only') };
}

/** camEnergyPass, stopped by Kernel > Interrupt or Ctrl-C (see core/interrupt). */
export const camEnergyPass = (...args: Parameters<typeof camEnergyPassWork>) =>
  interruptible(() => camEnergyPassWork(...args), { finished: 'the CAM pass' });

/** regionAccuracyAudit, stopped by Kernel > Interrupt or Ctrl-C (see core/interrupt). */
export const regionAccuracyAudit = (...args: Parameters<typeof regionAccuracyAuditWork>) =>
  interruptible(() => regionAccuracyAuditWork(...args), { finished: 'the region audit' });
