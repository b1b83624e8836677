// A WASI preview1 reactor against wasi-libc. Its exports follow the canonical
// ABI of world.wit by hand; its WASI calls (getenv, printf, opendir) go through
// preview1, which the reactor adapter turns into WASI 0.2 imports.
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  (void)align;  // malloc's alignment (16) covers every canonical ABI alignment
  void *p = realloc(old, new_size ? new_size : 1);
  if (!p) abort();
  return p;
}

// A string parameter, copied out NUL-terminated.
static char *cstr(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) abort();
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

static struct {
  uint8_t tag;
  const char *ptr;
  size_t len;
} option_ret;

EXPORT("get-env")
void *get_env(const char *key, size_t key_len) {
  char *k = cstr(key, key_len);
  const char *v = getenv(k);
  free(k);
  option_ret.tag = v != NULL;
  option_ret.ptr = v;
  option_ret.len = v ? strlen(v) : 0;
  return &option_ret;
}

static struct {
  const char *ptr;
  size_t len;
} string_ret;

EXPORT("shout")
void *shout(const char *text, size_t len) {
  char *s = cstr(text, len);
  printf("shout: %s\n", s);
  fflush(stdout);
  for (size_t i = 0; i < len; i++)
    if (s[i] >= 'a' && s[i] <= 'z') s[i] -= 'a' - 'A';
  string_ret.ptr = s;
  string_ret.len = len;
  return &string_ret;
}

// result<u32, string>: tag u8 at 0; ok u32 at 4; err string at 4 and 8.
static uint32_t result_ret[3];

EXPORT("count-entries")
void *count_entries(const char *path, size_t len) {
  char *p = cstr(path, len);
  DIR *d = opendir(p);
  free(p);
  if (!d) {
    const char *msg = strerror(errno);
    ((uint8_t *)result_ret)[0] = 1;
    result_ret[1] = (uint32_t)(uintptr_t)msg;
    result_ret[2] = strlen(msg);
    return result_ret;
  }
  uint32_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  }
  closedir(d);
  ((uint8_t *)result_ret)[0] = 0;
  result_ret[1] = n;
  return result_ret;
}
