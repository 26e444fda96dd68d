import type { ActivatedRouteSnapshot, Routes } from '@angular/router';

const titled = (name: (route: ActivatedRouteSnapshot) => string) => (route: ActivatedRouteSnapshot) => `${name(route)} · event-pause`;

/** One page per flow, one per key; the route parameters arrive as the components' inputs. */
export const routes: Routes = [
  {
    path: '',
    title: 'Flows · event-pause',
    loadComponent: () => import('./features/flows/flows-page.component').then((m) => m.FlowsPageComponent),
  },
  {
    path: 'flows/:flowId',
    title: titled((route) => `Flow ${route.paramMap.get('flowId') ?? ''}`),
    loadComponent: () => import('./features/flow/flow-page.component').then((m) => m.FlowPageComponent),
  },
  {
    path: 'flows/:flowId/search',
    title: titled((route) => `Find keys in ${route.paramMap.get('flowId') ?? ''}`),
    loadComponent: () => import('./features/search/key-search-page.component').then((m) => m.KeySearchPageComponent),
  },
  {
    path: 'flows/:flowId/dead-letters',
    title: titled((route) => `Dead letters of ${route.paramMap.get('flowId') ?? ''}`),
    loadComponent: () => import('./features/dead-letters/dead-letters-page.component').then((m) => m.DeadLettersPageComponent),
  },
  {
    path: 'flows/:flowId/keys/:key',
    title: titled((route) => `Key ${route.paramMap.get('key') ?? ''} of ${route.paramMap.get('flowId') ?? ''}`),
    loadComponent: () => import('./features/key/key-page.component').then((m) => m.KeyPageComponent),
  },
  {
    path: 'settings',
    title: 'Settings · event-pause',
    loadComponent: () => import('./features/settings/settings-page.component').then((m) => m.SettingsPageComponent),
  },
  {
    path: '**',
    title: 'Not found · event-pause',
    loadComponent: () => import('./features/not-found/not-found-page.component').then((m) => m.NotFoundPageComponent),
  },
];
