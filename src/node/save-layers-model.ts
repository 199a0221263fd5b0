import * as tf from '@tensorflow/tfjs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Saves a tfjs layers model as model.json + one weights.bin shard, atomically (temp files, then rename). */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
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
      await writeFile(path.join(dir, `${weightsPath}.tmp`), data);
      await writeFile(path.join(dir, 'model.json.tmp'), JSON.stringify(modelJson));
      await rename(path.join(dir, `${weightsPath}.tmp`), path.join(dir, weightsPath));
      await rename(path.join(dir, 'model.json.tmp'), path.join(dir, 'model.json'));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: data.length } };
    }),
  );
}
