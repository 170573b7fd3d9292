/**
 * What a dashboard panel draws into: the page's elements by data-testid (dashboard.html). The
 * page passes its own; a test passes the same over a parsed copy of dashboard.html.
 */

export interface PanelElements {
  byTestId<T extends Element = HTMLElement>(id: string): T;
  /** Sets an element's text, leaving it alone when it is already that text. */
  setText(id: string, text: string): void;
}
