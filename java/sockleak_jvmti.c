/* sockleak's JVMTI agent: names the Java frames of a captured stack.
 *
 *   java -agentpath:<libdir>/sockleak-java/libsockleak_jvmti.so ...
 *
 * (`sockleak run` adds it to JAVA_TOOL_OPTIONS.) Agent_OnLoad asks for two
 * capabilities only, can_get_line_numbers and can_get_source_file_name,
 * which slow nothing down, enables no event, and hands libsockleak.so the
 * function that reads the calling thread's Java frames
 * (preload/javaframes.h). Without the library in the process it does
 * nothing; it never fails the JVM's start.
 *
 * The function runs inside the library's hooks, on a Java thread running a
 * native method: GetStackTrace on the current thread, then each method's
 * class, name, source file, line table and (for a class of a jar, through
 * JNI calls to Java in a local frame) the jar, looked up once per jmethodID and
 * kept in a fixed table filled without locks (a thread that loses the race
 * to fill a slot uses the winner's entry). Names live in a static arena:
 * no malloc of ours, no JNI object kept (the local references are deleted
 * at once), and the memory JVMTI
 * returns is given back with Deallocate. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <jvmti.h>
#include "javaframes.h"

#define SJ_EXPORT __attribute__((visibility("default")))
#define SJ_MAX_FRAMES 256
#define SJ_SLOTS 16384u /* methods cached (a power of two) */
#define SJ_PROBES 64
#define SJ_ARENA (8u << 20) /* names and line tables */
#define SJ_NAME_MAX 512

struct sj_line {
    jlocation start;
    int line;
};

struct sj_method {
    jmethodID id;
    const void *target; /* sj_target(id) when looked up */
    const char *function;
    const char *file;
    int nlines;
    const struct sj_line *lines;
};

static JavaVM *sj_vm;
static jvmtiEnv *sj_jvmti;
static sockleak_java_register_fn sj_register;
static struct sj_method *_Atomic sj_table[SJ_SLOTS];
static char sj_arena[SJ_ARENA] __attribute__((aligned(16)));
static _Atomic size_t sj_used;

static void *sj_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    size_t at = atomic_fetch_add_explicit(&sj_used, n, memory_order_relaxed);
    if (at > SJ_ARENA || n > SJ_ARENA - at)
        return NULL;
    return sj_arena + at;
}

static void sj_free(void *p)
{
    if (p)
        (*sj_jvmti)->Deallocate(sj_jvmti, (unsigned char *)p);
}

/* "Lcom/example/App;" + "fetch" -> "com.example.App.fetch", cut to
 * SJ_NAME_MAX bytes. */
static size_t sj_function(char *out, const char *sig, const char *name)
{
    size_t k = 0;
    if (sig && sig[0] == 'L') {
        for (const char *p = sig + 1; *p && *p != ';' && k < SJ_NAME_MAX - 2; p++)
            out[k++] = *p == '/' ? '.' : *p;
        out[k++] = '.';
    }
    for (const char *p = name ? name : "?"; *p && k < SJ_NAME_MAX - 1; p++)
        out[k++] = *p;
    out[k] = '\0';
    return k;
}

/* The jar cls was loaded from (its protection domain's code source), into
 * out[0..max): "" for a class of the JDK, of a directory, or when it cannot
 * be told. Java code is called here (Class.getProtectionDomain,
 * ProtectionDomain.getCodeSource, CodeSource.getLocation, URL.getPath), so
 * only when the thread's innermost frame is a native method (native is
 * set: JNI may be called there) with no exception pending, in a local frame
 * popped before returning; once per method, as the rest. */
static void sj_jar(JNIEnv *jni, jclass cls, int native, char *out, size_t max)
{
    static const char *const chain[][3] = {
        {"java/lang/Class", "getProtectionDomain", "()Ljava/security/ProtectionDomain;"},
        {"java/security/ProtectionDomain", "getCodeSource", "()Ljava/security/CodeSource;"},
        {"java/security/CodeSource", "getLocation", "()Ljava/net/URL;"},
        {"java/net/URL", "getPath", "()Ljava/lang/String;"}};
    jobject o = cls;

    out[0] = '\0';
    if (!native || (*jni)->ExceptionCheck(jni) || (*jni)->PushLocalFrame(jni, 16) != 0)
        return;
    for (size_t i = 0; o && i < sizeof(chain) / sizeof(chain[0]); i++) {
        jclass k = (*jni)->FindClass(jni, chain[i][0]);
        jmethodID m = k ? (*jni)->GetMethodID(jni, k, chain[i][1], chain[i][2]) : NULL;
        o = m ? (*jni)->CallObjectMethod(jni, o, m) : NULL;
        if ((*jni)->ExceptionCheck(jni))
            o = NULL;
    }
    if (o) {
        const char *path = (*jni)->GetStringUTFChars(jni, (jstring)o, NULL);
        size_t n = path ? strlen(path) : 0;
        if (n > 4 && n < max && strcmp(path + n - 4, ".jar") == 0)
            memcpy(out, path, n + 1);
        if (path)
            (*jni)->ReleaseStringUTFChars(jni, (jstring)o, path);
    }
    if ((*jni)->ExceptionCheck(jni))
        (*jni)->ExceptionClear(jni);
    (*jni)->PopLocalFrame(jni, NULL);
}

