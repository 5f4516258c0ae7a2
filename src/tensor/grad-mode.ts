// Whether ops record the autograd tape (off inside noGrad).
let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

function withMode<T>(on: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = on;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Runs fn without recording gradients (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  return withMode(false, fn);
}

/** Runs fn with gradient recording on (recomputation inside a backward pass). */
export function withGrad<T>(fn: () => T): T {
  return withMode(true, fn);
}
