import { Pipe, type PipeTransform } from '@angular/core';

/** "12 s ago", "5 min ago", ...: pass the Clock's `now()` so that the text moves on. */
@Pipe({ name: 'ago' })
export class AgoPipe implements PipeTransform {
  transform(timestamp: number | null | undefined, now: number): string {
    if (timestamp === null || timestamp === undefined) return '—';
    const seconds = Math.max(0, Math.round((now - timestamp) / 1000));
    if (seconds < 5) return 'just now';
    if (seconds < 60) return `${seconds} s ago`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ago`;
    return `${Math.floor(hours / 24)} d ago`;
  }
}
