"""The compress pool's workers keep freed memory for the next task (engine.compress.process).

Page faults are counted, not time: a 64 MiB buffer freed and allocated again in a worker
must come back without faulting its pages in anew, while a plain process of the same kind
faults every page again (the control, which shows the check can fail).
"""

from __future__ import annotations

import multiprocessing
import resource

from engine.compress.pool import WorkerPool

BUFFER_BYTES = 64 * 1024 * 1024
PAGES = BUFFER_BYTES // resource.getpagesize()


def faults_of_a_second_buffer(_task: int) -> int:
    """Minor page faults taken by filling a 64 MiB buffer after one was filled and freed."""
    first = bytearray(BUFFER_BYTES)  # filled with zeros: every page touched
    del first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = bytearray(BUFFER_BYTES)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del second
    return faults


def in_a_plain_process(queue: multiprocessing.Queue[int]) -> None:
    queue.put(faults_of_a_second_buffer(0))


def test_a_worker_reuses_freed_memory_without_faulting_it_in_again() -> None:
    pool: WorkerPool[int, int] = WorkerPool(faults_of_a_second_buffer, 1)
    try:
        (outcome,) = list(pool.run([0], lambda _t: None))
    finally:
        pool.close()
    assert outcome.value is not None, outcome.error
    assert outcome.value < PAGES // 10, f"{outcome.value} faults for {PAGES} pages"


def test_a_plain_process_faults_the_buffer_in_again() -> None:
    context = multiprocessing.get_context("forkserver")
    queue: multiprocessing.Queue[int] = context.Queue()
    process = context.Process(target=in_a_plain_process, args=(queue,))
    process.start()
    faults = queue.get(timeout=60)
    process.join(timeout=60)
    assert faults > PAGES // 2, f"{faults} faults for {PAGES} pages"
