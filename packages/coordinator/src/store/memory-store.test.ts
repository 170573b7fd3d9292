import { coordinatorStoreConformance } from '../../test-support/coordinator-store.conformance.ts';
import { MemoryCoordinatorStore } from './memory-store.ts';

coordinatorStoreConformance('MemoryCoordinatorStore', async () => {
  const store = new MemoryCoordinatorStore();
  // The memory store's data lives in the instance: reopening is handing back the same one.
  return { store, reopen: async () => store, cleanup: () => store.close() };
});
