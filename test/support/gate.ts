/** A promise a test opens by hand: hold a handler inside its transaction until the test says go. */
export interface Gate {
  open: () => void;
  opened: Promise<void>;
}

const unopened = new Set<Gate>();

export function gate(): Gate {
  let resolve!: () => void;
  const opened = new Promise<void>((r) => (resolve = r));
  const g: Gate = {
    opened,
    open: () => {
      unopened.delete(g);
      resolve();
    },
  };
  unopened.add(g);
  return g;
}

/**
 * Open every gate a test left closed (it failed before opening it): call first in afterEach, so a
 * handler held in its transaction finishes and the cleanup (consumer disconnect, pool end) does not
 * wait for it until the hook times out.
 */
export function openAllGates(): void {
  for (const g of [...unopened]) g.open();
}
