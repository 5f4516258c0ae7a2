// WhetError: a user-facing failure (bad file, bad flag, bad data) that the CLI prints as one line and a non-zero exit.
export class WhetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WhetError';
  }
}
