import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { contentHash, FeatureCache, preprocessingVersion, recordBytes } from '../lib/backbone/featureCache';
import { createRandom } from '../lib/core/random';
import { temporaryFolder } from './helpers';
import { featureLength } from '../lib/core/contracts';

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

function randomFeatures(seed: number): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: featureLength }, () => random() * 20 - 5);
}

describe('featureCache: append-only store of pooled features keyed by image content', () => {
  it('one file per weights fingerprint and preprocessing, inside the cache folder', () => {
    const folder = path.join(temporaryFolder('feature-cache'), 'nested', 'cache');
    const cache = FeatureCache.open(folder, 'abc123');
    assert.equal(cache.filePath, path.join(folder, `features-abc123-${preprocessingVersion}.bin`));
    assert.ok(fs.statSync(folder).isDirectory(), 'the folder is created');
    assert.equal(cache.size, 0);
    assert.equal(cache.get(sha1('nothing')), undefined);
    assert.equal(recordBytes, 20 + 4 + featureLength * 4);
  });

  it('records round-trip exactly through the file, with their engine', () => {
    const folder = temporaryFolder('feature-cache');
    const records = [1, 2, 3].map((seed) => ({ hash: sha1(`image ${seed}`), features: randomFeatures(seed) }));
    const cache = FeatureCache.open(folder, 'fp');
    cache.add(records.slice(0, 2), 'onnxruntime');
    cache.add(records.slice(2), 'tfjs');
    assert.equal(cache.size, 3);
    assert.equal(fs.statSync(cache.filePath).size, 3 * recordBytes);

    const reopened = FeatureCache.open(folder, 'fp');
    assert.equal(reopened.size, 3);
    records.forEach(({ hash, features }, index) => {
      const cached = reopened.get(hash);
      assert.ok(cached, `record ${index} is back`);
      assert.deepEqual(cached.features, features);
      assert.equal(cached.engine, index < 2 ? 'onnxruntime' : 'tfjs');
    });
    assert.equal(reopened.get(sha1('image 4')), undefined);
  });

  it('keeps its own copy of the features (later changes to the caller array do not leak in)', () => {
    const cache = FeatureCache.open(temporaryFolder('feature-cache'), 'fp');
    const features = randomFeatures(9);
    const expected = features.slice();
    // A row view into a bigger batch array, as extractFeatures passes it.
    const batch = new Float32Array(3 * featureLength);
    batch.set(features, featureLength);
    cache.add([{ hash: sha1('x'), features: batch.subarray(featureLength, 2 * featureLength) }], 'onnxruntime');
    batch.fill(0);
    assert.deepEqual(cache.get(sha1('x'))!.features, expected);
    assert.deepEqual(
      FeatureCache.open(path.dirname(cache.filePath), 'fp').get(sha1('x'))!.features,
      expected,
      'the row view was written, not the whole buffer',
    );
  });

  it('another weights fingerprint is another cache', () => {
    const folder = temporaryFolder('feature-cache');
    FeatureCache.open(folder, 'one').add([{ hash: sha1('a'), features: randomFeatures(1) }], 'tfjs');
    const other = FeatureCache.open(folder, 'two');
    assert.equal(other.size, 0);
    assert.equal(other.get(sha1('a')), undefined);
    assert.equal(FeatureCache.open(folder, 'one').size, 1);
  });

  it('a torn last record (interrupted write) is cut off on open; the complete ones are kept', () => {
    const folder = temporaryFolder('feature-cache');
    const cache = FeatureCache.open(folder, 'fp');
    const records = [1, 2].map((seed) => ({ hash: sha1(`image ${seed}`), features: randomFeatures(seed) }));
    cache.add(records, 'onnxruntime');
    // Half of a third record, as a crash in the middle of a write leaves it.
    const third = { hash: sha1('image 3'), features: randomFeatures(3) };
    const scratch = FeatureCache.open(temporaryFolder('feature-cache'), 'fp');
    scratch.add([third], 'onnxruntime');
    fs.appendFileSync(cache.filePath, fs.readFileSync(scratch.filePath).subarray(0, Math.floor(recordBytes / 2)));
    assert.equal(fs.statSync(cache.filePath).size, 2 * recordBytes + Math.floor(recordBytes / 2));

    const reopened = FeatureCache.open(folder, 'fp');
    assert.equal(reopened.size, 2);
    assert.equal(reopened.get(third.hash), undefined);
    assert.equal(fs.statSync(cache.filePath).size, 2 * recordBytes, 'the partial record is removed from the file');
    for (const { hash, features } of records) assert.deepEqual(reopened.get(hash)!.features, features);

    // New records land on a record boundary again and read back whole.
    reopened.add([third], 'tfjs');
    const again = FeatureCache.open(folder, 'fp');
    assert.equal(again.size, 3);
    assert.deepEqual(again.get(third.hash)!.features, third.features);
    assert.equal(again.get(third.hash)!.engine, 'tfjs');
    assert.deepEqual(again.get(records[0].hash)!.features, records[0].features);
  });

  it('a file shorter than one record opens as empty', () => {
    const folder = temporaryFolder('feature-cache');
    const cache = FeatureCache.open(folder, 'fp');
    fs.writeFileSync(cache.filePath, Buffer.alloc(100, 7));
    const reopened = FeatureCache.open(folder, 'fp');
    assert.equal(reopened.size, 0);
    assert.equal(fs.statSync(cache.filePath).size, 0);
  });

  it('the same image added twice is one entry; the last write wins on reload', () => {
    const folder = temporaryFolder('feature-cache');
    const cache = FeatureCache.open(folder, 'fp');
    const hash = sha1('same');
    cache.add([{ hash, features: randomFeatures(1) }], 'tfjs');
    cache.add([{ hash, features: randomFeatures(2) }], 'onnxruntime');
    assert.equal(cache.size, 1);
    const reopened = FeatureCache.open(folder, 'fp');
    assert.equal(reopened.size, 1);
    assert.deepEqual(reopened.get(hash), { features: randomFeatures(2), engine: 'onnxruntime' });
  });

  it('a record of the wrong length is refused, and nothing of that call is kept', () => {
    const folder = temporaryFolder('feature-cache');
    const cache = FeatureCache.open(folder, 'fp');
    const good = { hash: sha1('good'), features: randomFeatures(1) };
    const bad = { hash: sha1('bad'), features: new Float32Array(1000) };
    assert.throws(() => cache.add([good, bad], 'tfjs'), /expected 2048 features, got 1000/);
    assert.equal(cache.get(good.hash), undefined, 'not in memory either: memory and file agree');
    assert.equal(cache.size, 0);
    assert.equal(FeatureCache.open(folder, 'fp').size, 0);
    cache.add([], 'tfjs');
    assert.equal(fs.existsSync(cache.filePath) ? fs.statSync(cache.filePath).size : 0, 0);
  });

  it('contentHash is the sha1 of the file bytes: it follows the content, not the name', () => {
    const folder = temporaryFolder('feature-cache');
    const a = path.join(folder, 'a.png');
    const b = path.join(folder, 'b.png');
    fs.writeFileSync(a, 'abc');
    fs.writeFileSync(b, 'abc');
    assert.equal(contentHash(a), 'a9993e364706816aba3e25717850c26c9cd0d89d');
    assert.equal(contentHash(b), contentHash(a), 'same bytes under another name');
    fs.writeFileSync(b, 'abd');
    assert.notEqual(contentHash(b), contentHash(a));
    assert.equal(contentHash(b), sha1('abd'));
    assert.throws(() => contentHash(path.join(folder, 'missing.png')), { code: 'ENOENT' });
  });

  it('keeps int8 features apart from float32 ones: their own file, and a cache refuses the other precision', () => {
    const folder = temporaryFolder('feature-cache');
    const float = FeatureCache.open(folder, 'fp');
    const int8 = FeatureCache.open(folder, 'fp', 'int8');
    assert.notEqual(int8.filePath, float.filePath);
    assert.match(int8.filePath, /-int8\.bin$/);
    const record = { hash: sha1('one'), features: randomFeatures(7) };
    int8.add([record], 'onnxruntime-int8');
    assert.equal(FeatureCache.open(folder, 'fp', 'int8').get(record.hash)!.engine, 'onnxruntime-int8');
    assert.equal(FeatureCache.open(folder, 'fp').get(record.hash), undefined, 'float32 callers never see it');
    assert.throws(() => float.add([record], 'onnxruntime-int8'), /onnxruntime-int8 computes int8 features/);
    assert.throws(() => int8.add([record], 'tfjs'), /tfjs computes float32 features; this cache holds int8/);
    assert.throws(() => int8.add([record], 'onnxruntime'), /this cache holds int8/);
    assert.equal(FeatureCache.open(folder, 'fp').size, 0);
    assert.equal(FeatureCache.open(folder, 'fp', 'int8').size, 1);
  });
});
