"""Internally generated control numbers: digits with ISO 7064 MOD 97-10 check digits (as in IBAN).

Two check digits catch every single-digit error and every adjacent transposition a payer can make
when typing the number into a mobile-money menu.
"""


def check_digits(base: str) -> str:
    if not base.isdigit():
        raise ValueError("control number base must be digits")
    return f"{98 - (int(base) * 100) % 97:02d}"


def with_check_digits(base: str) -> str:
    return base + check_digits(base)


def is_valid(control_number: str) -> bool:
    return (
        len(control_number) > 2
        and control_number.isdigit()
        and check_digits(control_number[:-2]) == control_number[-2:]
    )
