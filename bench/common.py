"""What every benchmark needs: a PostgreSQL, the machine described, results kept."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))


def under_postgres(module: str = "bench") -> None:
    """Re-run this command under a throwaway PostgreSQL unless DATABASE_URL is set."""
    if os.environ.get("DATABASE_URL"):
        return
    if not shutil.which("pg_virtualenv"):
        sys.exit("bench: needs pg_virtualenv (Debian's postgresql) or DATABASE_URL")
    line = shlex.join([sys.executable, "-m", module, *sys.argv[1:]])
    url = "postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE"
    restart = "pg_ctlcluster $PGVERSION regress restart -m fast"
    sys.exit(
        subprocess.call(
            [
                # -t: the cluster's configuration in a temporary folder even as root, so
                # two benches (or a bench and the suite) can run at once.
                "pg_virtualenv",
                "-t",
                "bash",
                "-c",
                f'DATABASE_URL="{url}" BENCH_DATABASE_RESTART="{restart}" {line}',
            ],
            cwd=ROOT,
        )
    )


def ensure_debian(command: str, package: str) -> str:
    """The path of ``command``, installing its Debian package first if need be."""
    found = shutil.which(command)
    if found:
        return found
    print(f"bench: installing {package} from Debian", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", package],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdout=subprocess.DEVNULL,
    )
    found = shutil.which(command)
    if not found:
        sys.exit(f"bench: {command} is still missing after installing {package}")
    return found


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def save(name: str, result: dict[str, Any], table: str) -> Path:
    """Keep the newest result as JSON (to compare two runs) and in RESULTS.md."""
    RESULTS.mkdir(exist_ok=True)
    document = {"benchmark": name, "machine": machine(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    update_results_md(name, document["machine"], table)
    return path


def update_results_md(name: str, where: dict[str, Any], table: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmark results\n\nThe newest run of each, written by `python -m bench`.\n"
    )
    start_marker = f"<!-- {name}:start -->"
    end_marker = f"<!-- {name}:end -->"
    described = (
        f"{start_marker}\n## {name}\n\n"
        f"{where['when']}; {where['cpus']} CPUs ({where['cpu']}), {where['memory']}, "
        f"Python {where['python']}, {where['system']}.\n\n{table.strip()}\n{end_marker}"
    )
    if start_marker in text:
        before = text.split(start_marker)[0]
        after = text.split(end_marker, 1)[1]
        text = before + described + after
    else:
        text = text.rstrip() + "\n\n" + described + "\n"
    path.write_text(text)
