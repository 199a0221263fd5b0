import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { manifestBytes, parseManifest } from '../models/loaders/weights.js';
import type { Preprocessing } from '../models/loaders/common.js';
import { checkWeightPath, type ModelFolder } from '../models/load.js';
import { classifierTopology } from './head.js';

/**
 * A TF.js *layers* model (trainable, with tfjs's own layers and optimisers) from a ModelFolder — the same
 * file access loadModel uses (Node: src/node/model-files.ts nodeModelIO; browser: fetch), so weight paths
 * are checked the same way. Defences train these; attacks and evaluation use loadModel's Classifier.
 * The topology is rewritten to the Classifier's function (src/defense/head.ts): `preprocessing` (the zoo
 * entry's) becomes a first Rescaling layer, and a final softmax is dropped, so the model maps pixels to logits.
 */
export async function loadLayersModelFromFolder(folder: ModelFolder, file = 'model.json', opts: { preprocessing?: Preprocessing } = {}): Promise<tf.LayersModel> {
  const source = `${folder.name.replace(/[\\/]+$/, '')}/${file}`;
  let json: { modelTopology?: unknown; format?: string; weightsManifest?: unknown };
  try {
    json = JSON.parse(new TextDecoder().decode(await folder.read(file))) as typeof json;
  } catch (e) {
    if (e instanceof UapError) throw e;
    throw new UapError('BAD_MODEL', `${file} is not valid JSON (${(e as Error).message})`, source);
  }
  if (!json || typeof json !== 'object' || !json.modelTopology) throw new UapError('BAD_MODEL', 'not a TF.js model.json (no modelTopology)', source);
  const topo = json.modelTopology as { node?: unknown };
  if (json.format === 'graph-model' || Array.isArray(topo.node)) {
    throw new UapError('BAD_MODEL', 'a graph model cannot be fine-tuned: a TF.js layers model is needed', source);
  }
  const groups = parseManifest(json.weightsManifest, source);
  // The manifest says how many bytes there are before any shard is read (capped); reading stops beyond that.
  const need = manifestBytes(groups, source).reduce((a, b) => a + b, 0);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const shards: Uint8Array[] = [];
  let total = 0;
  for (const g of groups) {
    weightSpecs.push(...(g.weights as tf.io.WeightsManifestEntry[]));
    for (const p of g.paths) {
      const s = await folder.read(checkWeightPath(p, folder));
      shards.push(s);
      total += s.length;
      if (total > need) throw new UapError('BAD_MODEL', `weight shard ${p} is too long: the shards hold at least ${total} bytes, the manifest needs ${need}`, source);
    }
  }
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const s of shards) {
    weightData.set(s, off);
    off += s.length;
  }
  const modelTopology = classifierTopology(json.modelTopology, opts.preprocessing, source) as tf.io.ModelArtifacts['modelTopology'];
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs, weightData: weightData.buffer }));
  } catch (e) {
    throw new UapError('BAD_MODEL', `cannot build the layers model: ${(e as Error).message}`, source);
  }
}

/** The model's trainable weights as tf.Variables (what an optimiser updates). */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
}

/**
 * A layers model as the files of a TF.js model folder: model.json and one weights.bin shard (what
 * loadLayersModelFromFolder and loadModel read back). Browser-safe; uap/node's saveLayersModel writes them.
 */
export async function layersModelFiles(model: tf.LayersModel): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightsPath = 'weights.bin';
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [weightsPath], weights: artifacts.weightSpecs }],
      };
      const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
      files.set(weightsPath, data);
      files.set('model.json', new TextEncoder().encode(JSON.stringify(modelJson)));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: data.length } };
    }),
  );
  return files;
}
