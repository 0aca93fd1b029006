/** An engine failure as the user should read it: what went wrong, the engine's own message, and what to do. */

/** Titles and advice by error name; the engine's named errors already say what to do in their message. */
const KNOWN: Record<string, { title: string; advice?: string }> = {
  WebGPUNotFoundError: { title: 'WebGPU is not available' },
  DeviceLostError: { title: 'The GPU device was lost', advice: 'Close and reopen this window to try again.' },
};

const FALLBACK = {
  title: 'The engine did not start',
  advice: 'Close and reopen this window to try again. If it keeps failing, update the browser or reinstall the extension.',
};

export function ErrorNotice({ error }: { error: Error }) {
  const { title, advice } = KNOWN[error.name] ?? FALLBACK;
  return (
    <div class="notice error" role="alert">
      <p class="notice-title">{title}</p>
      <p>{error.message}</p>
      {advice && <p>{advice}</p>}
    </div>
  );
}
