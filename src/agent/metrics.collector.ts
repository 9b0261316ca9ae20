import { execFile } from 'node:child_process';
import { cpus, freemem, platform, totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { GpuInfo, NodeCapacity, NodeMetricsReport } from '../shared/agent-protocol.js';

const run = promisify(execFile);

interface GpuReading extends GpuInfo {
  vramUsedBytes: number;
  utilization: number | null;
}

/** Reads this machine's capacity and load: nvidia-smi where present, the OS for CPU and RAM. */
export class MetricsCollector {
  private lastCpu = cpuTimes();
  private nvidiaSmi: boolean | null = null;
  requestCount = 0;

  constructor(
    private readonly memoryOverride?: number,
    private readonly vramProbe?: VramProbe,
  ) {}

  async capacity(): Promise<NodeCapacity> {
    const gpus = await this.readGpus();
    const vramTotalBytes = gpus.reduce((sum, g) => sum + g.vramTotalBytes, 0);
    const ramTotalBytes = totalmem();
    return {
      gpus: gpus.map(({ name, vramTotalBytes: v }) => ({ name, vramTotalBytes: v })),
      vramTotalBytes,
      ramTotalBytes,
      cpuCount: cpus().length,
      platform: platform(),
      memoryBytes: this.memoryOverride ?? (vramTotalBytes > 0 ? vramTotalBytes : ramTotalBytes),
    };
  }

  async metrics(): Promise<NodeMetricsReport> {
    const gpus = await this.readGpus();
    const now = cpuTimes();
    const idle = now.idle - this.lastCpu.idle;
    const total = now.total - this.lastCpu.total;
    this.lastCpu = now;
    const usage = gpus.map((g) => g.utilization).filter((u): u is number => u !== null);
    return {
      gpuUsage: usage.length ? usage.reduce((a, b) => a + b, 0) / usage.length : null,
      vramUsedBytes: gpus.reduce((sum, g) => sum + g.vramUsedBytes, 0),
      vramTotalBytes: gpus.reduce((sum, g) => sum + g.vramTotalBytes, 0),
      cpuUsage: total > 0 ? Math.min(100, Math.max(0, (1 - idle / total) * 100)) : 0,
      ramUsedBytes: totalmem() - freemem(),
      ramTotalBytes: totalmem(),
      requestCount: this.requestCount,
    };
  }

  private async readGpus(): Promise<GpuReading[]> {
    const smi = await this.readNvidiaSmi();
    if (smi.length || !this.vramProbe) return smi;
    const vram = await this.vramProbe().catch(() => null);
    if (!vram || vram.totalBytes <= 0) return [];
    const name = vram.names.join(', ') || 'GPU';
    return [{ name, vramTotalBytes: vram.totalBytes, vramUsedBytes: vram.usedBytes, utilization: null }];
  }

  private async readNvidiaSmi(): Promise<GpuReading[]> {
    if (this.nvidiaSmi === false) return [];
    try {
      const { stdout } = await run(
        'nvidia-smi',
        ['--query-gpu=name,memory.total,memory.used,utilization.gpu', '--format=csv,noheader,nounits'],
        { timeout: 5000 },
      );
      this.nvidiaSmi = true;
      return parseNvidiaSmi(stdout);
    } catch {
      // No NVIDIA driver here (a CPU-only node is a valid node): stop asking.
      if (this.nvidiaSmi === null) this.nvidiaSmi = false;
      return [];
    }
  }
}

/** GPU memory from llama.cpp, for GPUs nvidia-smi does not see (Vulkan, Metal, CUDA without the tool). */
export type VramProbe = () => Promise<{ names: string[]; totalBytes: number; usedBytes: number } | null>;

export function parseNvidiaSmi(stdout: string): GpuReading[] {
  const MiB = 1024 * 1024;
  return stdout
    .split('\n')
    .map((line) => line.split(',').map((s) => s.trim()))
    .filter((cols) => cols.length >= 4 && cols[0])
    .map(([name, total, used, util]) => ({
      name: name!,
      vramTotalBytes: Math.round(Number(total) * MiB) || 0,
      vramUsedBytes: Math.round(Number(used) * MiB) || 0,
      utilization: Number.isFinite(Number(util)) ? Number(util) : null,
    }));
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const cpu of cpus()) {
    idle += cpu.times.idle;
    total += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.idle + cpu.times.irq;
  }
  return { idle, total };
}
