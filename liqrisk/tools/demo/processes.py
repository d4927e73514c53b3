"""The offline run's child processes: the local exchange and freqtrade, on 127.0.0.1, always stopped.

* ``ExchangeProcess`` starts ``python -m liqrisk.cli exchange`` as a subprocess, waits until
  ``GET /fapi/v1/ping`` answers and always stops it (SIGTERM, then SIGKILL);
* ``run_freqtrade`` runs a freqtrade command with its output in a log file, stopping it on
  Ctrl-C or a timeout;
* ``sigterm_as_interrupt`` turns SIGTERM into KeyboardInterrupt so cleanup runs, and
  ``parent_death_preexec`` makes children die with their parent and take SIGINT (Linux).

freqtrade always runs in its own process, exactly as a user would run it; nothing here imports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from liqrisk.tools.demo.errors import OfflineError

HOST = "127.0.0.1"


def url_port(url: str) -> int:
    hostport = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if host not in (HOST, "localhost") or not port.isdigit():
        raise OfflineError(f"the config points at {url}; the local exchange only runs on http://{HOST}:<port>.")
    return int(port)



def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ping(url: str, timeout: float = 1.0) -> bool:
    """True when ``url``/fapi/v1/ping answers 200."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/fapi/v1/ping", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def parent_death_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` for every child the demo starts (Linux; None elsewhere):

    * SIGINT gets its default action back. A process started with SIGINT ignored (a
      background job of a non-interactive shell, ``sh -c 'liqrisk demo ... &'``, as CI steps
      and scripts do) passes the ignore on, and Python keeps an inherited ignore instead of
      installing its KeyboardInterrupt handler: freqtrade would never see the SIGINT that
      stops it (issue #15).
    * The child gets SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), so a killed demo
      leaves no server or freqtrade behind. Linux sends it when the *thread* that started the
      child ends: start children from a long-lived thread.

    The C functions are looked up here, in the parent, so the child only makes C calls
    between fork and exec.
    """
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl, libc_signal = libc.prctl, libc.signal
        libc_signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc_signal.restype = ctypes.c_void_p
    except (OSError, AttributeError):
        return None
    sigint = int(signal.SIGINT)

    def setup() -> None:  # pragma: no cover - runs in the child
        libc_signal(sigint, None)  # SIG_DFL
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return setup


def subprocess_env() -> dict[str, str]:
    """The environment for child processes: this Python's bin folder first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONWARNINGS", None)
    return env


class ExchangeProcess:
    """``python -m liqrisk.cli exchange`` in a subprocess on 127.0.0.1; use it as a context manager.

    ``port`` None or 0 lets the server pick a free port (read back from its first output line).
    ``extra`` are more ``liqrisk exchange`` flags (``--live``, ``--faults ...``). The server's
    output goes to ``log``. ``start`` returns once ``GET /fapi/v1/ping`` answers; ``stop`` sends
    SIGTERM, then SIGKILL after ``stop_timeout`` seconds, and is safe to call twice.
    """

    def __init__(self, datadir: Path | str, *, port: int | None = None, extra: Sequence[str] = (),
                 log: Path | str, cwd: Path | str | None = None):
        self.datadir = Path(datadir)
        self.port = port or 0
        self.extra = list(extra)
        self.log = Path(log)
        self.cwd = cwd
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self._log_fh = None

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "liqrisk.cli", "exchange", "--datadir", str(self.datadir),
                "--host", HOST, "--port", str(self.port), *self.extra]

    def start(self, timeout: float = 60.0) -> ExchangeProcess:
        if self.port and not port_free(self.port):
            raise OfflineError(f"port {self.port} on {HOST} is in use; stop what listens there or use another port.")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            self.command, stdout=self._log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.cwd, env=subprocess_env(), preexec_fn=parent_death_preexec(),
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise OfflineError(f"the local exchange exited with code {self.proc.returncode}:\n"
                                       f"{self.log_tail()}")
                if not self.url:
                    self.url = self._url_from_log()
                if self.url and ping(self.url, timeout=1.0):
                    return self
                time.sleep(0.1)
            raise OfflineError(f"the local exchange did not answer /fapi/v1/ping within {timeout:.0f} s:\n"
                               f"{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _url_from_log(self) -> str:
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].split()[0]
                self.port = url_port(url)
                return url
        return ""

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, stop_timeout: float = 15.0) -> int | None:
        """Stop the server; returns its exit code (0 on a clean SIGTERM stop)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        return None if self.proc is None else self.proc.returncode

    def __enter__(self) -> ExchangeProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt like Ctrl-C, so ``finally`` clauses run."""
    def _raise(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)



# -- freqtrade ----------------------------------------------------------------------------------


def freqtrade_command() -> list[str]:
    """The venv's ``freqtrade`` script, or ``python -m freqtrade`` when there is none."""
    script = Path(sys.executable).parent / "freqtrade"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "freqtrade"]



def run_freqtrade(args: Sequence[str], *, log: Path, cwd: Path | str | None = None, timeout: float | None = None,
                  on_line: Callable[[str], None] | None = None) -> int:
    """Run ``freqtrade <args>``; stdout and stderr go to ``log`` (and each line to ``on_line``).

    Returns the exit code. On Ctrl-C (KeyboardInterrupt) or after ``timeout`` seconds freqtrade
    gets SIGINT, then SIGKILL after 10 s; KeyboardInterrupt is re-raised, a timeout raises
    OfflineError.
    """
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen([*freqtrade_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd, env=subprocess_env(), text=True,
                                errors="replace", bufsize=1, preexec_fn=parent_death_preexec())

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                fh.write(line)
                fh.flush()
                if on_line is not None:
                    on_line(line.rstrip("\n"))

        reader = threading.Thread(target=pump, name="freqtrade-output", daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _interrupt(proc)
            raise OfflineError(f"freqtrade {args[0]} did not finish within {timeout:.0f} s; see {log}.") from None
        finally:
            _interrupt(proc)  # no-op unless interrupted (Ctrl-C) or timed out
            reader.join(timeout=10)
        return code


def _interrupt(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
