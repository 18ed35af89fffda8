#!/usr/bin/env python3
"""Lists C functions longer than a limit, counted from the line naming the
function to its closing brace, both included.

Usage: funclen.py [--max N] FILE...   (default 60)
Prints `file:line: name N lines` for each function over N, longest first,
and exits 1 when there is one. A reader of C text, not a compiler: comments,
strings, character constants and preprocessor lines are skipped, and a
top-level `{` right after a `)` opens a function body, named by the
identifier before that last parenthesis (a function returning a function
pointer is not seen)."""
import re
import sys

TOKEN = re.compile(r"""
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<pp>^[ \t]*\#(?:\\\n|[^\n])*)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<punct>[(){};=])
""", re.X | re.S | re.M)


def functions(text):
    """(name, first line, last line) of every function defined in text."""
    depth = 0
    paren = []          # stack of the identifiers before each open '('
    last_ident = None
    closed = None       # (name, line) of the ')' just before, at depth 0
    prev = None
    start = None
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("comment", "pp"):
            continue
        tok = m.group()
        line = text.count("\n", 0, m.start()) + 1
        if kind == "ident":
            last_ident = (tok, line)
        elif tok == "(":
            paren.append(last_ident if prev == "ident" else None)
        elif tok == ")":
            opener = paren.pop() if paren else None
            if depth == 0 and not paren:
                closed = opener
        elif tok == "{":
            if depth == 0 and prev == ")" and closed:
                start = closed
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0 and start:
                yield start[0], start[1], line
                start = None
        prev = "ident" if kind == "ident" else tok if kind == "punct" else kind
    return


def long_functions(paths, limit):
    out = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for name, first, last in functions(text):
            n = last - first + 1
            if n > limit:
                out.append((n, str(path), first, name))
    return sorted(out, key=lambda t: (-t[0], t[1], t[2]))


def main(argv):
    limit = 60
    if len(argv) >= 2 and argv[0] == "--max":
        limit, argv = int(argv[1]), argv[2:]
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    found = long_functions(argv, limit)
    for n, path, line, name in found:
        print(f"{path}:{line}: {name} {n} lines")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
