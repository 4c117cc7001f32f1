from __future__ import annotations

import pytest

from hiermusic.services.common.admission import Admission, AdmissionLimits, Full


def test_calls_past_running_and_queued_are_refused_and_a_leaving_call_frees_its_place():
    admission = Admission(AdmissionLimits(running=1, queued=1))
    with admission.enter(), admission.enter():
        assert admission.inside == 2
        with pytest.raises(Full, match="1 call\\(s\\) running and 1 waiting"):
            with admission.enter():
                pass
    assert admission.inside == 0
    with pytest.raises(RuntimeError):
        with admission.enter():
            raise RuntimeError("a call that failed")
    assert admission.inside == 0  # a failed call leaves too


@pytest.mark.parametrize("running, queued", [(0, 1), (1, -1)])
def test_limits_that_admit_nothing_are_refused(running, queued):
    with pytest.raises(ValueError, match="admission"):
        AdmissionLimits(running, queued)
