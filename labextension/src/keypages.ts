// The pages of keys the sidebar has loaded, and how a page fetched again merges into them.
//
// Pages come from `GET api-keys?limit=&cursor=` (newest first, keyset cursors: a key that
// exists throughout is on exactly one page). A live update fetches again only the pages in
// view (and the first, where new keys appear); `refreshPage` splices such a page in, so that
// no key is shown twice and none between two pages goes missing.
import { IApiKey, IKeyPage } from './api';

export interface IPage {
  /** The cursor this page was fetched with (null: the first page). */
  cursor: string | null;
  keys: IApiKey[];
}

export interface IPages {
  pages: IPage[];
  /** The cursor of the page after the last one loaded, or null when all are loaded. */
  next: string | null;
  /** How many keys match (the whole account without a search). */
  total: number;
}

export const NO_PAGES: IPages = { pages: [], next: null, total: 0 };

/** Every loaded key in list order, each once (the first occurrence wins). */
export function flatten(state: IPages): IApiKey[] {
  const seen = new Set<string>();
  const keys: IApiKey[] = [];
  for (const page of state.pages) {
    for (const key of page.keys) {
      if (!seen.has(key.id)) {
        seen.add(key.id);
        keys.push(key);
      }
    }
  }
  return keys;
}

/** The state after the first page (a new load, or a new search). */
export function firstPage(page: IKeyPage): IPages {
  return { pages: [{ cursor: null, keys: page.keys }], next: page.next, total: page.total };
}

/** The state after the next page, fetched with `cursor` (ignored if that is no longer next). */
export function appendPage(state: IPages, cursor: string, page: IKeyPage): IPages {
  if (state.next !== cursor) {
    return state;
  }
  return {
    pages: [...state.pages, { cursor, keys: page.keys }],
    next: page.next,
    total: page.total
  };
}

/**
 * The state after page `index` was fetched again (with its own cursor and a limit a little
 * above its size). The fresh list is cut where a key of a later page begins; if none does,
 * the later pages are dropped and loading goes on from the fresh page's `next`.
 */
export function refreshPage(
  state: IPages,
  index: number,
  cursor: string | null,
  fresh: IKeyPage
): IPages {
  const old = state.pages[index];
  if (!old || old.cursor !== cursor) {
    return state; // the pages changed meanwhile (a new search, an earlier refresh)
  }
  const later = new Set(state.pages.slice(index + 1).flatMap(page => page.keys.map(key => key.id)));
  const cut = fresh.keys.findIndex(key => later.has(key.id));
  const pages = state.pages.slice();
  if (cut >= 0) {
    pages[index] = { cursor, keys: fresh.keys.slice(0, cut) };
    return { pages, next: state.next, total: fresh.total };
  }
  pages.splice(index, pages.length - index, { cursor, keys: fresh.keys });
  return { pages, next: fresh.next, total: fresh.total };
}

/** The page that holds the `position`-th key of `flatten(state)`. */
export function pageAt(state: IPages, position: number): number {
  let seen = 0;
  for (let i = 0; i < state.pages.length; i++) {
    seen += state.pages[i].keys.length;
    if (position < seen) {
      return i;
    }
  }
  return Math.max(0, state.pages.length - 1);
}

/** A key just created, first. */
export function addFirst(state: IPages, key: IApiKey): IPages {
  const pages = state.pages.length ? state.pages.slice() : [{ cursor: null, keys: [] }];
  const known = pages.some(page => page.keys.some(item => item.id === key.id));
  pages[0] = { ...pages[0], keys: [key, ...pages[0].keys.filter(item => item.id !== key.id)] };
  return { ...state, pages, total: state.total + (known ? 0 : 1) };
}

/** A key's new state, where it is. */
export function updateKey(state: IPages, key: IApiKey): IPages {
  const pages = state.pages.map(page =>
    page.keys.some(item => item.id === key.id)
      ? { ...page, keys: page.keys.map(item => (item.id === key.id ? { ...item, ...key } : item)) }
      : page
  );
  return { ...state, pages };
}

/** A key revoked. */
export function removeKey(state: IPages, id: string): IPages {
  const known = state.pages.some(page => page.keys.some(item => item.id === id));
  if (!known) {
    return state;
  }
  const pages = state.pages.map(page => ({
    ...page,
    keys: page.keys.filter(item => item.id !== id)
  }));
  return { ...state, pages, total: Math.max(0, state.total - 1) };
}
