#!/usr/bin/env python3
"""bench.py - oxprof's benchmarks, side by side with gperftools and perf.

Run by bench/run.sh (`make bench`, `make bench-quick`), which builds what is
needed and passes the paths.  Every figure is a ratio measured in this one
run: configurations are interleaved (a seeded shuffle per repetition) and
repeated; tables give the median and the min-max over repetitions.

Figures (numbering follows issue 7):
  1 overhead       wall and CPU of the shared workload under each tool / unprofiled
  2 true rate      samples per CPU-second of the workload's threads / requested
  3 accuracy       leaf shares vs the calibrated truth; per-thread samples vs CPU
  4 cost/sample    agent's signal vs a bare perf task-clock signal (sigcost)
  5 daemon ingest  simulated agents (oxload) -> samples/s, daemon CPU and RSS
  6 query latency  top-50 and folded on 10k/100k/1M unique stacks; snapshots
  7 memory         agent RSS added to the host; daemon RSS per agent / stack

Daemon-based parts run only when build/daemon/oxprofd (and, for the
user-facing timings, build/client/oxprofctl) exist and answer; otherwise they
are reported as "not available".
"""
import argparse
import datetime
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

RATES = [100, 1000, 10000]
LEAVES = ["leaf_a", "leaf_b", "leaf_c"]
GPERF_LIB = "/usr/lib/x86_64-linux-gnu/libprofiler.so"
ANALYSIS_MARK = "<!-- analysis below this line is written by people and kept across runs -->"


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers

def med(xs):
    xs = [x for x in (xs or []) if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else None


def fmt(x, nd=3):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:.{nd}f}"


def fmt_mm(xs, nd=3):
    """median [min-max] of a list."""
    xs = [x for x in (xs or []) if x is not None]
    if not xs:
        return "n/a"
    m = statistics.median(xs)
    if len(xs) == 1:
        return f"{m:.{nd}f}"
    return f"{m:.{nd}f} [{min(xs):.{nd}f}–{max(xs):.{nd}f}]"


def parse_kv(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = float(v) if re.fullmatch(r"-?[0-9.]+(e-?[0-9]+)?", v) else v
            except ValueError:
                out[k] = v
    return out


def floor_row(f):
    """The cheaper of the bare-signal variants of figure 4: the floor a
    signal-based sampler pays on this machine (name, row)."""
    rows = [(n, f["rows"][n]) for n in ("bare-noref", "bare")
            if f["rows"].get(n) and med(f["rows"][n]["thread_ns"])]
    return min(rows, key=lambda r: med(r[1]["thread_ns"])) if rows else (None, None)


def run_timed(argv, env=None, timeout=300, cwd=None):
    """Run argv; return (rc, stdout, stderr, wall_s, rusage) with the
    rusage of the child and its reaped descendants (os.wait4)."""
    fo = tempfile.TemporaryFile()
    fe = tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdout=fo, stderr=fe, cwd=cwd,
                         start_new_session=True)
    killed = []

    def kill():
        killed.append(1)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    tm = threading.Timer(timeout, kill)
    tm.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    tm.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    fo.seek(0)
    fe.seek(0)
    out = fo.read().decode(errors="replace")
    err = fe.read().decode(errors="replace")
    if killed:
        err += f"\n[bench] killed after {timeout}s"
    return p.returncode, out, err, wall, ru


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def proc_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:
        return ""


# ---------------------------------------------------------------- machine

