"""`sockleak help`, and the help texts, man pages and README agreeing with
each other and with the options the code parses.

Nothing here lists options by hand: commands and options come from the
tool's own --help output, SOCKLEAK_OPTIONS keys with their defaults, ranges
and meanings from `sockleak help options` (the one table,
include/sockleak_options.h, that the library parses with), and man page
entries from the pages rendered by groff. An option added to a help text
without its man page entry (or the other way round), or a default, range or
meaning changed in the table but not in README.md or libsockleak(3), fails
here, naming the stale document."""
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from conftest import BUILD, LIB, REPO, TIMEOUT, TOOL, wait_until

MAN = BUILD / "man"
# An option as help texts and man pages spell it: -o, --error-exitcode.
OPT_RE = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*(?:\.[\w-]+)*")


def sockleak(*args):
    return subprocess.run([str(TOOL), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=TIMEOUT)


def help_text(*args):
    p = sockleak(*args)
    assert p.returncode == 0, f"sockleak {' '.join(args)}: exit {p.returncode}, {p.stderr!r}"
    return p.stdout


def help_options(text):
    """The options a help text lists: lines '  -x, --long VALUE   meaning'."""
    opts = set()
    for line in text.splitlines():
        if re.match(r"  -\S", line):
            term = re.split(r"\s{2,}", line.strip())[0]
            opts.update(OPT_RE.findall(term))
    return opts


def help_commands(text):
    """The commands under 'Commands:' in the top-level help."""
    block = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  ([a-z][\w-]*)", block, re.M)]


def man_page(name):
    path = MAN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `make` (docs/{name}.scd, scdoc)",
                    pytrace=False)
    groff = shutil.which("groff")
    if not groff:
        pytest.fail("groff is missing (Debian: groff-base; run: make deps)", pytrace=False)
    p = subprocess.run([groff, "-man", "-Tascii", "-P-cbou", "-rHY=0", "-rLL=200n", str(path)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0 and p.stdout, f"groff {path}: {p.stderr}"
    return p.stdout


def man_section(page, title):
    """The text of one section (a heading line in capitals) of a rendered page."""
    m = re.search(rf"^{re.escape(title)}\n(.*?)(?=^[A-Z][A-Z_ ]*$|\Z)", page, re.M | re.S)
    assert m, f"no {title} section in the man page:\n{page}"
    return m.group(1)


def man_terms(section):
    """The tags of a section's tagged paragraphs: a line indented 7, its
    paragraph indented 11 below it."""
    return re.findall(r"^ {7}(\S.*)\n {11}\S", section, re.M)


def man_paragraphs(section):
    """{tag: its paragraph, lines joined} of a section's tagged paragraphs."""
    return {m.group(1): " ".join(m.group(2).split())
            for m in re.finditer(r"^ {7}(\S.*)\n((?: {11}\S.*\n?)+)", section, re.M)}


def man_options(page):
    opts = set()
    for term in man_terms(man_section(page, "OPTIONS")):
        if term.startswith("-"):
            opts.update(OPT_RE.findall(term))
    return opts


@dataclass
class LibOption:
    key: str
    default: str     # as the docs write it: "empty" for an empty string
    range: str       # "1 to 256", "at most 63 characters"
    meaning: str


def library_options():
    """The SOCKLEAK_OPTIONS table as `sockleak help options` prints it:
    '  key (default: D; R)' and the meaning below, indented 6."""
    text = help_text("help", "options")
    rows = re.findall(r"^  ([a-z_]+) \(default: (.*); (.*)\)\n((?: {6}\S.*\n?)+)", text, re.M)
    opts = [LibOption(k, d, r, " ".join(m.split())) for k, d, r, m in rows]
    assert len(opts) >= 4, f"could not read the table of `sockleak help options`:\n{text}"
    return opts


def library_keys():
    return [o.key for o in library_options()]


def untick(text):
    """Text as a reader sees it: without Markdown's backticks."""
    return text.replace("`", "")


def commands():
    return [c for c in help_commands(help_text("--help")) if c != "help"]


# ------------------------------------------------------------- sockleak help

def test_help_alone_is_the_top_level_help(tool):
    assert help_text("help") == help_text("--help")
    assert help_text("help", "help") == help_text("--help")


def test_help_lists_the_commands_and_itself(tool):
    cmds = help_commands(help_text("--help"))
    assert {"run", "report", "help"} <= set(cmds), cmds


@pytest.mark.parametrize("cmd", ["run", "report"])
def test_help_command_prints_that_commands_help(tool, cmd):
    text = help_text("help", cmd)
    assert text.startswith(f"Usage: sockleak {cmd} "), text[:200]
    assert text == help_text(cmd, "--help")


def test_help_of_every_listed_command(tool):
    for cmd in commands():
        assert help_text("help", cmd) == help_text(cmd, "--help"), cmd


@pytest.mark.parametrize("args", [["help", "no-such-command"], ["help", "--bogus"],
                                  ["help", "run", "extra"], ["no-such-command"]])
def test_help_of_an_unknown_command_exits_2(tool, args):
    p = sockleak(*args)
    assert p.returncode == 2, f"sockleak {args}: exit {p.returncode}"
    assert p.stdout == "", f"sockleak {args} printed on stdout: {p.stdout!r}"
    assert "sockleak" in p.stderr and "--help" in p.stderr, p.stderr
    if args[-1] != "extra":
        assert f"unknown command '{args[-1]}'" in p.stderr, p.stderr


# ------------------------------------------------------------------ man pages

def test_man_pages_render_with_their_names(tool):
    for name in ["sockleak.1", "libsockleak.3", *(f"sockleak-{c}.1" for c in commands())]:
        page = man_page(name)
        title = name.rsplit(".", 1)
        assert page.lstrip().startswith(f"{title[0]}({title[1]})"), page[:200]
        assert "NAME" in page and "SEE ALSO" in page, name


def test_man_page_commands_match_the_help(tool):
    listed = set(help_commands(help_text("--help")))
    in_man = {t.split()[0] for t in man_terms(man_section(man_page("sockleak.1"), "COMMANDS"))}
    assert in_man == listed, (f"in `sockleak --help` only: {listed - in_man}; "
                              f"in sockleak(1) only: {in_man - listed}")


def test_man_page_options_match_the_help(tool):
    pages = {"sockleak.1": ["--help"]}
    pages.update({f"sockleak-{c}.1": [c, "--help"] for c in commands()})
    for name, args in pages.items():
        in_help = help_options(help_text(*args))
        in_man = man_options(man_page(name))
        assert in_help, f"no options read from sockleak {' '.join(args)}"
        assert in_man == in_help, (
            f"in `sockleak {' '.join(args)}` only: {sorted(in_help - in_man)}; "
            f"in {name} only: {sorted(in_man - in_help)}")


def test_every_command_option_is_in_the_readme(tool):
    readme = (REPO / "README.md").read_text()
    missing = []
    for cmd in commands():
        for opt in help_options(help_text(cmd, "--help")) - {"-h", "--help"}:
            if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", readme):
                missing.append(f"{cmd} {opt}")
    assert not missing, f"options of --help missing from README.md: {missing}"


# ------------------------------------------------------------ SOCKLEAK_OPTIONS

def test_every_library_key_is_in_the_top_level_help(tool):
    text = help_text("--help")
    missing = [k for k in library_keys() if not re.search(rf"\b{k}\b", text)]
    assert not missing, f"SOCKLEAK_OPTIONS keys missing from `sockleak --help`: {missing}"


def readme_table(header):
    """{first cell, backticks dropped: the other cells} of README.md's table
    whose header row is header."""
    readme = (REPO / "README.md").read_text()
    assert header in readme, f"README.md has no table {header!r}"
    rows = {}
    for line in readme.split(header, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows[untick(cells[0])] = cells[1:]
    return rows


def test_help_options_is_the_help_topic_options(tool):
    text = help_text("help", "options")
    assert "SOCKLEAK_OPTIONS" in text and text.startswith("Usage: "), text[:200]
    keys = library_keys()
    assert len(keys) == len(set(keys)), keys


def test_readme_options_table_matches_the_library(tool):
    rows = readme_table("| key | default | range | meaning |")
    stale = []
    for o in library_options():
        if o.key not in rows:
            stale.append(f"{o.key}: no row")
            continue
        default, rng, meaning = (untick(c) for c in rows.pop(o.key))
        if default != o.default:
            stale.append(f"{o.key}: default {default!r}, the library's is {o.default!r}")
        if rng != o.range:
            stale.append(f"{o.key}: range {rng!r}, the library's is {o.range!r}")
        if not meaning.startswith(untick(o.meaning)):
            stale.append(f"{o.key}: meaning {meaning!r} does not start with the library's "
                         f"{untick(o.meaning)!r}")
    stale += [f"{k}: not a key of the library" for k in rows]
    assert not stale, "README.md's SOCKLEAK_OPTIONS table is stale:\n" + "\n".join(stale)


def test_libsockleak_3_matches_the_library(tool):
    paras = {t.split("=", 1)[0]: p for t, p in man_paragraphs(
        man_section(man_page("libsockleak.3"), "SOCKLEAK_OPTIONS")).items() if "=" in t}
    stale = []
    for o in library_options():
        para = paras.pop(o.key, None)
        if para is None:
            stale.append(f"{o.key}: no entry")
            continue
        meaning = untick(o.meaning)
        if not para.startswith(meaning[0].upper() + meaning[1:]):
            stale.append(f"{o.key}: {para!r} does not start with the library's {meaning!r}")
        if f"(default: {o.default}; {o.range})" not in para:
            stale.append(f"{o.key}: {para!r} does not end with the library's "
                         f"(default: {o.default}; {o.range})")
    stale += [f"{k}: not a key of the library" for k in paras]
    assert not stale, "libsockleak(3)'s SOCKLEAK_OPTIONS is stale:\n" + "\n".join(stale)


# `sockleak run` options that set a library key: their defaults and ranges
# in sockleak-run(1) and README.md's table of run's options.
RUN_KEYS = {"--deadline": "deadline_ms", "--output": "output", "--frames": "frames",
            "--verbosity": "verbosity", "--churn-share": "churn_share"}


def test_run_options_docs_match_the_library(tool):
    opts = {o.key: o for o in library_options()}
    paras = {t.split()[0]: p for t, p in
             man_paragraphs(man_section(man_page("sockleak-run.1"), "OPTIONS")).items()}
    rows = {k.split()[0]: v for k, v in readme_table("| option | default | meaning |").items()}
    stale = []
    for flag, key in RUN_KEYS.items():
        o = opts[key]
        if untick(rows[flag][0]) != o.default:
            stale.append(f"README.md: {flag} default {rows[flag][0]!r}, "
                         f"the library's {key} is {o.default!r}")
        want = f"(default: {o.default}" + ("" if "characters" in o.range or key == "verbosity"
                                           else f"; {o.range})")
        if want not in paras[flag]:
            stale.append(f"sockleak-run(1): {flag} {paras[flag]!r} lacks {want!r}")
        if want.replace(" to ", "..") not in help_text("run", "--help").replace("\n", " "):
            stale.append(f"sockleak run --help: {flag} lacks {want!r}")
    assert not stale, "\n".join(stale)


def run_with_options(lib, options):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LD_PRELOAD": str(lib),
           "SOCKLEAK_OPTIONS": options}
    p = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return p.stderr


def test_the_library_takes_the_ranges_of_the_help(tool, lib, tmp_path):
    """Every number key at its minimum and maximum is taken without a word,
    one past either end is refused with a warning naming the key."""
    numbers = [o for o in library_options() if "characters" not in o.range]
    assert {"deadline_ms", "frames", "verbosity"} <= {o.key for o in numbers}, numbers
    ranges = {o.key: [int(x) for x in o.range.split(" to ")] for o in numbers}
    base = f"output={tmp_path}:verbosity=1"
    for end in (0, 1):
        quiet = ":".join(f"{k}={r[end]}" for k, r in ranges.items() if k != "verbosity")
        assert run_with_options(lib, f"{base}:{quiet}") == "", quiet
    for key, (lo, hi) in ranges.items():
        for bad in (lo - 1, hi + 1):
            err = run_with_options(lib, f"{base}:{key}={bad}")
            assert f"bad value '{bad}' for {key}" in err, (key, bad, err)


# ------------------------------------------------------- docs/deploy.md recipes

def deploy_blocks(lang):
    text = (REPO / "docs" / "deploy.md").read_text()
    blocks = re.findall(rf"^```{lang}\n(.*?)^```$", text, re.M | re.S)
    assert blocks, f"no ```{lang} block in docs/deploy.md"
    return blocks


def test_deploy_workflow_is_valid_yaml_and_reports_always():
    yaml = pytest.importorskip("yaml", reason="python3-yaml is missing (run: make deps)")
    for block in deploy_blocks("yaml"):
        wf = yaml.safe_load(block)
        if "jobs" not in wf:
            continue
        steps = [s for job in wf["jobs"].values() for s in job["steps"]]
        assert all(("uses" in s) != ("run" in s) for s in steps), steps
        runs = [s for s in steps if "sockleak run" in s.get("run", "")]
        assert runs and all("--at-exit" in s["run"] for s in runs), runs
        after = [s for s in steps if "sockleak report" in s.get("run", "")
                 or "upload-sarif" in s.get("uses", "")]
        assert len(after) == 2 and all(s.get("if") == "always()" for s in after), after


def deploy_rules():
    rules = [b for b in deploy_blocks("yaml") if b.startswith("# prometheus rules")]
    assert len(rules) == 1, "one ```yaml block of Prometheus rules in docs/deploy.md"
    return rules[0]


def promtool():
    tool = shutil.which("promtool")
    if not tool:
        pytest.skip("promtool is missing (Debian: prometheus; run: make deps-programs)")
    return tool


def test_deploy_alert_rules_check(tmp_path):
    tool = promtool()
    (tmp_path / "rules.yml").write_text(deploy_rules())
    r = subprocess.run([tool, "check", "rules", str(tmp_path / "rules.yml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 6 rules found" in r.stdout, r.stdout


# Series that make each alert fire (and one call site that stays quiet).
RULES_TEST = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'sockleak_close_wait_sockets{kind="close_wait",program="srv",function="handle",file="srv.c",line="42"}'
        values: '0+25x80'
      - series: 'sockleak_close_wait_sockets{kind="close_wait",program="srv",function="quiet",file="srv.c",line="7"}'
        values: '3x80'
      - series: 'sockleak_time_wait_sockets{program="cli",function="fetch",file="cli.c",line="9",destination="10.0.0.1:80"}'
        values: '25000x20'
      - series: 'sockleak_ephemeral_ports{program="cli"}'
        values: '28232x20'
      - series: 'sockleak_open_sockets{program="srv",function="accept_loop",file="srv.c",line="30",state="ESTABLISHED"}'
        values: '900x20'
      - series: 'sockleak_open_sockets{program="srv",function="accept_loop",file="srv.c",line="30",state="CLOSE_WAIT"}'
        values: '500x20'
      - series: 'sockleak_fd_limit{program="srv"}'
        values: '1024x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: SockleakTimeWaitCritical
        exp_alerts:
          - exp_labels: {severity: critical, program: cli, function: fetch, file: cli.c, line: "9"}
      - eval_time: 15m
        alertname: SockleakTimeWaitWarning
        exp_alerts:
          - exp_labels: {severity: warning, program: cli, function: fetch, file: cli.c, line: "9"}
      - eval_time: 15m
        alertname: SockleakEstablishedNearFdLimit
        exp_alerts:
          - exp_labels: {severity: critical, program: srv}
      - eval_time: 20m
        alertname: SockleakCloseWaitWarning
        exp_alerts:
          - exp_labels: {severity: warning, program: srv, function: handle, file: srv.c, line: "42"}
      - eval_time: 60m
        alertname: SockleakCloseWaitCritical
        exp_alerts:
          - exp_labels: {severity: critical, program: srv, function: handle, file: srv.c, line: "42"}
      - eval_time: 60m
        alertname: SockleakCloseWaitGrowing
        exp_alerts:
          - exp_labels: {severity: warning, program: srv, function: handle, file: srv.c, line: "42"}
      - eval_time: 2m
        alertname: SockleakCloseWaitWarning
        exp_alerts: []
"""


def test_deploy_alert_rules_fire(tmp_path):
    tool = promtool()
    yaml = pytest.importorskip("yaml", reason="python3-yaml is missing (run: make deps)")
    rules = yaml.safe_load(deploy_rules())
    for group in rules["groups"]:  # promtool compares annotations too: the labels say enough
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "test.yml").write_text(RULES_TEST)
    r = subprocess.run([tool, "test", "rules", "test.yml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def rule_metric_names(rules):
    """The sockleak_* metric names the rules' expressions use."""
    return {name for group in rules["groups"] for rule in group["rules"]
            for name in re.findall(r"\bsockleak_[a-z_]+", rule["expr"])}


def churn_log(into):
    """tests/unit/data/golden/churn.jsonl.in (two time_wait_churn findings of
    a process that ended), its placeholders filled in: a log our reader
    turns into the TIME_WAIT gauges."""
    text = (REPO / "tests/unit/data/golden/churn.jsonl.in").read_text()
    for key, value in {"@BIN@": str(TOOL), "@BUILD_ID@": "", "@RET_OUTER@": "4096",
                       "@RET_PLAIN@": "4096"}.items():
        text = text.replace(key, value)
    into.mkdir()
    (into / "prog.4101.jsonl").write_text(text)
    return into


def test_deploy_alert_rules_on_our_own_metrics(tmp_path):
    """The rules against what `sockleak report --format openmetrics` really
    gives: every metric they use is in it, and promtool evaluates them over
    its series, labels as we emit them (values scaled up where a real
    program cannot reach a threshold), each alert firing for its site."""
    tool = promtool()
    yaml = pytest.importorskip("yaml", reason="python3-yaml is missing (run: make deps)")
    from test_open_sockets import PROGRAM, Peer, finish, open_gauge, start
    from test_prometheus import parse

    rules = yaml.safe_load(deploy_rules())
    held, closing = Peer(False), Peer(True)
    churn = churn_log(tmp_path / "churn")
    proc, pid = start(tmp_path, (held, closing), "hold")  # 1 s deadline: CLOSE_WAIT findings

    def scrape():
        p = subprocess.run([str(TOOL), "report", "--format", "openmetrics", str(tmp_path / "out"),
                            str(churn)], capture_output=True, text=True, timeout=TIMEOUT)
        samples = parse(p.stdout)
        cw = [v for (n, lab), v in samples.items()
              if n == "sockleak_close_wait_sockets" and ("program", PROGRAM) in lab]
        want = {("connect_held", "ESTABLISHED"): 5, ("connect_closing", "CLOSE_WAIT"): 2}
        return samples if open_gauge(p.stdout) == want and cw == [2] else None

    try:
        samples = wait_until("the census and the CLOSE_WAIT findings in the metrics", scrape)
    finally:
        finish(proc, pid)
        held.stop()
        closing.stop()
    names = {n for n, _ in samples}
    assert rule_metric_names(rules) <= names, (
        f"metrics the rules use but sockleak does not emit: {rule_metric_names(rules) - names}")

    def series(name, labels):
        return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels)) + "}"

    inputs, expect = [], []
    limit = samples[("sockleak_fd_limit", frozenset({("program", PROGRAM)}))]
    ports = {dict(lab)["program"]: v for (n, lab), v in samples.items()
             if n == "sockleak_ephemeral_ports"}
    for (name, labels), value in samples.items():
        lab = dict(labels)
        if name not in rule_metric_names(rules):
            continue
        if name == "sockleak_close_wait_sockets" and value:
            inputs.append({"series": series(name, labels), "values": "0+25x80"})
            site = {k: lab[k] for k in ("program", "function", "file", "line")}
            expect += [("SockleakCloseWaitWarning", "20m", "warning", site),
                       ("SockleakCloseWaitCritical", "60m", "critical", site),
                       ("SockleakCloseWaitGrowing", "60m", "warning", site)]
        elif name == "sockleak_time_wait_sockets":
            inputs.append({"series": series(name, labels),
                           "values": f"{int(ports[lab['program']] * 0.85)}x20"})
            site = {k: lab[k] for k in ("program", "function", "file", "line")}
            expect += [("SockleakTimeWaitWarning", "15m", "warning", site),
                       ("SockleakTimeWaitCritical", "15m", "critical", site)]
        elif name == "sockleak_open_sockets" and lab["state"] == "ESTABLISHED":
            inputs.append({"series": series(name, labels), "values": f"{int(limit * 0.9)}x20"})
            expect.append(("SockleakEstablishedNearFdLimit", "15m", "critical",
                           {"program": PROGRAM}))
        elif name != "sockleak_close_wait_sockets":
            inputs.append({"series": series(name, labels), "values": f"{value}x20"})
    assert {e[0] for e in expect} == {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert [e for e in expect if e[0] == "SockleakCloseWaitWarning" and
            e[3]["program"] == PROGRAM and e[3]["file"] == "oe_census.c"], expect
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m",
             "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": [
                 {"eval_time": t, "alertname": a,
                  # an empty label is no label to Prometheus
                  "exp_alerts": [{"exp_labels": {"severity": sev,
                                                 **{k: v for k, v in site.items() if v}}}]}
                 for a, t, sev, site in expect]}]}
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests))
    r = subprocess.run([tool, "test", "rules", "test.yml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr + "\n" + yaml.safe_dump(tests)


def test_deploy_systemd_drop_in_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is missing (Debian: systemd)")
    for block in deploy_blocks("ini"):
        m = re.match(r"# /etc/systemd/system/([\w@.-]+\.service)\.d/([\w.-]+\.conf)\n", block)
        assert m, f"a drop-in block starts with a comment naming its path: {block!r}"
        unit, conf = m.groups()
        (tmp_path / f"{unit}.d").mkdir()
        (tmp_path / unit).write_text("[Service]\nExecStart=/bin/true\n")
        (tmp_path / f"{unit}.d" / conf).write_text(block)
        p = subprocess.run([analyze, "verify", str(tmp_path / unit)], capture_output=True,
                           text=True, timeout=TIMEOUT,
                           env={"PATH": "/usr/bin:/bin", "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})
        assert p.returncode == 0 and conf not in p.stdout + p.stderr, p.stdout + p.stderr


def test_deploy_web_config_serves_tls_and_prometheus_config_checks(tool, tmp_path):
    import ssl
    from test_serve_tls import bcrypt, get, make_pki
    web, prom = deploy_blocks("yml")
    assert web.startswith("# /etc/sockleak/web.yml") and prom.startswith("# prometheus.yml")
    make_pki(tmp_path)
    for ours, theirs in (("srv.crt", "sockleak.crt"), ("srv.key", "sockleak.key"),
                         ("ca.crt", "scrapers-ca.crt")):
        shutil.copy(tmp_path / ours, tmp_path / theirs)
    placeholder = re.search(r"prometheus: (\$2y\$10\$\S+)", web).group(1)
    cfg = tmp_path / "web.yml"
    cfg.write_text(web.replace(placeholder, bcrypt("pw")))
    cfg.chmod(0o600)
    logs = tmp_path / "logs"
    logs.mkdir()
    proc = subprocess.Popen([str(TOOL), "serve", "--listen", "127.0.0.1:0",
                             "--web.config.file", str(cfg), str(logs)],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        line = proc.stderr.readline()
        m = re.search(r"listening on https://127\.0\.0\.1:(\d+)/metrics", line)
        assert m, line + (proc.stderr.read() if proc.poll() is not None else "")
        ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        ctx.load_cert_chain(str(tmp_path / "cli.crt"), str(tmp_path / "cli.key"))
        status, headers, body = get(int(m.group(1)), ctx, "prometheus", "pw")
        assert status == 200 and "# TYPE sockleak_leaked_sockets_total counter" in body, body
        assert headers["Strict-Transport-Security"] == "max-age=31536000", headers
        assert get(int(m.group(1)), ctx, "prometheus", "not it")[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool is missing (Debian: prometheus)")
    made = {"sockleak-ca.crt": "ca.crt", "scraper.crt": "cli.crt", "scraper.key": "cli.key"}
    (tmp_path / "sockleak.password").write_text("pw")
    for f in re.findall(r"/etc/prometheus/(\S+)", prom):
        if f in made:
            shutil.copy(tmp_path / made[f], tmp_path / f)
        prom = prom.replace(f"/etc/prometheus/{f}", str(tmp_path / f))
    (tmp_path / "prometheus.yml").write_text(prom)
    p = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stdout + p.stderr
