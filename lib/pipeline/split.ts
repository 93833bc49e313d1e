/**
 * Step 1 of the article: the class folders, the seeded stratified split (by patient when ids are
 * given) and the leakage guard. The saved split (outputs/split.json) is what later steps read.
 */
import { writeJsonAtomicSync } from '../core/atomic';
import { Config } from '../core/config';
import { cachePaths, outputPaths } from '../core/paths';
import {
  absolutePath,
  Dataset,
  DatasetSplit,
  LabelledImage,
  saveSplit,
  scanDataset,
  splitDataset,
  SplitName,
  splitNames,
  subsetPerClass,
} from '../data/dataset';
import { DroppedDuplicate, resolveCrossSplitDuplicates } from '../data/crossSplit';
import { DuplicateScan, findDuplicates } from '../data/duplicates';
import { groupingKeys, readPatientIds } from '../data/patientIds';
import { createProgress } from '../view/progress';

/** The class folders of config.dataDir, at most config.subsetPerClass images per class. */
export function loadDataset(config: Config): Dataset {
  return subsetPerClass(scanDataset(config.dataDir), config.subsetPerClass, config.seed);
}

/** The seeded split of config; with config.patientIdsCsv, each patient's images stay together. */
export function splitByConfig(
  dataset: Dataset,
  config: Config,
  log: (line: string) => void = console.log,
): DatasetSplit {
  let groupOf: ((image: LabelledImage) => string | undefined) | undefined;
  if (config.patientIdsCsv) {
    const files = dataset.images.map((image) => absolutePath(dataset.root, image));
    const grouping = groupingKeys(files, { patientIds: readPatientIds(config.patientIdsCsv) });
    groupOf = (image) => grouping.keys.get(absolutePath(dataset.root, image));
    const alone = grouping.withoutPatientId.length;
    log(
      `splitting by patient (${config.patientIdsCsv}); ${alone} images have no patient id and count as their own ` +
        `patient`,
    );
  }
  const { testFraction, validationFraction, seed } = config;
  return splitDataset(dataset, { testFraction, validationFraction, seed, groupOf });
}

export interface GuardedSplit {
  split: DatasetSplit;
  scan: DuplicateScan;
  dropped: DroppedDuplicate[];
}

/**
 * The leakage guard: duplicate pictures (dHash + thumbnail correlation) that sit in two splits are
 * kept in one (test first). Writes outputs/leakage.json.
 */
export async function guardLeakage(split: DatasetSplit, config: Config): Promise<GuardedSplit> {
  const where = new Map(
    splitNames.flatMap((name) =>
      split[name].map((image) => [absolutePath(split.root, image), { name, image }] as const),
    ),
  );
  const items = [...where.entries()].map(([path, { name, image }]) => ({ path, split: name, label: image.label }));
  const hashing = createProgress('hashing', items.length);
  const scan = await findDuplicates(items, {
    threshold: config.duplicates.hammingThreshold,
    minCorrelation: config.duplicates.minCorrelation,
    onProgress: (done) => hashing.update(done),
    signatureCacheFile: cachePaths(config).imageSignatures,
  });
  hashing.finish();
  const parts = Object.fromEntries(splitNames.map((name) => [name, split[name]])) as Record<SplitName, LabelledImage[]>;
  const resolved = resolveCrossSplitDuplicates(parts, scan.groups, {
    keyOf: (image) => absolutePath(split.root, image),
  });
  writeJsonAtomicSync(outputPaths(config).leakage, {
    groups: scan.groups,
    dropped: resolved.dropped,
    skipped: scan.skipped,
  });
  const guarded = { ...split, ...resolved.splits, notes: resolved.notes };
  return { split: guarded, scan, dropped: resolved.dropped };
}

/** Step 1 in one call: scan, split, guard, save. Returns the saved split. */
export async function prepareSplit(config: Config, log: (line: string) => void = console.log): Promise<GuardedSplit> {
  const guarded = await guardLeakage(splitByConfig(loadDataset(config), config, log), config);
  saveSplit(outputPaths(config).split, guarded.split);
  return guarded;
}
