import { ChangeDetectionStrategy, Component } from '@angular/core';
import { RouterLink } from '@angular/router';

@Component({
  selector: 'ep-not-found-page',
  imports: [RouterLink],
  template: `
    <h1>Page not found</h1>
    <p>The dashboard has no page at this address. <a routerLink="/">See the flows</a>.</p>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class NotFoundPageComponent {}
