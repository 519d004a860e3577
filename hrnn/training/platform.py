"""Process-level tuning for CPU training."""

from __future__ import annotations

import sys

_MALLOC_TUNED = False


def tune_malloc() -> None:
    """Keep freed large blocks in glibc's heap instead of returning them to the OS (Linux only, once).

    A training step allocates and frees tensors of ~17 MB (the [batch*bptt, batch+negatives] logits and
    their gradient). Above glibc's mmap threshold every such allocation is a fresh ``mmap`` whose pages
    fault on first touch and every free an ``munmap``: a measurable share of a CPU step. Raising the mmap
    threshold (to glibc's maximum, 32 MiB on 64-bit) and the trim threshold makes them ordinary heap
    blocks that are reused. Harmless where glibc is absent: nothing happens.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or not sys.platform.startswith("linux"):
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
    except (OSError, AttributeError):
        pass

