/**
 * Whether an error means the store cannot be reached (Redis down, a command timed out, the
 * connection closed), as opposed to a bug or bad data. Such errors answer STORE_UNAVAILABLE.
 */
export function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  return /Command timed out|Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|connect ETIMEDOUT/i.test(
    err.message,
  );
}
