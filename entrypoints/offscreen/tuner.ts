/**
 * The auto-tuner in the offscreen document: one run at a time on the engine's device, for the shapes of the model
 * jobs run on (recorded without running it), its table added to the one stored in IndexedDB for this adapter. The
 * options page starts a run with `run-tuner` and follows it with `tuner-state`. A job running at the same time shares
 * the GPU, which slows both and makes the tuner's timings noisier, but changes no result.
 */
import type { GpuContext } from '../../engine/gpu/context';
import { recordModelShapes } from '../../engine/tune/record';
import { tuningRows, type TuningTable } from '../../engine/tune/table';
import { tune } from '../../engine/tune/tuner';
import type { ModelFiles } from '../../engine/pipeline';
import type { TunerState } from '../../lib/messages';
import { openStore } from '../../storage/db';
import { loadTuningTable, saveTuningTable } from '../../storage/tuning';

export interface TunerTarget {
  gpu(): Promise<GpuContext>;
  /** The model jobs run on, tuned for f32 weights (what the engine loads it with) at its native size. */
  files: ModelFiles;
  size(): Promise<{ width: number; height: number }>;
  /** Called with the new table once it is stored (the engine reopens its model with it). */
  tuned(table: TuningTable): void;
}

/** The table stored for this context's adapter; undefined when there is none or it cannot be read. */
export async function storedTuningTable(ctx: GpuContext): Promise<TuningTable | undefined> {
  try {
    const db = await openStore();
    try {
      return await loadTuningTable(db, ctx.adapter);
    } finally {
      db.close();
    }
  } catch (error) {
    // A damaged or unreadable table must not stop generation: the ops' defaults are always correct.
    console.warn(`Tuning table not used: ${(error as Error).message}`);
    return undefined;
  }
}

export class Tuner {
  private state: TunerState = { status: 'idle', done: 0, total: 0, current: null, elapsedMs: 0, budgetMs: 0, updated: null, rows: [], error: null };
  private loaded = false;

  constructor(private readonly target: TunerTarget) {}

  async current(): Promise<TunerState> {
    if (!this.loaded && this.state.status === 'idle') {
      const table = await storedTuningTable(await this.target.gpu());
      this.loaded = true;
      if (table) this.state = { ...this.state, updated: table.updated, rows: tuningRows(table) };
    }
    return this.state;
  }

  /** Starts a run unless one is running; returns the state at once. */
  start(budgetSeconds: number): TunerState {
    if (this.state.status !== 'running') {
      this.state = { ...this.state, status: 'running', done: 0, total: 0, current: null, elapsedMs: 0, budgetMs: budgetSeconds * 1000, error: null };
      void this.run(budgetSeconds * 1000);
    }
    return this.state;
  }

  private async run(budgetMs: number): Promise<void> {
    try {
      const ctx = await this.target.gpu();
      const { width, height } = await this.target.size();
      // As the model runs on this device: its buffer limits decide where the VAE runs on row bands.
      const { maxStorageBufferBindingSize, maxBufferSize } = ctx.device.limits;
      const shapes = await recordModelShapes(this.target.files, { width, height, format: 'f32', limits: { maxStorageBufferBindingSize, maxBufferSize } });
      const previous = await storedTuningTable(ctx);
      const result = await tune(ctx, shapes, {
        budgetMs,
        ...(previous ? { table: previous } : {}),
        onProgress: (p) => {
          this.state = { ...this.state, done: p.done, total: p.total, current: p.description ?? this.state.current, elapsedMs: p.elapsedMs };
        },
      });
      const db = await openStore();
      try {
        await saveTuningTable(db, result.table);
      } finally {
        db.close();
      }
      this.target.tuned(result.table);
      this.state = { ...this.state, status: 'done', elapsedMs: result.elapsedMs, updated: result.table.updated, rows: tuningRows(result.table) };
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      this.state = { ...this.state, status: 'failed', error: { name: e.name || 'Error', message: e.message } };
    }
  }
}
