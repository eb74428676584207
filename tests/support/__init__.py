"""Test fakes and shared test helpers, one of each kind, imported by the test modules.

No test module imports another test module: what two of them share lives here, in a
module named for what it fakes or serves (``docker``, ``hosts``, ``fleet``, ``http``...).
"""
