import { ChangeDetectionStrategy, Component, DestroyRef, ElementRef, afterNextRender, computed, effect, inject, viewChildren } from '@angular/core';
import uPlot from 'uplot';
import type { HistoryPoint } from '../../core/api/models';
import { FlowMetricsStore } from '../../core/state/flow-metrics.store';

interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly series: ReadonlyArray<{ readonly label: string; readonly color: string; readonly pick: (point: HistoryPoint) => number }>;
}

/** The charts, each of one or two series over the last 15 minutes. */
const CHARTS: readonly ChartSpec[] = [
  {
    id: 'rates',
    title: 'Events per second',
    series: [
      { label: 'in', color: '#2563eb', pick: (p) => p.inPerSec },
      { label: 'out', color: '#16a34a', pick: (p) => p.outPerSec },
    ],
  },
  { id: 'buffered', title: 'Buffered events', series: [{ label: 'buffered', color: '#d97706', pick: (p) => p.bufferedEvents }] },
  {
    id: 'drain',
    title: 'Drained and dead-lettered per second',
    series: [
      { label: 'drained', color: '#0891b2', pick: (p) => p.drainedPerSec },
      { label: 'dead letters', color: '#dc2626', pick: (p) => p.deadLetteredPerSec },
    ],
  },
  { id: 'lag', title: 'Consumer lag', series: [{ label: 'lag', color: '#7c3aed', pick: (p) => p.consumerLag }] },
];

const HEIGHT = 160;

/**
 * Line charts of a flow over the last 15 minutes (uPlot: a few kB, canvas, fast with thousands
 * of points, no framework wrapper needed). Fed by FlowMetricsStore.
 */
@Component({
  selector: 'ep-flow-charts',
  template: `
    <div class="charts" data-testid="charts">
      @for (chart of charts; track chart.id) {
        <figure class="chart" [attr.data-testid]="'chart-' + chart.id">
          <figcaption>
            {{ chart.title }}
            @if (latest()[chart.id]; as now) {
              <span class="muted small latest" [attr.data-testid]="'chart-' + chart.id + '-latest'" title="The newest point">{{ now }}</span>
            }
          </figcaption>
          <div #plot class="plot" [attr.data-chart]="chart.id"></div>
        </figure>
      }
    </div>
    @if (!metrics.loaded()) {
      <p class="muted small">{{ metrics.error() ? 'Figures unavailable: ' + metrics.error() : 'Loading figures…' }}</p>
    } @else if (metrics.points().length === 0) {
      <p class="muted small" data-testid="charts-empty">The first points appear within {{ metrics.intervalMs() / 1000 }} s.</p>
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class FlowChartsComponent {
  protected readonly metrics = inject(FlowMetricsStore);
  protected readonly charts = CHARTS;
  private readonly plots = viewChildren<ElementRef<HTMLDivElement>>('plot');
  readonly #made = new Map<string, uPlot>();
  /** The newest point of each chart, in words ("in 12.4/s · out 12.4/s"), beside its title. */
  protected readonly latest = computed<Record<string, string>>(() => {
    const point = this.metrics.points().at(-1);
    if (point === undefined) return {};
    const figure = (value: number): string => (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 1 }));
    return Object.fromEntries(CHARTS.map((spec) => [spec.id, spec.series.map((series) => `${series.label} ${figure(series.pick(point))}`).join(' · ')]));
  });

  constructor() {
    let observer: ResizeObserver | undefined;
    afterNextRender(() => {
      observer = new ResizeObserver(() => this.#resize());
      for (const plot of this.plots()) observer.observe(plot.nativeElement);
    });
    effect(() => {
      const points = this.metrics.points();
      const plots = this.plots();
      this.#draw(points, plots);
    });
    inject(DestroyRef).onDestroy(() => {
      observer?.disconnect();
      for (const chart of this.#made.values()) chart.destroy();
      this.#made.clear();
    });
  }

  #draw(points: readonly HistoryPoint[], plots: ReadonlyArray<ElementRef<HTMLDivElement>>): void {
    const xs = points.map((p) => p.t / 1000);
    for (const spec of CHARTS) {
      const element = plots.find((plot) => plot.nativeElement.dataset['chart'] === spec.id)?.nativeElement;
      if (element === undefined) continue;
      const data: uPlot.AlignedData = [xs, ...spec.series.map((series) => points.map(series.pick))];
      const existing = this.#made.get(spec.id);
      if (existing !== undefined) {
        existing.setData(data);
        continue;
      }
      const options: uPlot.Options = {
        width: Math.max(200, element.clientWidth),
        height: HEIGHT,
        series: [{}, ...spec.series.map((series) => ({ label: series.label, stroke: series.color, width: 2, points: { show: false } }))],
        scales: { x: { time: true } },
        axes: [{}, { size: 60 }],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      };
      this.#made.set(spec.id, new uPlot(options, data, element));
    }
  }

  #resize(): void {
    for (const plot of this.plots()) {
      const chart = this.#made.get(plot.nativeElement.dataset['chart'] ?? '');
      const width = Math.max(200, plot.nativeElement.clientWidth);
      if (chart !== undefined && chart.width !== width) chart.setSize({ width, height: HEIGHT });
    }
  }
}
