// Runs the original TF.js graph model (package/models/movenet-thunder.json + .bin) with TensorFlow.js's
// plain-JavaScript CPU backend on raw int32 inputs; used by tools/movenet_tfjs_check.py as an independent
// reference for tools/convert_movenet.py's TF.js -> TensorFlow loading (docs/teachers.md).
//   node tools/movenet_tfjs_check.mjs MODEL_JSON INPUTS_INT32.bin N OUTPUTS_FLOAT32.bin
// The @tensorflow packages come from the folder named by TFJS_MODULES (tools/setup_movenet.sh installs them).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.TFJS_MODULES || '.', 'node_modules', 'x.js'));
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

const [modelJson, inputsBin, nStr, outputsBin] = process.argv.slice(2);
const model = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
const dir = path.dirname(modelJson);
const buffers = model.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
const weightData = Buffer.concat(buffers);
const specs = model.weightsManifest.flatMap((g) => g.weights);
await tf.setBackend('cpu');
const graph = await converter.loadGraphModel(tf.io.fromMemory({
  modelTopology: model.modelTopology, weightSpecs: specs,
  weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
}));
const n = Number(nStr);
const raw = fs.readFileSync(inputsBin);
const ints = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const per = 256 * 256 * 3;
const outs = [];
for (let i = 0; i < n; i += 1) {
  const x = tf.tensor(ints.slice(i * per, (i + 1) * per), [1, 256, 256, 3], 'int32');
  const y = graph.execute(x);
  outs.push(...(await y.data()));
  tf.dispose([x, y]);
}
fs.writeFileSync(outputsBin, Buffer.from(new Float32Array(outs).buffer));
console.log(`tfjs ${tf.version_core} backend ${tf.getBackend()}: ${n} input(s)`);
