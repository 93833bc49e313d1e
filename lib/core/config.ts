import * as fs from 'fs';
import * as path from 'path';
import { UserFacingError } from './errors';

/**
 * The project root (lib/core/ sits two levels below it), so paths work from notebooks, scripts and tests
 * alike. realpath: notebooks reach lib/ through the notebooks/lib symlink.
 */
export const projectRoot = path.resolve(fs.realpathSync(__dirname), '..', '..');

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type EngineName = 'onnxruntime' | 'tfjs';

/**
 * Every setting of a run, with the article's values as defaults.
 * Notebooks call `loadConfig({ ...overrides })` in one cell; environment variables
 * (CXR_DATA_DIR, CXR_SUBSET_PER_CLASS, TF_BACKEND, FEATURE_ENGINE, ...) override defaults for headless runs.
 */
export interface Config {
  /** Folder with one sub-folder per class (COVID/, NORMAL/). */
  dataDir: string;
  /** Optional CSV (file, patient_id columns): each patient's images stay in one split. */
  patientIdsCsv?: string;
  /** Use at most this many images per class (0 = all); picked with `seed`. CI uses a few dozen. */
  subsetPerClass: number;
  /** Seed for the subset, the split, weight initialisation and shuffling. */
  seed: number;
  /** Fraction of all images kept for testing: 895 / 2,484 gives the article's 895 test images. */
  testFraction: number;
  /** Fraction of the remaining training images held out for validation (early stopping, LR reduction). */
  validationFraction: number;

  /** Forced tfjs backend, or undefined for the first that loads (tensorflow-gpu, tensorflow, wasm, cpu). */
  backend?: BackendName;
  /** Forced feature engine, or undefined for the fastest available. */
  engine?: EngineName;
  /** Images per forward pass of the frozen backbone. */
  featureBatchSize: number;

  /**
   * 'article': SGD, learning rate 1e-4, as the article states. On this data it barely moves in 3 epochs
   * (test accuracy near chance); 'tuned': Adam with Keras' default rate 1e-3, the smallest change that
   * reaches the article's accuracy. The recipe sets optimizer and learningRate unless those are given too.
   */
  recipe: 'article' | 'tuned';
  /** Hidden fully connected layers of the new head; a final Dense(2, softmax) follows. */
  headHiddenUnits: number[];
  optimizer: 'sgd' | 'momentum' | 'adam';
  learningRate: number;
  /** Momentum for optimizer 'momentum'. */
  momentum: number;
  batchSize: number;
  epochs: number;
  earlyStopping: { monitor: 'val_loss'; minDelta: number; patience: number; restoreBestWeights: boolean };
  reduceLearningRate: { monitor: 'val_loss'; factor: number; patience: number; minLearningRate: number };

  /** Leakage guard: largest dHash distance (of 64 bits) and smallest thumbnail correlation for a duplicate. */
  duplicates: { hammingThreshold: number; minCorrelation: number };
  /** Evaluation: bootstrap resamples for the 95% intervals, and how the decision threshold is chosen on validation data. */
  bootstrapResamples: number;
  thresholdRule: { method: 'youden' } | { method: 'sensitivity'; target: number };

  /** Explanations and the shortcut audit (notebook 05, npm run explain): see lib/explain. */
  explain: ExplainSettings;

  /** Where data products (weights, feature cache) and run outputs go. */
  weightsDir: string;
  cacheDir: string;
  outputsDir: string;
}

export interface ExplainSettings {
  /** Test images per class whose maps are scored for faithfulness (clamped to the test set, said). */
  samplePerClass: number;
  /** Of those, images per class that also get the occlusion map and the sanity check (169 backbone passes each). */
  occlusionPerClass: number;
  /** Grey square and its step, in pixels of the 224x224 input. */
  occlusion: { patch: number; stride: number };
  /** Fractions of pixels deleted/inserted between 0 and 1 (each costs one backbone pass per map). */
  fractions: number[];
  /** Where the lungs usually are: fractions of the width (x) and height (y). */
  centralBox: { x: [number, number]; y: [number, number] };
  /** Optional folder of lung masks, one PNG per image with the image's file name (the Kaggle release ships them). */
  lungMaskDir?: string;
  /** A method fails the sanity check when its maps keep a mean Spearman correlation above this with a randomised head. */
  sanityThreshold: number;
}

