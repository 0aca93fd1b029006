/**
 * The starting image of an img2img job, in the settings form: its thumbnail, the strength (how much of it is
 * replaced: low keeps its composition, 1 keeps almost nothing), a button that goes back to text only, and the mask
 * painter (inpainting: only the painted part is replaced).
 */
import { LIMITS } from '../../lib/messages';
import { useGalleryItem, useObjectUrl } from './gallery';
import { MaskPainter } from './mask-painter';

export interface StartImageValue {
  galleryId: number;
  strength: string;
  /** Inpainting: the painted mask as a PNG data URL (white = repaint), or absent to change the whole image. */
  mask?: string;
}

export function StartImageField({ value, onChange }: { value: StartImageValue; onChange(value: StartImageValue | null): void }) {
  const item = useGalleryItem(value.galleryId);
  const url = useObjectUrl(item?.thumbnail);
  const full = useObjectUrl(item?.png);
  return (
    <fieldset class="start-image">
      <legend>Starting image</legend>
      <div class="start-row">
        {url ? <img src={url} alt={`Starting image: ${item!.params.settings.prompt}`} /> : <span class="thumb-empty" />}
        <div class="field">
          <label for="strength">
            Strength <output for="strength">{Number(value.strength).toFixed(2)}</output>
          </label>
          <input
            id="strength"
            type="range"
            min={LIMITS.strength.min}
            max={LIMITS.strength.max}
            step={0.01}
            value={value.strength}
            onInput={(e) => onChange({ ...value, strength: e.currentTarget.value })}
            aria-describedby="strength-hint"
          />
          <p id="strength-hint" class="hint">
            Low keeps the image's layout; 1 replaces almost all of it.
          </p>
        </div>
        <button type="button" onClick={() => onChange(null)}>
          Remove
        </button>
      </div>
      {item && full && (
        <MaskPainter
          image={full}
          width={item.params.width}
          height={item.params.height}
          mask={value.mask}
          onChange={(mask) => onChange({ galleryId: value.galleryId, strength: value.strength, ...(mask === undefined ? {} : { mask }) })}
        />
      )}
      {item === null && (
        <p class="notice error" role="alert">
          This image is no longer in the history: remove it, or pick another.
        </p>
      )}
    </fieldset>
  );
}
