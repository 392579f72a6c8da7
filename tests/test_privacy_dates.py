"""Issue 18 item 6: the log filter masks phones, not dates. 1C's OData URLs carry date literals
(``Balance(Period=datetime'2026-12-08T00:44:47')``) that a phone-shaped pattern used to cut to
``2***08T00:44:47``, so the logs of a balance read said nothing about which moment was read."""

from __future__ import annotations

import logging

import pytest

from bonusbridge.privacy import PersonalDataFilter, mask_phones_in

LOGGER = "bonusbridge.test.privacy_dates"


def _logged(caplog: pytest.LogCaptureFixture, message: str, *args: object) -> str:
    logger = logging.getLogger(LOGGER)
    logger.addFilter(PersonalDataFilter())
    try:
        with caplog.at_level(logging.INFO, logger=LOGGER):
            logger.info(message, *args)
    finally:
        logger.filters.clear()
    return caplog.records[-1].getMessage()


@pytest.mark.parametrize(
    "url",
    [
        "AccumulationRegister_БонусныеБаллы/Balance(Period=datetime'2026-12-08T00:44:47')",
        "Document_ЧекККМ?$filter=Date ge datetime'2024-06-01T00:00:00'"
        " and Date lt datetime'2024-06-02T23:59:59'",
        "Balance(Period=datetime'2026-12-08T00:44:47.123456')",
        "posted 2024-06-01 10:05:00 (Europe/Moscow)",
    ],
)
def test_dates_in_1c_urls_reach_the_log_whole(caplog, url):
    assert _logged(caplog, "GET %s -> 200", url) == f"GET {url} -> 200"


def test_phones_next_to_dates_are_still_masked(caplog):
    line = _logged(
        caplog,
        "partner %s phone %s changed at datetime'%s', card %s",
        "10000000-0000-4000-8000-00000000000a",
        "+7 (916) 123-45-67",
        "2026-12-08T00:44:47",
        "2000000000011 2026-12-08",
    )
    assert "123-45" not in line and "+7***67" in line
    assert "datetime'2026-12-08T00:44:47'" in line
    assert "2000000000011" not in line and "2***11 2026-12-08" in line


def test_a_phone_written_like_a_date_run_is_masked():
    # Digit runs that are not a valid date (month 16) are phones as before.
    assert mask_phones_in("call 8-916-12-34-567") == "call 8***67"
    assert mask_phones_in("+79161234567 and 89162345678") == "+7***67 and 8***78"
