/**
 * Notebook 04's comparison of the two out-of-distribution scores on real features: each fitted on
 * the training images with its threshold at the same validation percentile, then how many
 * validation, test and non-X-ray images it flags, how far the photos sit above the threshold, and
 * what it costs.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { FeatureSet } from '../core/contracts';
import { fitGuard, Guard, GuardMethod, guardMethods, guardScores } from '../head/ood';
import { guardScoreHistogram } from '../view/safeguardFigures';

/** The JPEG photos of a folder (Debian's darknet samples: dog, eagle, horses...), or none. */
export function photosIn(folder: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((name) => /\.jpe?g$/i.test(name))
    .sort()
    .map((name) => path.join(folder, name));
}

export interface GuardComparisonRow {
  method: GuardMethod;
  guard: Guard;
  fitSeconds: number;
  scores: { validation: number[]; test: number[]; photos: number[] };
  flagged: { validation: number; test: number; photos: number };
  /** Lowest photo score over the threshold: how much room the photos leave (above 1: all flagged). */
  photoMargin: number;
  /** Bytes the guard adds to the saved model. */
  bytes: number;
}

/** Fits every guard method on the same features and scores the three groups. */
export function compareGuardMethods(
  sets: { train: FeatureSet; validation: FeatureSet; test: FeatureSet },
  photos: Float32Array,
  percentile: number,
): GuardComparisonRow[] {
  return guardMethods.map((method) => {
    const started = Date.now();
    const guard = fitGuard(sets.train.features, sets.validation.features, { method, percentile });
    const fitSeconds = (Date.now() - started) / 1000;
    const scores = {
      validation: guardScores(guard, sets.validation.features),
      test: guardScores(guard, sets.test.features),
      photos: guardScores(guard, photos),
    };
    const count = (values: number[]) => values.filter((score) => score > guard.threshold).length;
    return {
      method,
      guard,
      fitSeconds,
      scores,
      flagged: { validation: count(scores.validation), test: count(scores.test), photos: count(scores.photos) },
      photoMargin: scores.photos.length ? Math.min(...scores.photos) / guard.threshold : NaN,
      bytes: guard.data.byteLength,
    };
  });
}

/** Table rows for the comparison (counts as "flagged of total"). */
export function guardComparisonTable(rows: GuardComparisonRow[]): { header: string[]; rows: string[][] } {
  const of = (flagged: number, total: number) =>
    `${flagged} of ${total} (${((100 * flagged) / Math.max(1, total)).toFixed(1)}%)`;
  return {
    header: [
      'method',
      'threshold',
      'validation flagged',
      'test flagged',
      'photos flagged',
      'photo margin',
      'fit (s)',
      'size (MB)',
    ],
    rows: rows.map((row) => [
      row.method,
      row.guard.threshold.toPrecision(4),
      of(row.flagged.validation, row.scores.validation.length),
      of(row.flagged.test, row.scores.test.length),
      of(row.flagged.photos, row.scores.photos.length),
      row.photoMargin.toFixed(2),
      row.fitSeconds.toFixed(1),
      (row.bytes / 1e6).toFixed(1),
    ]),
  };
}

/** The histogram of one method's scores for the three groups, with its threshold. */
export function guardHistogram(row: GuardComparisonRow): Buffer {
  return guardScoreHistogram(
    [
      { name: 'validation X-rays', scores: row.scores.validation },
      { name: 'test X-rays', scores: row.scores.test },
      { name: 'non-X-ray photos', scores: row.scores.photos },
    ],
    row.guard.threshold,
    `Out-of-distribution guard (${row.method}): scores and threshold (${row.guard.percentile}th percentile of validation)`,
  );
}
