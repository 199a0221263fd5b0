import * as tf from '@tensorflow/tfjs';

/**
 * The embedded default classifier: a small CNN for MNIST. It takes pixels (0..255) like every
 * classifier here — the Rescaling layer is part of the model, so the saved model.json is complete.
 * Two conv/pool stages and a dense layer: ~99% test accuracy after a few epochs on 2 cores.
 */
export function buildMnistCnn(seed = 1): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 100 + s });
  const model = tf.sequential({ name: 'mnist_cnn' });
  model.add(tf.layers.rescaling({ inputShape: [28, 28, 1], scale: 1 / 255, offset: 0 }));
  model.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  model.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(3) }));
  model.add(tf.layers.dense({ units: 10, kernelInitializer: init(4) })); // logits
  return model;
}

/** Training images (pixels 0..255, n × 28 × 28) with one class index per image. */
export interface TrainData {
  /** n × 28 × 28 pixels 0..255 */
  images: Float32Array;
  labels: Int32Array;
  n: number;
}

/** How trainClassifier trains: epochs, minibatch size, Adam's learning rate, and progress callbacks. */
export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Called after every batch with the running loss; lets the CLI draw a progress bar. */
  onBatch?: (epoch: number, batch: number, batches: number, loss: number) => void;
  /** Called after every epoch with its mean loss. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/** Trains with Adam on softmax cross-entropy of the logits. */
export async function trainClassifier(model: tf.LayersModel, data: TrainData, opts: TrainOptions): Promise<void> {
  model.compile({
    optimizer: tf.train.adam(opts.learningRate),
    loss: (y: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, logits),
  });
  const x = tf.tensor4d(data.images, [data.n, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
  const batches = Math.ceil(data.n / opts.batchSize);
  try {
    await model.fit(x, y, {
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      shuffle: true,
      verbose: 0,
      callbacks: {
        onBatchEnd: async (batch, logs) => opts.onBatch?.(currentEpoch, batch, batches, logs?.loss ?? NaN),
        onEpochBegin: async (epoch) => {
          currentEpoch = epoch;
        },
        onEpochEnd: async (epoch, logs) => opts.onEpoch?.(epoch, logs?.loss ?? NaN),
      },
    });
  } finally {
    x.dispose();
    y.dispose();
  }
}
let currentEpoch = 0;
