/* preload/javaframes.c, with a fake agent and a fake JDK: copies of a
 * loaded library at <tmp>/lib/server/libjvm.so and <tmp>/lib/libnio.so
 * stand for the JVM and one of its native-method libraries, an address in
 * no module for the code cache. The agent is asked only when the first JVM
 * frame past the JDK's libraries is code-cache code; its frames replace
 * every JVM frame from the first down, the native frames above stay; any
 * other stack is copied unchanged, without asking. */
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "javaframes.h"
#include "langframes.h"
#include "lframe.h"
#include "rawsys.h"
#include "real.h"
#include "stack.h"

int sockleak__java_register(int abi, sockleak_java_frames_fn fn);

/* The library's constructor is not linked into unit tests. */
void sl_init(void)
{
    sl_real_init();
}

static int fake_calls, fake_result = 3;

static int fake_frames(struct sockleak_java_frame *out, int max)
{
    static const struct sockleak_java_frame f[] = {
        {"sun.nio.ch.Net.connect0", "Net.java", 0},
        {"com.example.App.fetch", "App.java", 42},
        {"com.example.App.main", "App.java", 7},
    };
    fake_calls++;
    if (fake_result < 0)
        return fake_result;
    int n = fake_result < max ? fake_result : max;
    memcpy(out, f, (size_t)n * sizeof *out);
    return n;
}

static uintptr_t jvm_pc, nio_pc, code_pc, self_pc, tramp_pc;

static int find_cmocka(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (info->dlpi_name && strstr(info->dlpi_name, "libcmocka.so")) {
        snprintf(arg, PATH_MAX, "%s", info->dlpi_name);
        return 1;
    }
    return 0;
}

/* A copy of libcmocka at path, loaded: an address inside its code. */
static uintptr_t load_copy(const char *src, const char *path)
{
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, path);
    assert_int_equal(system(cmd), 0);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    void *f = dlsym(h, "_cmocka_run_group_tests");
    assert_non_null(f);
    return (uintptr_t)f + 1; /* a return address: just after a call */
}

/* libc's signal return trampoline (SL_SIGRETURN_CODE), found in its code
 * (none on aarch64: the kernel's is in the vDSO). */
static int find_tramp(struct dl_phdr_info *info, size_t size, void *arg)
{
    static const unsigned char tramp[] = SL_SIGRETURN_CODE;
    (void)size;
    (void)arg;
    const char *name = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    if (!name || strncmp(name + 1, "libc.so", 7) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        const void *lo = (const void *)(info->dlpi_addr + ph->p_vaddr);
        const void *p = memmem(lo, ph->p_memsz, tramp, sizeof tramp);
        if (p)
            tramp_pc = (uintptr_t)p;
    }
    return 1;
}

static int setup(void **state)
{
    (void)state;
    char cmocka[PATH_MAX] = "", dir[] = "/tmp/sl-javaframes-XXXXXX", path[PATH_MAX];
    dl_iterate_phdr(find_cmocka, cmocka);
    assert_true(cmocka[0]);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/lib/server", dir);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/lib/server/libjvm.so", dir);
    jvm_pc = load_copy(cmocka, path);
    snprintf(path, sizeof path, "%s/lib/libnio.so", dir);
    nio_pc = load_copy(cmocka, path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    void *code = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(code != MAP_FAILED);
    code_pc = (uintptr_t)code + 16;
    self_pc = (uintptr_t)&setup + 1;
    dl_iterate_phdr(find_tramp, NULL);
    assert_true(tramp_pc != 0 || !SL_SIGRETURN_IN_LIBC);
    return 0;
}

static void assert_java(uintptr_t pc, const char *fn, const char *file, int line)
{
    assert_true(SL_LFRAME_IS(pc));
    struct sl_lframe *f = sl_lframe_get(pc);
    assert_non_null(f);
    assert_int_equal(f->lang, SL_LANG_JAVA);
    assert_string_equal(f->function, fn);
    assert_string_equal(f->file, file);
    assert_int_equal(f->line, line);
}

static int splice(const uintptr_t *in, int n, uintptr_t *out, int max)
{
    int g = sl_guard_enter();
    int k = sl_lang_java.splice(in, n, out, max);
    sl_guard_leave(g);
    return k;
}

static void assert_copied(const uintptr_t *in, int n)
{
    uintptr_t out[16];
    int calls = fake_calls;
    assert_int_equal(splice(in, n, out, 16), n);
    assert_memory_equal(out, in, (size_t)n * sizeof *in);
    assert_int_equal(fake_calls, calls);
}

