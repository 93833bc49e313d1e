import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { RecordFile } from '../lib/core/recordFile';
import { temporaryFolder } from './helpers';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

describe('record file: append-only records keyed by sha1', () => {
  it('round-trips records, and a later record for the same hash wins', () => {
    const file = path.join(temporaryFolder('records'), 'r.bin');
    const records = RecordFile.open(file, 3);
    records.add([
      { hash: sha1('a'), payload: Buffer.from([1, 2, 3]) },
      { hash: sha1('b'), payload: Buffer.from([4, 5, 6]) },
    ]);
    records.add([{ hash: sha1('a'), payload: Buffer.from([7, 8, 9]) }]);
    const reopened = RecordFile.open(file, 3);
    assert.equal(reopened.size, 2);
    assert.deepEqual([...reopened.get(sha1('a'))!], [7, 8, 9]);
    assert.deepEqual([...reopened.get(sha1('b'))!], [4, 5, 6]);
    assert.equal(reopened.get(sha1('c')), undefined);
  });

  it('on demand: keeps only where each record lies, reads payloads from the file, same answers', () => {
    const file = path.join(temporaryFolder('records'), 'r.bin');
    const records = RecordFile.open(file, 3, { onDemand: true });
    records.add([
      { hash: sha1('a'), payload: Buffer.from([1, 2, 3]) },
      { hash: sha1('b'), payload: Buffer.from([4, 5, 6]) },
    ]);
    assert.deepEqual([...records.get(sha1('b'))!], [4, 5, 6]);
    records.add([{ hash: sha1('a'), payload: Buffer.from([7, 8, 9]) }]);
    assert.deepEqual([...records.get(sha1('a'))!], [7, 8, 9]);
    fs.appendFileSync(file, Buffer.alloc(5, 0xff)); // an interrupted write
    const reopened = RecordFile.open(file, 3, { onDemand: true });
    assert.equal(reopened.size, 2);
    assert.ok(reopened.has(sha1('a')) && !reopened.has(sha1('c')));
    assert.deepEqual([...reopened.get(sha1('a'))!], [7, 8, 9]);
    assert.deepEqual([...reopened.get(sha1('b'))!], [4, 5, 6]);
    assert.equal(reopened.get(sha1('c')), undefined);
    assert.equal(fs.statSync(file).size, 3 * 23);
  });

  it('cuts off a torn last record on open and keeps appending on a record boundary', () => {
    const file = path.join(temporaryFolder('records'), 'r.bin');
    RecordFile.open(file, 4).add([{ hash: sha1('a'), payload: Buffer.from([1, 2, 3, 4]) }]);
    fs.appendFileSync(file, Buffer.alloc(10, 0xff)); // an interrupted write
    const reopened = RecordFile.open(file, 4);
    assert.equal(fs.statSync(file).size, 24);
    reopened.add([{ hash: sha1('b'), payload: Buffer.from([5, 6, 7, 8]) }]);
    const again = RecordFile.open(file, 4);
    assert.deepEqual([...again.get(sha1('a'))!], [1, 2, 3, 4]);
    assert.deepEqual([...again.get(sha1('b'))!], [5, 6, 7, 8]);
  });

  it('refuses a payload of the wrong size or a hash that is not a sha1, keeping nothing of that call', () => {
    const file = path.join(temporaryFolder('records'), 'r.bin');
    const records = RecordFile.open(file, 2);
    assert.throws(
      () =>
        records.add([
          { hash: sha1('a'), payload: Buffer.from([1, 2]) },
          { hash: sha1('b'), payload: Buffer.from([1]) },
        ]),
      /2-byte record/,
    );
    assert.throws(() => records.add([{ hash: 'xyz', payload: Buffer.from([1, 2]) }]), /sha1/);
    assert.equal(records.size, 0);
    assert.equal(fs.existsSync(file), false);
  });
});
