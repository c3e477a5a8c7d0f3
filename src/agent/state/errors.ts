/** The agent's saved state cannot be used (a newer version, corrupt, the data dir locked): exit 2, nothing started. */
export class StateError extends Error {
  override name = 'StateError';
}