static void test_inactive_until_registered(void **state)
{
    (void)state;
    assert_false(sl_lang_java.owns(code_pc));
    assert_false(sl_lang_java.owns(jvm_pc));
    assert_int_equal(sockleak__java_register(SOCKLEAK_JAVA_ABI + 1, fake_frames), -1);
    assert_false(sl_lang_java.owns(code_pc));
    assert_int_equal(sockleak__java_register(SOCKLEAK_JAVA_ABI, fake_frames), 0);
    assert_true(sl_lang_java.init());
}

static void test_owns_the_jvm_its_libraries_and_the_code_cache(void **state)
{
    (void)state;
    assert_true(sl_lang_java.owns(jvm_pc));
    assert_true(sl_lang_java.owns(nio_pc));
    assert_true(sl_lang_java.owns(code_pc));
    assert_false(sl_lang_java.owns(self_pc));
    if (SL_SIGRETURN_IN_LIBC)
        assert_false(sl_lang_java.owns(tramp_pc));
    assert_false(sl_lang_java.owns(SL_LFRAME_TAG | 1)); /* another language's frame */
}

static void test_native_method_stack_gets_java_frames(void **state)
{
    (void)state;
    /* A JNI library of the program's, then libnio's native method, its
     * wrapper in the code cache, more Java, then the VM's call stub. */
    uintptr_t in[] = {self_pc, nio_pc, code_pc, code_pc + 64, jvm_pc, self_pc};
    uintptr_t out[16];
    int calls = fake_calls;
    int k = splice(in, 6, out, 16);
    assert_int_equal(fake_calls, calls + 1);
    assert_int_equal(k, 4);
    assert_int_equal(out[0], self_pc);
    assert_java(out[1], "sun.nio.ch.Net.connect0", "Net.java", 0);
    assert_java(out[2], "com.example.App.fetch", "App.java", 42);
    assert_java(out[3], "com.example.App.main", "App.java", 7);
    /* Again: the same frames (from the cache now). */
    uintptr_t again[16];
    assert_int_equal(splice(in, 6, again, 16), 4);
    assert_memory_equal(again, out, 4 * sizeof *out);
    /* Cut at max. */
    assert_int_equal(splice(in, 6, out, 2), 2);
    assert_int_equal(out[0], self_pc);
    assert_java(out[1], "sun.nio.ch.Net.connect0", "Net.java", 0);
}

static void test_other_stacks_are_copied_without_asking(void **state)
{
    (void)state;
    /* The VM's own code first (its attach listener): never asked. */
    uintptr_t vm[] = {jvm_pc, code_pc, self_pc};
    assert_copied(vm, 3);
    uintptr_t vm_after_jdk[] = {nio_pc, jvm_pc, code_pc};
    assert_copied(vm_after_jdk, 3);
    /* A signal frame before the code cache: the handler interrupted Java. */
    uintptr_t sig[] = {self_pc, tramp_pc, code_pc, jvm_pc};
    if (SL_SIGRETURN_IN_LIBC)
        assert_copied(sig, 4);
    /* No JVM frame at all, or no code-cache frame after the JDK's. */
    uintptr_t native[] = {self_pc, self_pc};
    assert_copied(native, 2);
    uintptr_t jdk_only[] = {nio_pc, self_pc};
    assert_copied(jdk_only, 2);
}

static void test_agent_refusing_gives_a_copy(void **state)
{
    (void)state;
    uintptr_t in[] = {nio_pc, code_pc, jvm_pc};
    uintptr_t out[16];
    fake_result = -1;
    int calls = fake_calls;
    assert_int_equal(splice(in, 3, out, 16), 3);
    assert_memory_equal(out, in, sizeof in);
    assert_int_equal(fake_calls, calls + 1);
    fake_result = 3;
    /* Unregistered: nothing is owned, nothing asked. */
    assert_int_equal(sockleak__java_register(SOCKLEAK_JAVA_ABI, NULL), 0);
    assert_false(sl_lang_java.owns(code_pc));
    assert_copied(in, 3);
    assert_int_equal(sockleak__java_register(SOCKLEAK_JAVA_ABI, fake_frames), 0);
}

int main(void)
{
    sl_real_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inactive_until_registered),
        cmocka_unit_test(test_owns_the_jvm_its_libraries_and_the_code_cache),
        cmocka_unit_test(test_native_method_stack_gets_java_frames),
        cmocka_unit_test(test_other_stacks_are_copied_without_asking),
        cmocka_unit_test(test_agent_refusing_gives_a_copy),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
