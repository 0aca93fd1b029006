/**
 * Inpainting's mask, painted over the starting image with the pointer: what is painted is repainted by the job, the
 * rest of the image is kept pixel for pixel. The canvas is at the image's own size and shows the paint as a
 * translucent colour; the mask leaves as a PNG data URL, white where painted on black (painted edges are
 * anti-aliased, and grey blends). Clear and Invert are buttons, so a keyboard user can repaint everything but
 * nothing (Invert on an empty mask) without a pointer.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

/** Colour the paint is shown in, over the image (the mask is its coverage, not its colour). */
const PAINT = [255, 48, 96] as const;

export function MaskPainter({ image, width, height, mask, onChange }: { image: string; width: number; height: number; mask: string | undefined; onChange(mask: string | undefined): void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const last = useRef<{ x: number; y: number } | null>(null);
  const [brush, setBrush] = useState('16');
  // Open at first when there is a mask (Reuse); then as the user leaves it, also when Clear empties the mask.
  const [open] = useState(mask !== undefined);
  const [covered, setCovered] = useState<number>();
  // The data URL this canvas last produced: a value coming back from the form unchanged is not drawn again.
  const produced = useRef<string | undefined>(undefined);

  useEffect(() => {
    const c = canvas.current;
    if (!c || mask === produced.current) return;
    const context = c.getContext('2d')!;
    context.clearRect(0, 0, c.width, c.height);
    setCovered(mask ? undefined : 0);
    if (!mask) return;
    const img = new Image();
    img.onload = () => {
      context.drawImage(img, 0, 0, c.width, c.height);
      // White-on-black → the paint colour with the mask as its alpha.
      const data = context.getImageData(0, 0, c.width, c.height);
      for (let i = 0; i < data.data.length; i += 4) data.data.set([...PAINT, data.data[i]!], i);
      context.putImageData(data, 0, 0);
      produced.current = mask;
      setCovered(coverage(data));
    };
    img.src = mask;
  }, [mask, width, height]);

  /** Exports the canvas as the mask; an unpainted canvas is no mask. */
  const publish = () => {
    const c = canvas.current!;
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
    const share = coverage(data);
    setCovered(share);
    if (share === 0) {
      produced.current = undefined;
      onChange(undefined);
      return;
    }
    const out = new ImageData(c.width, c.height);
    for (let i = 0; i < data.data.length; i += 4) {
      const a = data.data[i + 3]!;
      out.data.set([a, a, a, 255], i);
    }
    const exportCanvas = document.createElement('canvas');
    exportCanvas.width = c.width;
    exportCanvas.height = c.height;
    exportCanvas.getContext('2d')!.putImageData(out, 0, 0);
    const url = exportCanvas.toDataURL('image/png');
    produced.current = url;
    onChange(url);
  };

  const point = (e: PointerEvent) => {
    const c = canvas.current!;
    const rect = c.getBoundingClientRect();
    return { x: ((e.clientX - rect.left) * c.width) / rect.width, y: ((e.clientY - rect.top) * c.height) / rect.height, scale: c.width / rect.width };
  };
  const stroke = (e: PointerEvent) => {
    const { x, y, scale } = point(e);
    const context = canvas.current!.getContext('2d')!;
    context.strokeStyle = context.fillStyle = `rgb(${PAINT.join(' ')})`;
    context.lineCap = 'round';
    context.lineWidth = Number(brush) * scale;
    context.beginPath();
    const from = last.current ?? { x, y };
    context.moveTo(from.x, from.y);
    context.lineTo(x, y);
    context.stroke();
    last.current = { x, y };
  };

  const invert = () => {
    const c = canvas.current!;
    const context = c.getContext('2d')!;
    const data = context.getImageData(0, 0, c.width, c.height);
    for (let i = 0; i < data.data.length; i += 4) data.data.set([...PAINT, 255 - data.data[i + 3]!], i);
    context.putImageData(data, 0, 0);
    publish();
  };
  const clear = () => {
    const c = canvas.current!;
    c.getContext('2d')!.clearRect(0, 0, c.width, c.height);
    publish();
  };

  return (
    <details class="mask-painter" open={open}>
      <summary>Paint the area to change</summary>
      <p id="mask-hint" class="hint">
        Drag over the image: only the painted part is redrawn, the rest stays as it is. Nothing painted changes the whole image.
      </p>
      {/* At most 260 CSS pixels high, whatever the image's shape. */}
      <div class="mask-stage" style={{ aspectRatio: `${width} / ${height}`, width: `min(100%, ${Math.round((260 * width) / height)}px)` }}>
        <img src={image} alt="" />
        <canvas
          ref={canvas}
          width={width}
          height={height}
          role="img"
          aria-label="Mask over the starting image: drag to paint the area to repaint"
          aria-describedby="mask-hint"
          onPointerDown={(e) => {
            e.currentTarget.setPointerCapture(e.pointerId);
            last.current = null;
            stroke(e);
          }}
          onPointerMove={(e) => {
            if (last.current) stroke(e);
          }}
          onPointerUp={() => {
            if (!last.current) return;
            last.current = null;
            publish();
          }}
        />
      </div>
      <div class="mask-tools">
        <label for="brush-size">
          Brush <output for="brush-size">{brush} px</output>
        </label>
        <input id="brush-size" type="range" min={4} max={48} step={2} value={brush} onInput={(e) => setBrush(e.currentTarget.value)} />
        <button type="button" onClick={invert} aria-label="Invert the mask: paint what is unpainted and clear what is painted">
          Invert
        </button>
        <button type="button" onClick={clear} aria-label="Clear the mask: change the whole image">
          Clear
        </button>
      </div>
      <p class="hint" aria-live="polite">
        {covered === undefined ? '' : covered === 0 ? 'Nothing painted: the whole image changes.' : `${Math.max(1, Math.round(covered * 100))}% of the image is repainted.`}
      </p>
    </details>
  );
}

/** The painted share of the canvas (mean alpha). */
function coverage(data: ImageData): number {
  let sum = 0;
  for (let i = 3; i < data.data.length; i += 4) sum += data.data[i]!;
  return sum / (255 * data.width * data.height);
}
