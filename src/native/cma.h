/*
 * Single copy between ranks of a host (Linux's cross-memory attach): a rank reads a peer's buffer straight into
 * its own with process_vm_readv, one copy by the kernel instead of two through shared memory. Included by
 * tsrun.c; transport/shm/host-broadcast.ts uses it for host broadcasts.
 */

/* addressOf(view): the address of a TypedArray's first byte in this process (user addresses fit a double). */
static napi_value js_address_of(napi_env env, napi_callback_info info) {
  size_t argc = 1, n, off;
  napi_value argv[1], ab, out;
  int t;
  void *p;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < 1 || napi_get_typedarray_info(env, argv[0], &t, &n, &p, &ab, &off)) {
    napi_throw_error(env, "TSRUN_NATIVE", "addressOf(view) needs a TypedArray");
    return NULL;
  }
  napi_create_double(env, (double)(uintptr_t)p, &out);
  return out;
}

/* cmaRead(pid, address, dst): dst.byteLength bytes at `address` in process `pid` copied into dst, in one copy by
   the kernel. The bytes copied, or -errno (EPERM: not permitted here; ESRCH: the process is gone). */
static napi_value js_cma_read(napi_env env, napi_callback_info info) {
  size_t argc = 3, n, off;
  napi_value argv[3], ab, out;
  int32_t pid;
  double addr;
  int t;
  void *p;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) || argc < 3 || napi_get_value_int32(env, argv[0], &pid) ||
      napi_get_value_double(env, argv[1], &addr) || napi_get_typedarray_info(env, argv[2], &t, &n, &p, &ab, &off) || addr < 0) {
    napi_throw_error(env, "TSRUN_NATIVE", "cmaRead(pid, address, dst) needs a pid, an address and a TypedArray");
    return NULL;
  }
  size_t bytes = n * (t == 0 || t == 1 || t == 2 ? 1 : t <= 4 ? 2 : t <= 7 ? 4 : 8);
  if (t == 11) bytes = n * 2; /* Float16Array, where Node has it */
  size_t done = 0;
  while (done < bytes) {
    struct iovec local = {(char *)p + done, bytes - done}, remote = {(void *)((uintptr_t)addr + done), bytes - done};
    ssize_t r = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      napi_create_int32(env, r < 0 ? -errno : -EFAULT, &out);
      return out;
    }
    done += (size_t)r;
  }
  napi_create_int32(env, (int32_t)done, &out);
  return out;
}

/* singleCopyProbe(): 1 if peers of this user may read this process with cmaRead, else 0. Where Yama lets a
   process be read only by its ancestors (ptrace_scope 1, common on Ubuntu), this process allows any process of
   its user, as Open MPI's CMA component does (PR_SET_PTRACER_ANY); scopes 2 and 3 forbid it. A read of this
   process's own memory checks that the system call is not filtered (seccomp in containers). */
static napi_value js_single_copy_probe(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  int ok = 1;
  char scope = '0';
  int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, &scope, 1) != 1) scope = '0';
    close(fd);
  }
  if (scope == '1') ok = prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0) == 0;
  else if (scope != '0') ok = 0;
  if (ok) {
    char a[64] = {1}, b[64] = {0};
    struct iovec local = {b, sizeof b}, remote = {a, sizeof a};
    ok = process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)sizeof a && b[0] == 1;
  }
  napi_create_int32(env, ok, &out);
  return out;
}
