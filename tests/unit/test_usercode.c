/* Unit tests of report/usercode.c: which frames are the user's code, for
 * Ruby (its interpreter, libruby, its library and gem directories are not)
 * next to the Python rules it sits beside. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "usercode.h"

static void test_java_frames(void **state)
{
    (void)state;
    assert_true(sl_uc_lang_user("java", "PgPool.open", "PgPool.java", NULL));
    assert_false(sl_uc_lang_user("java", "java.net.Socket.connect", "Socket.java", NULL));
    /* A class from a jar: "<jar>!/<package dir>/<source>"; library jars
     * are Debian's, Maven's and Gradle's. */
    assert_false(sl_uc_lang_user("java", "org.postgresql.core.PGStream.createSocket",
                                 "/usr/share/java/postgresql-42.5.5.jar!/org/postgresql/core/"
                                 "PGStream.java",
                                 NULL));
    assert_false(sl_uc_lang_user("java", "org.apache.http.impl.client.X.execute",
                                 "/home/u/.m2/repository/org/apache/httpcomponents/httpclient/"
                                 "4.5.14/httpclient-4.5.14.jar!/org/apache/http/impl/client/X.java",
                                 NULL));
    assert_false(sl_uc_lang_user("java", "a.B.c",
                                 "/home/u/.gradle/caches/modules-2/files-2.1/a/b.jar!/a/B.java",
                                 "/home/u"));
    assert_true(sl_uc_lang_user("java", "com.example.App.fetch",
                                "/srv/app/app.jar!/com/example/App.java", NULL));
    assert_true(sl_uc_lang_user("java", "com.example.App.fetch",
                                "/srv/app/app.jar!/com/example/App.java", "/srv/app"));
    /* A jar named like a library directory, but not in one. */
    assert_true(sl_uc_lang_user("java", "x.Y.z", "/srv/app/lib/share-java.jar!/x/Y.java", NULL));
}

static void test_ruby_frames(void **state)
{
    (void)state;
    assert_true(sl_uc_lang_user("ruby", "fetch", "/srv/app/client.rb", NULL));
    assert_true(sl_uc_lang_user("ruby", "fetch", "client.rb", NULL));
    assert_false(sl_uc_lang_user("ruby", "connect", "/usr/lib/ruby/3.1.0/net/http.rb", NULL));
    assert_false(sl_uc_lang_user("ruby", "request",
                                 "/usr/share/rubygems-integration/all/gems/"
                                 "net-http-persistent-3.1.0/lib/net/http/persistent.rb",
                                 NULL));
    assert_false(
        sl_uc_lang_user("ruby", "x", "/var/lib/gems/3.1.0/gems/faraday-2.7.4/lib/f.rb", NULL));
    assert_false(sl_uc_lang_user("ruby", "x", "/usr/lib/ruby/vendor_ruby/rake.rb", NULL));
    assert_false(sl_uc_lang_user("ruby", "x", "/usr/local/lib/ruby/site_ruby/3.1.0/x.rb", NULL));
    assert_false(
        sl_uc_lang_user("ruby", "x", "/srv/app/vendor/bundle/ruby/3.1.0/gems/a/b.rb", NULL));
    assert_false(sl_uc_lang_user("ruby", "times", "<internal:numeric>", NULL));
    assert_false(sl_uc_lang_user("ruby", "x", "", NULL));
    /* With a root: under it or not. */
    assert_true(sl_uc_lang_user("ruby", "x", "/srv/app/gems/mine.rb", "/srv/app"));
    assert_false(sl_uc_lang_user("ruby", "x", "/usr/lib/ruby/3.1.0/socket.rb", "/srv/app"));
}

static void test_ruby_modules(void **state)
{
    (void)state;
    assert_false(sl_uc_module_user("/usr/bin/ruby3.1", "/usr/bin/ruby3.1"));
    assert_false(sl_uc_module_user("/usr/local/bin/ruby", "/usr/local/bin/ruby"));
    assert_false(sl_uc_module_user("/opt/ruby/lib/libruby.so.3.1", "/opt/ruby/bin/ruby"));
    assert_false(
        sl_uc_module_user("/home/u/.gem/ruby/3.1.0/gems/pg-1.4/lib/pg_ext.so", "/usr/bin/ruby3.1"));
    assert_false(
        sl_uc_module_user("/usr/lib/x86_64-linux-gnu/ruby/3.1.0/socket.so", "/usr/bin/ruby3.1"));
    assert_true(sl_uc_module_user("/srv/app/ext/fast.so", "/usr/bin/ruby3.1"));
    assert_true(sl_uc_module_user("/srv/bin/rubyish", "/srv/bin/rubyish"));
    /* Python's rules are unchanged. */
    assert_false(sl_uc_lang_user("python", "f", "/usr/lib/python3.11/socket.py", NULL));
    assert_true(sl_uc_lang_user("python", "f", "/srv/app/gems/x.py", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java_frames),
        cmocka_unit_test(test_ruby_frames),
        cmocka_unit_test(test_ruby_modules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
