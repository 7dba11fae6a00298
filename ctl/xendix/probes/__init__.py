"""eBPF tools on the drivers' tracepoints (issue 8): ``xendix top``,
``xendix snoop`` and ``xendix dixlat``, with bcc (Debian's python3-bpfcc).

bcc is loaded only by these commands (:mod:`.bpf`); the BPF C programs are
package data in ``bpf/``.  The tracepoints and their fields are the
contract of :mod:`.spec`.
"""
