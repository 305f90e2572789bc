/**
 * The wasm backend with poi's training kernels. (Placeholder until the kernels land: registers the
 * stock backend.)
 */
export interface WasmSetup {
  threads?: number;
}
export async function setupWasm(_opts: WasmSetup = {}): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
}
