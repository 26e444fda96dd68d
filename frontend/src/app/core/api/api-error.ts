import { HttpErrorResponse } from '@angular/common/http';
import type { ErrorBody } from './models';

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/** A sentence an operator can act on, from whatever a request failed with. */
export function describeError(error: unknown): string {
  if (error instanceof HttpErrorResponse) {
    if (error.status === 0) return `the API does not answer (${error.url ?? 'no URL'})`;
    const hint = error.status === 401 ? '. Set the API token under Settings.' : '';
    if (isErrorBody(error.error)) return `${error.error.message} (${error.status} ${error.error.code})${hint}`;
    return `${error.status} ${error.statusText || 'error'} from ${error.url ?? 'the API'}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
