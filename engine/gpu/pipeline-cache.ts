/**
 * Compiled compute pipelines keyed by op and variant. The key names everything that changes the WGSL text or its
 * override constants; shapes travel as uniforms, so one pipeline serves every shape of an op variant.
 *
 * A pipeline that fails to compile is dropped from the cache (so a later call compiles it again rather than reusing
 * an invalid object) and its compiler message is kept: the device would otherwise only report the dispatches that
 * used it ("invalid due to a previous error").
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private compileError?: string;
  private checks: Promise<void>[] = [];
  compiles = 0;

  constructor(private readonly device: GPUDevice) {}

  get(key: string, code: () => string, constants?: Record<string, number>): GPUComputePipeline {
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ code: code(), label: key });
      pipeline = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: 'main', ...(constants ? { constants } : {}) },
      });
      this.checks.push(
        this.device.popErrorScope().then((error) => {
          if (!error) return;
          this.pipelines.delete(key);
          this.compileError ??= `${key}: ${error.message}`;
        }),
      );
      this.pipelines.set(key, pipeline);
      this.compiles++;
    }
    return pipeline;
  }

  /** Resolves when the compile checks of every pipeline created so far are in. */
  async settled(): Promise<void> {
    await Promise.all(this.checks.splice(0));
  }

  /** The first compile error since the last call, if any. */
  takeCompileError(): string | undefined {
    const message = this.compileError;
    this.compileError = undefined;
    return message;
  }

  get size(): number {
    return this.pipelines.size;
  }
}
