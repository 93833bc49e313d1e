import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { articleDefaults } from '../lib/core/config';
import { ImageDecodeError, UserFacingError } from '../lib/core/errors';
import {
  DuplicateGroup,
  findDuplicates,
  groupDuplicates,
  groupingKeys,
  hammingDistance,
  hashImages,
  hashToHex,
  perceptualHash,
  readPatientIds,
  resolveCrossSplitDuplicates,
} from '../lib/data';

const cxrDir = process.env.CXR_DATA_DIR ? path.resolve(process.env.CXR_DATA_DIR) : articleDefaults.dataDir;
const covidImage = path.join(cxrDir, 'COVID', 'COVID-3112.png');
// A different patient whose 64-bit dHash is IDENTICAL to COVID-3112's: the hash alone would call them duplicates.
const normalImageSameHash = path.join(cxrDir, 'NORMAL', 'Normal-3459.png');
const otherNormalImage = path.join(cxrDir, 'NORMAL', 'Normal-10007.png');

describe('leakage guard', function () {
  let folder: string;

  before(function () {
    if (![covidImage, normalImageSameHash, otherNormalImage].every((file) => fs.existsSync(file))) {
      console.warn(`    skipped: real X-rays not found in ${cxrDir} (set CXR_DATA_DIR)`);
      this.skip();
    }
  });

  beforeEach(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'leakage-test-'));
  });

  afterEach(() => {
    fs.rmSync(folder, { recursive: true, force: true });
  });

  describe('hashes', () => {
    it('counts differing bits of 64-bit hashes, high half included', () => {
      assert.equal(hammingDistance(0n, 0n), 0);
      assert.equal(hammingDistance(0n, 0xffffffffffffffffn), 64);
      assert.equal(hammingDistance(1n << 63n, 1n), 2);
      assert.equal(hashToHex(0xabcn), '0000000000000abc');
    });

    it('gives a stable 64-bit dHash that survives re-encoding with brightness +2', async () => {
      const brighter = path.join(folder, 'brighter.png');
      await sharp(covidImage).linear(1, 2).png({ compressionLevel: 9 }).toFile(brighter);
      const original = await perceptualHash(covidImage);
      assert.equal(await perceptualHash(covidImage), original);
      assert.ok(original >= 0n && original < 1n << 64n);
      assert.ok(hammingDistance(original, await perceptualHash(brighter)) <= 2);
    });

    it('throws ImageDecodeError naming the file for a damaged image', async () => {
      const damaged = path.join(folder, 'damaged.png');
      fs.writeFileSync(damaged, 'not a png');
      await assert.rejects(
        perceptualHash(damaged),
        (error: unknown) => error instanceof ImageDecodeError && error.message.includes(damaged),
      );
    });

    it('keeps signatures by content in a cache file: a second scan decodes nothing and gives the same result', async () => {
      const cacheFile = path.join(folder, 'signatures.bin');
      const copy = path.join(folder, 'copy-of-covid.png');
      fs.copyFileSync(covidImage, copy);
      const items = [{ path: covidImage }, { path: normalImageSameHash }, { path: otherNormalImage }, { path: copy }];
      const uncached = await hashImages(items);
      const first = await hashImages(items, { signatureCacheFile: cacheFile });
      // Three distinct contents (the copy has the same bytes): three records of 20 + 8 + 32*32*4 bytes.
      assert.equal(fs.statSync(cacheFile).size, 3 * (20 + 8 + 4096));
      // A file renamed away cannot be decoded again, so a hit must come from the cache.
      const moved = path.join(folder, 'moved.png');
      fs.copyFileSync(otherNormalImage, moved);
      const second = await hashImages([...items.slice(0, 2), { path: moved }, items[3]], {
        signatureCacheFile: cacheFile,
      });
      assert.equal(fs.statSync(cacheFile).size, 3 * (20 + 8 + 4096), 'nothing new was computed');
      for (const run of [first, second]) {
        run.hashed.forEach((image, index) => {
          assert.equal(image.hash, uncached.hashed[index].hash);
          assert.equal(image.sha1, uncached.hashed[index].sha1);
          assert.deepEqual(Array.from(image.thumbnail), Array.from(uncached.hashed[index].thumbnail));
        });
      }
    });

    it('skips unreadable files with a reason and reports progress for every file', async () => {
      const garbage = path.join(folder, 'garbage.png');
      fs.writeFileSync(garbage, Buffer.from('definitely not an image'));
      const truncated = path.join(folder, 'truncated.png');
      fs.writeFileSync(truncated, fs.readFileSync(covidImage).subarray(0, 200));
      const empty = path.join(folder, 'empty.png');
      fs.writeFileSync(empty, '');
      const missing = path.join(folder, 'missing.png');
      const progress: [number, number][] = [];
      const { hashed, skipped } = await hashImages(
        [{ path: covidImage }, { path: garbage }, { path: truncated }, { path: empty }, { path: missing }],
        { onProgress: (done, total) => progress.push([done, total]) },
      );
      assert.deepEqual(
        hashed.map((image) => image.path),
        [covidImage],
      );
      assert.deepEqual(
        skipped.map((entry) => entry.path),
        [garbage, truncated, empty, missing],
      );
      assert.match(skipped[0].reason, /cannot be read as an image/);
      assert.match(skipped[1].reason, /cannot be read as an image/);
      assert.match(skipped[2].reason, /empty/);
      assert.match(skipped[3].reason, /not found/);
      assert.ok(!skipped[0].reason.includes(garbage), 'the reason does not repeat the path');
      assert.deepEqual(
        progress.map(([done]) => done),
        [1, 2, 3, 4, 5],
      );
      assert.ok(progress.every(([, total]) => total === 5));
    });
  });

  describe('findDuplicates', () => {
    it('finds an exact copy and a re-encoded, brightened copy across splits and classes', async () => {
      const exactCopy = path.join(folder, 'exact.png');
      fs.copyFileSync(covidImage, exactCopy);
      const nearCopy = path.join(folder, 'near.png');
      await sharp(covidImage).linear(1, 2).png({ compressionLevel: 9 }).toFile(nearCopy);
      const otherExact = path.join(folder, 'other-exact.png');
      fs.copyFileSync(otherNormalImage, otherExact);
      const { groups, skipped, hashedCount } = await findDuplicates([
        { path: covidImage, split: 'test', label: 0 },
        { path: exactCopy, split: 'train', label: 0 },
        { path: nearCopy, split: 'validation', label: 1 },
        { path: normalImageSameHash, split: 'train', label: 1 },
        { path: otherNormalImage, split: 'train', label: 1 },
        { path: otherExact, split: 'train', label: 1 },
      ]);
      assert.deepEqual(skipped, []);
      assert.equal(hashedCount, 6);
      assert.equal(groups.length, 2);
      const covidGroup = groups.find((group) =>
        group.members.some((member) => member.path === covidImage),
      ) as DuplicateGroup;
      assert.deepEqual(
        covidGroup.members.map((member) => member.path).sort(),
        [covidImage, exactCopy, nearCopy].sort(),
      );
      assert.equal(covidGroup.exactCopies, false);
      assert.equal(covidGroup.crossSplit, true);
      assert.equal(covidGroup.crossClass, true);
      assert.ok(covidGroup.minCorrelation > 0.99);
      const normalGroup = groups.find((group) => group !== covidGroup) as DuplicateGroup;
      assert.deepEqual(normalGroup.members.map((member) => member.path).sort(), [otherNormalImage, otherExact].sort());
      assert.equal(normalGroup.exactCopies, true);
      assert.equal(normalGroup.crossSplit, false);
      assert.equal(normalGroup.maxDistance, 0);
      assert.doesNotThrow(() => JSON.stringify(groups));
    });

    it('does not group two different X-rays, even when their 64-bit dHashes are identical', async () => {
      const { hashed } = await hashImages([
        { path: covidImage },
        { path: normalImageSameHash },
        { path: otherNormalImage },
      ]);
      assert.equal(hammingDistance(hashed[0].hash, hashed[1].hash), 0, 'fixture: identical dHashes');
      assert.deepEqual(groupDuplicates(hashed), []);
      // Trusting the hash alone (no thumbnail check) would wrongly group them.
      assert.equal(groupDuplicates(hashed, { minCorrelation: -1, threshold: 0 }).length, 1);
    });

    it('rejects thresholds outside the hash', () => {
      assert.throws(() => groupDuplicates([], { threshold: 65 }), UserFacingError);
      assert.throws(() => groupDuplicates([], { minCorrelation: 2 }), UserFacingError);
    });
  });

  describe('resolveCrossSplitDuplicates', () => {
    const member = (file: string, split: string) => ({ path: file, split, hash: '0', sha1: 'x' });
    const group = (...members: ReturnType<typeof member>[]): DuplicateGroup => ({
      members,
      maxDistance: 0,
      minCorrelation: 1,
      exactCopies: true,
      crossSplit: true,
      crossClass: false,
    });
    const splits = {
      train: [
        { file: 'a.png', label: 0 },
        { file: 'b.png', label: 0 },
        { file: 'c.png', label: 1 },
        { file: 'f.png', label: 1 },
      ],
      validation: [
        { file: 'd.png', label: 0 },
        { file: 'g.png', label: 1 },
      ],
      test: [
        { file: 'e.png', label: 0 },
        { file: 'h.png', label: 1 },
      ],
    };

    it('keeps the test set whole and drops its duplicates from validation and training', () => {
      const groups = [
        group(member('a.png', 'train'), member('d.png', 'validation'), member('e.png', 'test')),
        group(member('c.png', 'train'), member('g.png', 'validation')),
        group(member('b.png', 'train'), member('f.png', 'train')),
      ];
      const resolved = resolveCrossSplitDuplicates(splits, groups);
      assert.deepEqual(resolved.splits.test, splits.test);
      assert.deepEqual(
        resolved.splits.validation.map((item) => item.file),
        ['g.png'],
      );
      assert.deepEqual(
        resolved.splits.train.map((item) => item.file),
        ['b.png', 'f.png'],
        'duplicates inside one split stay',
      );
      assert.deepEqual(resolved.dropped, [
        { key: 'a.png', split: 'train', keptIn: 'test' },
        { key: 'c.png', split: 'train', keptIn: 'validation' },
        { key: 'd.png', split: 'validation', keptIn: 'test' },
      ]);
      assert.equal(resolved.notes.length, 3);
      assert.match(resolved.notes[0], /a\.png from train.*kept in test/);
    });

    it('follows a custom priority and key', () => {
      const groups = [group(member('/data/a.png', 'train'), member('/data/e.png', 'test'))];
      const resolved = resolveCrossSplitDuplicates(splits, groups, {
        priority: ['train', 'test'],
        keyOf: (item) => `/data/${item.file}`,
      });
      assert.deepEqual(
        resolved.splits.test.map((item) => item.file),
        ['h.png'],
      );
      assert.equal(resolved.splits.train.length, 4);
    });
  });

  describe('patient ids', () => {
    function writeCsv(text: string): string {
      const file = path.join(folder, 'patients.csv');
      fs.writeFileSync(file, text);
      return file;
    }

    it('reads file -> patient by base name, with quotes, BOM and CRLF', () => {
      const csv = writeCsv(
        '\uFEFFpatient_id,filename,notes\r\nP1,COVID/COVID-1.png,"first, AP"\r\nP1,COVID-2.png,""\r\n"P 2",NORMAL/Normal-1.png,x\r\n\r\n',
      );
      const patients = readPatientIds(csv);
      assert.deepEqual(
        [...patients],
        [
          ['COVID-1.png', 'P1'],
          ['COVID-2.png', 'P1'],
          ['Normal-1.png', 'P 2'],
        ],
      );
    });

    it('names the csv line of malformed input', () => {
      assert.throws(
        () => readPatientIds(writeCsv('file,patient\na.png,P1\nb.png\n')),
        (error: unknown) => {
          assert.ok(error instanceof UserFacingError);
          assert.match(error.message, /patients\.csv: line 3: expected 2 fields/);
          return true;
        },
      );
      assert.throws(() => readPatientIds(writeCsv('file,patient\na.png,\n')), /line 2: empty patient id for a\.png/);
      assert.throws(
        () => readPatientIds(writeCsv('file,patient\n"a.png,P1\n')),
        /line 2: a quoted field is not closed/,
      );
      assert.throws(
        () => readPatientIds(writeCsv('file,patient\na.png,P1\nx/a.png,P2\n')),
        /line 3: a\.png is listed for patient P2 but line 2 gives patient P1/,
      );
      assert.throws(() => readPatientIds(writeCsv('name,age\na.png,3\n')), /line 1: header must name a file column/);
      assert.throws(() => readPatientIds(path.join(folder, 'none.csv')), /not found/);
    });

    it('gives shared group keys to one patient and to one duplicate group', () => {
      const paths = ['/d/COVID-1.png', '/d/COVID-2.png', '/d/COVID-3.png', '/d/Normal-1.png', '/d/Normal-2.png'];
      const patientIds = new Map([
        ['COVID-1.png', 'P1'],
        ['COVID-2.png', 'P1'],
        ['Normal-1.png', 'P2'],
        ['Normal-2.png', 'P3'],
      ]);
      const duplicate: DuplicateGroup = {
        members: [
          { path: '/d/COVID-3.png', hash: '0', sha1: 'a' },
          { path: '/d/Normal-2.png', hash: '0', sha1: 'a' },
        ],
        maxDistance: 0,
        minCorrelation: 1,
        exactCopies: true,
        crossSplit: false,
        crossClass: true,
      };
      const { keys, withoutPatientId } = groupingKeys(paths, { patientIds, duplicateGroups: [duplicate] });
      assert.deepEqual(withoutPatientId, ['/d/COVID-3.png']);
      assert.equal(keys.get('/d/COVID-1.png'), keys.get('/d/COVID-2.png'));
      assert.equal(keys.get('/d/COVID-3.png'), keys.get('/d/Normal-2.png'));
      assert.notEqual(keys.get('/d/COVID-1.png'), keys.get('/d/Normal-1.png'));
      assert.notEqual(keys.get('/d/Normal-1.png'), keys.get('/d/Normal-2.png'));
      assert.equal(keys.size, 5);
    });
  });
});
