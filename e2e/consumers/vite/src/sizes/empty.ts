/** Size entry (sizes/empty/index.html): a page with no petfl at all, what Vite adds to any page. */
Object.assign(globalThis, { empty: true });
