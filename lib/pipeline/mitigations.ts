/**
 * Does a shortcut mitigation help? Each one (config.preprocessing.mitigation) gets its own features
 * of every image (cached under its preprocessing name), the config's recipe trained on several
 * seeded splits (validation and test scores, mean ± sd), and on the first split the shortcut audit
 * on the validation and the test images: accuracy/AUC with the central box blacked out (border
 * only) and with only the box kept, and the CAM energy inside the box per class. Choices are made
 * on the validation columns; the test columns are reported beside them, never used to choose.
 * outputs/mitigations.json is rewritten after every run, and a re-run skips what it holds.
 */
import * as fs from 'fs';
import { writeJsonAtomicSync } from '../core/atomic';
import { positiveClassIndex } from '../core/classes';
import { Config } from '../core/config';
import { imageSize } from '../core/contracts';
import { outputPaths } from '../core/paths';
import { describePreprocessing, MitigationName, mitigationNames, preprocessingName } from '../core/preprocessing';
import { UserFacingError } from '../core/errors';
import { absolutePath, DatasetSplit, loadSplit, SplitName } from '../data/dataset';
import { convCamMethodNames } from '../explain/cams';
import { trainHeads } from '../head/ensemble';
import { predictHead } from '../head/predict';
import type { SavedModelInfo } from '../head/modelStore';
import { weightsFingerprint } from '../backbone/weights';
import { camEnergyPass, energySummary, RegionScores, regionAccuracyAudit } from './audit';
import { Backbone, imageFeatures, openBackbone } from './backbone';
import type { OpenedModel } from './model';
import { featuresForSplitSeed } from './robustness';
import { loadDataset } from './split';
import { Scores, scoreProbabilities } from './study';

type Log = (line: string) => void;

export interface MitigationRun {
  mitigation: MitigationName;
  preprocessing: string;
  splitSeed: number;
  counts: Record<SplitName, number>;
  /** The recipe's model (ensemble of config.ensembleSize heads, init seeds splitSeed..) at threshold 0.5. */
  validation: Scores;
  test: Scores;
  epochs: number[];
  seconds: number;
}

export interface AuditPart {
  images: number;
  whole: RegionScores;
  /** The central box blacked out: only the border left. Near chance means the border carries no label. */
  borderOnly: RegionScores;
  /** Only the central box kept. */
  boxOnly: RegionScores;
  /** Mean share of each conv-map CAM method's energy inside the central box, per class. */
  energyInsideBox: Record<string, Record<string, { mean: number; n: number }>>;
}

export interface MitigationAudit {
  mitigation: MitigationName;
  splitSeed: number;
  /** Share of the image the central box covers (the energy share of a flat map). */
  boxArea: number;
  validation: AuditPart;
  /** Reported beside, never used to choose; absent when the run skipped it (--no-test-audit). */
  test?: AuditPart;
  seconds: number;
}

export interface MitigationsFile {
  /** What the runs depend on besides the mitigation and split seed; a change starts afresh. */
  key: string;
  recipe: string;
  ensembleSize: number;
  splitSeeds: number[];
  centralBox: Config['explain']['centralBox'];
  descriptions: Record<string, string>;
  extraction: Record<string, { images: number; computed: number; reused: number; seconds: number }>;
  runs: MitigationRun[];
  audits: MitigationAudit[];
}

function runKey(config: Config): string {
  const { mitigation: _mitigation, ...parameters } = config.preprocessing;
  void _mitigation;
  return JSON.stringify({
    dataDir: config.dataDir,
    subsetPerClass: config.subsetPerClass,
    fractions: [config.testFraction, config.validationFraction],
    recipe: [config.recipe, config.optimizer, config.learningRate, config.epochs, config.ensembleSize],
    patience: [config.earlyStopping, config.reduceLearningRate, config.headHiddenUnits, config.dropout],
    weightDecay: config.weightDecay,
    parameters: parameters,
    centralBox: config.explain.centralBox,
    engine: config.engine ?? 'default',
  });
}

/** The saved file when it was made with the same settings, else an empty one. */
function readMitigations(config: Config, splitSeeds: number[]): MitigationsFile {
  const file = outputPaths(config).mitigations;
  const key = runKey(config);
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as MitigationsFile;
    if (saved.key === key) return { ...saved, splitSeeds: [...new Set([...saved.splitSeeds, ...splitSeeds])] };
  }
  return {
    key: key,
    recipe: config.recipe,
    ensembleSize: config.ensembleSize,
    splitSeeds: splitSeeds,
    centralBox: config.explain.centralBox,
    descriptions: {},
    extraction: {},
    runs: [],
    audits: [],
  };
}

