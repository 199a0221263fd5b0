import * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { batchTensor } from '../index.js';
import { openData, openModel } from './context.js';
import { addRunOptions, int } from './options.js';

/** `uap classify --model M FILES…`: top-5 labels and softmax scores per image. */
export function registerClassify(program: Command): void {
  const cmd = program
    .command('classify')
    .description('top-5 predictions of a model for image files')
    .requiredOption('--model <name>', 'zoo name, model folder, model.json, .tflite, .onnx or URL')
    .argument('<files...>', 'image files (JPEG, PNG, WebP)')
    .option('--top <k>', 'how many classes to list', '5');
  addRunOptions(cmd, { json: 'print JSON on stdout' }).action(async (files: string[], o: { model: string; top: string; modelsDir?: string; json?: boolean }) => {
    const top = int('--top', o.top, 1);
    const model = await openModel(program, o.model, o.modelsDir);
    try {
      const data = await openData(files.join(','), model);
      const x = batchTensor(data);
      const logits = await model.logits(x);
      const k = Math.min(top, logits.shape[1]);
      const { values, indices } = tf.tidy(() => tf.topk(tf.softmax(logits), k));
      const [vs, is] = [await values.data(), await indices.data()];
      tf.dispose([x, logits, values, indices]);
      const results = data.names.map((file, i) => ({
        file,
        top: Array.from({ length: k }, (_, j) => {
          const c = is[i * k + j]!;
          return { index: c, id: model.labels.ids[c], name: model.labels.names[c], score: vs[i * k + j]! };
        }),
      }));
      if (o.json) {
        console.log(JSON.stringify({ model: model.id, results }));
        return;
      }
      for (const r of results) {
        console.log(r.file);
        for (const t of r.top) console.log(`  ${(100 * t.score).toFixed(1).padStart(5)}%  ${t.name} (${t.id})`);
      }
    } finally {
      model.dispose();
    }
  });
}
