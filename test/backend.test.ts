import { strict as assert } from 'assert';
import { describeBackendChoice } from '../lib/core/backend';

describe('backend: the line a notebook starts with', () => {
  const notInstalled = (name: 'tensorflow-gpu' | 'tensorflow') => ({
    name,
    message: `Cannot find module '@tensorflow/${name === 'tensorflow' ? 'tfjs-node' : 'tfjs-node-gpu'}'`,
  });

  it('one calm line: the backend, what is not installed, where to read more; no error text', () => {
    const line = describeBackendChoice('wasm', [notInstalled('tensorflow-gpu'), notInstalled('tensorflow')]);
    assert.equal(line, 'tfjs backend: wasm; tfjs-node-gpu, tfjs-node not installed, see README (Backends)');
    assert.doesNotMatch(line, /Cannot find module|\n/);
  });

  it('the first choice loading says just that', () => {
    assert.equal(describeBackendChoice('tensorflow-gpu', []), 'tfjs backend: tensorflow-gpu');
  });

  it('a package that is installed but fails to load is named, with the way to see why', () => {
    const line = describeBackendChoice('wasm', [{ name: 'tensorflow-gpu', message: 'libcudnn.so.8: cannot open' }]);
    assert.equal(
      line,
      'tfjs backend: wasm; tfjs-node-gpu failed to load, see README (Backends); CXR_DEBUG=1 shows why',
    );
  });

  it('CXR_DEBUG=1: the details, one failure a line', () => {
    const line = describeBackendChoice('wasm', [notInstalled('tensorflow-gpu')], true);
    assert.equal(
      line,
      "tfjs backend: wasm; tfjs-node-gpu not installed, see README (Backends)\n  tensorflow-gpu: Cannot find module '@tensorflow/tfjs-node-gpu'",
    );
  });
});
