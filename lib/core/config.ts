import * as fs from 'fs';
import * as path from 'path';
import { UserFacingError } from './errors';
import { checkPreprocessing, defaultPreprocessing, MitigationName, PreprocessingSettings } from './preprocessing';

/**
 * The project root (lib/core/ sits two levels below it), so paths work from notebooks, scripts and tests
 * alike. realpath: notebooks reach lib/ through the notebooks/lib symlink.
 */
export const projectRoot = path.resolve(fs.realpathSync(__dirname), '..', '..');

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
/** 'onnxruntime-int8': the same backbone quantized to int8 (lib/backbone/onnxQuantize.ts). */
export type EngineName = 'onnxruntime' | 'onnxruntime-int8' | 'tfjs';
export const engineNames: EngineName[] = ['onnxruntime', 'onnxruntime-int8', 'tfjs'];
const recipeNames = ['reproduction', 'article', 'tuned'] as const;
export type RecipeName = (typeof recipeNames)[number];
const optimizerNames = ['sgd', 'momentum', 'adam'] as const;
export type OptimizerName = (typeof optimizerNames)[number];

/**
 * Every setting of a run. `articleDefaults` holds the article's values; the default recipe
 * ('reproduction') replaces its training settings with those chosen on validation data.
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
  /**
   * Forced feature engine, or undefined for the default: tfjs when the backend is native TensorFlow
   * (tensorflow-gpu, tensorflow), ONNX Runtime otherwise (see defaultEngine in lib/backbone/engine.ts).
   */
  engine?: EngineName;
  /** Images per forward pass of the frozen backbone; 'auto': by backend (featureBatchSizes). */
  featureBatchSize: number | 'auto';
  /**
   * The int8 engine's calibration on `calibrationImages` training images picked with `seed`:
   * 'minmax' (the full range) or 'percentile' (clipped to the calibrationPercentile-th percentile).
   */
  calibrationMethod: 'minmax' | 'percentile';
  calibrationPercentile: number;
  calibrationImages: number;

  /**
   * 'reproduction' (the default): the recipe chosen by validation loss in the hyperparameter study
   * (notebook 03b, `npm run study`): Adam 3e-4, up to 60 epochs, early stopping on val_loss
   * (patience 5, best weights restored), learning rate x0.1 after 2 epochs without improvement,
   * and an ensemble of 3 such heads (init seeds seed..seed+2) whose probabilities are averaged.
   * 'article': the article's literal settings (SGD 1e-4, 3 epochs, patience 0); on this data the
   * head barely moves (test accuracy near chance). 'tuned': the article's settings with Adam 1e-3,
   * the smallest change that trains. A recipe sets the training settings below unless they are given too.
   */
  recipe: RecipeName;
  /** Hidden fully connected layers of the new head; a final Dense(2, softmax) follows. */
  headHiddenUnits: number[];
  /** Dropout rate after each hidden layer (0 = none), seeded from `seed`. */
  dropout: number;
  /** L2 weight decay on the kernels of the head's dense layers (Keras kernel_regularizer l2), 0 = none. */
  weightDecay: number;
  /**
   * Heads trained with seeds seed, seed+1, ..., seed+k-1 and saved as one model whose output is the
   * mean of their probabilities (1 = a single head, the article's).
   */
  ensembleSize: number;
  optimizer: OptimizerName;
  learningRate: number;
  /** Momentum for optimizer 'momentum'. */
  momentum: number;
  batchSize: number;
  epochs: number;
  earlyStopping: { monitor: 'val_loss'; minDelta: number; patience: number; restoreBestWeights: boolean };
  reduceLearningRate: { monitor: 'val_loss'; factor: number; patience: number; minLearningRate: number };

  /** Leakage guard: largest dHash distance (of 64 bits) and smallest thumbnail correlation for a duplicate. */
  duplicates: { hammingThreshold: number; minCorrelation: number };
  /**
   * Evaluation: bootstrap resamples for the 95% intervals, and how the decision threshold is chosen
   * on validation data.
   */
  bootstrapResamples: number;
  thresholdRule: { method: 'youden' } | { method: 'sensitivity'; target: number };
  /**
   * Out-of-distribution guard on the pooled features, fitted on the training images: 'mahalanobis'
   * (Ledoit-Wolf shrunk covariance) or 'knn' (cosine distance to the 5th nearest training image);
   * images scoring above this percentile of the validation images' scores are flagged.
   */
  guardMethod: 'mahalanobis' | 'knn';
  guardPercentile: number;

  /** Stage 2, notebook 06 (lib/finetune); `enabled` (default on, CXR_FINETUNE=0 off): npm start runs it. */
  finetune: {
    enabled: boolean;
    block: 'conv5_block3' | 'conv5';
    optimizer: 'adam' | 'momentum' | 'sgd';
    learningRate: number;
    batchSize: number;
    epochs: number;
    patience: number;
    restoreBestWeights: boolean;
    reduceFactor: number;
    reducePatience: number;
  };

  /** Explanations and the shortcut audit (notebook 05, npm run explain): see lib/explain. */
  explain: ExplainSettings;
  /** Image preprocessing: `mitigation` (CXR_MITIGATION) switches a shortcut mitigation on (core/preprocessing.ts). */
  preprocessing: PreprocessingSettings;

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
  /**
   * A method fails the sanity check when its maps keep a mean Spearman correlation above this with
   * a randomised head.
   */
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
  featureBatchSize: 'auto',
  calibrationMethod: 'minmax',
  calibrationPercentile: 99.99,
  calibrationImages: 256,

  recipe: 'article',
  headHiddenUnits: [512, 512],
  dropout: 0,
  weightDecay: 0,
  ensembleSize: 1,
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
  guardMethod: 'knn',
  guardPercentile: 99,

  finetune: {
    enabled: true,
    block: 'conv5_block3',
    optimizer: 'adam',
    learningRate: 1e-4,
    batchSize: 32,
    epochs: 4,
    patience: 1,
    restoreBestWeights: true,
    reduceFactor: 0.1,
    reducePatience: 0,
  },

  explain: {
    samplePerClass: 50,
    occlusionPerClass: 10,
    occlusion: { patch: 32, stride: 16 },
    fractions: [0.1, 0.25, 0.5, 0.75],
    centralBox: { x: [0.1, 0.9], y: [0.08, 0.92] },
    lungMaskDir: undefined,
    sanityThreshold: 0.5,
  },
  preprocessing: defaultPreprocessing,

  weightsDir: path.join(projectRoot, 'data', 'weights'),
  cacheDir: path.join(projectRoot, 'data', 'cache'),
  outputsDir: path.join(projectRoot, 'outputs'),
};

