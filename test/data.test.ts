import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import {
  countByClass,
  loadSplit,
  saveSplit,
  scanDataset,
  splitDataset,
  stratifiedCounts,
  subsetPerClass,
} from '../lib/data/dataset';
import { DatasetError } from '../lib/core/errors';
import { cxrDir, temporaryFolder } from './helpers';

describe('data: scanning and splitting', () => {
  it('scans the real X-ray folder with alphabetical class indices and the article counts', () => {
    const dataset = scanDataset(cxrDir);
    assert.deepEqual(dataset.classNames, ['COVID', 'NORMAL']);
    assert.deepEqual(countByClass(dataset.images, 2), [1143, 1341]);
    assert.equal(dataset.images[0].file, 'COVID/COVID-2000.png');
  });

  it("splits 2,484 images into the article's 895 test images and 1,589 for training, stratified", () => {
    const dataset = scanDataset(cxrDir);
    const split = splitDataset(dataset, { testFraction: 895 / 2484, validationFraction: 0.1, seed: 42 });
    assert.equal(split.test.length, 895);
    assert.equal(split.train.length + split.validation.length, 1589);
    assert.deepEqual(countByClass(split.test, 2), [412, 483]);
    assert.equal(split.validation.length, 159);
    const all = new Set([...split.train, ...split.validation, ...split.test].map((image) => image.file));
    assert.equal(all.size, 2484, 'no image is lost or used twice');
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const dataset = scanDataset(cxrDir);
    const options = { testFraction: 0.36, validationFraction: 0.1, seed: 7 };
    const first = splitDataset(dataset, options);
    assert.deepEqual(splitDataset(dataset, options), first);
    assert.notDeepEqual(splitDataset(dataset, { ...options, seed: 8 }).test, first.test);
  });

  it('rounds per-class shares by largest remainder so the total is exact', () => {
    assert.deepEqual(stratifiedCounts([1143, 1341], 895 / 2484), [412, 483]);
    assert.deepEqual(stratifiedCounts([5, 5, 5], 0.5), [3, 3, 2]);
    assert.equal(
      stratifiedCounts([5, 5, 5], 0.5).reduce((a, b) => a + b),
      8,
    );
  });

  it('keeps a group (patient) in one split', () => {
    const dataset = subsetPerClass(scanDataset(cxrDir), 40, 1);
    const patientOf = (file: string) =>
      `patient-${Math.floor(dataset.images.findIndex((image) => image.file === file) / 4)}`;
    const split = splitDataset(dataset, {
      testFraction: 0.3,
      validationFraction: 0.2,
      seed: 3,
      groupOf: (image) => patientOf(image.file),
    });
    const where = new Map<string, string>();
    for (const name of ['train', 'validation', 'test'] as const) {
      for (const image of split[name]) {
        const patient = patientOf(image.file);
        assert.ok(
          !where.has(patient) || where.get(patient) === name,
          `${patient} is in ${where.get(patient)} and ${name}`,
        );
        where.set(patient, name);
      }
    }
  });

  it('takes a seeded subset per class', () => {
    const dataset = scanDataset(cxrDir);
    const subset = subsetPerClass(dataset, 12, 42);
    assert.deepEqual(countByClass(subset.images, 2), [12, 12]);
    assert.deepEqual(subsetPerClass(dataset, 12, 42), subset);
  });

  it('saves and reloads the split', () => {
    const folder = temporaryFolder('split');
    const split = splitDataset(subsetPerClass(scanDataset(cxrDir), 20, 1), {
      testFraction: 0.3,
      validationFraction: 0.2,
      seed: 1,
    });
    saveSplit(path.join(folder, 'split.json'), split);
    assert.deepEqual(loadSplit(path.join(folder, 'split.json')), split);
  });

  describe('bad input names the folder and the problem', () => {
    it('missing folder', () => {
      assert.throws(
        () => scanDataset('/nonexistent/xrays'),
        (error: Error) =>
          error instanceof DatasetError && /\/nonexistent\/xrays: data folder not found/.test(error.message),
      );
    });
    it('empty folder', () => {
      const folder = temporaryFolder('empty');
      assert.throws(
        () => scanDataset(folder),
        (error: Error) => error.message.includes(folder) && /no class sub-folders/.test(error.message),
      );
    });
    it('one class only', () => {
      const folder = temporaryFolder('oneclass');
      fs.mkdirSync(path.join(folder, 'COVID'));
      fs.copyFileSync(path.join(cxrDir, 'COVID', 'COVID-2000.png'), path.join(folder, 'COVID', 'a.png'));
      assert.throws(() => scanDataset(folder), /only one class folder \(COVID\)/);
    });
    it('a class folder without images', () => {
      const folder = temporaryFolder('noimages');
      fs.mkdirSync(path.join(folder, 'COVID'));
      fs.mkdirSync(path.join(folder, 'NORMAL'));
      fs.writeFileSync(path.join(folder, 'NORMAL', 'notes.txt'), 'x');
      fs.copyFileSync(path.join(cxrDir, 'COVID', 'COVID-2000.png'), path.join(folder, 'COVID', 'a.png'));
      assert.throws(
        () => scanDataset(folder),
        (error: Error) => error.message.includes(path.join(folder, 'NORMAL')) && /no PNG or JPEG/.test(error.message),
      );
    });
    it('a missing split file says which notebook makes it', () => {
      assert.throws(() => loadSplit('/nonexistent/split.json'), /01-data/);
    });
  });
});
