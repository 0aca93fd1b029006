/**
 * The history gallery under the popup's form: every image made, newest first, as thumbnails. Opening one shows it
 * with what made it, and offers Reuse settings (the form takes them all, seed included), Use as starting image
 * (img2img), Download (the PNG with its parameters), Open in a tab, and Delete. The items come straight from
 * IndexedDB; the list reloads when a job finishes.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { deleteGalleryItem, galleryItem, galleryItems, type GalleryItem } from '../../lib/gallery';
import { onEvent } from '../../lib/messaging';
import { SAMPLER_LABELS } from '../../lib/samplers';
import { openStore, type StoreDB } from '../../storage/db';

/** Enough for a popup to scroll through; the rest stay stored. */
const SHOWN_ITEMS = 60;

let db: Promise<StoreDB> | undefined;
export function galleryDb(): Promise<StoreDB> {
  db ??= openStore().catch((error: unknown) => {
    db = undefined;
    throw error;
  });
  return db;
}

/** An object URL for `blob` while the component shows it. */
export function useObjectUrl(blob: Blob | undefined): string | undefined {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    if (!blob) return undefined;
    const created = URL.createObjectURL(blob);
    setUrl(created);
    return () => URL.revokeObjectURL(created);
  }, [blob]);
  return url;
}

/** One gallery item by key: undefined while loading, null when it is gone. */
export function useGalleryItem(id: number | undefined): GalleryItem | null | undefined {
  const [item, setItem] = useState<GalleryItem | null>();
  useEffect(() => {
    setItem(undefined);
    if (id === undefined) return;
    let live = true;
    galleryDb()
      .then((d) => galleryItem(d, id))
      .then(
        (found) => live && setItem(found ?? null),
        () => live && setItem(null),
      );
    return () => {
      live = false;
    };
  }, [id]);
  return item;
}

function Thumbnail({ item, onOpen }: { item: GalleryItem; onOpen(item: GalleryItem): void }) {
  const url = useObjectUrl(item.thumbnail);
  return (
    <li>
      <button type="button" class="thumb" onClick={() => onOpen(item)} title={item.params.settings.prompt}>
        {url && <img src={url} alt={`History image: ${item.params.settings.prompt}`} />}
      </button>
    </li>
  );
}

interface ItemActions {
  onReuse(item: GalleryItem): void;
  onStartFrom(item: GalleryItem): void;
}

function ItemDialog({ item, onClose, onDelete, onReuse, onStartFrom }: ItemActions & { item: GalleryItem; onClose(): void; onDelete(item: GalleryItem): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const url = useObjectUrl(item.png);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  const { settings, seed, width, height, model } = item.params;
  return (
    <dialog ref={dialog} class="item-dialog" aria-labelledby="item-heading" onClose={onClose}>
      <header>
        <h2 id="item-heading">Image from {new Date(item.createdAt).toLocaleString()}</h2>
        <button type="button" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </header>
      <div class="item-body">
        <div class="frame">{url && <img src={url} alt={`History image: ${settings.prompt}`} />}</div>
        <dl class="result-facts">
          <dt>Prompt</dt>
          <dd class="prompt-text">{settings.prompt}</dd>
          {settings.negativePrompt && (
            <>
              <dt>Negative</dt>
              <dd>{settings.negativePrompt}</dd>
            </>
          )}
          <dt>Seed</dt>
          <dd>{seed}</dd>
          <dt>Size</dt>
          <dd>
            {width} × {height}
          </dd>
          <dt>Sampler</dt>
          <dd>
            {SAMPLER_LABELS[settings.scheduler]}, {settings.steps} steps, guidance {settings.guidance}
          </dd>
          {settings.startImage && (
            <>
              <dt>Started from</dt>
              <dd>
                an earlier image, strength {settings.startImage.strength}
                {settings.startImage.mask ? ', painted area only' : ''}
              </dd>
            </>
          )}
          <dt>Model</dt>
          <dd>{model}</dd>
        </dl>
      </div>
      <div class="actions wrap">
        <button type="button" class="primary" onClick={() => onReuse(item)}>
          Reuse settings
        </button>
        <button type="button" onClick={() => onStartFrom(item)}>
          Use as starting image
        </button>
        {url && (
          <a class="button" href={url} download={`local-diffusion-${seed}.png`}>
            Download
          </a>
        )}
        <a class="button" href={browser.runtime.getURL(`/popup.html?item=${item.id}`)} target="_blank" rel="noopener">
          Open in tab
        </a>
        <button type="button" class="danger" onClick={() => onDelete(item)}>
          Delete
        </button>
      </div>
    </dialog>
  );
}

export function Gallery({ openId, onReuse, onStartFrom }: ItemActions & { openId?: number }) {
  const [items, setItems] = useState<GalleryItem[]>();
  const [error, setError] = useState<string>();
  const [open, setOpen] = useState<GalleryItem>();
  const reload = useCallback(() => {
    galleryDb()
      .then((d) => galleryItems(d, SHOWN_ITEMS))
      .then(setItems, (e: unknown) => setError(`The history could not be read: ${(e as Error).message}`));
  }, []);
  useEffect(() => {
    reload();
    // Finished images are stored before their job says done.
    return onEvent((event) => {
      if (event.type === 'job-update' && event.job.status === 'done') reload();
    });
  }, [reload]);
  // A notification or "Open in a tab" names the item to show.
  const asked = useGalleryItem(openId);
  useEffect(() => {
    if (asked) setOpen(asked);
  }, [asked]);

  const remove = async (item: GalleryItem) => {
    setOpen(undefined);
    try {
      await deleteGalleryItem(await galleryDb(), item.id);
    } catch (e) {
      setError(`The image could not be deleted: ${(e as Error).message}`);
    }
    reload();
  };
  const act = (action: (item: GalleryItem) => void) => (item: GalleryItem) => {
    setOpen(undefined);
    action(item);
  };

  return (
    <section class="gallery" aria-labelledby="gallery-heading">
      <h2 id="gallery-heading">History{items && items.length > 0 ? ` (${items.length}${items.length === SHOWN_ITEMS ? '+' : ''})` : ''}</h2>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {items?.length === 0 && <p class="muted">The images you make are kept here, on this computer.</p>}
      {items && items.length > 0 && (
        <ul class="thumbs">
          {items.map((item) => (
            <Thumbnail key={item.id} item={item} onOpen={setOpen} />
          ))}
        </ul>
      )}
      {asked === null && openId !== undefined && <p class="muted">Image {openId} is no longer in the history.</p>}
      {open && <ItemDialog key={open.id} item={open} onClose={() => setOpen(undefined)} onDelete={(i) => void remove(i)} onReuse={act(onReuse)} onStartFrom={act(onStartFrom)} />}
    </section>
  );
}
