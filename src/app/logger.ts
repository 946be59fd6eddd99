import { type Logger, pino } from 'pino';

// Logs go to stderr so that stdout stays for what the user asked for (tables, --json).
export function makeLogger(defaultLevel = 'warn'): Logger {
  return pino({ level: process.env.LOG_LEVEL ?? defaultLevel, base: undefined }, pino.destination(2));
}
