"""``python in_terminal.py CMD ARGS...``: run CMD as if typed in a terminal, for launch tests.

CMD gets a session and process group of its own (the foreground group a terminal's Ctrl-C
signals: a test sends SIGINT to the group, ``os.killpg(pid, SIGINT)``) and a pseudo-terminal as
stdin, so ``ros2 launch`` runs interactive, as a user's does: it then leaves SIGINT to the
terminal instead of forwarding its own. It execs in place: the pid is CMD's.
"""

from __future__ import annotations

import os
import pty
import sys


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: in_terminal.py CMD [ARGS...]")
    if os.getsid(0) != os.getpid():  # not yet a session of its own (Popen(start_new_session))
        os.setsid()
    master, slave = pty.openpty()
    os.set_inheritable(master, True)  # kept open across exec: the terminal never hangs up
    os.dup2(slave, 0)
    os.close(slave)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
