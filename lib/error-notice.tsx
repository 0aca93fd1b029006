/** An engine failure as the user should read it: what went wrong, the engine's own message, and what to do. */

/** Titles and advice by error name; the engine's named errors already say what to do in their message. */
const KNOWN: Record<string, { title: string; advice?: string }> = {
  WebGPUNotFoundError: { title: 'WebGPU is not available' },
  DeviceLostError: { title: 'The GPU device was lost', advice: 'Close and reopen this window to try again.' },
  InvalidParameterError: { title: 'These settings cannot run' },
  BufferTooLargeError: { title: 'The image is too large for this GPU' },
  EngineStoppedError: { title: 'The engine stopped' },
  GalleryItemMissingError: { title: 'The starting image is gone' },
  InsufficientStorageError: { title: 'Not enough storage' },
  ModelNotFoundError: { title: 'The model is not installed' },
  CorruptChunkError: { title: 'The stored model is damaged' },
};

const FALLBACK = {
  title: 'The engine did not start',
  advice: 'Close and reopen this window to try again. If it keeps failing, update the browser or reinstall the extension.',
};

/** `title` replaces the fallback's for errors without one of their own (a failed job rather than the engine's start). */
export function ErrorNotice({ error, title: fallbackTitle }: { error: Error; title?: string }) {
  const known = KNOWN[error.name];
  const { title, advice } = known ?? (fallbackTitle ? { title: fallbackTitle, advice: undefined } : FALLBACK);
  return (
    <div class="notice error" role="alert">
      <p class="notice-title">{title}</p>
      <p>{error.message}</p>
      {advice && <p>{advice}</p>}
    </div>
  );
}
