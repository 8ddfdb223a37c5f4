"""The machine a benchmark ran on: CPU model, cores, torch version and threads, GPU, date (UTC)."""

from __future__ import annotations

import datetime
import os
import platform

import torch


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """A JSON-able description; ``summary`` is one line for report headings."""
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    info["summary"] = (
        f"{info['cpu']}, {info['cores']} cores, torch {info['torch']} with {info['torch_threads']} threads"
        + (f", {info['gpu']}" if info["gpu"] else "")
        + f", {info['date_utc']}"
    )
    return info
