// User-facing errors: printed as one clear line with a non-zero exit, never a stack trace.
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
