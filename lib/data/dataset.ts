/**
 * The dataset: a folder with one sub-folder per class (flow_from_directory layout), class indices
 * in alphabetical order (COVID = 0, NORMAL = 1), and a seeded, stratified train/validation/test split
 * that is saved so a run can be reproduced.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomicSync } from '../core/atomic';
import { DatasetError } from '../core/errors';
import { isImageFile } from './files';
import { createRandom, shuffled } from '../core/random';

export interface LabelledImage {
  /** Path relative to the dataset root, with forward slashes (e.g. "COVID/COVID-2000.png"). */
  file: string;
  label: number;
}

export interface Dataset {
  root: string;
  classNames: string[];
  images: LabelledImage[];
}

export type SplitName = 'train' | 'validation' | 'test';
export const splitNames: SplitName[] = ['train', 'validation', 'test'];

export interface DatasetSplit {
  root: string;
  classNames: string[];
  seed: number;
  train: LabelledImage[];
  validation: LabelledImage[];
  test: LabelledImage[];
  /** Images moved or dropped by the leakage guard, if it ran. */
  notes?: string[];
}

export function absolutePath(root: string, image: LabelledImage): string {
  return path.join(root, image.file);
}

/** Lists class folders and their images; non-image files are ignored. */
export function scanDataset(root: string): Dataset {
  const resolved = path.resolve(root);
  if (!fs.existsSync(resolved)) {
    throw new DatasetError(
      'data folder not found (set CXR_DATA_DIR or config.dataDir to a folder with one ' + 'sub-folder per class)',
      resolved,
    );
  }
  if (!fs.statSync(resolved).isDirectory()) throw new DatasetError('is not a folder', resolved);
  const classNames = fs
    .readdirSync(resolved, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
  if (classNames.length === 0) {
    throw new DatasetError('has no class sub-folders; expected e.g. COVID/ and NORMAL/ with images inside', resolved);
  }
  if (classNames.length === 1) {
    throw new DatasetError(`has only one class folder (${classNames[0]}); a classifier needs at least two`, resolved);
  }
  const images: LabelledImage[] = [];
  classNames.forEach((className, label) => {
    const files = fs.readdirSync(path.join(resolved, className)).filter(isImageFile).sort();
    if (files.length === 0)
      throw new DatasetError('class folder holds no PNG or JPEG ' + 'images', path.join(resolved, className));
    for (const name of files) images.push({ file: `${className}/${name}`, label });
  });
  return { root: resolved, classNames, images };
}

export function countByClass(images: readonly LabelledImage[], classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const image of images) counts[image.label]++;
  return counts;
}

/** At most `perClass` images of each class, picked with the seed (0 keeps everything). */
export function subsetPerClass(dataset: Dataset, perClass: number, seed: number): Dataset {
  if (!perClass) return dataset;
  const random = createRandom(seed ^ 0x5eed);
  const kept = dataset.classNames.flatMap((_, label) =>
    shuffled(
      dataset.images.filter((image) => image.label === label),
      random,
    ).slice(0, perClass),
  );
  return { ...dataset, images: kept.sort(byFile) };
}

function byFile(a: LabelledImage, b: LabelledImage): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : 0;
}

/**
 * How many of each class go to the held-out part: the total is round(n * fraction) and each class
 * gets its proportional share, rounding by largest remainder so the total is exact.
 */
export function stratifiedCounts(classCounts: number[], fraction: number): number[] {
  const total = classCounts.reduce((a, b) => a + b, 0);
  const target = Math.round(total * fraction);
  const exact = classCounts.map((count) => (count * target) / total);
  const counts = exact.map(Math.floor);
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (let i = 0; counts.reduce((a, b) => a + b, 0) < target; i++) counts[order[i % order.length].index]++;
  return counts;
}

export interface SplitOptions {
  testFraction: number;
  validationFraction: number;
  seed: number;
  /** Optional group (e.g. patient id) per image file: a group never spans two splits. */
  groupOf?: (image: LabelledImage) => string | undefined;
}

/**
 * Seeded stratified split. Without groups, each class is shuffled and cut; with groups, whole groups
 * are dealt into test, then validation, until each class reaches its share.
 */
export function splitDataset(dataset: Dataset, options: SplitOptions): DatasetSplit {
  const classCount = dataset.classNames.length;
  const random = createRandom(options.seed);
  const testCounts = stratifiedCounts(countByClass(dataset.images, classCount), options.testFraction);
  const [test, rest] = takeStratified(dataset.images, testCounts, random, options.groupOf);
  const validationCounts = stratifiedCounts(countByClass(rest, classCount), options.validationFraction);
  const [validation, train] = takeStratified(rest, validationCounts, random, options.groupOf);
  for (const [name, part] of [
    ['training', train],
    ['test', test],
  ] as const) {
    const counts = countByClass(part, classCount);
    const empty = counts.findIndex((count) => count === 0);
    if (empty >= 0) {
      throw new DatasetError(
        `the ${name} part has no ${dataset.classNames[empty]} images; use more images or a ` +
          `different test fraction`,
        dataset.root,
      );
    }
  }
  return {
    root: dataset.root,
    classNames: dataset.classNames,
    seed: options.seed,
    train: train.sort(byFile),
    validation: validation.sort(byFile),
    test: test.sort(byFile),
  };
}

function takeStratified(
  images: LabelledImage[],
  counts: number[],
  random: () => number,
  groupOf?: (image: LabelledImage) => string | undefined,
): [LabelledImage[], LabelledImage[]] {
  // Each image is its own group unless a group is given; groups keep their images together.
  const groups = new Map<string, LabelledImage[]>();
  for (const image of images) {
    const key = groupOf?.(image) ?? `file:${image.file}`;
    const members = groups.get(key);
    if (members) members.push(image);
    else groups.set(key, [image]);
  }
  const taken: LabelledImage[] = [];
  const left: LabelledImage[] = [];
  const takenPerClass = new Array<number>(counts.length).fill(0);
  for (const members of shuffled([...groups.values()], random)) {
    const label = members[0].label;
    if (takenPerClass[label] + members.length <= counts[label]) {
      taken.push(...members);
      for (const member of members) takenPerClass[member.label]++;
    } else {
      left.push(...members);
    }
  }
  return [taken, left];
}

export function splitCounts(split: DatasetSplit): Record<SplitName, number> {
  return { train: split.train.length, validation: split.validation.length, test: split.test.length };
}

/** Saves which file went where, so later notebooks and later runs use the same split. */
export function saveSplit(filePath: string, split: DatasetSplit): void {
  writeJsonAtomicSync(filePath, split);
}

export function loadSplit(filePath: string): DatasetSplit {
  if (!fs.existsSync(filePath)) {
    throw new DatasetError('no saved split; run notebooks/01-data.ipynb first (or `npm start`)', filePath);
  }
  const split = JSON.parse(fs.readFileSync(filePath, 'utf8')) as DatasetSplit;
  for (const name of splitNames) {
    if (!Array.isArray(split[name])) throw new DatasetError(`saved split has no "${name}" list`, filePath);
  }
  return split;
}
