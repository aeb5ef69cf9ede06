# ruff: noqa
# fmt: off
"""The original arbiter's own tests, run against ours (seed 000: invenia/Arbiter).

Sources, copied verbatim below their section headers:

* ``tests/test_runner.py`` at commit 5ba563f754a22050a826e91098ebbc7dc82c4067
  ("Result tuples", 2014): the seed's own commit. The whole module.
* ``tests/test_arbiter.py``, ``test_paths``: the stored version that checks both
  ``arbiter.create_task`` and ``arbiter.run_tasks`` (the version at 5ba563f itself is
  not in the reference index).
* ``tests/test_task.py``: the version at 5ba563f is not in the reference index
  either. ``test_retry`` and ``test_retry_delay`` are copied verbatim from the
  nearest stored version, a later one; so is ``test_create_task`` except for one
  change: that later version had added a sixth Task field, ``chain`` (passing
  results downstream, still "forthcoming" in the 5ba563f README), so its trailing
  ``, False`` / ``, True`` in each ``Task(...)`` is dropped and its "# chaining" case
  removed, leaving the five-field Task (name, function, dependencies, args, kwargs)
  that 5ba563f's runner reads.

The only other change: the originals import ``nose.tools``, which is not installed
(nose does not support current Pythons); the same assertion functions are built
here from ``unittest.TestCase``, which is what ``nose.tools`` itself does. Hence
``# fmt: off`` and ``# ruff: noqa``: the originals' style is kept as written.
"""
import unittest
from datetime import timedelta
from os import getpid
from threading import current_thread

import pytest

# --- what ``from nose.tools import ...`` provided ----------------------------------
_case = unittest.TestCase()
assert_true = _case.assertTrue
assert_false = _case.assertFalse
assert_equal = _case.assertEqual
assert_not_equal = _case.assertNotEqual
assert_raises = _case.assertRaises


@pytest.fixture(autouse=True)
def _restore_sleep():
    """``test_retry_delay`` replaces ``arbiter.task.sleep`` and never puts it back."""
    import arbiter.task

    original = arbiter.task.sleep
    yield
    arbiter.task.sleep = original


# ===================================================================================
# tests/test_runner.py at 5ba563f754a22050a826e91098ebbc7dc82c4067, verbatim
# (its docstring, and its nose.tools import, replaced by the lines above)
# ===================================================================================

def function_call(fail=False):
    """
    A multiprocessing function.
    """
    if fail:
        raise Exception()

    return (getpid(), current_thread().name)


def test_run_tasks():
    """
    Test the run_tasks function.
    """
    from arbiter.exceptions import (
        FailedDependencyError,
        UnsatisfiedDependencyError,
    )
    from arbiter.runner import run_tasks, Result
    from arbiter.task import create_task

    def function(fail=False, exception=Exception, **kwargs):
        """
        A function for testing run_tasks.
        """
        if fail:
            raise exception()

        return kwargs

    # no dependencies
    results = run_tasks(
        [
            create_task(
                'foo',
                function,
                kwargs={'bar': 'baz', 'lorem': 'ipsum'},
            ),
            create_task(
                'bar',
                function,
                args=(True, ImportError),
            ),
        ],
    )

    assert_equal(
        set(results.keys()),
        {'foo', 'bar'}
    )

    assert_equal(
        results['foo'],
        Result(True, {'bar': 'baz', 'lorem': 'ipsum'})
    )

    assert_false(results['bar'].success)
    assert_true(isinstance(results['bar'].value, ImportError))

    # die on bad exceptions
    with assert_raises(KeyboardInterrupt):
        run_tasks(
            [
                create_task('foo', function, args=(True, KeyboardInterrupt))
            ]
        )

    with assert_raises(SystemExit):
        run_tasks(
            [
                create_task('foo', function, args=(True, SystemExit))
            ]
        )

    # dependencies and failures
    # Things this tests:
    #  - tasks with no dependencies
    #  - tasks with a successful dependency
    #  - tasks with unsuccessful dependency
    #  - tasks dependent on non-existent tasks
    #  - tasks dependent on themselves
    #  - tasks dependent in a chain
    #  - tasks with multiple dependencies
    #  - out-of-order tasks
    results = run_tasks(
        [
            create_task(
                'bar',
                function,
                dependencies=['foo']
            ),
            create_task(
                'baz',
                function,
                args=(True, ImportError),
                dependencies=['bar']
            ),
            create_task(
                'bell',
                function,
                dependencies=['bar', 'charlie']
            ),
            create_task(
                'bravo',
                function,
                dependencies=['alpha']
            ),
            create_task(
                'cage',
                function,
                dependencies=['travolta']
            ),
            create_task(
                'charlie',
                function,
                dependencies=['bravo']
            ),
            create_task(
                'danger doom',
                function,
                dependencies=['mf doom', 'danger mouse']
            ),
            create_task(
                'danger mouse',
                function,
            ),
            create_task(
                'foo',
                function,
                kwargs={'bar': 'baz', 'lorem': 'ipsum'},
            ),
            create_task(
                'mf doom',
                function,
                kwargs={'mm': 'food'},
            ),
            create_task(
                'oroboros',
                function,
                dependencies=['oroboros']
            ),
            create_task(
                'qux',
                function,
                dependencies=['baz']
            ),
            create_task(
                'travolta',
                function,
                dependencies=['cage']
            ),
        ],
    )

    assert_equal(
        {name: result.value for name, result in results.items()
         if result.success},
        {
            'foo': {'bar': 'baz', 'lorem': 'ipsum'},
            'bar': {},
            'mf doom': {'mm': 'food'},
            'danger mouse': {},
            'danger doom': {}
        }
    )

    assert_equal(
        {name for name, result in results.items() if not result.success},
        {
            'baz',
            'qux',
            'bravo',
            'charlie',
            'oroboros',
            'travolta',
            'cage',
            'bell',
        }
    )

    assert_true(isinstance(results['baz'].value, ImportError))
    assert_equal(results['baz'].value.args, ())

    assert_true(isinstance(results['qux'].value, FailedDependencyError))
    assert_equal(results['qux'].value.args, ('baz',))

    assert_true(isinstance(results['bravo'].value, UnsatisfiedDependencyError))
    assert_equal(results['bravo'].value.args, ({'alpha'},))

    assert_true(
        isinstance(results['charlie'].value, UnsatisfiedDependencyError)
    )
    assert_equal(results['charlie'].value.args, ({'bravo'},))

    assert_true(
        isinstance(results['oroboros'].value, UnsatisfiedDependencyError)
    )
    assert_equal(results['oroboros'].value.args, ({'oroboros'},))

    assert_true(
        isinstance(results['travolta'].value, UnsatisfiedDependencyError)
    )
    assert_equal(results['travolta'].value.args, ({'cage'},))

    assert_true(isinstance(results['cage'].value, UnsatisfiedDependencyError))
    assert_equal(results['cage'].value.args, ({'travolta'},))

    assert_true(isinstance(results['bell'].value, UnsatisfiedDependencyError))
    assert_equal(results['bell'].value.args, ({'charlie'},))

    # duplicate name
    with assert_raises(TypeError):
        run_tasks(
            [
                create_task('foo', function),
                create_task('foo', function),
            ]
        )


