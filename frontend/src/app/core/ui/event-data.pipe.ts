import { Pipe, type PipeTransform } from '@angular/core';

/** An event's `data` as text: strings as they are, anything else as JSON. */
@Pipe({ name: 'eventData' })
export class EventDataPipe implements PipeTransform {
  transform(value: unknown): string {
    if (value === null || value === undefined) return '—';
    return typeof value === 'string' ? value : JSON.stringify(value);
  }
}
