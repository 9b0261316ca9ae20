export enum RepairStatus {
  IDLE = 'IDLE',
  IN_PROGRESS = 'IN_PROGRESS',
  SUCCESS = 'SUCCESS',
  FAILED = 'FAILED',
}

/** What started a repair. */
export enum RepairTrigger {
  REQUEST = 'REQUEST',
  STARTUP = 'STARTUP',
  SWEEP = 'SWEEP',
  VERIFY = 'VERIFY',
  MANUAL = 'MANUAL',
}
