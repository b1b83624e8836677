// Three calls that a host must stop, and one that it must still serve after.

export function spin() {
  let n = 0;
  for (;;) n = (n + 1) | 0;
}

export function hog() {
  const kept = [];
  for (;;) kept.push(new Array(1 << 16).fill(kept.length));
}

export function flood() {
  const line = 'flood '.repeat(170) + '\n';
  for (;;) console.log(line);
}

export function ping() {
  return 'pong';
}
