/* Which frames are the user's own code, as opposed to the runtime (libc,
 * the Python and Perl interpreters, node, libuv, the JVM, sockleak itself)
 * and the language's standard library and installed packages. The call site of a
 * finding is its first frame in user code. */
#ifndef SL_REPORT_USERCODE_H
#define SL_REPORT_USERCODE_H

#include "symbolize.h"

#include <stdbool.h>

/* True when path lies under the directory root (an absolute path without a
 * trailing '/'; "/" holds every absolute path). A "file://" prefix is
 * ignored. */
bool sl_uc_under(const char *path, const char *root);

/* A language frame. Without root: Python files outside the interpreter's lib
 * directories (lib/pythonX.Y, site-packages, dist-packages, <frozen ...>);
 * JavaScript files that are absolute paths (not node: or internal scripts)
 * outside node_modules; Java methods outside java.*, javax.*, sun.*, jdk.*,
 * com.sun.*; Ruby files outside Ruby's library and gem directories (lib/ruby,
 * vendor_ruby, site_ruby, /var/lib/gems, rubygems-integration, any gems/
 * directory) and not <internal:...>; Perl files outside Perl's library and
 * module directories (/usr/share/perl5, /usr/share/perl/5.36,
 * /usr/lib/<multiarch>/perl*, site_perl, ...) and not a string eval's
 * "(eval N)". With root: a file under root (a Java file named without a
 * directory falls back to the rule above). */
bool sl_uc_lang_user(const char *lang, const char *function, const char *file, const char *root);

/* A native frame's module: the main executable (exe) unless it is a
 * language runtime, or a library outside the system directories (/lib,
 * /usr/lib, ...) that is not a runtime library (libpython*, libperl*,
 * libruby*, libuv*, libjvm*, libsockleak*, ...) nor under a language's
 * package directories. */
bool sl_uc_module_user(const char *module, const char *exe);

/* A symbolized frame: sl_uc_lang_user for a language frame; for a native
 * one, its source file under root when root is given, else
 * sl_uc_module_user. */
bool sl_uc_sym_user(const struct sl_sym_frame *f, const char *exe, const char *root);

#endif