export type ConfigOverrides = Partial<
  Omit<Config, 'earlyStopping' | 'reduceLearningRate' | 'duplicates' | 'finetune' | 'explain' | 'preprocessing'>
> & {
  preprocessing?: Partial<PreprocessingSettings>;
  finetune?: Partial<Config['finetune']>;
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
  if (env.CXR_FEATURE_BATCH_SIZE) overrides.featureBatchSize = wholeNumber(env, 'CXR_FEATURE_BATCH_SIZE');
  if (env.CXR_EPOCHS) overrides.epochs = wholeNumber(env, 'CXR_EPOCHS');
  if (env.CXR_RECIPE) overrides.recipe = env.CXR_RECIPE as Config['recipe'];
  if (env.CXR_FINETUNE) overrides.finetune = { enabled: env.CXR_FINETUNE === '1' };
  if (env.CXR_FINETUNE_EPOCHS)
    overrides.finetune = { ...overrides.finetune, epochs: wholeNumber(env, 'CXR_FINETUNE_EPOCHS') };
  if (env.CXR_ENSEMBLE_SIZE) overrides.ensembleSize = wholeNumber(env, 'CXR_ENSEMBLE_SIZE');
  if (env.CXR_MITIGATION) overrides.preprocessing = { mitigation: env.CXR_MITIGATION as MitigationName };
  const explain: Partial<ExplainSettings> = {};
  if (env.CXR_LUNG_MASKS) explain.lungMaskDir = path.resolve(env.CXR_LUNG_MASKS);
  if (env.CXR_EXPLAIN_SAMPLE_PER_CLASS) explain.samplePerClass = wholeNumber(env, 'CXR_EXPLAIN_SAMPLE_PER_CLASS');
  if (env.CXR_EXPLAIN_OCCLUSION_PER_CLASS)
    explain.occlusionPerClass = wholeNumber(env, 'CXR_EXPLAIN_OCCLUSION_PER_CLASS');
  if (Object.keys(explain).length) overrides.explain = explain;
  return overrides;
}

/** The training settings a recipe sets. */
export type RecipeSettings = Pick<
  ConfigOverrides,
  | 'optimizer'
  | 'learningRate'
  | 'epochs'
  | 'earlyStopping'
  | 'reduceLearningRate'
  | 'dropout'
  | 'weightDecay'
  | 'ensembleSize'
>;

const articleTraining: RecipeSettings = {
  optimizer: 'sgd',
  learningRate: 1e-4,
  epochs: 3,
  earlyStopping: { ...articleDefaults.earlyStopping },
  reduceLearningRate: { ...articleDefaults.reduceLearningRate },
  dropout: 0,
  weightDecay: 0,
  ensembleSize: 1,
};

const defaultRecipe: RecipeName = 'reproduction';

export const recipes: Record<RecipeName, RecipeSettings> = {
  // Chosen on validation data only (README, "The study"): the lowest mean validation loss over init
  // seeds among optimizer x rate x patience; dropout and L2 did not beat it by more than the seed
  // spread; averaging 3 heads lowered validation loss further (0.160 against 0.172 for one head).
  reproduction: {
    ...articleTraining,
    optimizer: 'adam',
    learningRate: 3e-4,
    epochs: 60,
    earlyStopping: { monitor: 'val_loss', minDelta: 0, patience: 5, restoreBestWeights: true },
    reduceLearningRate: { monitor: 'val_loss', factor: 0.1, patience: 2, minLearningRate: 0 },
    ensembleSize: 3,
  },
  article: articleTraining,
  tuned: { ...articleTraining, optimizer: 'adam', learningRate: 1e-3 },
};

