// A WASI 0.2 component in C with no libc: every import and export below is
// spelled out in the canonical ABI by hand (see world.wit). Built with
// clang --target=wasm32 -nostdlib, then `jco embed` and `jco new`.
#include <stddef.h>
#include <stdint.h>

#define IMPORT(mod, name) __attribute__((import_module(mod), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

// --- memory: a bump allocator; each call gets a fresh instance -------------

extern unsigned char __heap_base;
static uintptr_t heap_top;

static void *bump(size_t align, size_t size) {
  if (heap_top == 0) heap_top = (uintptr_t)&__heap_base;
  uintptr_t p = (heap_top + align - 1) & ~(uintptr_t)(align - 1);
  uintptr_t end = p + size;
  size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) __builtin_trap();
  }
  heap_top = end;
  return (void *)p;
}

static void copy(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
}

EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  if (new_size <= old_size && old) return old;
  void *p = bump(align, new_size);
  if (old && old_size) copy(p, old, old_size < new_size ? old_size : new_size);
  return p;
}

// --- imports ----------------------------------------------------------------

typedef struct {
  const char *ptr;
  size_t len;
} str_t;

typedef struct {
  str_t key, value;
} pair_t;

// get-environment: func() -> list<tuple<string, string>>
IMPORT("wasi:cli/environment@0.2.12", "get-environment")
void wasi_get_environment(void *ret /* {pair_t *ptr; size_t len} */);

// get-stdout: func() -> output-stream
IMPORT("wasi:cli/stdout@0.2.12", "get-stdout")
int32_t wasi_get_stdout(void);

// [method]output-stream.blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>
IMPORT("wasi:io/streams@0.2.12", "[method]output-stream.blocking-write-and-flush")
void wasi_blocking_write_and_flush(int32_t self, const void *ptr, size_t len, void *ret);

IMPORT("wasi:io/streams@0.2.12", "[resource-drop]output-stream")
void wasi_drop_output_stream(int32_t self);

IMPORT("wasi:io/error@0.2.12", "[resource-drop]error")
void wasi_drop_error(int32_t self);

// get: func(key: string) -> result<option<string>, error>
IMPORT("wasi:config/store@0.2.0-rc.1", "get")
void wasi_config_get(const char *ptr, size_t len, void *ret);

// --- exports ----------------------------------------------------------------

static int str_eq(str_t a, const char *b, size_t blen) {
  if (a.len != blen) return 0;
  for (size_t i = 0; i < blen; i++)
    if (a.ptr[i] != b[i]) return 0;
  return 1;
}

// option<string>: tag u8 at 0, string at 4 (ptr) and 8 (len).
static struct {
  uint8_t tag;
  str_t s;
} option_ret;

EXPORT("get-env")
void *get_env(const char *key, size_t key_len) {
  struct {
    pair_t *ptr;
    size_t len;
  } env;
  wasi_get_environment(&env);
  option_ret.tag = 0;
  for (size_t i = 0; i < env.len; i++) {
    if (str_eq(env.ptr[i].key, key, key_len)) {
      option_ret.tag = 1;
      option_ret.s = env.ptr[i].value;
      break;
    }
  }
  return &option_ret;
}

// result<option<string>, string>: tag u8 at 0; ok: option tag u8 at 4, string
// at 8 and 12; err: string at 4 and 8.
static uint32_t result_ret[4];

EXPORT("get-config")
void *get_config(const char *key, size_t key_len) {
  // result<option<string>, error>: tag at 0; payload at 4: option tag or
  // error-variant tag at 4, string at 8 and 12.
  uint32_t got[4];
  wasi_config_get(key, key_len, got);
  uint8_t *r = (uint8_t *)result_ret;
  if ((got[0] & 0xff) == 0) {
    r[0] = 0;
    result_ret[1] = got[1] & 0xff;
    result_ret[2] = got[2];
    result_ret[3] = got[3];
  } else {
    // err: the error's message (upstream or io) as the string
    r[0] = 1;
    result_ret[1] = got[2];
    result_ret[2] = got[3];
  }
  return result_ret;
}

static uint32_t write_all(int32_t out, const char *p, size_t n) {
  uint32_t written = 0;
  while (n > 0) {
    size_t chunk = n < 4096 ? n : 4096;  // blocking-write-and-flush takes at most 4096
    uint32_t ret[3];  // result<_, stream-error>: tag at 0; error tag at 4, handle at 8
    wasi_blocking_write_and_flush(out, p, chunk, ret);
    if ((ret[0] & 0xff) != 0) {
      // stream-error: last-operation-failed(own<error>) = 0, closed = 1
      if ((ret[1] & 0xff) == 0) wasi_drop_error((int32_t)ret[2]);
      break;
    }
    p += chunk;
    n -= chunk;
    written += chunk;
  }
  return written;
}

EXPORT("say")
uint32_t say(const char *text, size_t len) {
  int32_t out = wasi_get_stdout();
  uint32_t n = write_all(out, text, len);
  n += write_all(out, "\n", 1);
  wasi_drop_output_stream(out);
  return n;
}
