/**
 * The token embedding layer: each step [token one-hot (V), gap, revenue] → [the token's learned row (D), gap,
 * revenue]. Written as a layer of our own because neither of tfjs-layers' ways fits: its Embedding layer cannot
 * train on the WASM backend (no kernel for its gradient, UnsortedSegmentSum), and a Dense layer on a separate
 * one-hot input would have to sit before the Masking layer, whose mask tfjs then tries to differentiate ("no
 * gradient for Any"). This layer sits after Masking and passes its mask on; one-hot × table is the row lookup, and
 * padding (all zeros) stays all zeros.
 */
import * as tf from '@tensorflow/tfjs';

export interface TokenEmbeddingConfig {
  vocabSize: number;
  dim: number;
  /** Seed of the table's initial values (Glorot uniform). */
  seed: number;
  name?: string;
}

export class TokenEmbedding extends tf.layers.Layer {
  static readonly className = 'TokenEmbedding';
  private readonly vocabSize: number;
  private readonly dim: number;
  private readonly seed: number;
  private table: tf.LayerVariable | null = null;

  constructor(config: TokenEmbeddingConfig) {
    super({ name: config.name });
    this.vocabSize = config.vocabSize;
    this.dim = config.dim;
    this.seed = config.seed;
    this.supportsMasking = true;
  }

  override build(): void {
    this.table = this.addWeight(
      'embeddings',
      [this.vocabSize, this.dim],
      'float32',
      tf.initializers.glorotUniform({ seed: this.seed }),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    return [s[0], s[1], this.dim + 2];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [B, T] = x.shape as number[];
      const V = this.vocabSize;
      const oneHot = tf.reshape(tf.slice(x, [0, 0, 0], [B, T, V]), [B * T, V]);
      const embedded = tf.reshape(tf.matMul(oneHot, this.table!.read()), [B, T, this.dim]);
      return tf.concat([embedded, tf.slice(x, [0, 0, V], [B, T, 2])], 2);
    });
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    return mask as tf.Tensor; // a step is padding after embedding exactly when it was before
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), vocabSize: this.vocabSize, dim: this.dim, seed: this.seed };
  }
}

// Saved models name the layer by its class: loading one needs the class registered.
tf.serialization.registerClass(TokenEmbedding);
