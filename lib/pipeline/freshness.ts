/**
 * Outputs that never go stale silently. Each artifact records the model (trainedAt) and split
 * (digest of split.json) it came from; these checks compare them with the saved model and split on
 * disk and say, in one line each, which piece is out of date and which notebook rebuilds it.
 * Training keeps the model it replaces in outputs/model.previous/ (see saveModel).
 */
import * as fs from 'fs';
import { Config } from '../core/config';
import { outputPaths } from '../core/paths';
import { fileDigest, ModelStamp } from '../core/provenance';
import { readRunMetrics } from '../evaluate/runMetrics';
import { readModelInfo, SavedModelInfo } from '../head/modelStore';

/** What can be out of date: the model against the split, metrics.json, explanations.json, the threshold. */
export type FreshnessCheck = 'split' | 'metrics' | 'threshold' | 'explanations';
const allChecks: FreshnessCheck[] = ['split', 'metrics', 'threshold', 'explanations'];

/** "2026-12-02 06:40:12 UTC" from an ISO time stamp. */
export function describeTime(iso: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : iso;
}

function stampOf(file: string): ModelStamp | undefined {
  try {
    const stamp = (JSON.parse(fs.readFileSync(file, 'utf8')) as { model?: Partial<ModelStamp> }).model;
    return typeof stamp?.trainedAt === 'string' ? { trainedAt: stamp.trainedAt, split: stamp.split } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One plain line per out-of-date piece, e.g. "metrics.json is from the model trained at T1, the
 * saved model was trained at T2: run notebook 04". Empty when everything matches (or when there is
 * no saved model yet: the notebooks say that themselves).
 */
export function staleOutputs(config: Config, checks: FreshnessCheck[] = allChecks): string[] {
  const paths = outputPaths(config);
  let info: SavedModelInfo;
  try {
    info = readModelInfo(paths.model);
  } catch {
    return [];
  }
  const saved = describeTime(info.trainedAt);
  const lines: string[] = [];
  const split = fileDigest(paths.split);
  if (checks.includes('split') && info.split && split && info.split !== split) {
    lines.push(
      `the saved model (trained at ${saved}) was trained on another split than split.json holds now ` +
        `(notebook 01 ran again since): its test images may include images it trained on; run notebook 03`,
    );
  }
  if (checks.includes('metrics') && fs.existsSync(paths.metrics)) {
    let trainedAt: string | undefined;
    try {
      trainedAt = readRunMetrics(paths.metrics).model.trainedAt;
    } catch {
      trainedAt = undefined;
    }
    if (trainedAt !== info.trainedAt) {
      const from = trainedAt ? `the model trained at ${describeTime(trainedAt)}` : 'an unknown model';
      lines.push(`metrics.json is from ${from}, the saved model was trained at ${saved}: run notebook 04`);
    }
  }
  if (checks.includes('threshold') && info.threshold === undefined) {
    lines.push(
      `the saved model (trained at ${saved}) has no decision threshold chosen on validation data yet ` +
        `(npm run predict uses 0.5 until then): run notebook 04`,
    );
  }
  const explained = checks.includes('explanations') ? stampOf(paths.explanations) : undefined;
  if (explained && explained.trainedAt !== info.trainedAt) {
    lines.push(
      `explanations.json is from the model trained at ${describeTime(explained.trainedAt)}, the saved model ` +
        `was trained at ${saved}: run notebook 05`,
    );
  }
  return lines;
}

/** Prints staleOutputs as warnings, one line each; returns them (empty: all up to date). */
export function warnStaleOutputs(
  config: Config,
  checks: FreshnessCheck[] = allChecks,
  log: (line: string) => void = console.log,
): string[] {
  const lines = staleOutputs(config, checks);
  for (const line of lines) log(`warning: ${line}`);
  return lines;
}

/**
 * Puts outputs/model.previous/ back as outputs/model/ and the replaced model in its place (a swap,
 * so running it twice undoes it). Returns the restored model's info. metrics.json then belongs to
 * the other model: staleOutputs says so until notebook 04 runs again.
 */
export function restorePreviousModel(config: Config): SavedModelInfo {
  const paths = outputPaths(config);
  const restored = readModelInfo(paths.previousModel);
  const swap = `${paths.model}.swap`;
  fs.rmSync(swap, { recursive: true, force: true });
  if (fs.existsSync(paths.model)) fs.renameSync(paths.model, swap);
  fs.renameSync(paths.previousModel, paths.model);
  if (fs.existsSync(swap)) fs.renameSync(swap, paths.previousModel);
  return restored;
}
