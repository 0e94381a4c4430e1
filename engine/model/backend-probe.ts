/** What the hardware scan reports of one tfjs backend (engine/model/backend.ts probes it). */
export interface BackendProbe {
  /** Package that provides it. */
  name:
    '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node' | '@tensorflow/tfjs-backend-wasm' | 'cpu';
  /** tfjs backend name it registers. */
  backend: 'tensorflow' | 'wasm' | 'cpu';
  available: boolean;
  detail: string;
}
