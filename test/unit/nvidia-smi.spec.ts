import { describe, expect, it } from '@jest/globals';
import { MetricsCollector, parseNvidiaSmi } from '../../src/agent/metrics.collector.js';

describe('GPU metrics', () => {
  it('reads nvidia-smi CSV (MiB, percent) into bytes and utilisation', () => {
    const gpus = parseNvidiaSmi('NVIDIA H100 80GB HBM3, 81559, 1024, 37\nNVIDIA H100 80GB HBM3, 81559, 0, [N/A]\n');
    expect(gpus).toEqual([
      {
        name: 'NVIDIA H100 80GB HBM3',
        vramTotalBytes: 81559 * 1024 * 1024,
        vramUsedBytes: 1024 * 1024 * 1024,
        utilization: 37,
      },
      { name: 'NVIDIA H100 80GB HBM3', vramTotalBytes: 81559 * 1024 * 1024, vramUsedBytes: 0, utilization: null },
    ]);
  });

  it('counts VRAM reported by llama.cpp where nvidia-smi is absent, and RAM on a CPU-only node', async () => {
    const gpu = new MetricsCollector(undefined, async () => ({
      names: ['Apple M3'],
      totalBytes: 32e9,
      usedBytes: 4e9,
    }));
    const capacity = await gpu.capacity();
    expect(capacity).toMatchObject({
      vramTotalBytes: 32e9,
      memoryBytes: 32e9,
      gpus: [{ name: 'Apple M3', vramTotalBytes: 32e9 }],
    });
    const metrics = await gpu.metrics();
    expect(metrics).toMatchObject({ vramUsedBytes: 4e9, vramTotalBytes: 32e9, gpuUsage: null });

    const cpu = new MetricsCollector(undefined, async () => null);
    const cpuCapacity = await cpu.capacity();
    expect(cpuCapacity.gpus).toEqual([]);
    expect(cpuCapacity.memoryBytes).toBe(cpuCapacity.ramTotalBytes);
    await expect(new MetricsCollector(1234).capacity()).resolves.toMatchObject({ memoryBytes: 1234 });
  });
});
