import type { HttpInterceptorFn } from '@angular/common/http';
import { inject } from '@angular/core';
import { SettingsStore } from '../state/settings.store';

/** Adds the operator's bearer token, when one is set, to requests for the event-pause API. */
export const authInterceptor: HttpInterceptorFn = (request, next) => {
  const settings = inject(SettingsStore);
  const token = settings.token();
  const base = settings.apiBase();
  const toApi = base === '' ? !/^[a-z]+:\/\//i.test(request.url) : request.url.startsWith(base);
  if (token === '' || !toApi) return next(request);
  return next(request.clone({ setHeaders: { Authorization: `Bearer ${token}` } }));
};
