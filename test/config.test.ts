import { strict as assert } from 'assert';
import * as path from 'path';
import { articleDefaults, ConfigOverrides, loadConfig, projectRoot, recipes } from '../lib/core/config';
import { UserFacingError } from '../lib/core/errors';
import { imageSize } from '../lib/core/contracts';

describe('config: the article settings as defaults, recipe, environment and overrides', () => {
  // An empty environment, so the developer's own CXR_* variables never change these results.
  const noEnv = {};

  it("the default recipe is 'reproduction': the study's choice on validation data, the article's head and batch", () => {
    const config = loadConfig({}, noEnv);
    assert.equal(config.recipe, 'reproduction');
    assert.equal(config.optimizer, 'adam');
    assert.equal(config.learningRate, 3e-4);
    assert.equal(config.epochs, 60);
    assert.deepEqual(config.earlyStopping, { monitor: 'val_loss', minDelta: 0, patience: 5, restoreBestWeights: true });
    assert.deepEqual(config.reduceLearningRate, { monitor: 'val_loss', factor: 0.1, patience: 2, minLearningRate: 0 });
    assert.equal(config.ensembleSize, 3, 'three heads over init seeds 42, 43, 44, averaged');
    assert.equal(loadConfig({}, { CXR_ENSEMBLE_SIZE: '1' }).ensembleSize, 1);
    // What the article states and the recipe does not need to change stays the article's.
    assert.equal(config.batchSize, 64);
    assert.deepEqual(config.headHiddenUnits, [512, 512]);
    assert.equal(Math.round(config.testFraction * 2484), 895);
    assert.deepEqual(loadConfig({}, { CXR_RECIPE: 'reproduction' }), config);
  });

  it("recipe 'article' is the article's values (Training section), one setting away", () => {
    const config = loadConfig({ recipe: 'article' }, noEnv);
    assert.equal(config.recipe, 'article');
    assert.equal(config.optimizer, 'sgd');
    assert.equal(config.learningRate, 1e-4);
    assert.equal(config.batchSize, 64);
    assert.equal(config.epochs, 3);
    assert.deepEqual(config.earlyStopping, {
      monitor: 'val_loss',
      minDelta: 0,
      patience: 0,
      restoreBestWeights: false,
    });
    assert.equal(config.reduceLearningRate.monitor, 'val_loss');
    assert.equal(config.reduceLearningRate.factor, 0.1);
    assert.equal(imageSize, 224);
    assert.equal(config.subsetPerClass, 0, 'all images by default');
    // 895 test images out of 2,484 (the rest, 1,589, for training).
    assert.equal(Math.round(config.testFraction * 2484), 895);
    assert.equal(2484 - Math.round(config.testFraction * 2484), 1589);
    assert.deepEqual(config.headHiddenUnits, [512, 512]);
    assert.deepEqual(config, articleDefaults);
  });

  it('paths default to the project (data/, outputs/) and the shared X-ray folder', () => {
    const config = loadConfig({}, noEnv);
    assert.equal(config.weightsDir, path.join(projectRoot, 'data', 'weights'));
    assert.equal(config.cacheDir, path.join(projectRoot, 'data', 'cache'));
    assert.equal(config.outputsDir, path.join(projectRoot, 'outputs'));
    assert.equal(config.dataDir, path.resolve(projectRoot, '..', 'shared', 'cxr'));
    assert.ok(path.isAbsolute(config.dataDir));
  });

  it('recipe names the whole training recipe: switching recipe after another gives that recipe', () => {
    const fromDefault = loadConfig({ ...loadConfig({}, noEnv), ...recipes.article, recipe: 'article' }, noEnv);
    assert.deepEqual(fromDefault, articleDefaults);
    assert.equal(loadConfig({ recipe: 'article' }, { CXR_RECIPE: 'reproduction' }).epochs, 3);
  });

  it("recipe 'tuned' gives Adam at Keras' default rate 1e-3", () => {
    const config = loadConfig({ recipe: 'tuned' }, noEnv);
    assert.equal(config.optimizer, 'adam');
    assert.equal(config.learningRate, 1e-3);
    assert.deepEqual(recipes.tuned, { ...recipes.article, optimizer: 'adam', learningRate: 1e-3 });
    // Everything else stays the article's.
    assert.equal(config.batchSize, 64);
    assert.equal(config.epochs, 3);
    assert.deepEqual(config.earlyStopping, articleDefaults.earlyStopping);
  });

  it('an explicit learningRate or optimizer wins over the recipe', () => {
    const rate = loadConfig({ recipe: 'tuned', learningRate: 5e-4 }, noEnv);
    assert.equal(rate.optimizer, 'adam');
    assert.equal(rate.learningRate, 5e-4);
    const optimizer = loadConfig({ recipe: 'tuned', optimizer: 'momentum' }, noEnv);
    assert.equal(optimizer.optimizer, 'momentum');
    assert.equal(optimizer.learningRate, 1e-3);
    const article = loadConfig({ recipe: 'article', learningRate: 0.01 }, noEnv);
    assert.equal(article.optimizer, 'sgd');
    assert.equal(article.learningRate, 0.01);
  });

  it('an undefined override does not erase a default', () => {
    const config = loadConfig(
      { recipe: 'article', learningRate: undefined, epochs: undefined, earlyStopping: { patience: undefined } },
      noEnv,
    );
    assert.equal(config.learningRate, 1e-4);
    assert.equal(config.epochs, 3);
    assert.equal(config.earlyStopping.patience, 0);
  });

  it('nested settings are merged field by field, and the defaults are never mutated', () => {
    const config = loadConfig(
      { earlyStopping: { patience: 2, restoreBestWeights: true }, reduceLearningRate: { minLearningRate: 1e-6 } },
      noEnv,
    );
    assert.deepEqual(config.earlyStopping, { monitor: 'val_loss', minDelta: 0, patience: 2, restoreBestWeights: true });
    assert.deepEqual(config.reduceLearningRate, { ...recipes.reproduction.reduceLearningRate, minLearningRate: 1e-6 });
    config.earlyStopping.patience = 99;
    config.headHiddenUnits = [1];
    assert.equal(articleDefaults.earlyStopping.patience, 0);
    assert.equal(loadConfig({}, noEnv).earlyStopping.patience, 5);
    assert.equal(loadConfig({ recipe: 'article' }, noEnv).earlyStopping.patience, 0);
    assert.deepEqual(loadConfig({}, noEnv).headHiddenUnits, [512, 512]);
  });

  it('environment variables are applied (CXR_DATA_DIR resolved, numbers parsed, recipe)', () => {
    const env = {
      CXR_DATA_DIR: 'some/relative/xrays',
      CXR_SUBSET_PER_CLASS: '25',
      CXR_RECIPE: 'tuned',
      CXR_EPOCHS: '7',
      CXR_OUTPUTS_DIR: '/tmp/cxr-outputs',
      TF_BACKEND: 'cpu',
      FEATURE_ENGINE: 'tfjs',
    };
    const config = loadConfig({}, env);
    assert.equal(config.dataDir, path.resolve('some/relative/xrays'));
    assert.equal(config.subsetPerClass, 25);
    assert.equal(config.recipe, 'tuned');
    assert.equal(config.optimizer, 'adam');
    assert.equal(config.learningRate, 1e-3);
    assert.equal(config.epochs, 7);
    assert.equal(config.outputsDir, '/tmp/cxr-outputs');
    assert.equal(config.backend, 'cpu');
    assert.equal(config.engine, 'tfjs');
  });

  it("the notebook's overrides win over the environment, and empty variables are ignored", () => {
    const env = { CXR_RECIPE: 'tuned', CXR_SUBSET_PER_CLASS: '25', CXR_EPOCHS: '' };
    const config = loadConfig({ recipe: 'article', subsetPerClass: 10 }, env);
    assert.equal(config.recipe, 'article');
    assert.equal(config.optimizer, 'sgd');
    assert.equal(config.learningRate, 1e-4);
    assert.equal(config.subsetPerClass, 10);
    assert.equal(config.epochs, 3);
  });

  it('the env argument replaces process.env', () => {
    const saved = process.env.CXR_EPOCHS;
    process.env.CXR_EPOCHS = '11';
    try {
      assert.equal(loadConfig({}, noEnv).epochs, 60);
      assert.equal(loadConfig({}).epochs, 11, 'process.env is the default environment');
    } finally {
      if (saved === undefined) delete process.env.CXR_EPOCHS;
      else process.env.CXR_EPOCHS = saved;
    }
  });

  it('an unknown recipe is a clear error', () => {
    assert.throws(
      () => loadConfig({ recipe: 'fancy' as 'article' }, noEnv),
      /unknown recipe "fancy"; choose reproduction, article, tuned/,
    );
    assert.throws(() => loadConfig({}, { CXR_RECIPE: 'fancy' }), /unknown recipe "fancy"/);
  });
});

