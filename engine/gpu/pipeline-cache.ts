/**
 * Compiled compute pipelines keyed by op and variant. The key names everything that changes the WGSL text or its
 * override constants; shapes travel as uniforms, so one pipeline serves every shape of an op variant.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  compiles = 0;

  constructor(private readonly device: GPUDevice) {}

  get(key: string, code: () => string, constants?: Record<string, number>): GPUComputePipeline {
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      pipeline = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: 'main', ...(constants ? { constants } : {}) },
      });
      this.pipelines.set(key, pipeline);
      this.compiles++;
    }
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }
}
