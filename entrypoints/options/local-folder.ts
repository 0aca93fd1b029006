/**
 * The files of a model folder the user chose on the options page (folder picker or drop), with their paths inside
 * it. The page hands them to the offscreen document, which imports them (lib/import-channel.ts).
 */
import type { LocalFile } from '../../storage/local-import';

/** The files of an `<input type=file webkitdirectory>`, with their paths inside the chosen folder. */
export function pickedFiles(list: FileList): LocalFile[] {
  return [...list].map((file) => ({ path: file.webkitRelativePath || file.name, blob: file }));
}

/**
 * The files of a drop, folders walked recursively. The entries are taken while the drop event is being handled
 * (the browser empties `items` afterwards); reading them goes on after.
 */
export function droppedFiles(data: DataTransfer): Promise<LocalFile[]> {
  const entries = [...data.items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const out: LocalFile[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ path: prefix + entry.name, blob: file });
      return;
    }
    if (!entry.isDirectory) return;
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries gives a directory's entries in batches, an empty one at the end.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
    }
  };
  return (async () => {
    for (const entry of entries) await walk(entry, '');
    return out;
  })();
}
