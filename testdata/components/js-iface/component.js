// Exports the interface `time` (see world.wit) rather than bare functions.
export const time = {
  getCurrentTime() {
    return new Date().toISOString();
  },
  greet(name) {
    return `Hello, ${name}!`;
  },
  add(a, b) {
    return (a + b) | 0;
  },
};
