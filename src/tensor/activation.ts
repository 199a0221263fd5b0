/** The activations a fused op can end with (forward: src/models/net/forward.ts; gradient: activation_grad.ts). */
export type Activation = 'linear' | 'relu' | 'relu6' | { leakyAlpha: number };
