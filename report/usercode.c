#include "usercode.h"
#include "util.h"

#include <ctype.h>
#include <string.h>

bool sl_uc_under(const char *path, const char *root)
{
    size_t n;

    if (!path || !root)
        return false;
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    if (path[0] != '/')
        return false;
    if (strcmp(root, "/") == 0)
        return true;
    n = strlen(root);
    return strncmp(path, root, n) == 0 && path[n] == '/' && path[n + 1];
}

/* The directories where a language keeps its library and installed
 * packages, for Python and native extension modules alike. */
static bool sl_uc_package_dir(const char *path)
{
    const char *p = path;

    if (strstr(path, "/site-packages/") || strstr(path, "/dist-packages/") ||
        strstr(path, "/node_modules/"))
        return true;
    while ((p = strstr(p, "/lib/python"))) {
        p += strlen("/lib/python");
        if (isdigit((unsigned char)*p))
            return true;
    }
    return strstr(path, "/lib/pypy") != NULL;
}

/* Where Ruby keeps its library and gems: /usr/lib/ruby (vendor_ruby,
 * site_ruby), /var/lib/gems, /usr/share/rubygems-integration, any other
 * prefix's lib/ruby, and any gems directory (bundler's vendor/bundle too). */
static bool sl_uc_ruby_dir(const char *path)
{
    static const char *const dirs[] = {"/lib/ruby/",    "/gems/",      "/rubygems-integration/",
                                       "/vendor_ruby/", "/site_ruby/", "/var/lib/gems/"};

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (strstr(path, dirs[i]))
            return true;
    return false;
}

static bool sl_uc_ruby_user(const char *file)
{
    return *file && file[0] != '<' && !sl_uc_ruby_dir(file);
}

/* Where Perl keeps its library and installed modules: Debian's
 * /usr/share/perl5, /usr/share/perl/5.36, /usr/lib/<multiarch>/perl5,
 * perl/5.36 and perl-base, their /usr/local twins, other distributions'
 * site_perl and vendor_perl, local::lib's ~/perl5/lib/perl5 and perlbrew's
 * perls. */
static bool sl_uc_perl_lib(const char *path)
{
    static const char *const dirs[] = {"/share/perl5/",   "/share/perl/",     "/lib/perl5/",
                                       "/lib64/perl5/",   "/site_perl/",      "/vendor_perl/",
                                       "/perl-base/",     "-linux-gnu/perl/", "-linux-gnu/perl5/",
                                       "/perlbrew/perls/"};

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (strstr(path, dirs[i]))
            return true;
    return false;
}

/* A Perl file of the program: not Perl's library, not the text of a string
 * eval ("(eval 12)", "(re_eval 3)"). */
static bool sl_uc_perl_user(const char *file)
{
    return *file && file[0] != '(' && !sl_uc_perl_lib(file);
}

static bool sl_uc_python_user(const char *file)
{
    return *file && file[0] != '<' && !sl_uc_package_dir(file);
}

static bool sl_uc_js_user(const char *file)
{
    if (strncmp(file, "file://", 7) == 0)
        file += 7;
    return file[0] == '/' && !strstr(file, "/node_modules/");
}

/* A jar of Java's libraries: Debian's /usr/share/java (and
 * /usr/share/maven-repo), Maven's repository, Gradle's caches. */
static bool sl_uc_java_lib_jar(const char *file)
{
    static const char *const dirs[] = {"/share/java/", "/share/maven-repo/", "/.m2/repository/",
                                       "/.gradle/caches/"};
    const char *bang = strstr(file, ".jar!/");

    if (!bang)
        return false;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        const char *d = strstr(file, dirs[i]);
        if (d && d < bang)
            return true;
    }
    return false;
}

/* A Java frame of the program: not the JDK's, not a library jar's (the
 * agent gives a class loaded from a jar "<jar>!/<package dir>/<source>" as
 * its file). */
static bool sl_uc_java_user(const char *function, const char *file)
{
    static const char *const lib[] = {"java.", "javax.", "sun.", "jdk.", "com.sun."};

    if (sl_uc_java_lib_jar(file))
        return false;

    for (size_t i = 0; i < sizeof(lib) / sizeof(lib[0]); i++)
        if (strncmp(function, lib[i], strlen(lib[i])) == 0)
            return false;
    return *function != '\0';
}