/* A class of a jar has "<jar>!/<package dir>/<source file>" as its file
 * (the report tells library jars by where they are); the others keep the
 * bare source file name. */
static size_t sj_file(char *out, const char *jar, const char *sig, const char *src)
{
    size_t k = 0, slash = 0;

    if (!src)
        return 0;
    if (jar[0] && sig && sig[0] == 'L') {
        for (const char *p = jar; *p && k < SJ_NAME_MAX - 3; p++)
            out[k++] = *p;
        out[k++] = '!';
        out[k++] = '/';
        for (size_t i = 1; sig[i] && sig[i] != ';'; i++)
            if (sig[i] == '/')
                slash = i;
        for (size_t i = 1; i <= slash && k < SJ_NAME_MAX - 1; i++)
            out[k++] = sig[i];
    }
    for (const char *p = src; *p && k < SJ_NAME_MAX - 1; p++)
        out[k++] = *p;
    out[k] = '\0';
    return k;
}

/* A new entry for method id, in the arena; NULL when it is full. */
static struct sj_method *sj_build(JNIEnv *jni, jmethodID id, const void *target, int native)
{
    jvmtiEnv *t = sj_jvmti;
    char *name = NULL, *sig = NULL, *src = NULL;
    jclass cls = NULL;
    jint nl = 0;
    jvmtiLineNumberEntry *lt = NULL;
    char fn[SJ_NAME_MAX], jar[SJ_NAME_MAX] = "", file[SJ_NAME_MAX];

    if ((*t)->GetMethodName(t, id, &name, NULL, NULL) != JVMTI_ERROR_NONE)
        name = NULL;
    if ((*t)->GetMethodDeclaringClass(t, id, &cls) == JVMTI_ERROR_NONE && cls) {
        if ((*t)->GetClassSignature(t, cls, &sig, NULL) != JVMTI_ERROR_NONE)
            sig = NULL;
        if ((*t)->GetSourceFileName(t, cls, &src) != JVMTI_ERROR_NONE)
            src = NULL;
        sj_jar(jni, cls, native, jar, sizeof jar);
        (*jni)->DeleteLocalRef(jni, cls);
    }
    if ((*t)->GetLineNumberTable(t, id, &nl, &lt) != JVMTI_ERROR_NONE) {
        lt = NULL;
        nl = 0;
    }
    size_t fl = sj_function(fn, sig, name);
    size_t sl = sj_file(file, jar, sig, src);
    struct sj_method *m = sj_alloc(sizeof *m);
    char *f = sj_alloc(fl + 1), *s = sj_alloc(sl + 1);
    struct sj_line *lines = nl > 0 ? sj_alloc((size_t)nl * sizeof *lines) : NULL;
    if (m && f && s && (nl <= 0 || lines)) {
        memcpy(f, fn, fl + 1);
        if (sl)
            memcpy(s, file, sl);
        s[sl] = '\0';
        for (jint i = 0; i < nl; i++)
            lines[i] = (struct sj_line){lt[i].start_location, (int)lt[i].line_number};
        *m = (struct sj_method){id, target, f, s, nl > 0 ? (int)nl : 0, lines};
    } else {
        m = NULL;
    }
    sj_free(name);
    sj_free(sig);
    sj_free(src);
    sj_free(lt);
    return m;
}