/** A trained head as the audit functions take it (never saved). */
function inMemoryModel(head: OpenedModel['head'], classNames: string[], backbone: Backbone): OpenedModel {
  const info: SavedModelInfo = {
    classNames: classNames,
    positiveClass: positiveClassIndex(classNames),
    weightsFingerprint: weightsFingerprint(backbone.weights),
    preprocessing: preprocessingName(backbone.preprocessing),
    preprocessingSettings: backbone.preprocessing,
    imageSize: imageSize,
    trainedAt: new Date().toISOString(),
    settings: {},
  };
  return { folder: '(in memory)', head: head, info: info, guardStatus: 'no guard (in memory)' };
}

async function auditPart(
  config: Config,
  model: OpenedModel,
  backbone: Backbone,
  split: DatasetSplit,
  part: 'validation' | 'test',
  whole: Scores,
  log: Log,
): Promise<AuditPart> {
  // The audit functions read split.test: the part audited stands in for it.
  const partSplit = { ...split, test: split[part] };
  const regions = await regionAccuracyAudit(config, model, backbone, partSplit, 'central box');
  const pass = await camEnergyPass(config, model, backbone, partSplit, new Set(), log);
  return {
    images: split[part].length,
    whole: { accuracy: whole.accuracy, auc: whole.auc, n: split[part].length },
    borderOnly: regions.regionOut,
    boxOnly: regions.regionOnly,
    energyInsideBox: Object.fromEntries(
      convCamMethodNames.map((method) => [method, energySummary(pass.energy[method], split.classNames, 'box')]),
    ),
  };
}

export interface MitigationProgress {
  /** Also audit the test images (reported, never used to choose); default true. */
  auditTest?: boolean;
  onRun?: (file: MitigationsFile, run: MitigationRun, reused: boolean) => void;
  onAudit?: (file: MitigationsFile, audit: MitigationAudit, reused: boolean) => void;
}

/**
 * Every mitigation over the split seeds (the first one also audited). Saved after each run; runs
 * and audits already in outputs/mitigations.json (same settings) are reused.
 */
export async function runMitigations(
  settings: Config,
  mitigations: readonly MitigationName[],
  splitSeeds: number[],
  log: Log = console.log,
  hooks: MitigationProgress = {},
): Promise<MitigationsFile> {
  for (const name of mitigations)
    if (!mitigationNames.includes(name))
      throw new UserFacingError(`unknown mitigation "${name}"; choose from ${mitigationNames.join(', ')}`);
  if (splitSeeds.length === 0) throw new UserFacingError('give at least one split seed');
  // After notebook 01 the saved split names the data folder (a later notebook's dataDir may be the default).
  const splitFile = outputPaths(settings).split;
  const config = fs.existsSync(splitFile) ? { ...settings, dataDir: loadSplit(splitFile).root } : settings;
  const file = outputPaths(config).mitigations;
  const results = readMitigations(config, splitSeeds);
  const save = () => writeJsonAtomicSync(file, results);
  for (const mitigation of mitigations) {
    const mitigated: Config = { ...config, preprocessing: { ...config.preprocessing, mitigation: mitigation } };
    results.descriptions[mitigation] = describePreprocessing(mitigated.preprocessing);
    const backbone = await openBackbone(mitigated, log);
    try {
      const dataset = loadDataset(config);
      const files = dataset.images.map((image) => absolutePath(dataset.root, image));
      const extraction = await imageFeatures(files, mitigated, backbone, `features (${mitigation})`);
      const earlier = results.extraction[mitigation];
      // The first extraction's cost is kept: a re-run reads everything from the cache.
      if (!earlier || extraction.computed > 0)
        results.extraction[mitigation] = {
          images: files.length,
          computed: extraction.computed,
          reused: extraction.reused,
          seconds: extraction.seconds,
        };
      for (const [index, splitSeed] of splitSeeds.entries()) {
        const auditWanted = index === 0;
        const done = results.runs.find((run) => run.mitigation === mitigation && run.splitSeed === splitSeed);
        const audited = results.audits.find(
          (audit) =>
            audit.mitigation === mitigation &&
            audit.splitSeed === splitSeed &&
            (audit.test !== undefined || hooks.auditTest === false),
        );
        if (done) hooks.onRun?.(results, done, true);
        if (audited) hooks.onAudit?.(results, audited, true);
        if (done && (audited || !auditWanted)) continue;
        const started = Date.now();
        const { sets, counts, classNames, split } = await featuresForSplitSeed(mitigated, backbone, splitSeed);
        const positiveClass = positiveClassIndex(classNames);
        const trained = await trainHeads({ ...mitigated, seed: splitSeed }, sets);
        try {
          const positives = (part: 'validation' | 'test') =>
            predictHead(trained.head, sets[part].features).map((row) => row[positiveClass]);
          const validation = scoreProbabilities(positives('validation'), sets.validation.labels, positiveClass);
          const test = scoreProbabilities(positives('test'), sets.test.labels, positiveClass);
          if (!done) {
            const run: MitigationRun = {
              mitigation: mitigation,
              preprocessing: preprocessingName(mitigated.preprocessing),
              splitSeed: splitSeed,
              counts: counts,
              validation: validation,
              test: test,
              epochs: trained.members.map((member) => member.history.length),
              seconds: (Date.now() - started) / 1000,
            };
            results.runs.push(run);
            save();
            hooks.onRun?.(results, run, false);
          }
          if (auditWanted && !audited) {
            const auditStarted = Date.now();
            const model = inMemoryModel(trained.head, classNames, backbone);
            const audit: MitigationAudit = {
              mitigation: mitigation,
              splitSeed: splitSeed,
              boxArea: 0,
              validation: await auditPart(mitigated, model, backbone, split, 'validation', validation, log),
              test:
                hooks.auditTest === false
                  ? undefined
                  : await auditPart(mitigated, model, backbone, split, 'test', test, log),
              seconds: (Date.now() - auditStarted) / 1000,
            };
            const { x, y } = config.explain.centralBox;
            audit.boxArea = (x[1] - x[0]) * (y[1] - y[0]);
            results.audits = results.audits.filter(
              (other) => other.mitigation !== mitigation || other.splitSeed !== splitSeed,
            );
            results.audits.push(audit);
            save();
            hooks.onAudit?.(results, audit, false);
          }
        } finally {
          trained.head.dispose();
        }
      }
    } finally {
      await backbone.engine.dispose();
    }
  }
  save();
  return results;
}

