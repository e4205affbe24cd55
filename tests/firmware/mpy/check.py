"""Assertions that say what differed (MicroPython's bare assert does not)."""


def eq(actual: object, expected: object, what: str = "") -> None:
    """Fail unless actual == expected."""
    if actual != expected:
        raise AssertionError("%s%r != %r" % (what + ": " if what else "", actual, expected))


def near(actual: float, expected: float, tolerance: float, what: str = "") -> None:
    """Fail unless |actual - expected| <= tolerance."""
    if not abs(actual - expected) <= tolerance:
        raise AssertionError(
            "%s%r not within %r of %r" % (what + ": " if what else "", actual, tolerance, expected)
        )


def raises(exc_type: type, fn: object, *args: object) -> BaseException:
    """Call fn(*args); fail unless it raises exc_type; return the exception."""
    try:
        fn(*args)  # type: ignore[operator]
    except exc_type as e:
        return e
    raise AssertionError("%r did not raise %s" % (fn, exc_type.__name__))