static size_t sj_hash(jmethodID id)
{
    uint64_t x = (uint64_t)(uintptr_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (SJ_SLOTS - 1);
}

/* What id designates now. In HotSpot a jmethodID is a slot holding the
 * method's address: a redefined method (a debugger's hot swap) gets a new
 * address in the same slot, with new lines, and a slot its old version
 * freed may later hold another method of the same class loader. Either way
 * the word changes and the entry is looked up again. (In a JVM whose ids
 * are made otherwise the word just stays: entries are kept.) */
static const void *sj_target(jmethodID id)
{
    return *(const void *const volatile *)id;
}

static int sj_same(const struct sj_method *m, jmethodID id, const void *target)
{
    return m->id == id && m->target == target;
}

/* The cached entry of id, made on first sight or when stale; NULL when the
 * table or the arena is full (the frame is then named "?"). */
static const struct sj_method *sj_method(JNIEnv *jni, jmethodID id, int native)
{
    const void *target = sj_target(id);
    struct sj_method *mine = NULL;
    size_t h = sj_hash(id);
    for (int probe = 0; probe < SJ_PROBES; probe++, h = (h + 1) & (SJ_SLOTS - 1)) {
        struct sj_method *m = atomic_load_explicit(&sj_table[h], memory_order_acquire);
        if (m && sj_same(m, id, target))
            return m;
        if (m && m->id != id)
            continue;
        /* An empty slot, or id's stale entry: ours goes there. */
        if (!mine && !(mine = sj_build(jni, id, target, native)))
            return NULL;
        if (atomic_compare_exchange_strong_explicit(&sj_table[h], &m, mine, memory_order_acq_rel,
                                                    memory_order_acquire))
            return mine;
        if (m->id == id)
            return sj_same(m, id, target) ? m : mine; /* another thread was first */
    }
    return NULL;
}

/* The line of location in m: the entry starting last at or before it. */
static int sj_line_of(const struct sj_method *m, jlocation loc)
{
    jlocation best = -1;
    int line = 0;
    if (loc < 0)
        return 0; /* a native method */
    for (int i = 0; i < m->nlines; i++)
        if (m->lines[i].start <= loc && m->lines[i].start > best) {
            best = m->lines[i].start;
            line = m->lines[i].line;
        }
    return line;
}

static int sj_frames(struct sockleak_java_frame *out, int max)
{
    JNIEnv *jni = NULL;
    jint n = 0;

    if (!sj_jvmti || max <= 0)
        return -1;
    if (max > SJ_MAX_FRAMES)
        max = SJ_MAX_FRAMES;
    /* A thread the JVM does not know gets nothing (GetEnv reads a TLS). */
    if ((*sj_vm)->GetEnv(sj_vm, (void **)&jni, JNI_VERSION_1_8) != JNI_OK || !jni)
        return -1;
    jvmtiFrameInfo fi[max]; /* as many as the library has room for */
    if ((*sj_jvmti)->GetStackTrace(sj_jvmti, NULL, 0, max, fi, &n) != JVMTI_ERROR_NONE)
        return -1;
    /* A native method innermost (the hooked call's): JNI may be called. */
    int native = n > 0 && fi[0].location == -1;
    for (jint i = 0; i < n; i++) {
        const struct sj_method *m = sj_method(jni, fi[i].method, native);
        out[i].function = m ? m->function : "?";
        out[i].file = m ? m->file : "";
        out[i].line = m ? sj_line_of(m, fi[i].location) : 0;
    }
    return (int)n;
}

static jint sj_start(JavaVM *vm)
{
    jvmtiEnv *env = NULL;
    jvmtiCapabilities caps;

    sj_register = (sockleak_java_register_fn)dlsym(RTLD_DEFAULT, SOCKLEAK_JAVA_REGISTER);
    if (!sj_register || sj_jvmti)
        return JNI_OK; /* no libsockleak.so in this process, or loaded twice */
    if ((*vm)->GetEnv(vm, (void **)&env, JVMTI_VERSION_1_2) != JNI_OK || !env)
        return JNI_OK;
    /* Both if possible, else each alone: without them frames just lack
     * lines or files. Nothing that slows the JVM (no breakpoints, no
     * events, no can_access_local_variables). */
    memset(&caps, 0, sizeof caps);
    caps.can_get_line_numbers = 1;
    caps.can_get_source_file_name = 1;
    if ((*env)->AddCapabilities(env, &caps) != JVMTI_ERROR_NONE) {
        memset(&caps, 0, sizeof caps);
        caps.can_get_line_numbers = 1;
        (*env)->AddCapabilities(env, &caps);
        memset(&caps, 0, sizeof caps);
        caps.can_get_source_file_name = 1;
        (*env)->AddCapabilities(env, &caps);
    }
    sj_vm = vm;
    sj_jvmti = env;
    if (sj_register(SOCKLEAK_JAVA_ABI, sj_frames) != 0) {
        (*env)->DisposeEnvironment(env);
        sj_jvmti = NULL;
    }
    return JNI_OK;
}

SJ_EXPORT JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved)
{
    (void)options;
    (void)reserved;
    return sj_start(vm);
}

/* Loaded into a running JVM (jcmd <pid> JVMTI.agent_load <path>). */
SJ_EXPORT JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved)
{
    (void)options;
    (void)reserved;
    return sj_start(vm);
}

SJ_EXPORT JNIEXPORT void JNICALL Agent_OnUnload(JavaVM *vm)
{
    (void)vm;
    if (sj_register && sj_jvmti)
        sj_register(SOCKLEAK_JAVA_ABI, NULL);
}