def test_run_executor():
    """
    Test that run_tasks works with both threads and processes.
    """
    from arbiter.runner import run_tasks
    from arbiter.task import create_task

    main_pid = getpid()

    # 1 thread
    results = run_tasks(
        [
            create_task('foo', function_call),
            create_task('bar', function_call),
            create_task('baz', function_call),
        ],
    )

    assert_equal(set(results.keys()), {'foo', 'bar', 'baz'})

    for result in results.values():
        assert_true(result.success)
        assert_equal(result.value[0], main_pid)
        assert_not_equal(result.value[1], 'MainThread')

    # 1 process
    results = run_tasks(
        [
            create_task('foo', function_call),
            create_task('bar', function_call),
            create_task('baz', function_call),
        ],
        processes=True
    )

    assert_equal(set(results.keys()), {'foo', 'bar', 'baz'})

    for result in results.values():
        assert_true(result.success)
        assert_not_equal(result.value[0], main_pid)
        assert_equal(result.value[1], 'MainThread')

    # multiple threads
    results = run_tasks(
        [
            create_task(num, function_call) for num in range(1000)
        ],
        max_workers=5,
    )

    assert_equal(len(results), 1000)

    pids = set()
    threads = set()
    for num in range(1000):
        result = results[num]
        assert_true(result.success)

        pids.add(result.value[0])
        threads.add(result.value[1])

    assert_equal(pids, {main_pid})
    assert_true('MainThread' not in threads)

    assert_true(1 < len(threads) <= 5)  # Eventually, replace with better test

    # multiple processes
    results = run_tasks(
        [
            create_task(num, function_call) for num in range(1000)
        ],
        max_workers=5,
        processes=True
    )

    assert_equal(len(results), 1000)

    pids = set()
    threads = set()
    for num in range(1000):
        result = results[num]
        assert_true(result.success)

        pids.add(result.value[0])
        threads.add(result.value[1])

    assert_true(main_pid not in pids)
    assert_equal(threads, {'MainThread'})

    assert_true(1 < len(pids) <= 5)  # Eventually, replace with better test


# ===================================================================================
# tests/test_arbiter.py, test_paths (stored version with run_tasks), verbatim
# ===================================================================================

def test_paths():
    """
    Test that functions are avaialable from the base module.
    """
    import arbiter

    from arbiter.task import create_task
    assert_equal(arbiter.create_task, create_task)

    from arbiter.runner import run_tasks
    assert_equal(arbiter.run_tasks, run_tasks)


# ===================================================================================
# tests/test_task.py (nearest stored version, later than 5ba563f): test_create_task
# with the later `chain` field taken out (see the module docstring); test_retry and
# test_retry_delay verbatim
# ===================================================================================

