"""Process signal set-up shared by the h1_bringup nodes."""

from __future__ import annotations

import signal


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def install_stop_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt, so every node runs its safe-stop path.

    Also when the process was started with SIGINT ignored (a background job of a shell script).
    Call after ``rclpy.init(..., signal_handler_options=SignalHandlerOptions.NO)``.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)


__all__ = ["install_stop_signals"]
