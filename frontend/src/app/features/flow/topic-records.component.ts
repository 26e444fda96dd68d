import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, input } from '@angular/core';
import { RouterLink } from '@angular/router';
import type { TopicRecord } from '../../core/api/models';
import { EventDataPipe } from '../../core/ui/event-data.pipe';

/** The latest records of a flow's input or output topic, newest first. */
@Component({
  selector: 'ep-topic-records',
  imports: [DatePipe, RouterLink, EventDataPipe],
  template: `
    <div class="table-wrap tall">
      <table>
        <thead>
          <tr>
            <th>Key</th>
            <th>Data</th>
            <th>Event time</th>
            <th>Event id</th>
            <th class="num">Partition · offset</th>
          </tr>
        </thead>
        <tbody>
          @for (record of newestFirst(); track record.partition + ':' + record.offset) {
            <tr>
              <td class="mono">
                @if (record.key !== null) {
                  <a [routerLink]="['/flows', flowId(), 'keys', record.key]">{{ record.key }}</a>
                } @else {
                  —
                }
              </td>
              <td class="data">{{ record.data | eventData }}</td>
              <td>{{ record.timestamp | date: 'HH:mm:ss.SSS' }}</td>
              <td class="mono small" [title]="record.eventId ?? ''">{{ record.eventId?.slice(0, 8) ?? '—' }}</td>
              <td class="num">{{ record.partition }} · {{ record.offset }}</td>
            </tr>
          } @empty {
            <tr>
              <td colspan="5" class="empty">No records yet.</td>
            </tr>
          }
        </tbody>
      </table>
    </div>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class TopicRecordsComponent {
  readonly flowId = input.required<string>();
  /** As the API gives them: newest last. */
  readonly records = input.required<readonly TopicRecord[]>();
  protected readonly newestFirst = computed(() => [...this.records()].reverse());
}
