"""Ids made without a syscall each: the shape of uuid4().hex, never repeated, a new prefix in a forked child."""

from __future__ import annotations

import os
import re

from gateway.ids import new_id


def test_ids_look_like_uuid_hex_and_do_not_repeat() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_its_own_prefix() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    parent = new_id()
    assert len(child) == 32 and child[:16] != parent[:16]
