/* The channel between libsockleak.so and its JVMTI agent
 * (java/sockleak_jvmti.c), which the JVM loads with -agentpath. The JVM
 * hides an agent's symbols from dlsym, so the agent calls the library: its
 * Agent_OnLoad finds sockleak__java_register (exported by the library, not
 * in include/sockleak.h) and hands over the function that reads the calling
 * thread's Java frames. Both sides include this header; a change to it is a
 * new SOCKLEAK_JAVA_ABI. */
#ifndef SL_JAVAFRAMES_H
#define SL_JAVAFRAMES_H

#define SOCKLEAK_JAVA_ABI 1

/* One Java frame. The strings belong to the agent and stay valid, and
 * unchanged, for the life of the process: the library keys a cache by
 * these pointers (and copies the strings once). */
struct sockleak_java_frame {
    const char *function; /* "com.example.App.fetch" */
    const char *file;     /* "App.java", "" when unknown */
    int line;             /* 0 when unknown (a native method) */
};

/* The calling thread's Java frames, innermost first, into out[0..max).
 * Returns how many, or -1 when the thread has none to give (not a Java
 * thread, the JVM not live). Called by the library inside a hook, on a
 * Java thread that is running a native method. */
typedef int (*sockleak_java_frames_fn)(struct sockleak_java_frame *out, int max);

/* Exported by libsockleak.so: fn becomes the source of Java frames (NULL
 * stops it). Returns 0, or -1 when abi is not the library's. */
typedef int (*sockleak_java_register_fn)(int abi, sockleak_java_frames_fn fn);
#define SOCKLEAK_JAVA_REGISTER "sockleak__java_register"

#endif