export const articleDefaults: Config = {
  dataDir: path.resolve(projectRoot, '..', 'shared', 'cxr'),
  patientIdsCsv: undefined,
  subsetPerClass: 0,
  seed: 42,
  testFraction: 895 / 2484,
  validationFraction: 0.1,

  backend: undefined,
  engine: undefined,
  featureBatchSize: 8,

  recipe: 'article',
  headHiddenUnits: [512, 512],
  optimizer: 'sgd',
  learningRate: 1e-4,
  momentum: 0.9,
  batchSize: 64,
  epochs: 3,
  earlyStopping: { monitor: 'val_loss', minDelta: 0, patience: 0, restoreBestWeights: false },
  reduceLearningRate: { monitor: 'val_loss', factor: 0.1, patience: 0, minLearningRate: 0 },

  duplicates: { hammingThreshold: 6, minCorrelation: 0.99 },
  bootstrapResamples: 1000,
  thresholdRule: { method: 'youden' },

  explain: {
    samplePerClass: 50,
    occlusionPerClass: 10,
    occlusion: { patch: 32, stride: 16 },
    fractions: [0.1, 0.25, 0.5, 0.75],
    centralBox: { x: [0.1, 0.9], y: [0.08, 0.92] },
    lungMaskDir: undefined,
    sanityThreshold: 0.5,
  },

  weightsDir: path.join(projectRoot, 'data', 'weights'),
  cacheDir: path.join(projectRoot, 'data', 'cache'),
  outputsDir: path.join(projectRoot, 'outputs'),
};

export type ConfigOverrides = Partial<
  Omit<Config, 'earlyStopping' | 'reduceLearningRate' | 'duplicates' | 'explain'>
> & {
  explain?: Partial<ExplainSettings>;
  earlyStopping?: Partial<Config['earlyStopping']>;
  reduceLearningRate?: Partial<Config['reduceLearningRate']>;
  duplicates?: Partial<Config['duplicates']>;
};

function wholeNumber(env: NodeJS.ProcessEnv, name: string): number {
  const value = Number(env[name]);
  if (!Number.isInteger(value) || value < 0)
    throw new UserFacingError(`environment variable ${name} must be a whole number, got "${env[name]}"`);
  return value;
}

function fromEnvironment(env: NodeJS.ProcessEnv): ConfigOverrides {
  const overrides: ConfigOverrides = {};
  if (env.CXR_DATA_DIR) overrides.dataDir = path.resolve(env.CXR_DATA_DIR);
  if (env.CXR_PATIENT_IDS) overrides.patientIdsCsv = path.resolve(env.CXR_PATIENT_IDS);
  if (env.CXR_SUBSET_PER_CLASS) overrides.subsetPerClass = wholeNumber(env, 'CXR_SUBSET_PER_CLASS');
  if (env.CXR_OUTPUTS_DIR) overrides.outputsDir = path.resolve(env.CXR_OUTPUTS_DIR);
  if (env.CXR_CACHE_DIR) overrides.cacheDir = path.resolve(env.CXR_CACHE_DIR);
  if (env.TF_BACKEND) overrides.backend = env.TF_BACKEND as BackendName;
  if (env.FEATURE_ENGINE) overrides.engine = env.FEATURE_ENGINE as EngineName;
  if (env.CXR_EPOCHS) overrides.epochs = wholeNumber(env, 'CXR_EPOCHS');
  if (env.CXR_RECIPE) overrides.recipe = env.CXR_RECIPE as Config['recipe'];
  const explain: Partial<ExplainSettings> = {};
  if (env.CXR_LUNG_MASKS) explain.lungMaskDir = path.resolve(env.CXR_LUNG_MASKS);
  if (env.CXR_EXPLAIN_SAMPLE_PER_CLASS) explain.samplePerClass = wholeNumber(env, 'CXR_EXPLAIN_SAMPLE_PER_CLASS');
  if (env.CXR_EXPLAIN_OCCLUSION_PER_CLASS)
    explain.occlusionPerClass = wholeNumber(env, 'CXR_EXPLAIN_OCCLUSION_PER_CLASS');
  if (Object.keys(explain).length) overrides.explain = explain;
  return overrides;
}

