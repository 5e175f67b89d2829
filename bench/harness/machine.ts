// The machine a run happened on, recorded with every result so numbers are never read without their context.
import os from 'node:os';
import { MACHINE_CORES } from './processes';
import type { Machine } from './results';

export function describeMachine(pinning: string): Machine {
  return {
    cores: MACHINE_CORES,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    pinning,
  };
}