def test_create_task():
    """
    Test the create_task function.
    """
    from arbiter.task import create_task, Task

    function = lambda x: True

    # No dependencies
    assert_equal(
        create_task('foo', function),
        Task('foo', function, frozenset(), (), {})
    )

    # Dependencies
    actual = create_task('foo', function, {'bar', 'baz'})
    assert_equal(
        actual,
        Task('foo', function, frozenset(('bar', 'baz')), (), {})
    )
    assert_equal(type(actual.dependencies), frozenset)

    # passing an iterable
    actual = create_task('foo', function, (name for name in ('bar', 'baz')))
    assert_equal(
        actual,
        Task('foo', function, frozenset(('bar', 'baz')), (), {})
    )
    assert_equal(type(actual.dependencies), frozenset)

    # passing args and kwargs
    assert_equal(
        create_task('foo', function, args=('foo',), kwargs={'bar': 'baz'}),
        Task('foo', function, frozenset(), ('foo',), {'bar': 'baz'})
    )

    # test retrying
    response = [False, False, True]
    task = create_task(
        'foo',
        response.pop,
        retries=2,
        delay=timedelta()
    )
    assert_true(task.function())


def test_retry():
    """
    Test the retry decorator.
    """
    from arbiter.task import retry

    def retrier(retries, responses, delay=timedelta()):
        """
        A function for testing the retry decorator.
        """
        @retry(retries, delay)
        def function():
            """
            Function that is wrapped by retry
            """
            response = responses.pop(0)

            if isinstance(response, BaseException):
                raise response

            return response

        return function()

    # error on invalid retry count
    with assert_raises(TypeError):
        retrier(1.1, [True])

    # no need to retry
    assert_equal(retrier(1, ['foo', Exception()]), 'foo')

    # no retries allowed
    with assert_raises(ImportError):
        retrier(0, [ImportError(), True])

    # not enough retries
    with assert_raises(AttributeError):
        retrier(2, [ImportError(), KeyError(), AttributeError(), True])

    # success on retires
    assert_true(retrier(2, [ImportError(), AttributeError(), True]))

    # don't raise if retries remaining
    assert_false(retrier(2, [Exception(), TypeError(), False]))

    # don't treat falsy as failure
    assert_equal(retrier(1, [Exception(), False, True]), False)

    # Don't let retry catch kill exceptions
    with assert_raises(KeyboardInterrupt):
        retrier(1, [KeyboardInterrupt(), True])

    with assert_raises(SystemExit):
        retrier(1, [SystemExit(), True])


def test_retry_delay():
    """
    Tests for the delay functionality in the retry wrapper.
    """
    from arbiter.task import retry

    from arbiter import task

    call_stack = []

    def mock_sleep(seconds):
        """
        Mock version of sleep to ensure retry is sleeping the righ
        lengths, and the right period of time.
        """
        call_stack.append(('sleep', seconds))

    task.sleep = mock_sleep

    def retrier(retries, responses, delay=None):
        """
        A function for testing the retry decorator.
        """
        if delay is None:
            kwargs = {}
        else:
            kwargs = {'delay': delay}

        @retry(retries, **kwargs)
        def function():
            """
            Function that is wrapped by retry
            """
            response = responses.pop(0)

            if isinstance(response, Exception):
                call_stack.append(('raise',))
            else:
                call_stack.append(('call', response))

            if isinstance(response, Exception):
                raise response

            return response

        return function()

    # default settings
    assert_true(retrier(0, [True]))
    assert_equal(call_stack, [('call', True)])

    call_stack = []
    assert_true(retrier(1, [True]))
    assert_equal(call_stack, [('call', True)])

    call_stack = []
    assert_true(retrier(1, [Exception(), True]))
    assert_equal(
        call_stack,
        [('raise',), ('sleep', 0), ('call', True)]
    )

    call_stack = []
    with assert_raises(ImportError):
        retrier(1, [Exception(), ImportError()])
    assert_equal(call_stack, [('raise',), ('sleep', 0), ('raise',)])

    # delays
    call_stack = []
    with assert_raises(ImportError):
        retrier(1, [Exception(), ImportError()], delay=timedelta(seconds=55))
    assert_equal(call_stack, [('raise',), ('sleep', 55), ('raise',)])

    # invalid delays
    with assert_raises(AttributeError):
        retrier(1, [False, False], delay=5)

    with assert_raises(TypeError):
        retrier(1, [False, False], delay=timedelta(seconds=-1))

    # duck typing?
    class Delay(object):
        """
        Test that retry is duck typing on delay
        """
        def __init__(self, delay):
            self.delay = delay

        def total_seconds(self):
            """
            All that's really required
            """
            return self.delay

    call_stack = []
    with assert_raises(ImportError):
        retrier(1, [KeyError(), ImportError()], delay=Delay(10))
    assert_equal(call_stack, [('raise',), ('sleep', 10), ('raise',)])
