"""Every registered experiment runs end to end under ``smoke`` (real data, real dynamics).

One test class per family of experiments (one setting, Fig. 1, or the implications chapter's
runs that the smoke profile selects), so that ``make test``'s
``pytest-xdist --dist loadscope`` spreads the families, each compiling a new architecture's
dynamics, over its workers. The runs land in the session's ``EOS_RESULTS_DIR`` (a pytest
temporary folder, or the folder that ``make test`` shares with the notebooks, which then reuse
these runs). ``pytest -s`` prints the wall time per experiment.
"""

from __future__ import annotations

import time

import pytest
from test_experiments import _check_result

from eos import experiments as E

FAMILIES = (
    {"fig1": ["fig1-mlp"]}
    | {slug: E.experiments_for(slug) for slug in E.SETTINGS}
    | {"implications": E.selected("implications", "smoke")}
)


def _smoke_runs(family: str) -> None:
    times = {}
    for name in FAMILIES[family]:
        t0 = time.perf_counter()
        res = E.run(name, profile="smoke", progress=False)
        times[name] = round(time.perf_counter() - t0, 1)
        assert res.config == E.get_config(name, profile="smoke")
        _check_result(res)
    print(f"\nsmoke {family}: wall time per experiment (s): {times}")


def _family_class(family: str) -> type:
    name = "TestSmoke_" + family.replace("-", "_")

    @pytest.mark.usefixtures("data_root")
    class Family:
        def test_every_experiment_runs(self) -> None:
            _smoke_runs(family)

    Family.__name__ = Family.__qualname__ = name
    return Family


for _family in FAMILIES:
    _cls = _family_class(_family)
    globals()[_cls.__name__] = _cls
del _family, _cls