/** Mean and sample standard deviation. */
function meanSd(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / (values.length || NaN);
  const sd = values.length < 2 ? 0 : Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
  return { mean, sd };
}

export interface MitigationSummary {
  mitigation: MitigationName;
  description: string;
  splits: number;
  validationLoss: { mean: number; sd: number };
  validationAccuracy: { mean: number; sd: number };
  validationAuc: { mean: number; sd: number };
  testAccuracy: { mean: number; sd: number };
  testAuc: { mean: number; sd: number };
  audit?: MitigationAudit;
}

/** One row per mitigation: mean ± sd over the split seeds, and the first split's audit. */
export function summarizeMitigations(results: MitigationsFile): MitigationSummary[] {
  const names = mitigationNames.filter((name) => results.runs.some((run) => run.mitigation === name));
  return names.map((mitigation) => {
    const runs = results.runs.filter(
      (run) => run.mitigation === mitigation && results.splitSeeds.includes(run.splitSeed),
    );
    const pick = (f: (run: MitigationRun) => number) => meanSd(runs.map(f));
    return {
      mitigation: mitigation,
      description: results.descriptions[mitigation] ?? mitigation,
      splits: runs.length,
      validationLoss: pick((run) => run.validation.loss),
      validationAccuracy: pick((run) => run.validation.accuracy),
      validationAuc: pick((run) => run.validation.auc),
      testAccuracy: pick((run) => run.test.accuracy),
      testAuc: pick((run) => run.test.auc),
      audit: results.audits.find((audit) => audit.mitigation === mitigation),
    };
  });
}

const plusMinus = (value: { mean: number; sd: number }) => `${value.mean.toFixed(3)} ± ${value.sd.toFixed(3)}`;

/** The comparison as a table (notebook 05, the report, npm run mitigations): validation columns first. */
export function mitigationTable(summaries: MitigationSummary[]): { header: string[]; rows: string[][] } {
  const header = [
    'mitigation',
    'splits',
    'val loss',
    'val accuracy',
    'val AUC',
    'val border-only AUC',
    'val box-only AUC',
    'Grad-CAM energy in box (COVID / NORMAL, val)',
    'test accuracy',
    'test AUC',
    'test border-only acc / AUC',
    'test box-only acc / AUC',
  ];
  const energy = (audit: MitigationAudit | undefined) => {
    const perClass = audit?.validation.energyInsideBox.gradcam;
    return perClass
      ? Object.values(perClass)
          .map((value) => value.mean.toFixed(2))
          .join(' / ')
      : '';
  };
  const scores = (value: RegionScores | undefined) =>
    value ? `${value.accuracy.toFixed(3)} / ${value.auc.toFixed(3)}` : '';
  const rows = summaries.map((row) => [
    row.mitigation,
    String(row.splits),
    plusMinus(row.validationLoss),
    plusMinus(row.validationAccuracy),
    plusMinus(row.validationAuc),
    row.audit ? row.audit.validation.borderOnly.auc.toFixed(3) : '',
    row.audit ? row.audit.validation.boxOnly.auc.toFixed(3) : '',
    energy(row.audit),
    plusMinus(row.testAccuracy),
    plusMinus(row.testAuc),
    scores(row.audit?.test?.borderOnly),
    scores(row.audit?.test?.boxOnly),
  ]);
  return { header: header, rows: rows };
}

/** outputs/mitigations.json as saved (whatever settings made it), or undefined when there is none. */
export function savedMitigations(config: Config): MitigationsFile | undefined {
  const file = outputPaths(config).mitigations;
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as MitigationsFile;
}
