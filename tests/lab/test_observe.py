"""What a dom0 admin sees of DIX, proven in the lab: the ``observe``
scenario runs `xendix top`, `dixlat`, `snoop` and `monitor` (bcc and
pyroute2 in dom0) while one domU does a known number of requests and
failures, and checks that every view counts exactly those.  One boot per
kernel series."""

from __future__ import annotations

import pytest

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab

C = job.checks("observe")


@pytest.fixture(scope="module")
def observe(lab_run, series):
    return lab_run("observe", series)


def test_the_tools_start_on_the_drivers_tracepoints(observe):
    assert passed(observe, C.DOMU_IS_UP)
    assert passed(observe, C.TOOLS_STARTED)


def test_n_dix_writes_and_m_reads_are_counted_exactly_by_sysfs_and_top(observe):
    assert passed(observe, C.SYSFS_COUNTS_THE_IO)
    assert passed(observe, C.TOP_COUNTS_THE_IO)
    top = observe.facts["top_totals"]
    assert top["xvdb"]["dix"] == 8 + 5 and top["xvdc"]["dix"] == 0


def test_dixlat_draws_dix_and_plain_latencies_apart(observe):
    assert passed(observe, C.DIXLAT_HAS_BOTH_HISTOGRAMS)


def test_the_injected_failures_happen(observe):
    assert passed(observe, C.DISK_REJECTED_THE_CORRUPT_WRITES)
    assert passed(observe, C.DISK_FAILED_THE_ROTTED_READ)
    assert passed(observe, C.GUEST_WROTE_WITHOUT_PI)


def test_each_failure_is_counted_once_by_kind_in_sysfs_snoop_and_uevents(observe):
    assert passed(observe, C.SYSFS_COUNTS_THE_FAILURES)
    assert passed(observe, C.SNOOP_SHOWS_EACH_FAILURE)
    assert passed(observe, C.UEVENTS_COUNT_THE_FAILURES)


def test_a_guests_own_failed_verify_is_seen_by_snoop_guest(observe):
    assert passed(observe, C.GUEST_SNOOP_SEES_THE_FAILED_VERIFY)


def test_the_exporter_serves_blkbacks_counters(observe):
    assert passed(observe, C.EXPORTER_AGREES_WITH_SYSFS)


def test_the_probes_overhead_is_measured(observe):
    assert passed(observe, C.OVERHEAD_MEASURED)
    assert observe.facts["overhead"]["attached_over_detached"] > 0


def test_the_domu_and_dom0_end_clean(observe):
    for check in (C.NO_OOPS_IN_THE_DOMU, C.NO_VBD_LEFT_IN_DOM0, C.NO_OOPS_IN_DOM0):
        assert passed(observe, check)