/** Defaults, then the recipe, then environment variables, then the notebook's own overrides. */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const environment = fromEnvironment(env);
  const recipe = overrides.recipe ?? environment.recipe ?? defaultRecipe;
  if (!(recipeNames as readonly string[]).includes(recipe))
    throw new UserFacingError(`unknown recipe "${recipe}"; choose ${recipeNames.join(', ')}`);
  const layers: ConfigOverrides[] = [{ ...recipes[recipe], recipe }, environment, overrides];
  let config: Config = { ...articleDefaults };
  // Later layers win: recipe, then environment, then the notebook's overrides.
  for (const layer of layers) {
    config = {
      ...config,
      ...stripUndefined(layer),
      earlyStopping: { ...config.earlyStopping, ...stripUndefined(layer.earlyStopping ?? {}) },
      reduceLearningRate: { ...config.reduceLearningRate, ...stripUndefined(layer.reduceLearningRate ?? {}) },
      duplicates: { ...config.duplicates, ...stripUndefined(layer.duplicates ?? {}) },
      finetune: { ...config.finetune, ...stripUndefined(layer.finetune ?? {}) },
      explain: { ...config.explain, ...stripUndefined(layer.explain ?? {}) },
      preprocessing: { ...config.preprocessing, ...stripUndefined(layer.preprocessing ?? {}) },
    } as Config;
  }
  checkTrainingSettings(config);
  checkPreprocessing(config.preprocessing);
  return config;
}

/**
 * Backbone batch size per tfjs backend, for featureBatchSize 'auto': 8 was the fastest measured on
 * the CPU here; on a GPU larger batches keep it busy (32 images need about 3 GB in float32; not
 * measured). The head's training batch (batchSize) stays the article's 64 on every backend.
 */
export const featureBatchSizes: Record<BackendName, number> = {
  'tensorflow-gpu': 32,
  tensorflow: 16,
  wasm: 8,
  cpu: 8,
};

/** The backbone batch size for this backend: the forced number, or the backend's default. */
export function resolveFeatureBatchSize(setting: number | 'auto', backend: BackendName | undefined): number {
  if (setting !== 'auto') {
    if (!Number.isInteger(setting) || setting < 1)
      throw new UserFacingError(`featureBatchSize must be a positive whole number or 'auto', got ${setting}`);
    return setting;
  }
  return featureBatchSizes[backend ?? 'wasm'] ?? featureBatchSizes.wasm;
}

/**
 * Settings that cannot train are an error naming the setting, before any work starts (the config
 * cell, `npm start`, `npm run study`).
 */
export function checkTrainingSettings(settings: TrainingSettingsToCheck, where = 'config'): void {
  const fail = (name: string, problem: string) => {
    throw new UserFacingError(`${where}: ${name} ${problem}`);
  };
  const positive = (name: string, value: unknown) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      fail(name, `must be a number above 0, got ${JSON.stringify(value)}`);
  };
  const whole = (name: string, value: unknown, min: number) => {
    if (!Number.isInteger(value) || (value as number) < min)
      fail(name, `must be a whole number of at least ${min}, got ${JSON.stringify(value)}`);
  };
  if (!(optimizerNames as readonly string[]).includes(settings.optimizer as string))
    fail('optimizer', `"${String(settings.optimizer)}" is unknown; choose ${optimizerNames.join(', ')}`);
  positive('learningRate', settings.learningRate);
  whole('epochs', settings.epochs, 1);
  whole('batchSize', settings.batchSize, 1);
  whole('ensembleSize', settings.ensembleSize, 1);
  const hidden = settings.headHiddenUnits;
  if (!Array.isArray(hidden) || hidden.length === 0)
    fail('headHiddenUnits', 'must list at least one hidden layer size, e.g. [512, 512]');
  hidden.forEach((units, index) => whole(`headHiddenUnits[${index}]`, units, 1));
  const dropout = settings.dropout;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    fail('dropout', `must be a rate from 0 up to (not including) 1, got ${JSON.stringify(dropout)}`);
  const decay = settings.weightDecay;
  if (typeof decay !== 'number' || !(decay >= 0) || !Number.isFinite(decay))
    fail('weightDecay', `must be 0 or more, got ${JSON.stringify(decay)}`);
  whole('earlyStopping.patience', settings.earlyStopping?.patience, 0);
  whole('reduceLearningRate.patience', settings.reduceLearningRate?.patience, 0);
}

export type TrainingSettingsToCheck = Pick<
  Config,
  | 'optimizer'
  | 'learningRate'
  | 'epochs'
  | 'batchSize'
  | 'ensembleSize'
  | 'headHiddenUnits'
  | 'dropout'
  | 'weightDecay'
  | 'earlyStopping'
  | 'reduceLearningRate'
>;

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
