// Reads a key through wasi:cli/environment and through wasi:config/store, and
// returns what it saw. A store error traps the call.
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import { get, getAll } from 'wasi:config/store@0.2.0-draft';

export function getEnv(key) {
  for (const [k, v] of getEnvironment()) {
    if (k === key) return v;
  }
  return undefined;
}

export function getConfig(key) {
  return get(key);
}

export function listEnv() {
  return getEnvironment();
}

export function listConfig() {
  return getAll();
}