bool sl_uc_lang_user(const char *lang, const char *function, const char *file, const char *root)
{
    bool java = strcmp(lang, "java") == 0;

    if (!file)
        file = "";
    if (!function)
        function = "";
    if (java && sl_uc_java_lib_jar(file))
        return false;
    if (root && !(java && !strchr(file, '/')))
        return sl_uc_under(file, root);
    if (strcmp(lang, "python") == 0)
        return sl_uc_python_user(file);
    if (strcmp(lang, "javascript") == 0)
        return sl_uc_js_user(file);
    if (java)
        return sl_uc_java_user(function, file);
    if (strcmp(lang, "perl") == 0)
        return sl_uc_perl_user(file);
    if (strcmp(lang, "ruby") == 0)
        return sl_uc_ruby_user(file);
    return *file && file[0] != '<' && !sl_uc_package_dir(file);
}

/* python, python3, python3.11, python3.11d...: an interpreter. */
static bool sl_uc_python_exe(const char *base)
{
    if (strncmp(base, "python", 6) != 0)
        return false;
    return base[6] == '\0' || ((base[6] == '2' || base[6] == '3') &&
                               strspn(base + 7, "0123456789.dmu") == strlen(base + 7));
}

/* name, or name followed by a version (ruby3.1, perl5.36.0, php8.2). */
static bool sl_uc_versioned(const char *base, const char *name)
{
    size_t n = strlen(name);
    return strncmp(base, name, n) == 0 && strspn(base + n, "0123456789.") == strlen(base + n);
}

/* perl, perl5.36.0, perl5.36-x86_64-linux-gnu: the Perl interpreter. */
static bool sl_uc_perl_exe(const char *base)
{
    if (strncmp(base, "perl", 4) != 0)
        return false;
    return base[4] == '\0' || (base[4] == '5' && (base[5] == '\0' || base[5] == '.'));
}

/* The interpreters and virtual machines whose own frames run a program. */
static bool sl_uc_interpreter_exe(const char *base)
{
    return sl_uc_python_exe(base) || strcmp(base, "node") == 0 || strcmp(base, "nodejs") == 0 ||
           strcmp(base, "java") == 0 || sl_uc_versioned(base, "ruby") ||
           sl_uc_versioned(base, "perl") || sl_uc_versioned(base, "php") ||
           sl_uc_versioned(base, "php-fpm") || sl_uc_perl_exe(base);
}

/* A module of a language runtime, of the C and C++ runtimes, of sockleak
 * or of a sanitizer. */
static bool sl_uc_runtime(const char *path)
{
    static const char *const prefix[] = {
        "libc.so",   "libc-",    "libpthread",  "libstdc++", "libgcc_s", "ld-linux", "ld-musl",
        "libm.so",   "libdl.so", "librt.so",    "libpython", "libnode",  "libuv",    "libjvm",
        "libjava",   "libjli",   "libsockleak", "libasan",   "libtsan",  "libubsan", "liblsan",
        "libunwind", "libv8",    "libruby",     "libperl",   "libphp"};
    const char *base = sl_util_basename(path);

    if (sl_uc_interpreter_exe(base))
        return true;
    for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
        if (strncmp(base, prefix[i], strlen(prefix[i])) == 0)
            return true;
    return sl_uc_package_dir(path) || sl_uc_perl_lib(path) || sl_uc_ruby_dir(path);
}

static bool sl_uc_system_dir(const char *path)
{
    static const char *const dirs[] = {"/lib/",       "/lib32/",      "/lib64/",
                                       "/libx32/",    "/usr/lib/",    "/usr/lib32/",
                                       "/usr/lib64/", "/usr/libx32/", "/usr/libexec/"};

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (strncmp(path, dirs[i], strlen(dirs[i])) == 0)
            return true;
    return false;
}

bool sl_uc_module_user(const char *module, const char *exe)
{
    if (!module || !*module || module[0] == '[' || sl_uc_runtime(module))
        return false;
    if (exe && *exe && strcmp(module, exe) == 0)
        return true;
    return !sl_uc_system_dir(module);
}

bool sl_uc_sym_user(const struct sl_sym_frame *f, const char *exe, const char *root)
{
    if (f->lang)
        return sl_uc_lang_user(f->lang, f->function, f->file, root);
    if (root)
        return sl_uc_under(f->file, root);
    return sl_uc_module_user(f->module, exe);
}
