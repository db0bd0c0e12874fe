import pytest

pytest.register_assert_rewrite("tests.claims.scalepoint_cases")  # its asserts explain their failures
