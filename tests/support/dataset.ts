/** The dataset `npm test` seeds its stack with (scripts/test.ts), and the tests read back. */
export const testDataset = {
  events: 3000,
  activity: 20000,
  missions: 3000,
  seed: 42,
  until: "2026-11-01T00:00:00Z",
};

/** The same dataset as arguments of scripts/seed.ts. */
export const testDatasetSeedArgs = Object.entries(testDataset)
  .flatMap(([name, value]) => [`--${name}`, String(value)]);
