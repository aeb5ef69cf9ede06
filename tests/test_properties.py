"""Property test: run_tasks on random DAGs agrees with a simple sequential model."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter import create_task, run_tasks
from arbiter.exceptions import FailedDependencyError, UnsatisfiedDependencyError

ALWAYS = 1_000  # "fails on every attempt"


@dataclass(frozen=True)
class Spec:
    name: str
    deps: tuple[str, ...]  # names of earlier tasks, or of tasks that do not exist
    failures: int  # attempts that raise before one succeeds
    retries: int


@st.composite
def dags(draw: st.DrawFn) -> list[Spec]:
    n = draw(st.integers(min_value=1, max_value=30))
    specs = []
    for i in range(n):
        deps = set(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else set()
        names = {f"t{d}" for d in deps}
        if draw(st.integers(0, 9)) == 0:
            names.add(f"missing{draw(st.integers(0, 2))}")
        failures = draw(st.sampled_from([0, 0, 0, 0, 1, 2, ALWAYS]))
        retries = draw(st.sampled_from([0, 0, 1]))
        specs.append(Spec(f"t{i}", tuple(sorted(names)), failures, retries))
    return specs


@dataclass
class Log:
    lock: threading.Lock = field(default_factory=threading.Lock)
    starts: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    succeeded: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)

    def function(self, spec: Spec):  # type: ignore[no-untyped-def]
        def run() -> str:
            with self.lock:
                self.starts.append((spec.name, frozenset(self.succeeded)))
                attempt = self.calls[spec.name] = self.calls.get(spec.name, 0) + 1
            if attempt <= spec.failures:
                raise RuntimeError(f"{spec.name} attempt {attempt}")
            with self.lock:
                self.succeeded.add(spec.name)
            return spec.name

        return run


def model(specs: list[Spec]) -> dict[str, str]:
    """Expected outcome per task: ok, failed, dep-failed or unsatisfied."""
    outcome: dict[str, str] = {}
    for spec in specs:  # dependencies only point to earlier tasks
        deps = [outcome.get(d, "missing") for d in spec.deps]
        if any(o in ("missing", "unsatisfied") for o in deps):
            outcome[spec.name] = "unsatisfied"
        elif any(o in ("failed", "dep-failed") for o in deps):
            outcome[spec.name] = "dep-failed"
        elif spec.failures > spec.retries:
            outcome[spec.name] = "failed"
        else:
            outcome[spec.name] = "ok"
    return outcome


def ancestors(specs: dict[str, Spec], name: str) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        for dep in specs[stack.pop()].deps:
            if dep in specs and dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(specs=dags(), workers=st.integers(min_value=1, max_value=4))
def test_random_dags(specs: list[Spec], workers: int) -> None:
    log = Log()
    tasks = [
        create_task(s.name, log.function(s), dependencies=s.deps, retries=s.retries) for s in specs
    ]
    results = run_tasks(tasks, max_workers=workers)
    expected = model(specs)
    by_name = {s.name: s for s in specs}

    # Exactly one Result per task, in input order.
    assert list(results) == [s.name for s in specs]

    # Every task that ran, ran only after all its dependencies had succeeded.
    for name, succeeded_before in log.starts:
        assert set(by_name[name].deps) <= succeeded_before, name

    # Exactly the tasks the model runs were called, as often as their retries allow.
    ran = {name for name, _ in log.starts}
    assert ran == {n for n, o in expected.items() if o in ("ok", "failed")}
    for name in ran:
        spec = by_name[name]
        assert log.calls[name] == min(spec.failures, spec.retries) + 1
        assert results[name].attempts == log.calls[name]

    for name, outcome in expected.items():
        result = results[name]
        spec = by_name[name]
        if outcome == "ok":
            assert result.success and result.value == name
        elif outcome == "failed":
            assert not result.success
            assert isinstance(result.value, RuntimeError)
        elif outcome == "dep-failed":
            error = result.value
            assert not result.success and result.attempts == 0
            assert isinstance(error, FailedDependencyError), (name, error)
            assert error.task == name
            assert expected[error.dependency] == "failed"
            assert error.dependency in ancestors(by_name, name)
            assert error.via in spec.deps
            assert expected[error.via] in ("failed", "dep-failed")
        else:
            error = result.value
            assert not result.success and result.attempts == 0
            assert isinstance(error, UnsatisfiedDependencyError), (name, error)
            assert error.task == name
            assert error.cycle == ()
            own_missing = {d for d in spec.deps if d not in by_name}
            assert own_missing <= set(error.missing)
            assert error.missing, name
            assert all(m.startswith("missing") for m in error.missing)
            if not own_missing:
                assert error.via in spec.deps
                assert expected[error.via] == "unsatisfied"
