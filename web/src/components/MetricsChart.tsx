import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { onMetrics, samples } from '../metrics-history';

/** Live CPU / memory / GPU history of one node from metricsUpdated; a null metric is a gap, never an error. */
export function MetricsChart({ nodeId, label }: { nodeId: string; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const data = (): uPlot.AlignedData => {
      const s = samples(nodeId);
      return [s.map((x) => x.t), s.map((x) => x.cpu), s.map((x) => x.mem), s.map((x) => x.gpu)];
    };
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--fg').trim() || '#888';
    const axis = { stroke: fg, grid: { stroke: 'rgba(128,128,128,0.2)' }, ticks: { stroke: 'rgba(128,128,128,0.3)' } };
    const plot = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height: 140,
        scales: { y: { range: [0, 100] } },
        axes: [axis, { ...axis, values: (_u, v) => v.map((x) => `${x}%`) }],
        series: [
          {},
          { label: 'CPU %', stroke: '#3b82f6', spanGaps: false },
          { label: 'Memory %', stroke: '#f59e0b', spanGaps: false },
          { label: 'GPU %', stroke: '#10b981', spanGaps: false },
        ],
        legend: { show: true },
      },
      data(),
      el,
    );
    const off = onMetrics((id) => {
      if (id === nodeId) plot.setData(data());
    });
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(240, el.clientWidth), height: 140 }));
    resize.observe(el);
    return () => {
      off();
      resize.disconnect();
      plot.destroy();
    };
  }, [nodeId]);
  return <div ref={box} className="chart" role="img" aria-label={`Load history of ${label}`} />;
}