describe('config: settings that cannot train are named before any work', () => {
  const cases: [string, object, RegExp][] = [
    ['learning rate 0', { learningRate: 0 }, /learningRate must be a number above 0, got 0/],
    ['negative learning rate', { learningRate: -1e-3 }, /learningRate must be a number above 0, got -0.001/],
    ['zero epochs', { epochs: 0 }, /epochs must be a whole number of at least 1, got 0/],
    ['no hidden layer', { headHiddenUnits: [] }, /headHiddenUnits must list at least one hidden layer size/],
    ['a hidden layer of 0 units', { headHiddenUnits: [512, 0] }, /headHiddenUnits\[1\] must be a whole number/],
    ['unknown optimizer', { optimizer: 'rmsprop' }, /optimizer "rmsprop" is unknown; choose sgd, momentum, adam/],
    ['ensemble of 0', { ensembleSize: 0 }, /ensembleSize must be a whole number of at least 1, got 0/],
    ['dropout 1', { dropout: 1 }, /dropout must be a rate from 0 up to \(not including\) 1, got 1/],
    ['negative weight decay', { weightDecay: -1 }, /weightDecay must be 0 or more, got -1/],
    ['batch 0', { batchSize: 0 }, /batchSize must be a whole number of at least 1/],
  ];
  for (const [what, overrides, message] of cases) {
    it(what, () => {
      assert.throws(
        () => loadConfig(overrides as ConfigOverrides, {}),
        (error: Error) => error instanceof UserFacingError && message.test(error.message),
      );
    });
  }
  it('CXR_EPOCHS=0 is named too', () => {
    assert.throws(
      () => loadConfig({}, { CXR_EPOCHS: '0' }),
      /config: epochs must be a whole number of at least 1, got 0/,
    );
  });
});

describe('config: evaluation and leakage settings', () => {
  it('defaults to Youden, 1000 resamples and the leakage guard thresholds; nested overrides merge', () => {
    const config = loadConfig({ duplicates: { hammingThreshold: 4 } }, {});
    assert.deepEqual(config.thresholdRule, { method: 'youden' });
    assert.equal(config.bootstrapResamples, 1000);
    assert.deepEqual(config.duplicates, { hammingThreshold: 4, minCorrelation: 0.99 });
    assert.deepEqual(loadConfig({ thresholdRule: { method: 'sensitivity', target: 0.95 } }, {}).thresholdRule, {
      method: 'sensitivity',
      target: 0.95,
    });
  });
  it('names a bad numeric environment variable', () => {
    assert.throws(() => loadConfig({}, { CXR_EPOCHS: 'three' }), /CXR_EPOCHS must be a whole number, got "three"/);
  });
});
