"""House rules checked on the sources: no function in preload/ or report/
longer than 60 lines, counted from the line naming it to its closing brace
(tests/tools/funclen.py, which `python3 tests/tools/funclen.py FILE...` runs
by hand)."""
import importlib.util

from conftest import REPO

MAX_LINES = 60

_spec = importlib.util.spec_from_file_location("funclen", REPO / "tests" / "tools" / "funclen.py")
funclen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(funclen)


def test_no_function_is_longer_than_60_lines():
    files = sorted(p for d in ("preload", "report") for p in (REPO / d).glob("*.[ch]"))
    assert len(files) > 20, files
    long = funclen.long_functions(files, MAX_LINES)
    assert not long, (f"functions over {MAX_LINES} lines (split them by meaning):\n" +
                      "\n".join(f"{path}:{line}: {name} {n} lines" for n, path, line, name in long))


SAMPLE = r'''
#include <stdio.h>
#define BLOCK { if (x) { y(); } }
struct point { int x, y; };
static const struct point origin = {0, 0};
/* a comment that says int f(void) { */
static int
add(int a,
    int b)
{
    const char *s = "} {";
    char c = '}';
    // }
    if (a) {
        return a + b;
    }
    return b;
}

static int
    twice(int a) { return 2 * a; }
int table[] = {1, 2};
__attribute__((constructor)) static void init(void) { puts("{"); }
'''


def test_funclen_counts_from_the_name_to_the_closing_brace():
    got = list(funclen.functions(SAMPLE))
    lines = SAMPLE.splitlines()
    add_first = next(i for i, l in enumerate(lines, 1) if l.startswith("add("))
    assert got[0] == ("add", add_first, add_first + 10), got
    assert [g[0] for g in got] == ["add", "twice", "init"], got
    assert got[1][1] == got[1][2] and got[2][1] == got[2][2], got
    assert funclen.long_functions([], MAX_LINES) == []