def machine_facts():
    f = {}
    f["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    f["cores"] = os.cpu_count()
    f["cpu"] = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    f["kernel"] = os.uname().release
    hz = sh("zcat /proc/config.gz 2>/dev/null | grep '^CONFIG_HZ='") or \
        sh(f"grep '^CONFIG_HZ=' /boot/config-{os.uname().release} 2>/dev/null")
    f["config_hz"] = hz.split("=")[1] if "=" in hz else "unknown"
    f["paranoid"] = sh("cat /proc/sys/kernel/perf_event_paranoid")
    f["max_sample_rate"] = sh("cat /proc/sys/kernel/perf_event_max_sample_rate")
    f["load"] = sh("cut -d' ' -f1-3 /proc/loadavg")
    f["mem"] = sh("free -m | awk '/Mem:/{print $2\" MiB\"}'")
    f["gcc"] = sh("gcc --version | head -1")
    f["perf"] = sh("perf --version")
    f["gperftools"] = sh("dpkg-query -W -f='${Version}' libgoogle-perftools4 2>/dev/null")
    f["virt"] = sh("systemd-detect-virt 2>/dev/null") or "unknown"
    return f


# ---------------------------------------------------------------- parsers

def leaf_of(name):
    for lf in LEAVES:
        if re.search(r"\b" + lf + r"\b", name):
            return lf
    return None


def parse_folded(text):
    """folded 'a;b;leaf N' lines -> (total, {leaf: n})."""
    total, leaves = 0, {lf: 0 for lf in LEAVES}
    for line in text.splitlines():
        line = line.rstrip()
        if not line or " " not in line:
            continue
        stack, n = line.rsplit(" ", 1)
        try:
            n = int(n)
        except ValueError:
            continue
        total += n
        lf = leaf_of(stack.split(";")[-1])
        if lf:
            leaves[lf] += n
    return total, leaves


def parse_perf_script(text):
    """perf script -F tid,ip,sym: header line per sample, callchain lines
    start with a tab; the first one is the leaf."""
    total, leaves, per_tid = 0, {lf: 0 for lf in LEAVES}, {}
    want_leaf = False
    for line in text.splitlines():
        if line.startswith("\t"):
            if want_leaf:
                want_leaf = False
                parts = line.split(None, 1)
                lf = leaf_of(parts[1]) if len(parts) > 1 else None
                if lf:
                    leaves[lf] += 1
            continue
        parts = line.split()
        if not parts:
            continue
        try:
            tid = int(parts[0])
        except ValueError:
            continue
        total += 1
        per_tid[tid] = per_tid.get(tid, 0) + 1
        if len(parts) >= 3:  # no callchain: ip sym on the header line
            lf = leaf_of(" ".join(parts[2:]))
            if lf:
                leaves[lf] += 1
        else:
            want_leaf = True
    return total, leaves, per_tid


def parse_pprof_text(text):
    total, leaves = 0, {lf: 0 for lf in LEAVES}
    for line in text.splitlines():
        m = re.match(r"Total: (\d+) samples", line.strip())
        if m:
            total = int(m.group(1))
            continue
        parts = line.split()
        if len(parts) >= 6 and parts[0].isdigit():
            lf = leaf_of(parts[5])
            if lf and parts[5] == lf:
                leaves[lf] += int(parts[0])
    return total, leaves


def parse_threadcpu(path, exe_base):
    """shim lines 'tid cpu_ns module' -> ({tid: cpu_s} of the program's own
    threads (main, and threads started from the executable), peak RSS KB)."""
    out, hwm = {}, None
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 2 and p[0] == "hwm":
                    hwm = int(p[1])
                elif len(p) >= 3 and (p[2] == "main" or p[2] == exe_base):
                    out[int(p[0])] = int(p[1]) / 1e9
    except OSError:
        pass
    return out, hwm


# ---------------------------------------------------------------- daemon

class Daemon:
    def __init__(self, oxprofd, sock, log_path, state_dir=None, extra=()):
        self.sock = sock
        argv = [oxprofd, "--socket", sock, "--log-level", "warn"]
        if state_dir:
            argv += ["--state-dir", state_dir]
        argv += list(extra)
        self.argv = argv
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        try:
            os.unlink(sock)
        except OSError:
            pass
        self.t_spawn = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=self.logf,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.ready_s = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20:
            if self.p.poll() is not None:
                raise RuntimeError(f"oxprofd exited with {self.p.returncode} (see {log_path})")
            if os.path.exists(sock):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(sock)
                    self.ready_s = time.monotonic() - self.t_spawn
                    s.close()
                    return
                except OSError:
                    pass
                finally:
                    s.close()
            time.sleep(0.002)
        self.stop()
        raise RuntimeError("oxprofd did not listen within 20 s")

    def cpu(self):
        return proc_cpu(self.pid)

    def rss_kb(self):
        return proc_kb(self.pid, "VmRSS")

    def stop(self, timeout=60):
        """SIGTERM; returns seconds until exit (None if it had to be killed)."""
        if self.p.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
            return time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        finally:
            self.logf.close()


def help_text(binary):
    try:
        r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr
    except Exception:
        return ""


# ---------------------------------------------------------------- bench

class Bench:
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.root = os.path.abspath(a.root)
        self.build = os.path.abspath(a.build)
        self.workload = a.workload
        self.exe_base = os.path.basename(a.workload)
        self.agent = os.path.join(self.build, "agent", "liboxprof.so")
        self.oxprofd = os.path.join(self.build, "daemon", "oxprofd")
        self.oxprofctl = os.path.join(self.build, "client", "oxprofctl")
        self.oxload = os.path.join(a.helpers, "oxload")
        self.sigcost = os.path.join(a.helpers, "sigcost")
        self.shim = os.path.join(a.helpers, "libthreadcpu.so")
        self.tmp = tempfile.mkdtemp(prefix="oxbench.")
        # daemon logs survive the run, for post-mortems
        self.logdir = os.path.join(os.path.dirname(os.path.abspath(a.workload)), "logs")
        shutil.rmtree(self.logdir, ignore_errors=True)
        os.makedirs(self.logdir, exist_ok=True)
        self.notes = []       # free-text notes for RESULTS.md
        self.skipped = []     # what did not run and why
        if self.quick:
            self.rounds, self.reps, self.reps4 = 30000, 2, 1
            self.sig_iters, self.sig_reps = 150_000_000, 3
            self.ingest_agents, self.ingest_secs, self.ingest_warm = [10, 100], 2.0, 0.5
            self.sizes = [10_000, 100_000]
        else:
            # Sized for the 15-minute limit on 2 cores: ~1.7 CPU-s per run
            # (10 kHz: ~17 000 samples), 5 repetitions interleaved; a full
            # run took about 6 minutes here.
            self.rounds, self.reps, self.reps4 = 100000, 5, 3
            self.sig_iters, self.sig_reps = 400_000_000, 5
            self.ingest_agents, self.ingest_secs, self.ingest_warm = [10, 100, 500], 5.0, 1.0
            self.sizes = [10_000, 100_000, 1_000_000]
        self.rng = random.Random(7)
        self.runs = []        # every workload run (dicts)
        self.truth = {}       # threads -> {leaf: share}
        self.truth_runs = []  # calibration splits
        self.res = {}         # figure results
        self.daemon_ok, self.daemon_why = self.check_daemon()

    # ---- availability ----

    def check_daemon(self):
        if not os.access(self.oxprofd, os.X_OK):
            return False, f"{os.path.relpath(self.oxprofd, self.root)} not built"
        if not os.access(self.oxload, os.X_OK):
            return False, "bench helper oxload not built"
        sock = os.path.join(self.tmp, "probe.sock")
        try:
            d = Daemon(self.oxprofd, sock, os.path.join(self.logdir, "oxprofd-probe.log"))
        except Exception as e:
            return False, f"oxprofd does not start: {e}"
        try:
            rc, out, err, _, _ = run_timed([self.oxload, "query", "--socket", sock,
                                            "-b", "function", "-l", "1", "-r", "1"], timeout=20)
            if rc != 0:
                return False, f"oxprofd does not answer a query: {err.strip()[:200]}"
        finally:
            d.stop()
        return True, ""

    def ctl_ok(self):
        return self.daemon_ok and os.access(self.oxprofctl, os.X_OK)

    # ---- one workload run ----

    def run_workload(self, tool, hz, threads, rep, daemon=None, calibrate=False):
        tag = f"{tool}-{hz}-t{threads}-r{rep}"
        tcpu = os.path.join(self.tmp, f"tc-{tag}.txt")
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("OXPROF_", "CPUPROFILE", "LD_PRELOAD")):
                del env[k]
        wl = [self.workload, "-t", str(threads), "-n", str(self.rounds)]
        if calibrate:
            wl.append("-c")
        pre = [self.shim]
        envv = {"THREADCPU_OUT": tcpu}
        argv_prefix = []
        out_path = None
        if tool == "oxprof":
            out_path = os.path.join(self.tmp, f"{tag}.folded")
            pre.append(self.agent)
            envv.update(OXPROF_DAEMON="0", OXPROF_START="1", OXPROF_HZ=str(hz),
                        OXPROF_OUTPUT=out_path)
        elif tool == "oxprof-daemon":
            pre.append(self.agent)
            envv.update(OXPROF_SOCKET=daemon.sock, OXPROF_START="1", OXPROF_HZ=str(hz))
        elif tool == "gperftools":
            out_path = os.path.join(self.tmp, f"{tag}.prof")
            pre.append(GPERF_LIB)
            envv.update(CPUPROFILE=out_path, CPUPROFILE_FREQUENCY=str(hz),
                        CPUPROFILE_PER_THREAD_TIMERS="1")
        elif tool == "perf":
            out_path = os.path.join(self.tmp, f"{tag}.data")
            argv_prefix = ["perf", "record", "-q", "-e", "cpu-clock:u", "-g",
                           "-F", str(hz), "-o", out_path, "--"]
        envv["LD_PRELOAD"] = " ".join(pre)
        # `env` sets the preload for the workload only (not for perf itself)
        argv = argv_prefix + ["env"] + [f"{k}={v}" for k, v in envv.items()] + wl
        if tool == "oxprof-daemon":
            try:
                self.ox_cmd(daemon, "start", hz)
            except Exception as e:
                return {"tool": tool, "hz": hz, "threads": threads, "rep": rep,
                        "err": f"fleet start failed: {e}"}
        dcpu0 = daemon.cpu() if daemon else None
        rc, out, err, wall_ext, ru = run_timed(argv, env=env, timeout=600)
        r = {"tool": tool, "hz": hz, "threads": threads, "rep": rep, "rc": rc,
             "ext_wall": wall_ext,
             "ext_cpu": ru.ru_utime + ru.ru_stime}
        line = next((l for l in out.splitlines() if l.startswith("threads=")), "")
        kv = parse_kv(line)
        if rc != 0 or not kv:
            r["err"] = f"rc={rc}: {err.strip()[-300:]}"
            log(f"run {tag} failed: {r['err']}")
            return r
        r.update(wall=kv.get("wall_s"), cpu=kv.get("cpu_s"), user=kv.get("user_s"))
        if calibrate:
            m = re.search(r"calib split a=([0-9.]+) b=([0-9.]+) c=([0-9.]+)", out)
            if m:
                r["split"] = dict(zip(LEAVES, map(float, m.groups())))
        tc, r["hwm_kb"] = parse_threadcpu(tcpu, self.exe_base)
        r["thread_cpu"] = tc
        r["app_cpu"] = sum(tc.values()) if tc else None
        r["samples"], r["leaves"], r["per_tid"] = None, None, None
        try:
            if tool == "oxprof":
                with open(out_path) as f:
                    r["samples"], r["leaves"] = parse_folded(f.read())
            elif tool == "oxprof-daemon":
                self.collect_daemon(daemon, r)
                dcpu1 = daemon.cpu()
                if dcpu0 is not None and dcpu1 is not None:
                    r["daemon_cpu"] = dcpu1 - dcpu0
                    r["ext_cpu"] += r["daemon_cpu"]
            elif tool == "gperftools":
                prc, pout, perr, _, _ = run_timed(["google-pprof", "--text", self.workload,
                                                   out_path], timeout=120)
                r["samples"], r["leaves"] = parse_pprof_text(pout)
            elif tool == "perf":
                prc, pout, perr, _, _ = run_timed(["perf", "script", "-i", out_path,
                                                   "-F", "tid,ip,sym"], timeout=300)
                r["samples"], r["leaves"], r["per_tid"] = parse_perf_script(pout)
        except Exception as e:  # keep going: one bad run is a gap, not a crash
            r["err"] = f"collect: {e}"
            log(f"run {tag}: {r['err']}")
        for p in (out_path, tcpu):
            if p and os.path.exists(p):
                os.unlink(p)
        return r

    def ox_cmd(self, daemon, cmd, hz=0):
        rc, out, err, _, _ = run_timed([self.oxload, "cmd", "--socket", daemon.sock,
                                        "-x", cmd, "-f", str(hz)], timeout=30)
        if rc != 0:
            raise RuntimeError(f"{cmd}: {out.strip()} {err.strip()}")

    def ox_query_rows(self, daemon, by, limit=0):
        rc, out, err, _, _ = run_timed([self.oxload, "query", "--socket", daemon.sock,
                                        "-b", by, "-l", str(limit), "-r", "1", "-P", "1"],
                                       timeout=120)
        if rc != 0:
            raise RuntimeError(f"query {by}: {err.strip()[:200]}")
        rows, total = [], None
        for line in out.splitlines():
            if line.startswith("row\t"):
                p = line.split("\t", 5)
                rows.append((int(p[1]), int(p[2]), int(p[3]), int(p[4]), p[5]))
            elif line.startswith("mode=query"):
                total = int(parse_kv(line).get("total", 0))
        return total, rows

    def collect_daemon(self, daemon, r):
        """Wait until the exited agent's samples have all arrived (the total
        stops moving), then read folded stacks and per-thread counts."""
        last, stable, t0 = -1, 0, time.monotonic()
        while time.monotonic() - t0 < 10:
            total, _ = self.ox_query_rows(daemon, "function", 1)
            if total == last and total > 0:
                stable += 1
                if stable >= 2:
                    break
            else:
                stable = 0
            last = total
            time.sleep(0.1)
        total, rows = self.ox_query_rows(daemon, "stack", 0)
        r["samples"] = total
        _, r["leaves"] = parse_folded("\n".join(f"{row[4]} {row[2]}" for row in rows))
        _, trows = self.ox_query_rows(daemon, "thread", 0)
        r["per_tid"] = {row[1]: row[2] for row in trows}
        # the agent's own accounting, as the daemon last heard it
        rc, out, err, _, _ = run_timed([self.oxload, "status", "--socket", daemon.sock], timeout=30)
        ag = [parse_kv(l) for l in out.splitlines() if l.startswith("agent ")]
        if ag:
            a = ag[-1]
            r["agent_taken"], r["agent_sent"] = a.get("taken"), a.get("sent")
            r["agent_dropped"] = a.get("dropped_agent")

    # ---- figure 1-3 data ----

    def tools(self):
        t = ["oxprof"]
        if self.daemon_ok:
            t.append("oxprof-daemon")
        t += ["gperftools", "perf"]
        return t

    def check_tools(self):
        if not os.path.exists(GPERF_LIB) or not shutil.which("google-pprof"):
            raise SystemExit("gperftools missing: scripts/deps.sh bench installs "
                             "google-perftools libgoogle-perftools-dev")
        rc, out, err, _, _ = run_timed(["perf", "record", "-q", "-e", "cpu-clock:u", "-g",
                                        "-F", "1000", "-o", os.path.join(self.tmp, "probe.data"),
                                        "--", "true"], timeout=60)
        if rc != 0:
            raise SystemExit(f"`perf record -e cpu-clock:u` does not work here: {err.strip()[:300]}")
        if not self.daemon_ok:
            self.skipped.append(f"oxprof via the daemon (figures 1-3), figures 5 and 6, daemon "
                                f"memory (figure 7): not available — {self.daemon_why}")

    def calibrate_once(self, rep):
        """One calibration run (`workload -c`, 1 thread), interleaved with the
        matrix: one per repetition, so the truth sees the same machine.
        With more threads than free cores the CLOCK_MONOTONIC-timed portions
        would include preemption; every thread runs the same rounds, so the
        1-thread split is every thread count's truth."""
        r = self.run_workload("calib", 0, 1, rep, calibrate=True)
        if "split" in r:
            self.truth_runs.append(r["split"])

    def finish_truth(self):
        if not self.truth_runs:
            raise SystemExit("calibration runs (workload -c) failed")
        t1 = {lf: med([s[lf] for s in self.truth_runs]) for lf in LEAVES}
        self.truth = {1: t1, 2: t1, 4: t1}

    def matrix(self):
        daemon = None
        if self.daemon_ok:
            daemon = Daemon(self.oxprofd, os.path.join(self.tmp, "fig1.sock"),
                            os.path.join(self.logdir, "oxprofd-fig1.log"))
        try:
            cfgs = [("base", 0)] + [(t, hz) for t in self.tools() for hz in RATES]
            n = len(cfgs) * 2 * self.reps + (len(cfgs) - 1) * self.reps4
            done = 0
            for rep in range(self.reps):
                log(f"calibration {rep + 1}/{self.reps} (workload -c)")
                self.calibrate_once(rep)
                for threads in (1, 2):
                    order = cfgs[:]
                    self.rng.shuffle(order)
                    for tool, hz in order:
                        done += 1
                        log(f"[{done}/{n}] {tool} {hz} Hz, {threads} thread(s), rep {rep + 1}")
                        daemon = self.daemon_alive(daemon, tool)
                        self.runs.append(self.run_workload(tool, hz, threads, rep, daemon))
            for rep in range(self.reps4):
                order = cfgs[1:]
                self.rng.shuffle(order)
                for tool, hz in order:
                    done += 1
                    log(f"[{done}/{n}] {tool} {hz} Hz, 4 threads, rep {rep + 1}")
                    daemon = self.daemon_alive(daemon, tool)
                    self.runs.append(self.run_workload(tool, hz, 4, rep, daemon))
            self.finish_truth()
        finally:
            if daemon:
                daemon.stop()

    def daemon_alive(self, daemon, tool):
        """A daemon under development may die: note it, keep its log, start
        another, and carry on."""
        if not daemon or tool != "oxprof-daemon" or daemon.p.poll() is None:
            return daemon
        rc = daemon.p.returncode
        k = len([x for x in self.notes if "oxprofd exited" in x]) + 1
        log_path = os.path.join(self.logdir, f"oxprofd-fig1-{k}.log")
        tail = ""
        try:
            with open(daemon.log_path, "rb") as f:
                tail = f.read()[-400:].decode(errors="replace").strip().replace("\n", " | ")
            shutil.copy(daemon.log_path, log_path)
        except OSError:
            pass
        self.notes.append(f"oxprofd exited during figures 1-3 (status {rc}); restarted. "
                          f"Log tail: `{tail}` (full log: {log_path})")
        log(self.notes[-1])
        daemon.stop()
        return Daemon(self.oxprofd, daemon.sock, daemon.log_path)

    def sel(self, tool, hz, threads):
        return [r for r in self.runs if r["tool"] == tool and r["hz"] == hz
                and r["threads"] == threads and not r.get("err")]

    def ratios(self, tool, hz, threads, key):
        base = {r["rep"]: r for r in self.sel("base", 0, threads)}
        out = []
        for r in self.sel(tool, hz, threads):
            b = base.get(r["rep"])
            if b and b.get(key) and r.get(key) is not None:
                out.append(r[key] / b[key])
        return out

    # ---- figure 4 ----

    def fig4(self):
        log("figure 4: cost per signal (sigcost)")
        hz = 10000
        modes = ["none", "bare-noref", "bare", "agent"]
        data = {m: [] for m in modes}
        for rep in range(self.sig_reps):
            order = modes[:]
            self.rng.shuffle(order)
            for m in order:
                env = dict(os.environ)
                for k in list(env):
                    if k.startswith(("OXPROF_", "LD_PRELOAD")):
                        del env[k]
                if m == "agent":
                    env.update(LD_PRELOAD=self.agent, OXPROF_DAEMON="0", OXPROF_START="1",
                               OXPROF_HZ=str(hz))
                rc, out, err, _, _ = run_timed([self.sigcost, "-m", m, "-f", str(hz), "-n",
                                                str(self.sig_iters), "-d", "32"], env=env,
                                               timeout=300)
                kv = parse_kv(out.strip().splitlines()[-1]) if rc == 0 and out.strip() else None
                if not kv:
                    log(f"sigcost {m}: rc={rc} {err.strip()[:200]}")
                    continue
                kv["rep"] = rep
                data[m].append(kv)
        res = {"hz": hz, "iters": self.sig_iters, "rows": {}}
        base = {d["rep"]: d for d in data["none"]}
        for m in modes[1:]:
            th, pc, sigs, rates = [], [], [], []
            for d in data[m]:
                b = base.get(d["rep"])
                if not b or not d.get("signals"):
                    continue
                th.append((d["thread_cpu_s"] - b["thread_cpu_s"]) / d["signals"] * 1e9)
                pc.append((d["proc_cpu_s"] - b["proc_cpu_s"]) / d["signals"] * 1e9)
                sigs.append(d["signals"])
                rates.append(d["signals"] / d["thread_cpu_s"] / hz)
            res["rows"][m] = {"thread_ns": th, "proc_ns": pc, "signals": sigs,
                              "rate": rates, "source": data[m][0].get("source") if data[m] else None}
        res["none_cpu"] = [d["thread_cpu_s"] for d in data["none"]]
        self.res["fig4"] = res

    # ---- figures 5, 6, 7 (daemon) ----

    def daemon_flags(self, budget=False):
        h = help_text(self.oxprofd)
        extra = []
        if budget:
            # room for a 1 M-stack aggregate from one process: what figure 6
            # measures is the query, not the budget's refusal
            if "--mem-budget" in h:
                extra += ["--mem-budget", "8G"]
            if "--agent-mem-budget" in h:
                extra += ["--agent-mem-budget", "8G"]
        if "--max-connections" in h:
            extra += ["--max-connections", "2048"]
        return extra

    def fig5(self):
        log("figure 5: daemon ingest")
        rows = []
        for n in self.ingest_agents:
            sock = os.path.join(self.tmp, f"ingest{n}.sock")
            try:
                d = Daemon(self.oxprofd, sock, os.path.join(self.logdir, f"oxprofd-ingest{n}.log"),
                           extra=self.daemon_flags())
            except Exception as e:
                rows.append({"agents": n, "err": str(e)})
                continue
            try:
                rss_idle = d.rss_kb()
                rc, out, err, _, _ = run_timed(
                    [self.oxload, "ingest", "--socket", sock, "-a", str(n), "-t",
                     str(self.ingest_secs), "-w", str(self.ingest_warm), "-s", "256", "-c", "4",
                     "-p", "1024", "-d", "24", "--daemon-pid", str(d.pid)], timeout=300)
                line = next((l for l in out.splitlines() if l.startswith("mode=ingest")), "")
                kv = parse_kv(line)
                kv["agents"] = n
                kv["rss_idle_kb"] = rss_idle
                if rc != 0 or not kv.get("samples_per_s"):
                    kv["err"] = f"rc={rc} {err.strip()[:300]}"
                rows.append(kv)
                log(f"  {n} agents: {line}")
            finally:
                d.stop()
        self.res["fig5"] = rows

    def fig7_daemon_per_agent(self):
        log("figure 7: daemon RSS per connected agent")
        rows = []
        for n in ([10, 100] if self.quick else [100, 500]):
            sock = os.path.join(self.tmp, f"idle{n}.sock")
            try:
                d = Daemon(self.oxprofd, sock, os.path.join(self.logdir, f"oxprofd-idle{n}.log"),
                           extra=self.daemon_flags())
            except Exception as e:
                rows.append({"agents": n, "err": str(e)})
                continue
            try:
                time.sleep(0.2)
                rc, out, err, _, _ = run_timed([self.oxload, "idle", "--socket", sock, "-a", str(n),
                                                "-t", "1", "--daemon-pid", str(d.pid)], timeout=120)
                kv = parse_kv(next((l for l in out.splitlines() if l.startswith("mode=idle")), ""))
                kv["agents"] = n
                if rc != 0:
                    kv["err"] = f"rc={rc} {err.strip()[:300]}"
                rows.append(kv)
            finally:
                d.stop()
        self.res["fig7d"] = rows

    def time_cmd(self, argv, reps):
        ts, rc_bad, nbytes = [], 0, 0
        for _ in range(reps):
            t0 = time.monotonic()
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            ts.append((time.monotonic() - t0) * 1e3)
            rc_bad += p.returncode != 0
            nbytes = len(p.stdout)
        return ts, rc_bad, nbytes

    def fig6(self):
        log("figure 6: query latency and snapshots")
        reps = 3 if self.quick else 5
        ctl = self.ctl_ok()
        if not ctl:
            self.skipped.append("figure 6 oxprofctl timings: build/client/oxprofctl not available "
                                "(protocol-level timings by oxload are reported instead)")
        rows = []
        for size in self.sizes:
            row = {"size": size}
            rows.append(row)
            sock = os.path.join(self.tmp, f"q{size}.sock")
            state = os.path.join(self.tmp, f"state{size}")
            os.makedirs(state, exist_ok=True)
            empty_state = os.path.join(self.tmp, f"state-empty{size}")
            os.makedirs(empty_state, exist_ok=True)
            extra = self.daemon_flags(budget=True)
            try:
                d = Daemon(self.oxprofd, sock, os.path.join(self.logdir, f"oxprofd-q{size}.log"),
                           state_dir=state, extra=extra)
            except Exception as e:
                row["err"] = str(e)
                continue
            try:
                rss0 = d.rss_kb()
                rc, out, err, wall, _ = run_timed([self.oxload, "fill", "--socket", sock,
                                                   "-u", str(size), "-d", "16", "-s", "4096"],
                                                  timeout=900)
                kv = parse_kv(next((l for l in out.splitlines() if l.startswith("mode=fill")), ""))
                row["fill"] = kv
                if rc not in (0, 3) or not kv:
                    row["err"] = f"fill rc={rc} {err.strip()[:300]}"
                    continue
                time.sleep(0.2)
                row["rss_kb"] = d.rss_kb()
                row["rss0_kb"] = rss0
                for by, limit, key in (("function", 50, "proto_top50"),
                                       ("stack", 0, "proto_folded")):
                    rc, out, err, _, _ = run_timed([self.oxload, "query", "--socket", sock, "-b",
                                                    by, "-l", str(limit), "-r", str(reps)],
                                                   timeout=900)
                    qs = [parse_kv(l) for l in out.splitlines() if l.startswith("mode=query")]
                    row[key] = [q["ms"] for q in qs]
                    row[key + "_rows"] = qs[-1].get("rows") if qs else None
                    if rc != 0:
                        row[key + "_err"] = err.strip()[:200]
                if ctl:
                    base = [self.oxprofctl, "--socket", sock]
                    row["ctl_status"], _, _ = self.time_cmd(base + ["status"], reps)
                    row["ctl_top50"], bad1, _ = self.time_cmd(base + ["query", "--limit", "50"], reps)
                    row["ctl_folded"], bad2, nb = self.time_cmd(
                        base + ["query", "--format", "folded"], reps)
                    row["ctl_folded_bytes"] = nb
                    if bad1 or bad2:
                        row["ctl_err"] = f"{bad1 + bad2} oxprofctl runs failed"
                # snapshot write: the daemon writes its state when told to stop
                row["stop_s"] = d.stop()
                row["state_bytes"] = sum(os.path.getsize(os.path.join(dp, f))
                                         for dp, _, fs in os.walk(state) for f in fs)
                # load: a new daemon on that state dir, until a query shows it all
                t0 = time.monotonic()
                d2 = Daemon(self.oxprofd, sock, os.path.join(self.logdir, f"oxprofd-q{size}b.log"),
                            state_dir=state, extra=extra)
                try:
                    total = self.ox_query_rows(d2, "function", 1)[0]
                    row["load_s"] = time.monotonic() - t0
                    row["loaded_total"] = total
                finally:
                    d2.stop()
                # the same start and stop with an empty state dir, for reference
                t0 = time.monotonic()
                d3 = Daemon(self.oxprofd, sock, os.path.join(self.logdir, f"oxprofd-q{size}c.log"),
                            state_dir=empty_state, extra=extra)
                self.ox_query_rows(d3, "function", 1)
                row["load_empty_s"] = time.monotonic() - t0
                row["stop_empty_s"] = d3.stop()
            finally:
                d.stop()
            log(f"  {size}: {row}")
        self.res["fig6"] = rows

    # ---- report ----

    def report(self, facts, cmd, elapsed):
        L = []
        w = L.append
        mode = "quick (BENCH_QUICK=1)" if self.quick else "full"
        w("# oxprof benchmark results\n")
        w(f"Generated by `bench/run.sh` ({mode} mode) on {facts['date']}, in {elapsed / 60:.1f} min. "
          "Every figure is measured in this one run, configurations interleaved "
          "(seeded shuffle per repetition); cells are **median [min–max]** over repetitions; "
          "ratios are paired with the unprofiled run of the same repetition.\n")
        w("## Machine and command\n")
        w("| fact | value |\n| --- | --- |")
        w(f"| command | `{cmd}` |")
        for k, label in (("cores", "cores"), ("cpu", "CPU"), ("virt", "virtualisation"),
                         ("kernel", "kernel"), ("config_hz", "kernel CONFIG_HZ"),
                         ("paranoid", "perf_event_paranoid"),
                         ("max_sample_rate", "perf_event_max_sample_rate"),
                         ("mem", "memory"), ("load", "load average at start"),
                         ("gcc", "compiler"), ("perf", "perf"), ("gperftools", "gperftools")):
            w(f"| {label} | {facts.get(k, '')} |")
        w(f"| workload | `../shared/bench/workload.c`, `gcc -O2 -g -fno-omit-frame-pointer`, "
          f"`-n {self.rounds}`, {self.reps} repetitions (1, 2 threads), {self.reps4} (4 threads) |")
        w("")
        w("Tools: **oxprof** stand-alone = `LD_PRELOAD=liboxprof.so OXPROF_DAEMON=0 OXPROF_START=1 "
          "OXPROF_HZ=N OXPROF_OUTPUT=file`; **oxprof-daemon** = the same agent reporting to a "
          "private `oxprofd` (fleet started with `start` at N Hz; daemon CPU counted in the "
          "external CPU); **gperftools** = `LD_PRELOAD=libprofiler.so CPUPROFILE=file "
          "CPUPROFILE_FREQUENCY=N CPUPROFILE_PER_THREAD_TIMERS=1` (the workload registers its "
          "threads); **perf** = `perf record -e cpu-clock:u -g -F N`. Every run, the baseline "
          "included, preloads `bench/threadcpu.c`, which records each thread's CPU time.\n")
        if self.skipped:
            w("**Not measured in this run:**\n")
            for s in self.skipped:
                w(f"- {s}")
            w("")
        self.report_targets(w)
        self.report_fig1(w)
        self.report_fig2(w)
        self.report_fig3(w)
        self.report_fig4(w)
        self.report_fig5(w)
        self.report_fig6(w)
        self.report_fig7(w)
        errs = [r for r in self.runs if r.get("err")]
        if errs:
            w("## Failed runs\n")
            for r in errs[:30]:
                w(f"- {r['tool']} {r['hz']} Hz {r['threads']} threads rep {r['rep']}: "
                  f"`{r['err'][:200]}`")
            w("")
        if self.notes:
            w("## Incidents\n")
            for n in self.notes:
                w(f"- {n}")
        return "\n".join(L) + "\n"

    def tool_rows(self):
        return [(t, hz) for t in self.tools() for hz in RATES]

    def report_fig1(self, w):
        w("## 1. Overhead: profiled / unprofiled\n")
        w("Wall and CPU time as the workload reports them (its own clock and `getrusage`, so "
          "in-process agents' threads count, a separate `perf` process does not); *ext CPU* is "
          "all CPU of the command (perf's own process, and for oxprof-daemon the daemon's CPU "
          "too) over the unprofiled command's.\n")
        w("| tool | Hz | wall, 1 thread | CPU, 1 thread | ext CPU, 1 thread | wall, 2 threads "
          "| CPU, 2 threads | ext CPU, 2 threads |")
        w("| --- | ---: | --- | --- | --- | --- | --- | --- |")
        for t, hz in self.tool_rows():
            cells = []
            for th in (1, 2):
                cells += [fmt_mm(self.ratios(t, hz, th, "wall")),
                          fmt_mm(self.ratios(t, hz, th, "cpu")),
                          fmt_mm(self.ratios(t, hz, th, "ext_cpu"))]
            w(f"| {t} | {hz} | " + " | ".join(cells) + " |")
        b1 = self.sel("base", 0, 1)
        b2 = self.sel("base", 0, 2)
        w(f"\nUnprofiled: 1 thread wall {fmt_mm([r['wall'] for r in b1])} s, "
          f"2 threads wall {fmt_mm([r['wall'] for r in b2])} s.\n")

    def rate_of(self, r):
        if r.get("samples") is None or not r.get("app_cpu"):
            return None
        return r["samples"] / r["app_cpu"] / r["hz"]

    def report_fig2(self, w):
        w("## 2. True rate: samples per CPU-second / requested\n")
        w("Denominator: CPU time (user + system) of the workload's own threads, from "
          "`CLOCK_THREAD_CPUTIME_ID` at each thread's exit (profiler threads excluded). "
          "Samples: oxprof folded counts summed; gperftools `google-pprof --text` total; "
          "perf `perf script` samples.\n")
        w("| tool | Hz | 1 thread | 2 threads | 4 threads | samples/CPU-s, 1 thread |")
        w("| --- | ---: | --- | --- | --- | ---: |")
        for t, hz in self.tool_rows():
            cells = [fmt_mm([self.rate_of(r) for r in self.sel(t, hz, th)]) for th in (1, 2, 4)]
            abs1 = med([r["samples"] / r["app_cpu"] for r in self.sel(t, hz, 1)
                        if r.get("samples") is not None and r.get("app_cpu")])
            w(f"| {t} | {hz} | " + " | ".join(cells) + f" | {fmt(abs1, 0)} |")
        w("")
        dr_all = [r for r in self.runs if r["tool"] == "oxprof-daemon" and not r.get("err")]
        dr = [r for r in dr_all if r.get("agent_taken")]
        if dr_all and not dr:
            w("oxprof-daemon accounting: the daemon's `status` rows carry taken = sent = 0 for "
              "these agents, so samples lost between the agent and the daemon cannot be told "
              "from samples never taken.\n")
        if dr:
            short = [r for r in dr if r.get("samples") is not None
                     and r["samples"] < r["agent_taken"]]
            lost = sum(r["agent_taken"] - r["samples"] for r in short)
            w(f"oxprof-daemon accounting: in {len(short)} of {len(dr)} runs the daemon holds fewer "
              f"samples than the agent says it took ({lost:,} in all; agent-reported drops "
              f"{sum(int(r.get('agent_dropped') or 0) for r in dr):,}). Worst: " + (", ".join(
                  f"{r['hz']} Hz {r['threads']}t taken {int(r['agent_taken']):,} sent "
                  f"{int(r['agent_sent'] or 0):,} in daemon {r['samples']:,}"
                  for r in sorted(short, key=lambda r: r["samples"] / r["agent_taken"])[:3])
                  or "none") + ".\n")

    def acc_of(self, r):
        """(max |error| pp, 3-sigma bound pp of that leaf, all within 3 sigma)"""
        truth = self.truth.get(r["threads"]) or self.truth.get(1)
        n = r.get("samples")
        if not truth or not n or not r.get("leaves"):
            return None
        worst, bound, ok = 0.0, 0.0, True
        for lf in LEAVES:
            p = truth[lf]
            share = r["leaves"][lf] / n
            err = abs(share - p) * 100
            s3 = 300 * math.sqrt(p * (1 - p) / n)
            ok = ok and err <= s3
            if err >= worst:
                worst, bound = err, s3
        return worst, bound, ok

    def report_fig3(self, w):
        w("## 3. Accuracy: leaf shares vs the calibrated truth\n")
        t1 = self.truth.get(1)
        if t1:
            spread = " / ".join(
                f"{100 * min(s[lf] for s in self.truth_runs):.2f}–"
                f"{100 * max(s[lf] for s in self.truth_runs):.2f}" for lf in LEAVES)
            w(f"Truth (`workload -c -n {self.rounds}`, 1 thread, one run per repetition, median of "
              f"{len(self.truth_runs)}): leaf_a / leaf_b / leaf_c = "
              f"{' / '.join(f'{100 * t1[lf]:.2f}' for lf in LEAVES)} % (range {spread}), used "
              "for every thread count: each thread runs the same rounds, and calibrating with more "
              "threads than free cores would time preemption into the portions. The truth's own "
              "spread is noise on this shared machine that the 3σ bound does not include.\n")
        w("Cells: max error over the three leaves in percentage points (share = leaf samples / "
          "all samples), the 3σ binomial bound for that leaf at the run's sample count, and "
          "how many runs had every leaf within its 3σ bound.\n")
        w("| tool | Hz | 1 thread: max err pp (3σ) ok | 2 threads | 4 threads |")
        w("| --- | ---: | --- | --- | --- |")
        for t, hz in self.tool_rows():
            cells = []
            for th in (1, 2, 4):
                acc = [self.acc_of(r) for r in self.sel(t, hz, th)]
                acc = [a for a in acc if a]
                if not acc:
                    cells.append("n/a")
                    continue
                cells.append(f"{fmt_mm([a[0] for a in acc], 2)} ({fmt(med([a[1] for a in acc]), 2)}) "
                             f"{sum(a[2] for a in acc)}/{len(acc)}")
            w(f"| {t} | {hz} | " + " | ".join(cells) + " |")
        w("")
        w("### Per-thread samples vs per-thread CPU\n")
        w("For 2 and 4 threads: each worker thread's samples / (its CPU-seconds × rate), "
          "min–max over threads and runs, and the largest gap between a thread's share of the "
          "samples and its share of the CPU (pp). gperftools' profile and oxprof's stand-alone "
          "folded file carry no thread; per-thread counts come from perf's samples and the "
          "daemon's `query` by thread.\n")
        w("| tool | Hz | threads | per-thread rate min–max | max share gap pp |")
        w("| --- | ---: | ---: | --- | ---: |")
        any_row = False
        for t, hz in self.tool_rows():
            if t not in ("perf", "oxprof-daemon"):
                continue
            for th in (2, 4):
                rates, gaps = [], []
                for r in self.sel(t, hz, th):
                    pt, tc = r.get("per_tid") or {}, r.get("thread_cpu") or {}
                    workers = {tid: c for tid, c in tc.items() if c > 0.05}
                    if not pt or not workers:
                        continue
                    ns, cs = sum(pt.get(tid, 0) for tid in workers), sum(workers.values())
                    for tid, c in workers.items():
                        rates.append(pt.get(tid, 0) / c / hz)
                        if ns:
                            gaps.append(abs(pt.get(tid, 0) / ns - c / cs) * 100)
                if rates:
                    any_row = True
                    w(f"| {t} | {hz} | {th} | {min(rates):.3f}–{max(rates):.3f} | "
                      f"{max(gaps) if gaps else float('nan'):.2f} |")
        if not any_row:
            w("| n/a | | | | |")
        w("")

    def report_fig4(self, w):
        w("## 4. Cost per sample vs a bare timer signal\n")
        f = self.res.get("fig4")
        if not f:
            w("not measured\n")
            return
        w(f"`bench/sigcost` burns a fixed loop ({f['iters']:,} iterations) at the bottom of a "
          f"32-deep recursion in one thread at {f['hz']} Hz; cost per signal = (thread CPU − "
          f"thread CPU of the same loop without signals, same repetition) / signals. "
          f"*bare* arms exactly what the agent arms (per-thread perf task-clock, user-only, "
          f"F_SETSIG SIGPROF, refresh limit 1) with a handler that only re-arms "
          f"(PERF_EVENT_IOC_REFRESH); *bare-noref* has no refresh limit, so its handler makes "
          f"no system call; *agent* is liboxprof.so stand-alone, its signals taken from "
          f"`oxprof_status()`. Process CPU adds the agent's drain thread. Reference loop: "
          f"{fmt_mm(f['none_cpu'])} s.\n")
        w("| signal | ns per signal, thread CPU | ns per signal, process CPU | signals / CPU-s / Hz |")
        w("| --- | --- | --- | --- |")
        for m, row in f["rows"].items():
            w(f"| {m} | {fmt_mm(row['thread_ns'], 0)} | {fmt_mm(row['proc_ns'], 0)} | "
              f"{fmt_mm(row['rate'])} |")
        a, (bn, b) = f["rows"].get("agent"), floor_row(f)
        if a and b and med(a["thread_ns"]) and med(b["thread_ns"]):
            w(f"\nagent / floor ({bn}, the cheaper bare signal; medians): "
              f"**{med(a['thread_ns']) / med(b['thread_ns']):.2f}×**; "
              f"agent − {bn}: {med(a['thread_ns']) - med(b['thread_ns']):.0f} ns.\n")

    def report_fig5(self, w):
        w("## 5. Daemon ingest\n")
        rows = self.res.get("fig5")
        if not rows:
            w(f"not available — {self.daemon_why or 'not run'}\n")
            return
        w(f"`bench/oxload ingest`: N processes, one agent connection each (HELLO as agent, "
          f"real protocol), each streaming SAMPLES batches of 256 stacks × 4 samples, 24 frames "
          f"deep, from a pool of 1024 distinct stacks per agent, one batch in flight per "
          f"connection (the next after its SAMPLES_ACK). {self.ingest_warm} s warm-up, "
          f"{self.ingest_secs} s measured. The generator shares the 2 cores with the daemon.\n")
        w("| agents | samples/s accepted | per daemon CPU-second | stacks/s | batches/s | refused/s "
          "| daemon CPU % | daemon RSS MiB | generator CPU s |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            if r.get("err") and not r.get("samples_per_s"):
                w(f"| {r['agents']} | failed: {r['err'][:120]} | | | | | | | |")
                continue
            pc = r.get("daemon_cpu_pct") or 0
            per_core = f"{r.get('samples_per_s', 0) / (pc / 100):,.0f}" if pc > 0 else "n/a"
            w(f"| {r['agents']} | {r.get('samples_per_s', 0):,.0f} | {per_core} "
              f"| {r.get('stacks_per_s', 0):,.0f} "
              f"| {r.get('batches_per_s', 0):,.0f} | {r.get('refused_per_s', 0):,.0f} "
              f"| {r.get('daemon_cpu_pct', 0):.0f} | {r.get('daemon_rss_kb', 0) / 1024:.1f} "
              f"| {r.get('gen_cpu_s', 0):.1f} |")
        w("")

    def report_fig6(self, w):
        w("## 6. Query latency and snapshots\n")
        rows = self.res.get("fig6")
        if not rows:
            w(f"not available — {self.daemon_why or 'not run'}\n")
            return
        w("`bench/oxload fill` sends N distinct stacks (16 frames, count 1) from one agent "
          "(daemon started with `--mem-budget 8G --agent-mem-budget 8G` when it has them, so the "
          "aggregate holds them all). *protocol*: a control connection, COMMAND sent → REPLY "
          "received (top-50 = by function, limit 50; folded = by stack, no limit). *oxprofctl*: "
          "the whole command (`query --limit 50`, `query --format folded > /dev/null`), process "
          "start included; `status` for the floor. Snapshot write: SIGTERM → exit with a state "
          "dir; load: start → first query answered, same with an empty state dir for reference.\n")
        w("| unique stacks | fill s | top-50 ms (protocol) | folded ms (protocol) | top-50 ms "
          "(oxprofctl) | folded ms (oxprofctl) | status ms (oxprofctl) | snapshot write s "
          "(empty) | snapshot load s (empty) | state MiB |")
        w("| ---: | ---: | --- | --- | --- | --- | --- | --- | --- | ---: |")
        for r in rows:
            if r.get("err"):
                w(f"| {r['size']:,} | failed: {r['err'][:150]} | | | | | | | | |")
                continue
            fill = r.get("fill", {})
            w(f"| {r['size']:,} | {fmt(fill.get('secs'), 2)} "
              f"| {fmt_mm(r.get('proto_top50'), 2)} | {fmt_mm(r.get('proto_folded'), 1)} "
              f"| {fmt_mm(r.get('ctl_top50'), 1)} | {fmt_mm(r.get('ctl_folded'), 1)} "
              f"| {fmt_mm(r.get('ctl_status'), 1)} "
              f"| {fmt(r.get('stop_s'), 3)} ({fmt(r.get('stop_empty_s'), 3)}) "
              f"| {fmt(r.get('load_s'), 3)} ({fmt(r.get('load_empty_s'), 3)}) "
              f"| {fmt((r.get('state_bytes') or 0) / 2**20, 1)} |")
        for r in rows:
            fill = r.get("fill", {})
            if fill.get("refused"):
                w(f"\n{r['size']:,} stacks: the daemon refused {int(fill['refused']):,} samples "
                  f"(memory budget).")
            if r.get("loaded_total") is not None and fill.get("accepted") and \
                    r["loaded_total"] != fill["accepted"]:
                w(f"\n{r['size']:,} stacks: after reload the aggregate holds {r['loaded_total']:,} "
                  f"samples, {int(fill['accepted']):,} were accepted before the restart.")
            for k in ("proto_top50_err", "proto_folded_err", "ctl_err"):
                if r.get(k):
                    w(f"\n{r['size']:,} stacks: {k}: `{r[k]}`")
        w("")

    def report_fig7(self, w):
        w("## 7. Memory\n")
        w("Agent: peak RSS (VmHWM, recorded by the shim at exit) of the workload under the "
          "in-process profilers minus the unprofiled run's, same repetition (MiB).\n")
        w("| tool | Hz | 1 thread | 2 threads |")
        w("| --- | ---: | --- | --- |")
        for t, hz in self.tool_rows():
            if t == "perf":
                continue
            cells = []
            for th in (1, 2):
                base = {r["rep"]: r for r in self.sel("base", 0, th)}
                d = [(r["hwm_kb"] - base[r["rep"]]["hwm_kb"]) / 1024
                     for r in self.sel(t, hz, th)
                     if r["rep"] in base and r.get("hwm_kb") and base[r["rep"]].get("hwm_kb")]
                cells.append(fmt_mm(d, 1))
            w(f"| {t} | {hz} | " + " | ".join(cells) + " |")
        b1 = self.sel("base", 0, 1)
        w(f"\nUnprofiled workload peak RSS: {fmt_mm([r['hwm_kb'] / 1024 for r in b1 if r.get('hwm_kb')], 1)} MiB.\n")
        w("Daemon:\n")
        rows = self.res.get("fig7d")
        if not rows:
            w(f"- not available — {self.daemon_why or 'not run'}")
        else:
            for r in rows:
                if r.get("err"):
                    w(f"- {r['agents']} connected agents: failed: {r['err'][:150]}")
                else:
                    w(f"- {r['agents']} connected agents (each sent one 1-stack batch): RSS "
                      f"{(r.get('daemon_rss0_kb') or 0) / 1024:.1f} → "
                      f"{(r.get('daemon_rss_kb') or 0) / 1024:.1f} MiB, "
                      f"**{r.get('per_agent_kb', 0):.1f} KiB per agent**")
        f6 = [r for r in self.res.get("fig6") or [] if r.get("rss_kb") and r.get("rss0_kb")]
        for r in f6:
            per = (r["rss_kb"] - r["rss0_kb"]) * 1024 / r["size"]
            w(f"- {r['size']:,} unique stacks (16 frames, one process): RSS "
              f"{r['rss0_kb'] / 1024:.1f} → {r['rss_kb'] / 1024:.1f} MiB, "
              f"**{per:.0f} bytes per unique stack**")
        if len(f6) >= 2:
            a, b = f6[-2], f6[-1]
            per = (b["rss_kb"] - a["rss_kb"]) * 1024 / (b["size"] - a["size"])
            w(f"- marginal, {a['size']:,} → {b['size']:,} stacks: **{per:.0f} bytes per unique "
              f"stack** (fixed costs cancel)")
        w("")

    def report_targets(self, w):
        w("## Targets (issue 7)\n")
        w("| target | oxprof in this run | met? |")
        w("| --- | --- | --- |")

        def rate_cell(hz):
            vals = []
            for t in ("oxprof", "oxprof-daemon"):
                if t not in self.tools():
                    continue
                for th in (1, 2, 4):
                    m = med([self.rate_of(r) for r in self.sel(t, hz, th)])
                    if m is not None:
                        vals.append((m, f"{t} {th}t {m:.3f}"))
            if not vals:
                return "n/a", "n/a"
            worst = min(vals)
            return ("; ".join(v[1] for v in vals),
                    "yes" if worst[0] >= 0.99 else f"**no** (worst {worst[0]:.3f}, "
                    f"{(0.99 - worst[0]) * 100:.1f} points short)")
        for hz in (1000, 10000):
            c, ok = rate_cell(hz)
            w(f"| true rate ≥ 0.99× at {hz} Hz | {c} | {ok} |")
        # overhead vs perf, and <= 1.005 at 100 Hz; wall (the measure)
        # and CPU (far less noisy on this shared 2-core machine)
        for key in ("wall", "cpu"):
            cells, oks = [], []
            for hz in RATES:
                for th in (1, 2):
                    o = med(self.ratios("oxprof", hz, th, key))
                    p = med(self.ratios("perf", hz, th, key))
                    if o is None or p is None:
                        continue
                    cells.append(f"{hz} Hz {th}t: {o:.3f} vs {p:.3f}")
                    oks.append(o <= p)
            verdict = ("yes" if oks and all(oks) else
                       f"**no** ({oks.count(False)} of {len(oks)} cells)" if oks else "n/a")
            w(f"| {key} overhead ≤ perf's at every rate (oxprof stand-alone vs perf) | "
              f"{'; '.join(cells) or 'n/a'} | {verdict} |")
        for key in ("wall", "cpu"):
            c100 = [med(self.ratios("oxprof", 100, th, key)) for th in (1, 2)]
            c100 = [c for c in c100 if c is not None]
            w(f"| {key} overhead ≤ 1.005 at 100 Hz | "
              f"{', '.join(f'{c:.3f}' for c in c100) or 'n/a'} (1, 2 threads) | "
              f"{'yes' if c100 and max(c100) <= 1.005 else ('**no**' if c100 else 'n/a')} |")
        f = self.res.get("fig4")
        bn, b = floor_row(f) if f else (None, None)
        if f and f["rows"].get("agent") and b and med(f["rows"]["agent"]["thread_ns"]) and \
                med(b["thread_ns"]):
            ratio = med(f["rows"]["agent"]["thread_ns"]) / med(b["thread_ns"])
            w(f"| per-sample cost ≤ 1.1× bare signal | {ratio:.2f}× "
              f"({med(f['rows']['agent']['thread_ns']):.0f} vs {med(b['thread_ns']):.0f} ns, {bn}) "
              f"| {'yes' if ratio <= 1.1 else '**no**'} |")
        else:
            w("| per-sample cost ≤ 1.1× bare signal | n/a | n/a |")
        cells, tot, okn = [], 0, 0
        for t in ("oxprof", "oxprof-daemon"):
            if t not in self.tools():
                continue
            for th in (1, 2, 4):
                acc = [self.acc_of(r) for hz in RATES for r in self.sel(t, hz, th)]
                acc = [a for a in acc if a]
                if acc:
                    k = sum(a[2] for a in acc)
                    cells.append(f"{t} {th}t: {k}/{len(acc)} runs")
                    tot += len(acc)
                    okn += k
        w(f"| accuracy within 3σ, every thread count | {'; '.join(cells) or 'n/a'} | "
          f"{'yes' if tot and okn == tot else ('**no** (' + str(tot - okn) + ' of ' + str(tot) + ' runs outside)' if tot else 'n/a')} |")
        rows = self.res.get("fig5") or []
        best = max([r.get("samples_per_s") or 0 for r in rows], default=0)
        if rows:
            w(f"| daemon ≥ 1 M samples/s on one core | best {best:,.0f}/s ("
              + ", ".join(f"{r['agents']} agents {(r.get('samples_per_s') or 0):,.0f}" for r in rows)
              + f") | {'yes' if best >= 1e6 else '**no**'} |")
        else:
            w(f"| daemon ≥ 1 M samples/s on one core | not available | n/a |")
        big = [r for r in (self.res.get("fig6") or []) if r["size"] == 1_000_000 and not r.get("err")]
        if big:
            v = med(big[0].get("ctl_top50")) or med(big[0].get("proto_top50"))
            src = "oxprofctl" if med(big[0].get("ctl_top50")) else "protocol"
            w(f"| top-50 on 1 M unique stacks < 100 ms | {fmt(v, 1)} ms ({src}) | "
              f"{'yes' if v is not None and v < 100 else '**no**'} |")
        else:
            w("| top-50 on 1 M unique stacks < 100 ms | "
              f"{'not run (quick mode: ≤ 100 k stacks)' if self.quick and self.daemon_ok else 'not available'} | n/a |")
        w("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--helpers", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cmd", default="make bench")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma list: matrix,fig4,fig5,fig6,fig7 (dev)")
    a = ap.parse_args()
    t0 = time.monotonic()
    facts = machine_facts()
    b = Bench(a)
    log(f"tmp dir {b.tmp}; daemon: {'available' if b.daemon_ok else 'not available: ' + b.daemon_why}")
    only = set(filter(None, a.only.split(",")))
    try:
        b.check_tools()
        if not only or "matrix" in only:
            b.matrix()
        if not only or "fig4" in only:
            b.fig4()
        if b.daemon_ok:
            if not only or "fig5" in only:
                b.fig5()
            if not only or "fig7" in only:
                b.fig7_daemon_per_agent()
            if not only or "fig6" in only:
                b.fig6()
        text = b.report(facts, a.cmd, time.monotonic() - t0)
        # keep the hand-written analysis of the previous RESULTS.md
        kept = ""
        if os.path.exists(a.out):
            with open(a.out) as f:
                old = f.read()
            if ANALYSIS_MARK in old:
                kept = old[old.index(ANALYSIS_MARK):]
        with open(a.out, "w") as f:
            f.write(text + "\n" + (kept or ANALYSIS_MARK + "\n"))
        print(text)
        log(f"wrote {a.out} in {(time.monotonic() - t0) / 60:.1f} min")
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
