import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic, writeFileAtomicSync, writeJsonAtomic, writeJsonAtomicSync } from '../lib/core/atomic';
import { UserFacingError } from '../lib/core/errors';

describe('atomic writes', () => {
  let folder: string;

  beforeEach(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-test-'));
  });

  afterEach(() => {
    fs.rmSync(folder, { recursive: true, force: true });
  });

  /** Leftover temp files would mean a failed or interrupted write litters the folder. */
  function filesIn(directory: string): string[] {
    return fs.readdirSync(directory).sort();
  }

  it('writes text and bytes, replacing an existing file and leaving no temp file', async () => {
    const target = path.join(folder, 'model.bin');
    fs.writeFileSync(target, 'old contents that are longer than the new ones');
    await writeFileAtomic(target, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...fs.readFileSync(target)], [1, 2, 3]);
    await writeFileAtomic(target, 'hello');
    assert.equal(fs.readFileSync(target, 'utf8'), 'hello');
    assert.deepEqual(filesIn(folder), ['model.bin']);
  });

  it('creates missing parent folders', async () => {
    const target = path.join(folder, 'a', 'b', 'report.html');
    await writeFileAtomic(target, '<p>ok</p>');
    assert.equal(fs.readFileSync(target, 'utf8'), '<p>ok</p>');
  });

  it('writes pretty JSON that reads back, with NaN as null', async () => {
    const target = path.join(folder, 'metrics.json');
    await writeJsonAtomic(target, { auc: 0.75, sensitivity: NaN, list: [1, 2] });
    const text = fs.readFileSync(target, 'utf8');
    assert.ok(text.endsWith('\n'));
    assert.deepEqual(JSON.parse(text), { auc: 0.75, sensitivity: null, list: [1, 2] });
  });

  it('keeps the old file and cleans up when the target cannot be replaced', async () => {
    // A folder in the target's place makes rename fail after the temp file was written.
    const target = path.join(folder, 'cache');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside.txt'), 'kept');
    await assert.rejects(writeFileAtomic(target, 'new'), (error: unknown) => {
      assert.ok(error instanceof UserFacingError);
      assert.ok(error.message.includes(target));
      return true;
    });
    assert.deepEqual(filesIn(folder), ['cache']);
    assert.equal(fs.readFileSync(path.join(target, 'inside.txt'), 'utf8'), 'kept');
  });

  it('refuses values JSON cannot hold, before touching the disk', async () => {
    const target = path.join(folder, 'bad.json');
    await assert.rejects(writeJsonAtomic(target, { hash: 5n }), UserFacingError);
    assert.throws(() => writeJsonAtomicSync(target, undefined), UserFacingError);
    assert.deepEqual(filesIn(folder), []);
  });

  it('has synchronous twins', () => {
    const target = path.join(folder, 'sync.json');
    writeJsonAtomicSync(target, { a: 1 });
    assert.deepEqual(JSON.parse(fs.readFileSync(target, 'utf8')), { a: 1 });
    writeFileAtomicSync(target, 'plain');
    assert.equal(fs.readFileSync(target, 'utf8'), 'plain');
    assert.deepEqual(filesIn(folder), ['sync.json']);
  });
});
