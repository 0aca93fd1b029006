/** The user's preferences (storage/preferences.ts) for a page: read from the extension's database, saved back to it. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { openStore, type StoreDB } from '../storage/db';
import { DEFAULT_PREFERENCES, loadPreferences, savePreferences, type Preferences } from '../storage/preferences';
import { asError } from './use-request';

let database: Promise<StoreDB> | undefined;
/** The page's connection to the extension's database, opened once. */
export function pageStore(): Promise<StoreDB> {
  database ??= openStore();
  return database;
}

export interface PreferencesControls {
  preferences: Preferences | undefined;
  error: Error | null;
  save(patch: Partial<Preferences>): Promise<Preferences>;
}

export function usePreferences(): PreferencesControls {
  const [preferences, setPreferences] = useState<Preferences>();
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    pageStore()
      .then(loadPreferences)
      .then(setPreferences, (e: unknown) => {
        // The page still works on the defaults; the error says why settings are not kept.
        setPreferences(DEFAULT_PREFERENCES);
        setError(asError(e));
      });
  }, []);
  const save = useCallback(async (patch: Partial<Preferences>) => {
    const next = await savePreferences(await pageStore(), patch);
    setPreferences(next);
    return next;
  }, []);
  return { preferences, error, save };
}