export const recipes: Record<Config['recipe'], Pick<Config, 'optimizer' | 'learningRate'>> = {
  article: { optimizer: 'sgd', learningRate: 1e-4 },
  tuned: { optimizer: 'adam', learningRate: 1e-3 },
};

/** Defaults, then environment variables, then the notebook's own overrides. */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const environment = fromEnvironment(env);
  const recipe = overrides.recipe ?? environment.recipe ?? articleDefaults.recipe;
  if (!(recipe in recipes)) throw new UserFacingError(`unknown recipe "${recipe}"; choose article or tuned`);
  const layers: ConfigOverrides[] = [recipes[recipe], environment, overrides];
  let config: Config = { ...articleDefaults };
  // Later layers win: recipe, then environment, then the notebook's overrides.
  for (const layer of layers) {
    config = {
      ...config,
      ...stripUndefined(layer),
      earlyStopping: { ...config.earlyStopping, ...stripUndefined(layer.earlyStopping ?? {}) },
      reduceLearningRate: { ...config.reduceLearningRate, ...stripUndefined(layer.reduceLearningRate ?? {}) },
      duplicates: { ...config.duplicates, ...stripUndefined(layer.duplicates ?? {}) },
      explain: { ...config.explain, ...stripUndefined(layer.explain ?? {}) },
    } as Config;
  }
  return config;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Every figure a run saves, by name: the file is outputs/figures/<name>.png. */
export const figureNames = [
  'samples',
  'training-loss',
  'training-accuracy',
  'roc-curve',
  'precision-recall-curve',
  'reliability-diagram',
  'confusion-matrix-argmax',
  'confusion-matrix-chosen-threshold',
  'gradcam-grid',
  'cam-methods-grid',
  'deletion-curves',
  'insertion-curves',
  'cam-energy-histogram',
] as const;
export type FigureName = (typeof figureNames)[number];

/** Where a run's products go, all under config.outputsDir (outputs/README.md lists them). */
export function outputPaths(config: Pick<Config, 'outputsDir'>) {
  const folder = config.outputsDir;
  const figures = path.join(folder, 'figures');
  return {
    folder,
    /** Which file went to which split, with the data root: the only source of the data folder after notebook 01. */
    split: path.join(folder, 'split.json'),
    leakage: path.join(folder, 'leakage.json'),
    model: path.join(folder, 'model'),
    training: path.join(folder, 'training.json'),
    metrics: path.join(folder, 'metrics.json'),
    predictions: path.join(folder, 'test-predictions.json'),
    report: path.join(folder, 'report.html'),
    figures,
    figure: (name: FigureName) => path.join(figures, `${name}.png`),
    notebooks: path.join(folder, 'notebooks'),
    bench: path.join(folder, 'bench'),
    /** Notebook 05: faithfulness, sanity checks and the shortcut audit of every CAM method. */
    explanations: path.join(folder, 'explanations.json'),
    /** npm run explain: <image name>-<method>.png */
    explain: path.join(folder, 'explain'),
    /** npm run evaluate: one folder per external data set. */
    external: path.join(folder, 'external'),
  };
}

/** Caches under config.cacheDir: derived data that can be deleted at any time. */
export function cachePaths(config: Pick<Config, 'cacheDir'>) {
  return {
    folder: config.cacheDir,
    /** Leakage guard: dHash and thumbnail per image file content. */
    imageSignatures: path.join(config.cacheDir, 'image-signatures-v1.bin'),
  };
}
