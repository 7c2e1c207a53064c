// A time-series chart drawn with uPlot (canvas). Colours come from the
// theme's CSS variables and the chart is rebuilt when the theme changes, so
// it reads in light and dark. uPlot sets sizes through element.style (the
// CSSOM), which the panel's CSP (`style-src 'self'`) allows; its stylesheet
// is bundled like ours. The canvas is an image to assistive technology with
// a text summary; the pages show the same numbers in tables.
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  /** One value per time; null draws a gap. */
  values: (number | null)[];
  /** A CSS variable of the theme, e.g. `--danger`. */
  color: string;
  /** Legend text of one value (default: the number). */
  format?: (v: number) => string;
}

export interface TimeChartProps {
  title: string;
  /** Unix seconds, ascending. */
  times: number[];
  series: ChartSeries[];
  /** Stack the series (each band on top of the ones before it, filled). */
  stacked?: boolean;
  /** Axis label of the values, e.g. "ms". */
  unit?: string;
  /** Text alternative of the chart. */
  summary: string;
  height?: number;
  className?: string;
  testId?: string;
}

function cssVar(name: string, fallback: string): string {
  if (typeof document === "undefined") return fallback;
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** `#rrggbb` with an alpha, for area fills; other colour syntaxes unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Running sums of the series (nulls count as 0), for a stacked chart. */
export function stack(values: (number | null)[][]): number[][] {
  const out: number[][] = [];
  values.forEach((vs, i) => {
    out.push(vs.map((v, j) => (v ?? 0) + (i > 0 ? out[i - 1][j] : 0)));
  });
  return out;
}

/** Indexes of values with no value on either side (drawn as dots: a line needs two points). */
export function isolated(values: (number | null | undefined)[]): number[] {
  const out: number[] = [];
  values.forEach((v, i) => {
    if (v != null && values[i - 1] == null && values[i + 1] == null) out.push(i);
  });
  return out;
}

/** Re-renders when the theme changes (explicit choice or the system's). */
function useThemeTick(): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((t) => t + 1);
    const mo = typeof MutationObserver !== "undefined" ? new MutationObserver(bump) : null;
    mo?.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    const mq = typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;
    mq?.addEventListener?.("change", bump);
    return () => {
      mo?.disconnect();
      mq?.removeEventListener?.("change", bump);
    };
  }, []);
  return tick;
}

export function TimeChart({ title, times, series, stacked = false, unit, summary, height = 220, className, testId }: TimeChartProps) {
  const plotRef = useRef<HTMLDivElement>(null);
  const theme = useThemeTick();

  useEffect(() => {
    const el = plotRef.current;
    if (!el) return;
    const text = cssVar("--text-muted", "#5c6979");
    const grid = cssVar("--border", "#dde3ea");
    const colors = series.map((s) => cssVar(s.color, "#2f5bd3"));
    const ys = stacked ? stack(series.map((s) => s.values)) : series.map((s) => s.values);
    const fmt = (s: ChartSeries, v: number | null | undefined) => (v == null ? "—" : s.format ? s.format(v) : String(v));
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 300),
      height,
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        {
          stroke: text,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          label: unit,
          labelSize: unit ? 18 : 0,
          size: 56,
        },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: colors[i],
          width: 1.5,
          // A value between two gaps (one busy minute in a quiet day) has no line: mark it with a dot.
          points: { show: true, size: 5, fill: colors[i], filter: (u: uPlot, si: number) => isolated(u.data[si] as (number | null | undefined)[]) },
          fill: stacked && i === 0 ? withAlpha(colors[i], 0.35) : undefined,
          // Stacked: the legend shows the series' own value, not the running sum.
          value: (_u: uPlot, v: number | null, _si: number, idx: number | null) => fmt(s, stacked && idx != null ? s.values[idx] : v),
        })),
      ],
      bands: stacked ? series.slice(1).map((_, k) => ({ series: [k + 2, k + 1] as [number, number], fill: withAlpha(colors[k + 1], 0.35) })) : undefined,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
    };
    const chart = new uPlot(opts, [times, ...ys] as uPlot.AlignedData, el);
    const ro =
      typeof ResizeObserver !== "undefined"
        ? new ResizeObserver(() => {
            const w = Math.max(el.clientWidth, 300);
            if (w !== chart.width) chart.setSize({ width: w, height });
          })
        : null;
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      chart.destroy();
    };
  }, [times, series, stacked, unit, height, theme]);

  const total = series.reduce((sum, s) => sum + s.values.reduce<number>((a, v) => a + (v ?? 0), 0), 0);
  return (
    <figure className={`chart${className ? ` ${className}` : ""}`} data-testid={testId} data-points={times.length} data-total={total}>
      <figcaption>{title}</figcaption>
      <div ref={plotRef} className="chart-plot" role="img" aria-label={summary} />
    </figure>
  );
}
