import { strict as assert } from 'assert';
import { applyColormap, jetColormap, roundToUint8 } from '../lib/explain/colormap';

/**
 * The full table printed by OpenCV 4.6.0 (Debian python3-opencv) with
 *   cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_JET)
 * converted from BGR to RGB ([..., ::-1]) and written as hex, 3 bytes per entry.
 */
const openCvJetRgbHex =
  '00008000008400008800008c00009000009400009800009c0000a00000a40000a80000ac0000b00000b40000b80000bc' +
  '0000c00000c40000c80000cc0000d00000d40000d80000dc0000e00000e40000e80000ec0000f00000f40000f80000fc' +
  '0000ff0004ff0008ff000cff0010ff0014ff0018ff001cff0020ff0024ff0028ff002cff0030ff0034ff0038ff003cff' +
  '0040ff0044ff0048ff004cff0050ff0054ff0058ff005cff0060ff0064ff0068ff006cff0070ff0074ff0078ff007cff' +
  '0080ff0084ff0088ff008cff0090ff0094ff0098ff009cff00a0ff00a4ff00a8ff00acff00b0ff00b4ff00b8ff00bcff' +
  '00c0ff00c4ff00c8ff00ccff00d0ff00d4ff00d8ff00dcff00e0ff00e4ff00e8ff00ecff00f0ff00f4ff00f8ff00fcff' +
  '02fffe06fffa0afff60efff212ffee16ffea1affe61effe222ffde26ffda2affd62effd232ffce36ffca3affc63effc2' +
  '42ffbe46ffba4affb64effb252ffae56ffaa5affa65effa262ff9e66ff9a6aff966eff9272ff8e76ff8a7aff867eff82' +
  '82ff7e86ff7a8aff768eff7292ff6e96ff6a9aff669eff62a2ff5ea6ff5aaaff56aeff52b2ff4eb6ff4abaff46beff42' +
  'c2ff3ec6ff3acaff36ceff32d2ff2ed6ff2adaff26deff22e2ff1ee6ff1aeaff16eeff12f2ff0ef6ff0afaff06feff01' +
  'fffc00fff800fff400fff000ffec00ffe800ffe400ffe000ffdc00ffd800ffd400ffd000ffcc00ffc800ffc400ffc000' +
  'ffbc00ffb800ffb400ffb000ffac00ffa800ffa400ffa000ff9c00ff9800ff9400ff9000ff8c00ff8800ff8400ff8000' +
  'ff7c00ff7800ff7400ff7000ff6c00ff6800ff6400ff6000ff5c00ff5800ff5400ff5000ff4c00ff4800ff4400ff4000' +
  'ff3c00ff3800ff3400ff3000ff2c00ff2800ff2400ff2000ff1c00ff1800ff1400ff1000ff0c00ff0800ff0400ff0000' +
  'fc0000f80000f40000f00000ec0000e80000e40000e00000dc0000d80000d40000d00000cc0000c80000c40000c00000' +
  'bc0000b80000b40000b00000ac0000a80000a40000a000009c00009800009400009000008c0000880000840000800000';

function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function entry(table: Uint8Array, index: number): number[] {
  return Array.from(table.slice(index * 3, index * 3 + 3));
}

describe('jetColormap', () => {
  it('has 256 RGB entries', () => {
    assert.equal(jetColormap().length, 256 * 3);
  });

  it('starts dark blue and ends dark red like cv2 (BGR 128,0,0 and 0,0,128)', () => {
    const table = jetColormap();
    assert.deepEqual(entry(table, 0), [0, 0, 128]);
    assert.deepEqual(entry(table, 255), [128, 0, 0]);
  });

  it('keeps the ties that float32 rounding decides on the same side as OpenCV', () => {
    const table = jetColormap();
    // Exactly-.5 levels: 96 rounds red up to 2 but 159 rounds blue down to 1 in OpenCV.
    assert.deepEqual(entry(table, 32), [0, 0, 255]);
    assert.deepEqual(entry(table, 33), [0, 4, 255]);
    assert.deepEqual(entry(table, 96), [2, 255, 254]);
    assert.deepEqual(entry(table, 127), [126, 255, 130]);
    assert.deepEqual(entry(table, 128), [130, 255, 126]);
    assert.deepEqual(entry(table, 159), [254, 255, 1]);
    assert.deepEqual(entry(table, 160), [255, 252, 0]);
    assert.deepEqual(entry(table, 224), [252, 0, 0]);
  });

  it('matches all 256 colours printed by OpenCV', () => {
    assert.deepEqual(Array.from(jetColormap()), Array.from(hexToBytes(openCvJetRgbHex)));
  });

  it('returns a copy that callers may change', () => {
    const table = jetColormap();
    table[0] = 99;
    assert.equal(jetColormap()[0], 0);
  });
});

describe('applyColormap', () => {
  it('maps each value to its JET colour', () => {
    const rgb = applyColormap(new Uint8Array([0, 255, 128]));
    assert.deepEqual(Array.from(rgb), [0, 0, 128, 128, 0, 0, 130, 255, 126]);
  });

  it('handles an empty input', () => {
    assert.equal(applyColormap(new Uint8Array(0)).length, 0);
  });

  it('rejects other arrays', () => {
    assert.throws(() => applyColormap([1, 2] as unknown as Uint8Array), /Uint8Array/);
  });
});

describe('roundToUint8', () => {
  it('rounds half to even and saturates like cvRound + saturate_cast', () => {
    assert.deepEqual([0.5, 1.5, 2.5, 2.6, -3, 300, 254.5].map(roundToUint8), [0, 2, 2, 3, 0, 255, 254]);
  });
});
